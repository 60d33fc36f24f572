# SPDX-License-Identifier: GPL-2.0-or-later
"""resetd_sync: the service that keeps sanlk-resetd watching the lockspaces this host
joined, against fakes: this host's daemon and a real datagram socket standing in for
sanlk-resetd's update socket (the resetd fixture, host/conftest.py)."""

import logging

from harness.fakeworld import FakeDaemon
from sanlock_fencing.core.resetd_protocol import ResetdClient
from sanlock_fencing.host import resetd_sync
from sanlock_fencing.host.resetd_sync import Syncer
from sanlock_fencing.host.sync_state import StateFile


def syncer(proxy, resetd, state=None, **kwargs):
    return Syncer(proxy, ResetdClient(resetd.path), StateFile(state), **kwargs)


def test_registers_once_ends_on_leave_and_re_registers_on_resetd_restart(resetd, caplog):
    caplog.set_level(logging.INFO)
    proxy = FakeDaemon()
    proxy.join("a")
    proxy.join("b", adding=True)
    s = syncer(proxy, resetd)
    result = s.step()
    assert resetd.drain() == ["reg a"]
    assert result.pending == {"b": "being added"} and not result.in_sync
    proxy.join("b")
    assert s.step().in_sync and resetd.drain() == ["reg b"]
    assert s.step().in_sync and resetd.drain() == []          # nothing needlessly
    proxy.leave("a")
    s.step()
    assert resetd.drain() == ["end a"]
    assert any("stopped watching lockspace a" in r.message for r in caplog.records)
    resetd.stop()
    resetd.start()                                            # new inode: a new sanlk-resetd
    s.step()
    assert resetd.drain() == ["reg b"]
    assert any("restarted" in r.message for r in caplog.records)


def test_rejoin_between_polls_registers_again(resetd):
    proxy = FakeDaemon()
    proxy.join("a", generation=1)
    s = syncer(proxy, resetd)
    s.step()
    proxy.join("a", generation=2)
    s.step()
    assert resetd.drain() == ["reg a", "reg a"]


def test_resetd_down_is_reported_once_and_recovered(resetd, caplog):
    caplog.set_level(logging.INFO)
    proxy = FakeDaemon()
    proxy.join("a")
    resetd.stop(unlink=False)             # a stale socket file: nothing listens
    s = syncer(proxy, resetd)
    for _ in range(3):
        result = s.step()
        assert not result.in_sync and "not running" in result.problem
    warnings = [r for r in caplog.records if "not running" in r.message]
    assert len(warnings) == 1
    resetd.start()
    assert s.step().in_sync and resetd.drain() == ["reg a"]


def test_daemon_down_forgets_registrations(resetd):
    proxy = FakeDaemon()
    proxy.join("a")
    s = syncer(proxy, resetd)
    s.step()
    proxy.down = True
    assert "not running" in s.step().problem
    proxy.down = False
    s.step()
    assert resetd.drain() == ["reg a", "reg a"]


def test_state_file_survives_a_restart_of_the_service(resetd, tmp_path):
    state = str(tmp_path / "run" / "state.json")
    proxy = FakeDaemon()
    proxy.join("a")
    syncer(proxy, resetd, state).step()
    assert syncer(proxy, resetd, state).step().in_sync
    assert resetd.drain() == ["reg a"]                       # the second run sent nothing


def test_limit_is_logged_once_and_room_is_used_when_it_appears(resetd, caplog):
    caplog.set_level(logging.INFO)
    proxy = FakeDaemon()
    for i in range(65):
        proxy.join("ls%02d" % i)
    s = syncer(proxy, resetd)
    for _ in range(3):
        result = s.step()
    assert len(resetd.drain()) == 64
    assert list(result.pending) == ["ls64"] and "limit" in result.pending["ls64"]
    limit_lines = [r for r in caplog.records if "limit of 64" in r.message]
    assert len(limit_lines) == 1 and "ls64" in limit_lines[0].message
    proxy.leave("ls00")
    assert s.step().in_sync
    assert resetd.drain() == ["end ls00", "reg ls64"]
    assert any("watched again" in r.message for r in caplog.records)


def test_once_exit_status(resetd, tmp_path):
    proxy = FakeDaemon()
    proxy.join("a")
    argv = ["--once", "--state-file", "none", "--resetd-socket", resetd.path,
            "--no-watchdog-check"]
    assert resetd_sync.main(argv, proxy_factory=lambda: proxy) == 0
    resetd.stop(unlink=True)
    assert resetd_sync.main(argv, proxy_factory=lambda: proxy) == 1


# ------------------------------------------------------------------ the watchdog check

def test_nothing_is_registered_while_no_watchdog_is_petted(resetd):
    proxy = FakeDaemon()
    proxy.join("a")
    syncer = resetd_sync.Syncer(proxy, ResetdClient(resetd.path),
                                watchdog=lambda: "wdmd is not petting a watchdog device")
    result = syncer.step()
    assert not result.registered and "not petting" in result.pending["a"]
    assert resetd.drain() == []
    syncer.watchdog = lambda: None
    assert syncer.step().registered.keys() == {"a"}
    assert resetd.drain() == ["reg a"]
    syncer.watchdog = lambda: "wdmd is not running"
    result = syncer.step()
    assert not result.registered
    assert resetd.drain() == ["end a"]
