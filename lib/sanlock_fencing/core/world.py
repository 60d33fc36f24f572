# SPDX-License-Identifier: GPL-2.0-or-later
"""The outside world of a fence or a status look: clock, daemon, storage, kept evidence.

fence.py, status.py and witness.py take a World rather than reaching for the
sanlock module, the storage and time.monotonic themselves, so that unit tests can
drive them through a made-up timeline in milliseconds (harness/fakeworld.py).
HostWorld is the real one: this host's sanlock daemon (proxy.Proxy, every call
bounded), lease reads with deadlines (bounded.BlockingSource) and this host's
evidence store.
"""

import time

from . import bounded
from .address import shown_name
from .errors import FenceError, UsageError
from .evidence import Look, Read
from .lease import LeaseReader


def joined_names(joined):
    return ", ".join(shown_name(name) for name in sorted(joined)) or "none"


def not_joined_error(names, joined, advice):
    """The one message for lockspaces this host's daemon has not joined."""
    return FenceError("this host's sanlock daemon has not joined lockspace %s (it has "
                      "joined: %s): %s" % (", ".join(sorted(names)), joined_names(joined),
                                           advice))


def place_targets(joined, targets, refuse_self=True):
    """([(target, JoinedLockspace)], [targets in lockspaces not joined here]).

    Raises FenceError when none can be watched from here, UsageError when a target is
    this host's own host id.
    """
    placed, missing = [], []
    for target in targets:
        space = joined.get(target.lockspace)
        if space is None or space.removing:
            missing.append(target)
            continue
        if refuse_self and space.host_id == target.host_id:
            raise UsageError("%s is this host's own host id in lockspace %s: a host cannot "
                             "fence or judge itself; run the agent on another host"
                             % (target, target.lockspace))
        placed.append((target, space))
    if not placed:
        raise not_joined_error({t.lockspace for t in missing}, joined,
                               "run the agent on a host that uses that storage, or check "
                               "the address")
    return placed, missing


class HostWorld:
    """This host: its sanlock daemon, its view of the storage, its evidence store."""

    def __init__(self, proxy, store=None, clock=time.monotonic, sleep=time.sleep):
        self.proxy = proxy
        self.store = store
        self.clock = clock
        self.sleep = sleep
        self._sources = {}

    def joined(self):
        return self.proxy.joined()

    def bound_calls(self, until):
        """No daemon call may outlast `until` (this clock) by more than a second."""
        self.proxy.until = until

    def hosts(self, lockspace):
        """HostViews of every host with a lease in lockspace."""
        return self.proxy.hosts(lockspace)

    def look(self, lockspace, host_id):
        """A Look at one host; ProxyError when this host's daemon fails."""
        issued = self.clock()
        view = self.proxy.host(lockspace, host_id)
        return Look(issued, self.clock(), view)

    def read(self, space, host_id, wait):
        """A Read of one lease record of a joined lockspace, waiting at most `wait`."""
        key = (space.name, space.path, space.offset, host_id)
        source = self._sources.get(key)
        if source is None:
            reader = LeaseReader(space.name, space.path, space.offset)
            source = bounded.BlockingSource(lambda: reader.read(host_id),
                                            "lease %s:%d" % (space.name, host_id), self.clock)
            self._sources[key] = source
        issued, returned, record, error = source.get(wait)
        if returned is None:
            return Read(issued, None, error="a read issued %.0f s ago has not returned (the "
                        "storage stalls)" % (self.clock() - issued))
        if error is not None:
            if not isinstance(error, FenceError):
                raise error
            return Read(issued, returned, error=str(error))
        return Read(issued, returned, record)

    def read_all(self, space, host_ids, wait):
        """{host id: Read} of several records of a joined lockspace, read together
        (LeaseReader.read_many), waiting at most `wait` for all of them."""
        reader = LeaseReader(space.name, space.path, space.offset)
        issued = self.clock()
        try:
            found = bounded.call(lambda: reader.read_many(host_ids), wait,
                                 "a read of lockspace %s" % space.name, self.clock)
        except bounded.CallTimeout as err:
            return {h: Read(issued, None, error="%s (the storage stalls)" % err)
                    for h in host_ids}
        except FenceError as err:
            returned = self.clock()
            return {h: Read(issued, returned, error=str(err)) for h in host_ids}
        returned = self.clock()
        return {h: Read(issued, returned, error=str(value)) if isinstance(value, FenceError)
                else Read(issued, returned, value) for h, value in found.items()}

    def register_events(self, lockspace):
        return self.proxy.register_events(lockspace)

    def read_events(self, handle):
        return self.proxy.read_events(handle)

    def end_events(self, handle, lockspace):
        self.proxy.end_events(handle, lockspace)

    def send_event(self, lockspace, host_id, generation, event):
        self.proxy.send_event(lockspace, host_id, generation, event)

    def withdraw_event(self, lockspace, host_id, generation):
        self.proxy.withdraw_event(lockspace, host_id, generation)
