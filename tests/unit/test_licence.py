# SPDX-License-Identifier: GPL-2.0-or-later
"""Every source file says its licence in one SPDX line near its top, matching COPYING and
debian/copyright (GPL-2.0-or-later), so that a file copied out of the tree keeps it."""

import os
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TAG = "SPDX-License-Identifier: GPL-2.0-or-later"


def sources():
    listed = subprocess.run(["git", "ls-files", "*.py", "agents/sanlock_vdsm/*.in",
                             "Makefile", "debian/rules", "debian/postinst", ".ci/run"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            universal_newlines=True)
    if listed.returncode != 0:       # not a git checkout (an unpacked source package)
        return []
    return listed.stdout.split()


def test_every_source_file_names_its_licence():
    files = sources()
    missing = []
    for path in files:
        with open(os.path.join(ROOT, path)) as handle:
            head = [handle.readline() for _ in range(3)]
        if not any(TAG in line for line in head):
            missing.append(path)
    assert not missing, "add '# %s' near the top of: %s" % (TAG, ", ".join(missing))


def test_the_licence_is_the_one_debian_copyright_states():
    with open(os.path.join(ROOT, "debian", "copyright")) as handle:
        assert "License: GPL-2.0+" in handle.read()
    with open(os.path.join(ROOT, "COPYING")) as handle:
        assert "GPL-2.0-or-later" in handle.read()
