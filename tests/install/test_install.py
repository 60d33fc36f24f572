# SPDX-License-Identifier: GPL-2.0-or-later
"""make install lays out a working agent wherever DESTDIR/PREFIX put it."""

import os
import subprocess

from harness.callers import assert_one_line_error, run_agent
from harness.machine import ROOT


def test_make_install_into_a_destdir(tmp_path, no_daemon_env):
    dest = tmp_path / "root"
    subprocess.run(["make", "-s", "-C", ROOT, "install", "DESTDIR=%s" % dest,
                    "PREFIX=/opt/fsv"], check=True, capture_output=True)
    agent = dest / "opt/fsv/sbin/fence_sanlock_vdsm"
    assert os.access(agent, os.X_OK)
    assert (dest / "opt/fsv/share/man/man8/fence_sanlock_vdsm.8").is_file()
    assert (dest / "opt/fsv/share/fence-sanlock-vdsm/sanlock_fencing/agent/fence.py").is_file()
    assert 'LIBDIR = "/opt/fsv/share/fence-sanlock-vdsm"' in agent.read_text()
    for command in ("fence-sanlock-vdsm-resetd-sync", "fence-sanlock-vdsm-witness"):
        text = (dest / "opt/fsv/sbin" / command).read_text()
        assert '"/opt/fsv/share/fence-sanlock-vdsm"' in text and "@" not in text
    units = dest / "lib/systemd/system"
    assert "/opt/fsv/sbin/fence-sanlock-vdsm-witness" in \
        (units / "fence-sanlock-vdsm-witness.service").read_text()
    assert "Restart=always" in \
        (units / "sanlk-resetd.service.d/fence-sanlock-vdsm.conf").read_text()
    assert "evidence 0755 root root" in \
        (dest / "usr/lib/tmpfiles.d/fence-sanlock-vdsm.conf").read_text()


def test_installed_agent_uses_the_path_written_at_install(tmp_path, no_daemon_env):
    """With DESTDIR empty the written path is where the library really is."""
    prefix = tmp_path / "usr"
    subprocess.run(["make", "-s", "-C", ROOT, "install", "PREFIX=%s" % prefix],
                   check=True, capture_output=True)
    agent = prefix / "sbin/fence_sanlock_vdsm"
    copy = tmp_path / "elsewhere" / "fence_sanlock_vdsm"   # not next to any source tree
    copy.parent.mkdir()
    copy.write_text(agent.read_text())
    result = run_agent(["-o", "metadata"], env=no_daemon_env, agent=str(copy))
    assert result.returncode == 0, result.stderr
    status = run_agent(["-o", "status", "-a", "ls:2"], env=no_daemon_env, agent=str(copy))
    assert "not running" in assert_one_line_error(status)
    # an installed agent takes its library from where it was installed, nowhere else
    assert 'LIBDIR = "%s/share/fence-sanlock-vdsm"' % prefix in copy.read_text()
    witness = subprocess.run(["/usr/bin/python3", str(prefix / "sbin/fence-sanlock-vdsm-witness"),
                              "--help"], capture_output=True, text=True)
    assert witness.returncode == 0 and "witness" in witness.stdout, witness.stderr
