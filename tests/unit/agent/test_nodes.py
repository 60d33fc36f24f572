# SPDX-License-Identifier: GPL-2.0-or-later
"""Whose lease is it: a node name picks or checks a lease only through a whole host name
(issue 18, "Identity"), through made-up worlds."""

import pytest

from harness.fakeworld import LS, FakeWorld, Timeline, renewals, views_from
from sanlock_fencing.core.address import Target
from sanlock_fencing.core.errors import FenceError, UsageError
from sanlock_fencing.agent.nodes import (NAME_BYTES_ON_DISK, check_names_node, listed_nodes,
                                         may_be_cut, names_node, resolve)
from sanlock_fencing.agent.request import addressed_host_ids
from sanlock_fencing.agent.status import list_hosts

UUID = "0c5a9e2d-6c9a-4b1f-8f52-3a0b8f0f2e11"
LS2 = "ls2"


def default_name(nodename):
    """What sanlock writes for a daemon started without -e on a machine named nodename:
    "UUID." and the nodename, 47 bytes at most."""
    return ("%s.%s" % (UUID, nodename)).encode()[:NAME_BYTES_ON_DISK].decode()


CUT = default_name("cluster-n10")           # ends in ".cluster-n1"


def named(host_id, name, gen=5):
    points = renewals(-20, None, host_id=host_id, gen=gen)
    return [(t, r._replace(host_name=name)) for t, r in points]


def world_of(names, lockspaces=(LS,)):
    """names: {host id: host name} (every lockspace) or {(lockspace, host id): host name}.
    The proxy (host 1) is in the daemon's view too, as a real daemon shows it."""
    keyed = {k if isinstance(k, tuple) else (ls, k): n
             for k, n in names.items() for ls in lockspaces
             if not isinstance(k, tuple) or k[0] == ls}
    records = {k: Timeline(named(k[1], n)) for k, n in keyed.items()}
    views = {k: views_from(named(k[1], n), host_id=k[1]) for k, n in keyed.items()}
    for ls in lockspaces:
        views[(ls, 1)] = views_from(named(1, "host1"), host_id=1)
    return FakeWorld(records, views, lockspaces=lockspaces)


# ------------------------------------------------------------------ which names are whole

def test_a_default_name_that_fills_the_47_bytes_may_be_cut():
    assert CUT.endswith(".cluster-n1") and len(CUT.encode()) == NAME_BYTES_ON_DISK
    assert may_be_cut(CUT)
    assert may_be_cut(default_name("cluster-n1"))        # 10 characters: cannot be told apart
    assert not may_be_cut(default_name("node2"))          # shorter: whole
    assert not may_be_cut("x" * 47)                       # an explicit name is as given
    assert may_be_cut("%s.n\ufffd" % UUID)                # a character cut in two


def test_a_name_that_may_be_cut_names_no_node():
    assert not names_node(CUT, "cluster-n1")
    assert not names_node(CUT, "cluster-n10")
    assert not names_node(CUT, CUT)
    assert names_node(default_name("Node2"), "node2")
    assert names_node("node3", "NODE3") and not names_node("node3", "node2")
    assert not names_node("", "node2")


# ------------------------------------------------------------------ list

def test_list_leaves_out_what_may_name_the_wrong_machine_and_says_why():
    warnings = []
    listed = listed_nodes([(LS, 2, "node2"), (LS, 3, CUT), (LS, 4, "dup"), (LS, 5, "dup"),
                           (LS, 6, "node6"), (LS2, 6, default_name("node6")),
                           (LS, 7, "node7"), (LS2, 7, "node7")], warnings.append)
    assert listed == {"node2": [(LS, 2)], "node7": [(LS, 7), (LS2, 7)]}
    text = "\n".join(warnings)
    assert "ls:3 is not listed" in text and "our_host_name" in text and "cut" in text
    assert "pcmk_host_map=NODE:3" in text
    assert "'dup' is not listed" in text and "host ids 4, 5" in text
    assert "'node6' is not listed" in text and "different machines" in text


