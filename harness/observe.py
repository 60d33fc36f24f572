# SPDX-License-Identifier: GPL-2.0-or-later
"""Eyes on the storage itself, and the stand-in watchdog that acts on what they see.

`LeaseWatch` reads the delta lease records of some hosts straight from a lockspace's
backing file (the storage itself, not any host's view of it) with the product's own
reader (sanlock_fencing.core.lease: O_DIRECT, sanlock's checksum) and notes when each
change first shows. `StandIn` plays the watchdog of a host without a device: it powers
the host's machine off a set time after the host's reply shows there. The tests (through
SimCluster.start_resetd), the demo and the bench all use these two.

Limits: a change is seen at the first poll after it was written, so every time noted is
late by up to one interval (0.05 s by default). The event fields lie outside sanlock's
checksum, so a record counts only when two reads in a row agree: a record torn by a
concurrent write is never noted. SimCluster.read_leader (`sanlock direct read_leader`)
stays the tests' oracle: sanlock's own reading, independent of the product's.
"""

import threading
import time
from collections import namedtuple

from sanlock_fencing.core import events
from sanlock_fencing.core.lease import LeaseReader, LeaseReadError

REPLY_BITS = events.RESETTING | events.REBOOTING


class Change(namedtuple("Change", "seen generation timestamp event_generation event "
                                  "event_data")):
    """One host's record as it first showed: seen is this host's time.monotonic() at the
    poll that saw it; the rest as in its lease (sanlock_fencing.core.lease.LeaseRecord)."""

    __slots__ = ()

    @classmethod
    def of(cls, seen, record):
        return cls(seen, record.owner_generation, record.timestamp, record.event_generation,
                   record.event, record.event_data)


class LeaseWatch(threading.Thread):
    """Notes every change of host_ids' records in one lockspace of a SimCluster.

    Run it as a thread (start()/stop()) polling every `interval` s, or call poll() from a
    thread of one's own. changes[host_id] is a list of Change, oldest first."""

    def __init__(self, cluster, host_ids, interval=0.05, lockspace=None):
        super().__init__(daemon=True, name="leasewatch")
        info = cluster.lockspace_info(lockspace)
        self.reader = LeaseReader(info.name, info.backing)
        self.host_ids = list(host_ids)
        self.interval = interval
        self.changes = {h: [] for h in self.host_ids}
        self._last = {}
        self.stopping = threading.Event()

    def _records(self):
        """{host id: LeaseRecord} of the records read whole and valid now."""
        try:
            found = self.reader.read_many(self.host_ids)
        except LeaseReadError:            # host 1's record, torn or not written yet
            return {}
        return {h: r for h, r in found.items() if not isinstance(r, LeaseReadError)}

    def poll(self):
        """Read the records once (twice: see the module's limits) and note what changed."""
        now = time.monotonic()
        first, again = self._records(), self._records()
        for host_id in self.host_ids:
            record = first.get(host_id)
            if record is None or record != again.get(host_id):
                continue
            change = Change.of(now, record)
            if change[1:] != self._last.get(host_id):
                self._last[host_id] = change[1:]
                self.changes[host_id].append(change)

    def run(self):
        while not self.stopping.is_set():
            self.poll()
            self.stopping.wait(self.interval)

    def stop(self):
        self.stopping.set()
        if self.is_alive():
            self.join(5)

    def first(self, host_id, test, after=0.0):
        """When the first change of host_id at or after `after` that passes test showed."""
        for change in list(self.changes[host_id]):
            if change.seen >= after and test(change):
                return change.seen
        return None

    def renewals(self, host_id):
        """[(seen at, owner timestamp)] of every timestamp change."""
        out, stamp = [], None
        for change in list(self.changes[host_id]):
            if change.timestamp and change.timestamp != stamp:
                out.append((change.seen, change.timestamp))
                stamp = change.timestamp
        return out

    def wait(self, host_id, test, after, timeout):
        """first(), waited for at most timeout s (TimeoutError)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            seen = self.first(host_id, test, after)
            if seen is not None:
                return seen
            time.sleep(self.interval)
        raise TimeoutError("host %d: no such record within %.0f s" % (host_id, timeout))


def is_request(change):
    """The record carries a reset request (RESET, with or without REBOOT)."""
    return bool(change.event & events.RESET)


def is_reply(generation):
    """A test for a record that carries its host's reply (RESETTING or REBOOTING) in
    `generation`: the one a target writes once its watchdog is armed."""
    return lambda change: change.generation == generation and bool(change.event & REPLY_BITS)


def request_on_disk(watch, proxy, after):
    """When the proxy's record first showed a reset request, at or after `after`."""
    return watch.first(proxy, is_request, after)


def reply_on_disk(watch, target, generation, after=0.0):
    """When the target's record first showed its reply in `generation`, at or after
    `after`."""
    return watch.first(target, is_reply(generation), after)


class StandIn(threading.Thread):
    """Plays the watchdog of a host without a device: powers its machine off `delay` s
    after its reply (RESETTING or REBOOTING) is in its lease on storage, in the generation
    it holds now, in any of `lockspaces` (default: every one it joined). delay None: only
    notes when the reply showed (reply_seen_at).

    watch: a LeaseWatch of the host's lockspace that runs already; several stand-ins share
    one (the bench's eight at once read the storage once per poll, not eight times), and
    only its changes at or after `after` count. Without one the stand-in reads for itself
    every `interval` s. The fast tests use it at io_timeout 1, where the real chain cannot
    run (sanlock's own watchdog use trips below 3); every safety claim about the watchdog
    is tested against the real chain."""

    def __init__(self, host, lockspaces=None, delay=0.0, watch=None, after=0.0, interval=0.2):
        super().__init__(name="standin-%s" % host.name, daemon=True)
        self.host = host
        names = sorted(host.lockspaces) if lockspaces is None else list(lockspaces)
        self.generations = {name: host.generations.get(name) for name in names}
        if watch is None:
            self.watches = {name: LeaseWatch(host.cluster, [host.host_id], interval, name)
                            for name in names}
            self.own_watches = True
        else:
            if names != [watch.reader.lockspace]:
                raise ValueError("a shared LeaseWatch sees lockspace %s only, not %s"
                                 % (watch.reader.lockspace, names))
            self.watches = {watch.reader.lockspace: watch}
            self.own_watches = False
            interval = watch.interval
        self.delay = delay
        self.after = after
        self.interval = interval
        self.stopping = threading.Event()
        self.reply_seen_at = None
        self.killed_at = None
        self.error = None

    def stop(self):
        self.stopping.set()
        if self is not threading.current_thread() and self.is_alive():
            self.join(30)

    def _reply_seen(self):
        seen = [reply_on_disk(watch, self.host.host_id, self.generations[name], self.after)
                for name, watch in self.watches.items()]
        seen = [t for t in seen if t is not None]
        return min(seen) if seen else None

    def run(self):
        try:
            while not self.stopping.is_set():
                if self.own_watches:
                    for watch in self.watches.values():
                        watch.poll()
                self.reply_seen_at = self._reply_seen()
                if self.reply_seen_at is not None:
                    break
                self.stopping.wait(self.interval)
            else:
                return
            if self.delay is None or self.stopping.wait(
                    max(0.0, self.reply_seen_at + self.delay - time.monotonic())):
                return
            self.host.machine.power_off()
            self.killed_at = time.monotonic()
        except Exception as err:       # kept for the test to see
            self.error = err
