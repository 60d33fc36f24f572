# SPDX-License-Identifier: GPL-2.0-or-later
"""mutual.py: the look for a request resetting this host, bounded whatever the lockspace
size, and messages that say what is known.

The old look read every host's record with a wait of its own (POLL_INTERVAL): on a
stalled path 250 hosts cost 62 s and 2000 hosts 500 s before anything was sent, outside
power_timeout, and then went on as if no request were pending.
"""

import os
import threading
import time

import pytest

from sanlock_fencing.agent import mutual

from sanlock_fencing.core import events, timing
from sanlock_fencing.core.address import Target
from sanlock_fencing.core.errors import FenceError
from sanlock_fencing.core.evidence import Read
from sanlock_fencing.agent.fence import FenceOptions, fence
from sanlock_fencing.agent.mutual import CHECK_WAIT, OwnHostReset
from sanlock_fencing.core.proxy import JoinedLockspace
from sanlock_fencing.core.world import HostWorld, place_targets

from harness.fakeworld import LS, FakeWorld, Timeline, rec, view

HOSTS = 2000
OWN_GENERATION = 2


class OneReadWorld(FakeWorld):
    """read_all as HostWorld does it: one read of all the records (LeaseReader.read_many),
    waited for once; it returns when its slowest part does, or not at all within `wait`.
    (FakeWorld.read_all reads record after record, each with its own wait.)"""

    reads = 0

    def read_all(self, space, host_ids, wait):
        self.reads += 1
        issued = self.t
        delays = [self.latency[h](issued) if h in self.latency else 0.0 for h in host_ids]
        if any(delay is None or delay > wait for delay in delays):
            self.t = issued + wait
            return {h: Read(issued, None, error="a read of lockspace %s did not return within "
                            "%.0f s (the storage stalls)" % (space.name, wait))
                    for h in host_ids}
        self.t = issued + max(delays, default=0.0)
        reads = {}
        for h in host_ids:
            value = self.records[h].at(issued)
            reads[h] = Read(issued, self.t, error=value) if isinstance(value, str) \
                else Read(issued, self.t, value)
        return reads


def lockspace_of(hosts=HOSTS, stalled_from=None, request_from=None):
    """A world of `hosts` live hosts besides this proxy (host 1); from `stalled_from` on
    every read stalls for good; `request_from` carries a RESET for this host."""
    records, views = {}, {}
    for host_id in range(2, hosts + 1):
        record = rec(1000, host_id=host_id)
        if host_id == request_from:
            record = record._replace(event=events.RESET, event_generation=OWN_GENERATION,
                                     bitmap=rec(0, to=(1,)).bitmap)
        records[host_id] = Timeline([(-100, record)])
        views[host_id] = Timeline([(-100, view("LIVE", 1000, host_id=host_id))])
    latency = {}
    if stalled_from is not None:
        def stall(t):
            return None if t >= stalled_from else 0.0
        latency = {host_id: stall for host_id in range(1, hosts + 1)}
    return OneReadWorld(records, views, latency=latency)


def placed_in(world):
    placed, _missing = place_targets(world.joined(), [Target(LS, 3)])
    return placed


def check(world, **bounds):
    mutual.check_not_being_reset(world, placed_in(world), {LS: OWN_GENERATION}, **bounds)


# ---------------------------------------------------------------- the bound

def test_a_stalled_lockspace_of_2000_hosts_costs_one_wait_and_stops_the_fence():
    world = lockspace_of(stalled_from=0.0)
    with pytest.raises(FenceError) as err:
        check(world)
    assert world.t <= CHECK_WAIT          # the old look: 1999 * 0.25 s = 500 s
    assert world.reads == 1
    assert "nothing was sent" in str(err.value) and "cannot be ruled out" in str(err.value)
    assert not isinstance(err.value, OwnHostReset)


def test_a_whole_fence_on_a_stalled_lockspace_of_2000_hosts_ends_in_seconds():
    # the target's and this host's own records answer the first look; the rest stall
    world = lockspace_of()
    world.latency = {host_id: (lambda t: None) for host_id in range(4, HOSTS + 1)}
    with pytest.raises(FenceError, match="nothing was sent") as err:
        fence(world, [Target(LS, 3)], FenceOptions(power_timeout=10))
    assert not isinstance(err.value, OwnHostReset)
    assert world.t <= CHECK_WAIT and world.sent == []


def test_the_wait_never_passes_the_fences_deadline():
    world = lockspace_of(stalled_from=0.0)
    with pytest.raises(FenceError):
        check(world, deadline=0.5)
    assert world.t <= 0.5


