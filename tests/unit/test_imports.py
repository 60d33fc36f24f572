# SPDX-License-Identifier: GPL-2.0-or-later
"""Every module of the library, the agent script and the host services' command load
under the interpreter running the tests.

`make unit-pythons` runs this layer under Python 3.6 (EL8's platform-python, which
fence-agents uses there) and 3.13; the other unit tests import most modules, this one
leaves none out, including the ones only the real-daemon tests exercise. An import
runs a module's top level only: an API missing in 3.6 inside a function shows only
where a test calls that function (lease.py's read, address.py's host id, the wdmd
dump in core/test_watchdog_check.py).

Nothing here may need the sanlock binding or fencing.py: they exist only for
/usr/bin/python3 on this machine, and the pure layer runs without them.
"""

import glob
import importlib
import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LIB = os.path.join(ROOT, "lib")
PACKAGE = os.path.join(LIB, "sanlock_fencing")
AGENT = os.path.join(ROOT, "agents", "sanlock_vdsm", "fence_sanlock_vdsm.py")
COMMAND = os.path.join(ROOT, "agents", "sanlock_vdsm", "service-command.in")


def library_modules():
    """Every module file of the package, found on disk so that a new one is covered."""
    names = []
    for path in (glob.glob(os.path.join(PACKAGE, "*.py"))
                 + glob.glob(os.path.join(PACKAGE, "*", "*.py"))):
        parts = os.path.relpath(os.path.splitext(path)[0], LIB).split(os.sep)
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return sorted(names)


def service_modules():
    """The modules the Makefile installs as host services (SERVICES: command:module)."""
    with open(os.path.join(ROOT, "Makefile")) as handle:
        return sorted(set(re.findall(r"\bfence-sanlock-vdsm-[\w-]+:([\w.]+)", handle.read())))


def test_the_module_lists_are_not_empty():
    # a glob or a regex gone wrong would otherwise make the tests below vanish
    assert len(library_modules()) > 20
    assert "host.responder" in service_modules() and len(service_modules()) >= 3


@pytest.mark.parametrize("name", library_modules())
def test_every_library_module_imports(name):
    importlib.import_module(name)


@pytest.mark.parametrize("module", service_modules())
def test_every_service_module_has_a_main_and_shows_its_help(module):
    assert callable(importlib.import_module("sanlock_fencing." + module).main)
    # --help builds the whole command line, as the installed command does, in a process of
    # its own: argparse's options are checked only when the parser is made
    env = dict(os.environ, PYTHONPATH=LIB)
    done = subprocess.run([sys.executable, "-m", "sanlock_fencing." + module, "--help"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "usage:" in done.stdout


def test_the_agent_script_compiles():
    # it imports fencing.py, so it cannot run here under every interpreter; compiling
    # catches syntax this interpreter lacks (an f-string's '=', ':=' ...)
    with open(AGENT) as handle:
        compile(handle.read(), AGENT, "exec")


@pytest.mark.parametrize("module", service_modules())
def test_the_service_command_compiles(module):
    with open(COMMAND) as handle:
        text = handle.read().replace("@MODULE@", module).replace("@COMMAND@", module)
    compile(text.replace("@LIBDIR@", LIB), COMMAND, "exec")
