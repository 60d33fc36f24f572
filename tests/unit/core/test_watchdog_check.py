# SPDX-License-Identifier: GPL-2.0-or-later
"""watchdog_check: is this host's watchdog in use, read from `wdmd --dump` (a fake run,
then a real subprocess under the running Python)."""

import os
import subprocess

import pytest

from sanlock_fencing.core import watchdog_check

RESETD_CLIENT = ("client 3 name sanlk-resetd pid 30421 fd 9 dead 0 ref 1 now 500 renewal 0 "
                 "expire 0\n")


@pytest.mark.parametrize("dump, expected", [
    ("wdmd 12 socket_gid 0 high_priority 1 now 500 last_keepalive 495 last_closeunclean 0 "
     "allow_scripts 0 kill_script_sec 5 fire_timeout 60\n" + RESETD_CLIENT, None),
    ("wdmd 12 socket_gid 0 high_priority 1 now 500 last_keepalive 0 last_closeunclean 0 "
     "allow_scripts 0 kill_script_sec 5 fire_timeout 60\n", "not petting"),
    ("wdmd 12 socket_gid 0 high_priority 1 now 500 last_keepalive 400 last_closeunclean 0 "
     "allow_scripts 0 kill_script_sec 5 fire_timeout 60\n", "100 s ago"),
    ("wdmd 12 socket_gid 0 high_priority 1 now 500 last_keepalive 498 last_closeunclean 0 "
     "allow_scripts 0 kill_script_sec 5 fire_timeout 90\n" + RESETD_CLIENT, "fires 90 s"),
    ("wdmd 12 socket_gid 0 high_priority 0 now 500 last_keepalive 495 last_closeunclean 0 "
     "allow_scripts 0 kill_script_sec 0\nclient 0 name signal pid 0 fd 5\n" + RESETD_CLIENT, None),
    ("wdmd 12 socket_gid 0 high_priority 0 now 500 last_keepalive 495 last_closeunclean 0 "
     "allow_scripts 0 kill_script_sec 0\nclient 0 name signal pid 0 fd 5\n", "-w 0"),
    ("wdmd 12 socket_gid 0 high_priority 0 now 500 last_keepalive 420 last_closeunclean 425 "
     "allow_scripts 0 kill_script_sec 0\n", None),    # firing: armed by a reset request
    ("", "not running"),
])
def test_the_watchdog_check_reads_wdmd_dump(dump, expected):
    def run(argv, **kwargs):
        return subprocess.CompletedProcess(argv, 0 if dump else 1, dump, "")
    reason = watchdog_check.check(60, run=run)
    if expected is None:
        assert reason is None
    else:
        assert expected in reason


@pytest.mark.parametrize("dump, rc, uses", [
    ("wdmd 12 socket_gid 0 now 5 last_keepalive 4\nclient 2 name sanlock_ls:3 pid 9 fd 8 "
     "dead 0 ref 1 now 5 renewal 4 expire 28\n", 0, True),
    ("wdmd 12 socket_gid 0 now 5 last_keepalive 4\nclient 3 name sanlk-resetd pid 30421 fd 9 "
     "dead 0 ref 1 now 5 renewal 0 expire 0\n", 0, False),
    ("", 1, None)])
def test_whether_sanlock_uses_its_watchdog(dump, rc, uses):
    result = watchdog_check.sanlock_uses_watchdog(
        run=lambda argv, **kw: subprocess.CompletedProcess(argv, rc, dump, ""))
    assert result is uses


def test_the_wdmd_dump_runs_for_real_under_this_python(tmp_path, monkeypatch):
    # The fakes above accept any keyword; this one is a real `wdmd --dump` (a script on
    # PATH) through subprocess.run, so an argument this interpreter lacks (capture_output=
    # and text= are Python 3.7+; EL8's is 3.6) fails here under `make unit-pythons`.
    wdmd = tmp_path / "wdmd"
    wdmd.write_text("#!/bin/sh\necho 'wdmd 12 socket_gid 0 now 5 last_keepalive 4'\n"
                    "echo 'client 2 name sanlock_ls:3 pid 9 fd 8 dead 0 ref 1'\n")
    wdmd.chmod(0o755)
    monkeypatch.setenv("PATH", "%s:%s" % (tmp_path, os.environ.get("PATH", "")))
    assert watchdog_check.sanlock_uses_watchdog() is True
    assert "no sanlk-resetd is connected" in watchdog_check.check(60)
