# SPDX-License-Identifier: GPL-2.0-or-later
"""A made-up world for the fence loop and status: what is on storage, what this host's
daemon says, and a virtual clock, all as explicit timelines (seconds).

A Timeline is a list of (from_time, value): the value holds from that time until the
next entry. Records and views are built with rec() and view(); periodic renewals
with renewals(). Nothing here knows the rules being tested.

The host services' side (unfencing, monitor, the resetd sync) has fakes of its own below:
this host's daemon, sanlk-resetd's socket, the target side; and a hostile lockspace name.
The unit tests import this module from every folder (harness.fakeworld); it needs only
the library, so it loads under every Python of make unit-pythons.
"""

import bisect
import os
import socket
import threading
import time

from sanlock_fencing.core.address import Target
from sanlock_fencing.core.evidence import Look, Read
from sanlock_fencing.core.hoststate import HostState, HostView
from sanlock_fencing.core.lease import LeaseRecord
from sanlock_fencing.core.proxy import DaemonDown, EventSlotBusy, JoinedLockspace, ProxyError
from sanlock_fencing.core.resetd_protocol import UPDATE_SIZE, ResetdClient

LS = "ls"
PROXY_ID = 1
T3 = Target(LS, 3)          # the host the timelines fence, unless a test says otherwise


