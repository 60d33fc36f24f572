# SPDX-License-Identifier: GPL-2.0-or-later
"""Node names, list output and the mutual-fence guard, through made-up worlds: what
Pacemaker's calls meet. A scenario file across agent/nodes.py, agent/status.py (list)
and agent/fence.py with agent/mutual.py (two nodes fencing each other)."""

import pytest

from harness.fakeworld import LS, FakeWorld, Timeline, rec, renewals, views_from
from sanlock_fencing.core import events, timing
from sanlock_fencing.core.address import Target
from sanlock_fencing.core.errors import FenceError, UsageError
from sanlock_fencing.agent.fence import FenceOptions, OwnHostReset, fence
from sanlock_fencing.agent.nodes import listable, node_name, resolve
from sanlock_fencing.agent.status import list_hosts

UUID = "0c5a9e2d-6c9a-4b1f-8f52-3a0b8f0f2e11"


def named(host_id, name, gen=5):
    points = renewals(-20, None, host_id=host_id, gen=gen)
    return [(t, r._replace(host_name=name)) for t, r in points]


def world_of(names, **kwargs):
    records = {h: Timeline(named(h, n)) for h, n in names.items()}
    views = {h: views_from(named(h, n), host_id=h) for h, n in names.items()}
    views[1] = views_from(named(1, "host1"), host_id=1)   # the proxy, as its daemon shows it
    return FakeWorld(records, views, **kwargs)


@pytest.mark.parametrize("host_name, node", [
    ("node2", "node2"), (UUID + ".node2", "node2"), (UUID, UUID),
    (UUID + ".node2.example.com", "node2.example.com")])
def test_node_name_of_a_lease(host_name, node):
    assert node_name(host_name) == node


def test_listable_names_are_what_the_fencer_keeps_whole():
    assert listable("node-2.example_x")
    assert not listable("ls:3") and not listable("node@2") and not listable("on")


def test_a_node_name_resolves_to_its_host_id():
    world = world_of({2: "node2", 3: UUID + ".Node3"})
    assert resolve(world, [LS], "node3") == [Target(LS, 3)]
    assert resolve(world, [LS], "NODE2") == [Target(LS, 2)]


def test_an_unknown_or_ambiguous_node_name_is_refused_naming_the_candidates():
    world = world_of({2: "node2", 3: "node3", 4: "node3"})
    with pytest.raises(FenceError, match="node2") as unknown:
        resolve(world, [LS], "node9")
    assert "pcmk_host_map" in str(unknown.value) and "our_host_name" in str(unknown.value)
    with pytest.raises(UsageError, match="3, 4"):
        resolve(world, [LS], "node3")


def test_a_truncated_default_name_does_not_match_by_prefix():
    world = world_of({2: UUID + ".verylongno"})
    with pytest.raises(FenceError):
        resolve(world, [LS], "verylongnodename")


def test_list_prints_one_node_name_per_host():
    world = world_of({2: "node2", 3: UUID + ".node3", 4: "bad:name"})
    warnings = []
    outlets = list_hosts(world, [LS], warn=warnings.append)
    assert sorted(outlets) == ["host1", "node2", "node3"]
    assert all(alias == "" for alias, _ in outlets.values())
    assert "bad:name" in warnings[0]


# ------------------------------------------------------------------ two nodes, each other

def test_a_request_for_this_host_on_storage_stops_the_fence_before_sending():
    # host 3 (the target) is fencing this host, proxy 1 (generation 2): its record says so
    points = [(t, r._replace(event=events.RESET, event_generation=2,
                             bitmap=rec(0, to=(1,)).bitmap)) for t, r in renewals(-20, None)]
    world = FakeWorld({3: Timeline(points)}, {3: views_from(points)})
    with pytest.raises(OwnHostReset, match="host 3"):
        fence(world, [Target(LS, 3)], FenceOptions())
    assert world.sent == []


def test_the_higher_host_id_waits_and_gives_up_when_the_other_request_arrives():
    # proxy 5 fences host 3 while host 3 fences it: host 3's request arrives at 8 s
    points = renewals(-20, None)
    arrival = (8.0, {"from_host_id": 3, "from_generation": 5, "host_id": 5,
                     "generation": 2, "event": events.RESET, "data": 0})
    world = FakeWorld({3: Timeline(points)}, {3: views_from(points)}, proxy_id=5,
                      incoming=[arrival])
    with pytest.raises(OwnHostReset):
        fence(world, [Target(LS, 3)], FenceOptions(mutual_guard=True))
    assert world.sent == [] and world.t < 10


def test_the_guard_costs_only_the_higher_host_id():
    points = renewals(-20, None)         # no reply: only when the request went out matters
    slow = FakeWorld({3: Timeline(points)}, {3: views_from(points)}, proxy_id=5)
    with pytest.raises(FenceError):
        fence(slow, [Target(LS, 3)], FenceOptions(mutual_guard=True))
    assert slow.sent[0][0] >= timing.mutual_guard_wait(1)
    fast = FakeWorld({3: Timeline(points)}, {3: views_from(points)}, proxy_id=1)
    with pytest.raises(FenceError):
        fence(fast, [Target(LS, 3)], FenceOptions(mutual_guard=True))
    assert fast.sent[0][0] < 2


def test_a_request_not_yet_on_storage_is_withdrawn_when_this_host_is_reset():
    points = renewals(-20, None)
    arrival = (0.5, {"from_host_id": 3, "from_generation": 5, "host_id": 1,
                     "generation": 2, "event": events.RESET, "data": 0})
    world = FakeWorld({3: Timeline(points)}, {3: views_from(points)}, incoming=[arrival],
                      own_request_written_after=5.0)
    with pytest.raises(OwnHostReset):
        fence(world, [Target(LS, 3)], FenceOptions())
    assert world.withdrawn
