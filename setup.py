# SPDX-License-Identifier: GPL-2.0-or-later
"""The sanlock_fencing library, for pip installs into a venv made with
--system-site-packages from /usr/bin/python3 (sanlock and fencing come from Debian).
The agent itself is installed by 'make install'."""

import os
import re

from setuptools import setup

HERE = os.path.dirname(os.path.abspath(__file__))

with open(os.path.join(HERE, "lib", "sanlock_fencing", "__init__.py")) as handle:
    VERSION = re.search(r'^__version__ = "([^"]+)"', handle.read(), re.M).group(1)

setup(
    name="fence-sanlock-vdsm",
    version=VERSION,
    description="Fence agent that resets a host through shared storage with sanlock",
    license="GPL-2.0-or-later",
    package_dir={"": "lib"},
    packages=["sanlock_fencing", "sanlock_fencing.core", "sanlock_fencing.agent",
              "sanlock_fencing.host"],
    scripts=["agents/sanlock_vdsm/fence_sanlock_vdsm.py"],
    python_requires=">=3.9",
)