def rec(ts, gen=5, event=0, host_id=3, io=1, event_generation=7, to=(), name=None):
    """A record; to: the host ids its event is addressed to (bitmap bits)."""
    bitmap = bytearray(256)
    for target in to:
        bitmap[(target - 1) // 8] |= 1 << ((target - 1) % 8)
    return LeaseRecord(host_id=host_id, owner_id=host_id, owner_generation=gen, timestamp=ts,
                       io_timeout=io, sector_size=512, host_name=name or "host%d" % host_id,
                       event=event, event_generation=event_generation, event_data=0,
                       flags=0x10, bitmap=bytes(bitmap))


def view(state, ts, gen=5, host_id=3, io=1):
    return HostView(host_id, gen, ts, io, HostState[state] if isinstance(state, str) else state)


class Timeline:
    def __init__(self, points):
        self.points = sorted(points, key=lambda p: p[0])
        self.times = [p[0] for p in self.points]

    def at(self, t):
        i = bisect.bisect_right(self.times, t) - 1
        if i < 0:
            raise KeyError("nothing defined at %s" % t)
        return self.points[i][1]


def renewals(start, stop, io=1, ts0=1000, gen=5, host_id=3, events_at=(), skew=0.0):
    """Records of a host renewing every 2*io from `start` until `stop` (exclusive).

    The record written at time t has timestamp ts0 + (t - start) (the owner clock)
    and becomes visible `skew` seconds later. events_at: [(from_time, event)]: the
    event fields written by renewals from that time on.
    """
    points = []
    t = start
    while stop is None and t < start + 4000 or stop is not None and t < stop:
        event = 0
        for when, value in events_at:
            if t >= when:
                event = value
        points.append((t + skew, rec(int(ts0 + t - start), gen, event, host_id, io)))
        t += 2 * io
    return points


class FakeStore:
    def __init__(self):
        self.kept = {}

    def save(self, ev, writer):
        from copy import deepcopy
        self.kept[(ev.lockspace, ev.host_id, ev.generation, writer)] = deepcopy(ev)
        return True

    def load(self, lockspace, host_id, generation):
        from copy import deepcopy
        return {w: deepcopy(ev) for (ls, h, g, w), ev in self.kept.items()
                if (ls, h, g) == (lockspace, host_id, generation)}

    def forget(self, lockspace):
        for key in [key for key in self.kept if key[0] == lockspace]:
            del self.kept[key]
        return True


class FakeWorld:
    """records: {host_id: Timeline of LeaseRecord}; views: {host_id: Timeline of HostView}.

    own_request_written_after: seconds after a set_event until this proxy's own
    record carries it (None: never). latency: {host_id: f(t) -> seconds} of reads,
    None meaning the read stalls for good. daemon_dies_at: the daemon stops answering.
    """

    def __init__(self, records, views, lockspaces=(LS,), io=1, own_ts0=500,
                 own_request_written_after=1.0, latency=None, daemon_dies_at=None,
                 busy_until=None, store=None, incoming=(), snapshot="issued",
                 proxy_id=PROXY_ID, own_generation=2):
        self.t = 0.0
        self.records = records
        self.views = views
        self.lockspaces = list(lockspaces)
        self.io = io
        self.own_ts0 = own_ts0
        self.own_after = own_request_written_after
        self.latency = latency or {}
        self.daemon_dies_at = daemon_dies_at
        self.busy_until = busy_until
        self.store = store
        self.incoming = list(incoming)      # [(time, event dict)] delivered to our fds
        self.snapshot = snapshot            # a read shows the disk as of "issued" or "returned"
        self.sent = []                      # [(time, lockspace, host_id, generation, event)]
        self.proxy = None
        self.proxy_id = proxy_id
        self.own_generation = own_generation    # this proxy's generation in its lockspaces
        self.withdrawn = []
        self._pending = {}

    def bound_calls(self, until):
        self.until = until

    # clock
    def clock(self):
        return self.t

    def sleep(self, seconds):
        self.t += seconds

    # daemon
    def _alive(self):
        if self.daemon_dies_at is not None and self.t >= self.daemon_dies_at:
            raise DaemonDown("this host's sanlock daemon closed the connection (test)")

    def joined(self):
        self._alive()
        return {ls: JoinedLockspace(ls, self.proxy_id, "/dev/fake-%s" % ls, 0, False, False)
                for ls in self.lockspaces}

    def hosts(self, lockspace):
        self._alive()
        ids = sorted({k[1] if isinstance(k, tuple) else k for k in self.views
                      if not isinstance(k, tuple) or k[0] == lockspace})
        return [self.look(lockspace, i).view for i in ids]

    def look(self, lockspace, host_id):
        self._alive()
        if host_id == self.proxy_id and (lockspace, host_id) not in self.views and \
                host_id not in self.views:
            return Look(self.t, self.t, view("LIVE", int(self.own_ts0 + self.t),
                                             self.own_generation, host_id, self.io))
        views = self.views[(lockspace, host_id)] if (lockspace, host_id) in self.views \
            else self.views[host_id]
        return Look(self.t, self.t, views.at(self.t))

    def _own_record(self, lockspace):
        ts = int(self.own_ts0 + self.t)
        event, gen = 0, 0
        for when, ls, _h, g, value in self.sent:
            if ls == lockspace and self.own_after is not None and self.t >= when + self.own_after:
                event, gen = value, g
        return rec(ts, self.own_generation, event, self.proxy_id, self.io,
                   event_generation=gen)

    def read_all(self, space, host_ids, wait):
        """Every record read at once, as HostWorld.read_all does: the clock moves by the
        slowest read (at most `wait`), not by the sum of them."""
        started, ended, found = self.t, self.t, {}
        for host_id in host_ids:
            self.t = started
            found[host_id] = self.read(space, host_id, wait)
            ended = max(ended, self.t)
        self.t = ended
        return found

    def read(self, space, host_id, wait):
        issued = self.t
        key = (space.name, host_id)
        if key in self._pending:
            issued = self._pending[key]
        delay_fn = self.latency.get(host_id)
        delay = delay_fn(issued) if delay_fn else 0.0
        if delay is None or issued + delay > self.t + wait:
            self._pending[key] = issued
            self.t += wait
            return Read(issued, None, error="a read issued %.0f s ago has not returned"
                        % (self.t - issued))
        self._pending.pop(key, None)
        returned = max(self.t, issued + delay)
        self.t = returned
        if host_id == self.proxy_id:
            return Read(issued, returned, self._own_record(space.name))
        timeline = self.records[(space.name, host_id)] if (space.name, host_id) in \
            self.records else self.records[host_id]
        value = timeline.at(issued if self.snapshot == "issued" else returned)
        if isinstance(value, str):
            return Read(issued, returned, error=value)
        return Read(issued, returned, value)

    def register_events(self, lockspace):
        self._alive()
        return lockspace

    def read_events(self, handle):
        self._alive()
        due = [e for when, e in self.incoming if when <= self.t and e.get("ls", handle) == handle]
        self.incoming = [(w, e) for w, e in self.incoming
                         if not (w <= self.t and e.get("ls", handle) == handle)]
        return due

    def end_events(self, handle, lockspace):
        pass

    def poll_events(self, handles, wait):
        """Handles with an event due within `wait` (the clock moves to it, or by wait)."""
        due = [when for when, e in self.incoming if e.get("ls", LS) in handles]
        soonest = min(due) if due else None
        if soonest is not None and soonest <= self.t + wait:
            self.t = max(self.t, soonest)
            return sorted({e.get("ls", LS) for when, e in self.incoming
                           if when <= self.t and e.get("ls", LS) in handles})
        self.t += wait
        return []

    def withdraw_event(self, lockspace, host_id, generation):
        self.withdrawn.append((self.t, lockspace, host_id))
        self.sent = [x for x in self.sent if x[1] != lockspace]

    def send_event(self, lockspace, host_id, generation, event):
        self._alive()
        if self.busy_until is not None and self.t < self.busy_until:
            raise EventSlotBusy("busy (test)")
        self.sent.append((self.t, lockspace, host_id, generation, event))


def views_from(points, io=1, lag=1.0, host_id=3, until=None):
    """The daemon's view of a host whose records change at the given points: each new
    timestamp shows `lag` seconds later; FAIL 8*io after the last change, DEAD 60 s later.
    A record with timestamp 0 shows as FREE."""
    out = []
    last_change = None
    for t, r in sorted(points, key=lambda p: p[0]):
        if isinstance(r, str):
            continue
        state = "FREE" if r.timestamp == 0 else "LIVE"
        out.append((t + lag, view(state, r.timestamp, r.owner_generation, host_id, io)))
        last_change = (t + lag, r)
    if last_change is not None and last_change[1].timestamp:
        t, r = last_change
        out.append((t + 8 * io, view("FAIL", r.timestamp, r.owner_generation, host_id, io)))
        out.append((t + 8 * io + 60, view("DEAD", r.timestamp, r.owner_generation, host_id, io)))
    return Timeline(out)


def world_of(points, lag=1.0, **kwargs):
    """A world whose host 3 writes the records `points` (its daemon's view follows)."""
    return FakeWorld({3: Timeline(points)}, {3: views_from(points, lag=lag)}, **kwargs)


def run_fence(world, targets=(T3,), **options):
    """A fence of targets through world: ('proven' | 'already off' | 'failed', message,
    virtual seconds)."""
    from sanlock_fencing.core.errors import FenceError
    from sanlock_fencing.agent.fence import FenceOptions, fence
    try:
        result = fence(world, list(targets), FenceOptions(**options), writer="fence-test")
    except FenceError as err:
        return "failed", str(err), world.t
    return ("already off" if result.already_off else "proven"), result.proof, world.t


# ---------------------------------------------------------------- the host services' side
# What unfencing, monitor and the resetd sync see of this host: its daemon's joined
# lockspaces, sanlk-resetd's update socket, which target side runs.

class FakeDaemon:
    """This host's sanlock daemon: the lockspaces it joined (FakeDaemon(ls=3) joins ls as
    host id 3), its generation in each, other hosts' views; down: it stops answering."""

    def __init__(self, **joined):
        self.spaces = {}        # name -> JoinedLockspace
        self.generation = {}    # name -> this host's generation
        self.down = False
        self.others = {}        # (name, host_id) -> HostView
        for name, host_id in joined.items():
            self.join(name, host_id)

    def join(self, name, host_id=1, generation=1, adding=False, removing=False):
        self.spaces[name] = JoinedLockspace(name, host_id, "/dev/%s" % name, 0, adding,
                                            removing)
        self.generation[name] = generation

    def leave(self, name):
        self.spaces.pop(name, None)

    def joined(self):
        if self.down:
            raise ProxyError("this host's sanlock daemon is not running")
        return dict(self.spaces)

    def host(self, name, host_id, retry_seconds=5.0):
        if (name, host_id) in self.others:
            return self.others[(name, host_id)]
        return HostView(host_id, self.generation[name], 100, 10, HostState.LIVE)


class FakeResetd:
    """sanlk-resetd's update socket: a bound datagram socket at `path` whose reader thread
    keeps what arrives ("reg ls", "end ls"); stop() and start() again is a restart."""

    def __init__(self, path):
        self.path = path
        self.sock = None
        self.thread = None
        self.lock = threading.Lock()
        self.received = []
        self.start()

    def start(self):
        if os.path.exists(self.path):
            os.unlink(self.path)     # as sanlk-resetd does before bind
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.05)
        self.running = True
        self.thread = threading.Thread(target=self._read, args=(self.sock,), daemon=True)
        self.thread.start()

    def _read(self, sock):
        while self.running:
            try:
                data = sock.recv(1024)
            except socket.timeout:
                continue
            except OSError:
                return
            assert len(data) == UPDATE_SIZE
            with self.lock:
                self.received.append(data.rstrip(b"\0").decode())

    def stop(self, unlink=False):
        self.running = False
        self.thread.join()
        self.sock.close()
        if unlink:
            os.unlink(self.path)

    def drain(self):
        """What arrived since the last drain (after a moment for the reader thread)."""
        time.sleep(0.1)
        with self.lock:
            got, self.received = self.received, []
        return got