def test_a_device_whose_address_names_a_host_lists_that_host_alone():
    world = world_of({2: "node2", 3: "node3"})
    assert sorted(list_hosts(world, [LS])) == ["host1", "node2", "node3"]
    only = list_hosts(world, [LS], addressed=addressed_host_ids("ls:3"))
    assert sorted(only) == ["node3"]


def test_list_does_not_print_a_cut_name():
    warnings = []
    outlets = list_hosts(world_of({2: "node2", 3: CUT}), [LS], warn=warnings.append)
    assert sorted(outlets) == ["host1", "node2"]
    assert any("ls:3" in w and "our_host_name" in w for w in warnings)


# ------------------------------------------------------------------ a node name resolved

def test_a_cut_default_name_is_never_resolved_and_the_refusal_says_so():
    world = world_of({2: "node2", 3: CUT})
    with pytest.raises(FenceError) as refused:
        resolve(world, [LS], "cluster-n1")
    text = str(refused.value)
    assert "ls:3" in text and "may be sanlock's default name cut" in text
    assert "our_host_name" in text and "pcmk_host_map=cluster-n1:HOST_ID" in text


def test_a_node_name_naming_different_machines_in_two_lockspaces_is_refused():
    world = world_of({(LS, 3): "node3", (LS2, 3): default_name("node3")},
                     lockspaces=(LS, LS2))
    with pytest.raises(UsageError, match="different machines") as refused:
        resolve(world, [LS, LS2], "node3")
    assert "'node3'" in str(refused.value) and default_name("node3") in str(refused.value)


def test_one_machine_in_two_lockspaces_resolves_to_both():
    world = world_of({3: "node3"}, lockspaces=(LS, LS2))
    assert resolve(world, [LS, LS2], "node3") == [Target(LS, 3), Target(LS2, 3)]


# ------------------------------------------------------------------ a node name checked

def test_a_node_name_that_contradicts_the_addressed_lease_is_refused_naming_both():
    world = world_of({2: "node2", 3: "node3"})
    with pytest.raises(UsageError) as refused:
        check_names_node(world, [Target(LS, 3)], "node2")
    text = str(refused.value)
    assert "'node2'" in text and "'node3'" in text and "nothing was sent" in text
    assert "pcmk_host_map=node2:HOST_ID" in text
    assert world.sent == []
    check_names_node(world, [Target(LS, 3)], "node3")         # its own node: accepted
    check_names_node(world, [Target(LS, 3)], "NODE3")


def test_a_cut_addressed_lease_cannot_show_it_is_the_node_asked_for():
    world = world_of({3: CUT})
    with pytest.raises(UsageError) as refused:
        check_names_node(world, [Target(LS, 3)], "cluster-n10")
    text = str(refused.value)
    assert CUT in text and "our_host_name" in text and "pcmk_host_map=cluster-n10:3" in text


def test_every_addressed_lease_must_carry_the_node_and_one_name():
    world = world_of({(LS, 3): "node3", (LS2, 4): "node4"}, lockspaces=(LS, LS2))
    with pytest.raises(UsageError, match="'node4'"):
        check_names_node(world, [Target(LS, 3), Target(LS2, 4)], "node3")
    world = world_of({(LS, 3): "node3", (LS2, 3): default_name("node3")},
                     lockspaces=(LS, LS2))
    with pytest.raises(UsageError, match="different machines"):
        check_names_node(world, [Target(LS, 3), Target(LS2, 3)], "node3")


def test_an_unreadable_addressed_lease_refuses_within_the_wait():
    world = world_of({3: "node3"})
    world.latency = {3: lambda t: None}                          # the read never returns
    with pytest.raises(FenceError, match="cannot read the lease of ls:3") as refused:
        check_names_node(world, [Target(LS, 3)], "node3", wait=2.0)
    assert not isinstance(refused.value, UsageError)
    assert world.clock() <= 2.0 and world.sent == []


def test_a_name_from_storage_is_shown_escaped():
    world = world_of({3: "evil\x1b[2Jname"})
    with pytest.raises(UsageError) as refused:
        check_names_node(world, [Target(LS, 3)], "node2")
    assert "\x1b" not in str(refused.value) and "evil\\x1b[2Jname" in str(refused.value)
