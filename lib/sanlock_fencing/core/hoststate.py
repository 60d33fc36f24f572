# SPDX-License-Identifier: GPL-2.0-or-later
"""Host states as sanlock's get_hosts reports them, and one observation of a host."""

import enum
from collections import namedtuple


class HostState(enum.IntEnum):
    # the values of sanlock.HOST_* (kept here so pure logic needs no sanlock module)
    UNKNOWN = 1   # this daemon has not watched the host long enough to tell
    FREE = 2      # no lease: never joined, or left cleanly
    LIVE = 3      # renewed within 8*io_timeout
    FAIL = 4      # no renewal for over 8*io_timeout: may still be running
    DEAD = 5      # no renewal for over 8*io_timeout + 60: its watchdog has fired, if armed

    @classmethod
    def from_flags(cls, flags):
        try:
            return cls(flags)
        except ValueError:
            return cls.UNKNOWN


class HostView(namedtuple("HostView", "host_id generation timestamp io_timeout state")):
    """One host of one lockspace as this proxy's daemon sees it (state: a HostState)."""

    __slots__ = ()

    @classmethod
    def from_sanlock(cls, entry):
        return cls(host_id=entry["host_id"], generation=entry["generation"],
                   timestamp=entry["timestamp"], io_timeout=entry["io_timeout"],
                   state=HostState.from_flags(entry["flags"]))

    @classmethod
    def free(cls, host_id):
        return cls(host_id=host_id, generation=0, timestamp=0, io_timeout=0,
                   state=HostState.FREE)
