# SPDX-License-Identifier: GPL-2.0-or-later
"""proxy: this host's sanlock daemon, its errors typed; a lockspace the daemon does not
know is named escaped (whoever adds a lockspace chooses its name)."""

import errno

import pytest

from harness.fakeworld import HOSTILE_NAME, HOSTILE_SHOWN, assert_printable
from sanlock_fencing.core.proxy import NotJoined, Proxy


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
        Proxy(FakeSanlock()).hosts(HOSTILE_NAME)
    assert HOSTILE_SHOWN in str(err.value)
    assert_printable(str(err.value))
