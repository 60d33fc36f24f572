# SPDX-License-Identifier: GPL-2.0-or-later
"""setup.py installs the library with pip into a venv made with --system-site-packages
from /usr/bin/python3 (sanlock and fencing come from Debian), without the internet."""

import os
import shutil
import subprocess

from harness.callers import PYTHON, assert_one_line_error
from harness.machine import ROOT


def test_pip_installs_the_library_into_a_system_site_packages_venv(tmp_path):
    # a copy, so that pip's in-tree build leaves nothing in the checkout others use
    src = tmp_path / "src"
    src.mkdir()
    for name in ("setup.py", "README.md"):
        shutil.copy(os.path.join(ROOT, name), src / name)
    for name in ("lib", "agents"):
        shutil.copytree(os.path.join(ROOT, name), src / name,
                        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    venv = tmp_path / "venv"
    subprocess.run([PYTHON, "-m", "venv", "--system-site-packages", str(venv)], check=True,
                   capture_output=True)
    python = str(venv / "bin" / "python")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PIP_INDEX_URL")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    # no index, no build isolation, no dependencies: nothing is fetched
    pip = subprocess.run([python, "-m", "pip", "install", "--no-index", "--no-build-isolation",
                          "--no-deps", str(src)], capture_output=True, text=True, env=env,
                         timeout=300)
    assert pip.returncode == 0, pip.stdout + pip.stderr

    where = subprocess.run([python, "-c", "import sanlock, sanlock_fencing, sys; "
                            "print(sanlock_fencing.__file__); print(sanlock_fencing.__version__)"],
                           capture_output=True, text=True, env=env, cwd=str(tmp_path))
    assert where.returncode == 0, where.stderr
    path, version = where.stdout.split()
    assert path.startswith(str(venv)), path
    with open(os.path.join(ROOT, "lib", "sanlock_fencing", "__init__.py")) as handle:
        assert '__version__ = "%s"' % version in handle.read()

    # the agent script pip installed runs with the venv's python and the venv's library
    agent = venv / "bin" / "fence_sanlock_vdsm.py"
    assert agent.read_text().splitlines()[0] == "#!%s" % python
    run_env = dict(env, SANLOCK_RUN_DIR=str(tmp_path))     # no daemon there
    metadata = subprocess.run([str(agent), "-o", "metadata"], capture_output=True, text=True,
                              env=run_env, cwd=str(tmp_path))
    assert metadata.returncode == 0, metadata.stderr
    assert 'name="fence_sanlock_vdsm"' in metadata.stdout
    status = subprocess.run([str(agent), "-o", "status", "-a", "ls:2"], capture_output=True,
                            text=True, env=run_env, cwd=str(tmp_path))
    assert "not running" in assert_one_line_error(status)
