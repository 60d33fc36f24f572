# SPDX-License-Identifier: GPL-2.0-or-later
"""The bench's own eyes: the storage read directly, and a stand-in watchdog.

LeaseWatch reads the delta-lease records from the lockspace file (no host's view and no
agent code) and notes when each change first shows; StandIn powers a machine off a set
time after its reply shows there, for hosts that run sanlk-resetd -w 0.
"""

import os
import struct
import threading
import time

RESET, RESETTING = 0x1, 0x2     # sanlk-resetd's event bits (sanlk_reset.h)
DELTA_MAGIC = 0x12212010        # sanlock's delta lease magic


# -- the independent observer ---------------------------------------------------------

class LeaseWatch(threading.Thread):
    """Reads delta-lease records straight from the lockspace file (the storage itself, not
    a host's view, no agent code) every `interval` s and notes when each change first
    shows: (monotonic time, generation, timestamp, event generation, event, event data)."""

    def __init__(self, cluster, host_ids, interval=0.05):
        super().__init__(daemon=True, name="leasewatch")
        info = cluster.lockspace_info()
        self.path, self.sector = info.backing, info.sector_size
        self.host_ids = list(host_ids)
        self.interval = interval
        self.changes = {h: [] for h in self.host_ids}
        self.stopping = threading.Event()

    def _read(self, fd, host_id):
        data = os.pread(fd, 200, (host_id - 1) * self.sector)
        if len(data) < 200 or struct.unpack_from("<I", data, 0)[0] != DELTA_MAGIC:
            return None
        generation = struct.unpack_from("<Q", data, 40)[0]
        stamp = struct.unpack_from("<Q", data, 152)[0]
        return (generation, stamp) + struct.unpack_from("<QQQ", data, 176)

    def run(self):
        fd = os.open(self.path, os.O_RDONLY)
        last = {}
        try:
            while not self.stopping.is_set():
                now = time.monotonic()
                for host_id in self.host_ids:
                    first = self._read(fd, host_id)
                    # two equal reads in a row: never a record torn by a concurrent write
                    if first is not None and first == self._read(fd, host_id) and \
                            first != last.get(host_id):
                        last[host_id] = first
                        self.changes[host_id].append((now,) + first)
                self.stopping.wait(self.interval)
        finally:
            os.close(fd)

    def stop(self):
        self.stopping.set()
        self.join(5)

    def first(self, host_id, test, after=0.0):
        for change in list(self.changes[host_id]):
            if change[0] >= after and test(change):
                return change[0]
        return None

    def renewals(self, host_id):
        """[(seen at, owner timestamp)] of every timestamp change."""
        out, stamp = [], None
        for change in list(self.changes[host_id]):
            if change[2] and change[2] != stamp:
                out.append((change[0], change[2]))
                stamp = change[2]
        return out

    def wait(self, host_id, test, after, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            seen = self.first(host_id, test, after)
            if seen is not None:
                return seen
            time.sleep(self.interval)
        raise TimeoutError("host %d: no such record within %.0f s" % (host_id, timeout))


class StandIn(threading.Thread):
    """Plays the watchdog of a host without a device: powers its machine off `delay` s
    after its RESETTING reply shows on storage (seen by a LeaseWatch: one pread per poll,
    where the harness's own stand-in spawns `sanlock direct read_leader` 5 times a second,
    which eight of them at once would make a load of its own)."""

    def __init__(self, cluster, watch, host_id, delay, after):
        super().__init__(daemon=True, name="standin-%d" % host_id)
        self.cluster, self.watch, self.host_id = cluster, watch, host_id
        self.delay, self.after = delay, after
        self.generation = cluster.host(host_id).generations[cluster.lockspace]
        self.stopping = threading.Event()
        self.reply_at = self.killed_at = None

    def run(self):
        while not self.stopping.wait(self.watch.interval):
            self.reply_at = reply_on_disk(self.watch, self.host_id, self.generation, self.after)
            if self.reply_at is not None:
                break
        if self.reply_at is None or self.stopping.wait(max(0.0, self.reply_at + self.delay - time.monotonic())):
            return
        self.cluster.host(self.host_id).power_off()
        self.killed_at = time.monotonic()

    def stop(self):
        self.stopping.set()
        self.join(30)


def request_on_disk(watch, proxy, after):
    """When the proxy's record first showed a reset request written after `after`."""
    return watch.first(proxy, lambda c: c[4] & RESET, after)


def reply_on_disk(watch, target, generation, after):
    return watch.first(target, lambda c: c[1] == generation and c[4] & RESETTING, after)
