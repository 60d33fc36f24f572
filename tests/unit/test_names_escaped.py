# SPDX-License-Identifier: GPL-2.0-or-later
"""Names from the daemon and from storage reach messages and log lines escaped (and cut
when over-long): whoever adds a lockspace chooses its name and path, and an escape
sequence in one must not act on the terminal or forge a log line."""

import errno
import logging

import pytest

from sanlock_fencing.agent import health
from sanlock_fencing.core.errors import FenceError
from sanlock_fencing.core.proxy import JoinedLockspace, NotJoined, Proxy
from sanlock_fencing.host.witness import Witness
from sanlock_fencing.core.world import not_joined_error

from harness.fakeworld import FakeWorld, FakeStore, Timeline, rec, view

EVIL = "ls\x1b]0;owned\x07\nforged line"
SHOWN = "ls\\x1b]0;owned\\x07\\nforged line"


def assert_clean(text):
    assert all(ch.isprintable() for ch in text), repr(text)


class FakeSanlock:
    """The sanlock module as far as Proxy needs it: get_hosts says 'no such lockspace'."""

    class SanlockException(Exception):
        def __init__(self, code):
            super().__init__(code, "fake")
            self.errno = code

    def get_hosts(self, name, host_id):
        raise self.SanlockException(errno.ENOENT)


def test_a_lockspace_the_daemon_does_not_know_is_named_escaped(tmp_path, monkeypatch):
    (tmp_path / "sanlock.sock").touch()         # the daemon runs: ENOENT is the lockspace
    monkeypatch.setenv("SANLOCK_RUN_DIR", str(tmp_path))
    with pytest.raises(NotJoined) as err:
        Proxy(FakeSanlock()).hosts(EVIL)
    assert SHOWN in str(err.value)
    assert_clean(str(err.value))


def test_the_lockspaces_the_daemon_joined_are_listed_escaped_and_cut():
    joined = {EVIL: None, "x" * 500: None}
    text = str(not_joined_error({"mine"}, joined, "check the address"))
    assert SHOWN in text and "x" * 500 not in text and "x" * 77 + "..." in text
    assert_clean(text)


class MonitorProxy:
    def __init__(self, path):
        self.path = path

    def joined(self):
        return {"ls": JoinedLockspace("ls", 1, self.path, 0, False, False)}


def test_monitor_shows_the_daemons_lockspace_path_escaped(tmp_path):
    path = str(tmp_path / "ids\x1b[2J")
    with pytest.raises(FenceError) as err:
        health.monitor(MonitorProxy(path), ["ls"])
    assert "ids\\x1b[2J" in str(err.value)
    assert_clean(str(err.value))


def test_the_witness_logs_a_lockspace_name_escaped(caplog):
    points = [(-100, rec(1000))]
    world = FakeWorld({3: Timeline(points)}, {3: Timeline([(-100, view("LIVE", 1000))])},
                      lockspaces=(EVIL,), store=FakeStore())
    with caplog.at_level(logging.INFO, logger="witness"):
        Witness(world).sync_registrations()
    lines = [record.getMessage() for record in caplog.records]
    assert any("witnessing lockspace " + SHOWN in line for line in lines), lines
    for line in lines:
        assert_clean(line)