class ResetdStub(ResetdClient):
    """A client of a sanlk-resetd that runs or not, as told; it is never connected."""

    def __init__(self, running):
        super().__init__("/nonexistent/sanlk-resetd.sock")
        self.answers = running

    def running(self):
        return self.answers


def fake_side(kind, sysfs=None, note=None):
    """A target_side.which that finds `kind` ("responder", "sanlk-resetd", "both", ...)
    with pid 4242."""
    from sanlock_fencing.host import target_side
    return lambda client: target_side.Side(kind, 4242, sysfs, note)


# watchdog_fire's verdict on an iTCO_wdt whose wdmd does not halve its timeout
ITCO_LATE = ("this host's watchdog would fire up to 132 s after an arming, later than the "
             "72 s every fencing proxy assumes: watchdog0 (iTCO_wdt, timeout 60 s: it fires "
             "only after two timeouts)")


# ---------------------------------------------------------------- a hostile name
# Whoever adds a lockspace chooses its name and path: an escape sequence in one must not
# act on the terminal nor forge a log line wherever it is shown.

HOSTILE_NAME = "ls\x1b]0;owned\x07\nforged line"
HOSTILE_SHOWN = "ls\\x1b]0;owned\\x07\\nforged line"


def assert_printable(text):
    assert all(ch.isprintable() for ch in text), repr(text)
