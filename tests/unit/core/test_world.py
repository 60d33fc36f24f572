# SPDX-License-Identifier: GPL-2.0-or-later
"""world: the host as fence, status and witness see it; the lockspaces the daemon joined
are listed escaped and cut when a target's is missing."""

from harness.fakeworld import HOSTILE_NAME, HOSTILE_SHOWN, assert_printable
from sanlock_fencing.core.world import not_joined_error


def test_the_lockspaces_the_daemon_joined_are_listed_escaped_and_cut():
    joined = {HOSTILE_NAME: None, "x" * 500: None}
    text = str(not_joined_error({"mine"}, joined, "check the address"))
    assert HOSTILE_SHOWN in text and "x" * 500 not in text and "x" * 77 + "..." in text
    assert_printable(text)