def test_a_deadline_already_past_reads_nothing_and_sends_nothing():
    world = lockspace_of()
    world.t = 30.0
    with pytest.raises(FenceError, match="power_timeout"):
        check(world, deadline=29.0)
    assert world.reads == 0 and world.t == 30.0


def test_a_readable_lockspace_of_2000_hosts_passes_in_one_read():
    world = lockspace_of()
    check(world)
    assert world.reads == 1


def test_a_request_among_2000_hosts_is_found():
    world = lockspace_of(request_from=1500)
    with pytest.raises(OwnHostReset, match="from host 1500 in lockspace ls"):
        check(world)


def test_a_record_in_error_is_not_taken_as_no_request():
    world = lockspace_of(hosts=5)
    world.records[4] = Timeline([(-100, "checksum mismatch in the delta lease of host 4")])
    with pytest.raises(FenceError, match="host 4 in lockspace ls could not be read"):
        check(world)


def test_the_guard_stops_at_the_first_stalled_look_with_nothing_sent():
    world = lockspace_of(stalled_from=5.0)
    with pytest.raises(FenceError, match="nothing was sent"):
        mutual.guard(world, placed_in(world), {LS: OWN_GENERATION}, [], 1, Quiet())
    assert 5.0 <= world.t <= 5.0 + 1.0 + CHECK_WAIT
    assert world.sent == []


def test_a_guard_longer_than_what_is_left_of_power_timeout_waits_not_at_all():
    world = lockspace_of()
    deadline = timing.mutual_guard_wait(10) - 1
    with pytest.raises(FenceError, match="raise power_timeout or set mutual_guard off"):
        mutual.guard(world, placed_in(world), {LS: OWN_GENERATION}, [], 10, Quiet(),
                     deadline=deadline)
    assert world.t == 0 and world.reads == 0


def test_the_guard_keeps_its_wait_within_the_deadline():
    world = lockspace_of(hosts=20)
    wait = timing.mutual_guard_wait(1)
    mutual.guard(world, placed_in(world), {LS: OWN_GENERATION}, [], 1, Quiet(),
                 deadline=wait + 0.5)
    assert wait <= world.t <= wait + 1.0


class Quiet:
    def phase(self, text):
        pass


# ---------------------------------------------------------------- the real world's read

class StubProxy:
    """This host's daemon as far as the look needs it: the hosts of the lockspace."""

    until = None

    def __init__(self, hosts):
        self._views = [view("LIVE", 1000, host_id=h) for h in range(1, hosts + 1)]

    def hosts(self, lockspace):
        return list(self._views)


def test_host_world_waits_once_for_2000_records_on_a_path_that_never_answers(tmp_path):
    # A FIFO with no writer: its open() blocks as a read on a stalled path does.
    path = str(tmp_path / "stalled")
    os.mkfifo(path)
    world = HostWorld(StubProxy(HOSTS))
    space = JoinedLockspace(LS, 1, path, 0, False, False)
    started = time.monotonic()
    try:
        with pytest.raises(FenceError, match="storage stalls"):
            mutual.check_not_being_reset(world, [(Target(LS, 3), space)],
                                         {LS: OWN_GENERATION}, wait=0.5)
        elapsed = time.monotonic() - started
    finally:
        release = os.open(path, os.O_WRONLY | os.O_NONBLOCK)    # lets the read end
        os.close(release)
    assert 0.5 <= elapsed < 1.5
    assert sum(t.name.startswith("bounded:") for t in threading.enumerate()) <= 1


# ---------------------------------------------------------------- what the messages say

def own_reset_text():
    world = lockspace_of(hosts=5, request_from=4)
    with pytest.raises(OwnHostReset) as err:
        check(world)
    return str(err.value)


def test_a_request_on_storage_says_who_sent_it_where_and_what_it_depends_on():
    text = own_reset_text()
    assert "a RESET request for this host is on storage from host 4 in lockspace ls" in text
    assert "only if a responder (sanlk-resetd) watches lockspace ls here" in text
    assert "only one may proceed" in text
    assert "is being reset" not in text


def test_an_arrived_request_says_the_same():
    with pytest.raises(OwnHostReset) as err:
        mutual.raise_if_request(Target(LS, 3), {"from_host_id": 3, "event": events.RESET})
    text = str(err.value)
    assert "a RESET request for this host arrived from host 3 in lockspace ls" in text
    assert "only if a responder" in text and "is being reset" not in text


def test_a_lockspace_name_from_the_daemon_is_escaped_in_the_message():
    with pytest.raises(OwnHostReset) as err:
        mutual.raise_if_request(Target("ls\x1b[2J", 3), {"from_host_id": 3,
                                                         "event": events.RESET})
    assert "\x1b" not in str(err.value) and "ls\\x1b[2J" in str(err.value)
