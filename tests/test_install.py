"""make install lays out a working agent wherever DESTDIR/PREFIX put it."""

import os
import subprocess

from conftest import ROOT, assert_one_line_error, run_agent


def test_make_install_into_a_destdir(tmp_path, no_daemon_env):
    dest = tmp_path / "root"
    subprocess.run(["make", "-s", "-C", ROOT, "install", "DESTDIR=%s" % dest,
                    "PREFIX=/opt/fsv"], check=True, capture_output=True)
    agent = dest / "opt/fsv/sbin/fence_sanlock_vdsm"
    assert os.access(agent, os.X_OK)
    assert (dest / "opt/fsv/share/man/man8/fence_sanlock_vdsm.8").is_file()
    assert (dest / "opt/fsv/share/fence-sanlock-vdsm/sanlock_fencing/fence.py").is_file()
    text = agent.read_text()
    assert 'INSTALLED_LIBDIR = "/opt/fsv/share/fence-sanlock-vdsm"' in text

    # the installed agent finds its library through FENCE_SANLOCK_VDSM_LIBDIR here only
    # because DESTDIR is not its final place; the path written into it is the real one
    env = dict(no_daemon_env,
               FENCE_SANLOCK_VDSM_LIBDIR=str(dest / "opt/fsv/share/fence-sanlock-vdsm"))
    metadata = run_agent(["-o", "metadata"], env=env, agent=str(agent))
    assert metadata.returncode == 0 and 'name="fence_sanlock_vdsm"' in metadata.stdout
    status = run_agent(["-o", "status", "-a", "ls:2"], env=env, agent=str(agent))
    assert "not running" in assert_one_line_error(status)


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
