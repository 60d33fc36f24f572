# SPDX-License-Identifier: GPL-2.0-or-later
"""health: monitor says whether this host can read the leases and be fenced, and
describes each addressed target (against fakes of this host's daemon and target side)."""

import logging

import pytest

from harness.fakeworld import ITCO_LATE, FakeDaemon, assert_printable, fake_side
from sanlock_fencing.agent import health
from sanlock_fencing.core.address import Target
from sanlock_fencing.core.errors import FenceError
from sanlock_fencing.core.hoststate import HostState, HostView
from sanlock_fencing.core.proxy import JoinedLockspace
from sanlock_fencing.core.timing import expected_fence_seconds, pacemaker_timeout


def test_monitor_fails_when_this_host_cannot_read_the_leases():
    proxy = FakeDaemon()
    proxy.join("a", host_id=1)          # its path does not exist here
    with pytest.raises(FenceError, match="cannot read lockspace a's leases"):
        health.monitor(proxy, ["a"])


def test_monitor_describes_each_target(monkeypatch):
    monkeypatch.setattr(health, "_check_storage_readable", lambda space: None)
    proxy = FakeDaemon()
    proxy.join("a", host_id=1)
    proxy.others[("a", 2)] = HostView(2, 4, 100, 10, HostState.LIVE)
    proxy.others[("a", 3)] = HostView(3, 1, 100, 1, HostState.FAIL)
    proxy.others[("a", 4)] = HostView.free(4)
    lines = health.monitor(proxy, ["a"], [Target("a", h) for h in (1, 2, 3, 4)])
    assert lines[0].startswith("lockspace a joined as host id 1")
    assert "this host itself" in lines[1]
    typical, worst = expected_fence_seconds(10)
    assert "a:2 is LIVE (generation 4, io_timeout 10 s): a fence should take about %d s, " \
           "at most about %d s" % (typical, worst) in lines[2]
    assert "at least %d" % pacemaker_timeout(10) in lines[2]
    assert "a:3 is FAIL" in lines[3]
    assert "FREE" in lines[4]
    with pytest.raises(FenceError, match="has not joined lockspace b"):
        health.monitor(proxy, ["b"], [Target("b", 2)])


def test_monitor_says_whether_this_host_could_be_fenced(monkeypatch, caplog):
    monkeypatch.setattr(health, "_check_storage_readable", lambda space: None)
    lines = health.monitor(FakeDaemon(a=3), ["a"], side=fake_side("responder"),
                           fenceable=lambda: (True, "armed, it resets this host within 72 s"))
    assert "answers reset requests here: armed" in lines[-1]
    assert not caplog.records
    with caplog.at_level(logging.WARNING):
        lines = health.monitor(FakeDaemon(a=3), ["a"], side=fake_side("responder"),
                               fenceable=lambda: (False, ITCO_LATE))
    assert "this host cannot be fenced: " + ITCO_LATE in lines[-1]
    assert [r.getMessage() for r in caplog.records] == [lines[-1]]     # shown without -v


def test_monitor_on_a_sanlk_resetd_host_keeps_that_path(monkeypatch):
    monkeypatch.setattr(health, "_check_storage_readable", lambda space: None)

    def never(*_):
        raise AssertionError("the responder's verdict is not sanlk-resetd's")
    lines = health.monitor(FakeDaemon(a=3), ["a"], side=fake_side("sanlk-resetd"),
                           fenceable=never)
    assert "target side is sanlk-resetd" in lines[-1]


def test_monitor_as_a_user_who_cannot_tell(monkeypatch):
    monkeypatch.setattr(health, "_check_storage_readable", lambda space: None)
    lines = health.monitor(FakeDaemon(a=3), ["a"], side=fake_side(
        "unknown", note="whether fence-sanlock-vdsm-responder runs cannot be told without "
                        "root"))
    assert "cannot be told" in lines[-1] and "cannot be fenced" not in lines[-1]


class MonitorProxy:
    """A daemon that joined lockspace ls at `path` (a name from whoever added it)."""

    def __init__(self, path):
        self.path = path

    def joined(self):
        return {"ls": JoinedLockspace("ls", 1, self.path, 0, False, False)}


def test_monitor_shows_the_daemons_lockspace_path_escaped(tmp_path):
    path = str(tmp_path / "ids\x1b[2J")
    with pytest.raises(FenceError) as err:
        health.monitor(MonitorProxy(path), ["ls"])
    assert "ids\\x1b[2J" in str(err.value)
    assert_printable(str(err.value))
