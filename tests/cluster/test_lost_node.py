# SPDX-License-Identifier: GPL-2.0-or-later
"""Failover scenario 1, the mission end to end: three nodes; the writer's node loses its
network (not its storage); the two others keep quorum and fence it through this agent,
its own watchdog resets it, and the writer starts on a survivor only after the proof,
never with two writers. test_failover.py's docstring says how the clusters are built and
why no-quorum-policy is `freeze`; `make check` runs this file beside the other tests
(`make check-cluster` the longer scenarios 2 and 3).
"""

import pytest

from harness.clusterwriter import no_overlap
from harness.failover import durations, fence_success, lost_node_scenario, timeline

IO = 3


# ---------------------------------------------------------------- the records themselves

def test_the_records_round_trip_and_a_torn_one_is_not_read():
    from harness.clusterwriter import RECORD, decode, encode
    block = encode("node-a", 2, 7, 1_700_000_000_123_456_789, 42)
    assert len(block) == RECORD
    assert decode(block) == {"node": "node-a", "slot": 2, "seq": 7,
                             "t": 1_700_000_000.123456789, "pid": 42}
    torn = block[:40] + b"\xff" + block[41:]
    assert decode(torn) is None and decode(b"\0" * RECORD) is None


def test_no_overlap_catches_a_second_writer():
    def rec(node, t):
        return {"node": node, "slot": 0, "seq": 0, "t": t, "pid": 1}
    before = {3: [rec("n3", 10.0), rec("n3", 20.0)], 1: [rec("n1", 5.0), rec("n1", 21.0)]}
    assert no_overlap(before, "n3", "n1", since=6.0)[0]
    late = {3: before[3] + [rec("n3", 22.0)], 1: before[1]}
    ok, why = no_overlap(late, "n3", "n1", since=6.0)
    assert not ok and "later than" in why
    assert not no_overlap({3: before[3], 1: []}, "n3", "n1", since=6.0)[0]


# ---------------------------------------------------------------- scenario 1

@pytest.fixture(scope="module")
def lost_node():
    """Three nodes; host 3 runs the writer and loses its network (harness/failover.py)."""
    r = lost_node_scenario(IO)
    print("scenario 1: %.0f s; %s" % (r.seconds, durations(timeline(r))))
    yield r


@pytest.mark.slow
def test_the_lost_node_is_fenced_through_the_agent(lost_node):
    r = lost_node
    assert "successful" in r.history.stdout, (r.history.stdout, r.crm_mon)
    t, line = fence_success(r)
    assert t is not None, "no successful fence by the sanlock device in any log"
    assert r.cut < t
    for result in r.pcs:                      # the README's commands draw no warning
        assert "Warning" not in result.stdout + result.stderr, result


@pytest.mark.slow
def test_the_lost_node_was_reset_by_its_own_watchdog(lost_node):
    r = lost_node
    assert len(r.fires[3]) == 1, r.fires
    assert not r.running[3]
    assert r.fires[1] == [] and r.fires[2] == []
    t, _line = fence_success(r)
    assert r.cut < r.fires[3][0] < t


@pytest.mark.slow
def test_the_writer_started_on_a_survivor_only_after_the_proof(lost_node):
    r = lost_node
    assert r.survivor in (r.names[1], r.names[2])
    t, _line = fence_success(r)
    first = min(rec["t"] for rs in r.records.values() for rec in rs
                if rec["node"] == r.survivor)
    assert first > t, (first, t)
    moments = dict(timeline(r))
    assert None not in moments.values(), moments


@pytest.mark.slow
def test_never_two_writers(lost_node):
    r = lost_node
    ok, why = no_overlap(r.records, r.lost, r.survivor, since=r.cut)
    assert ok, why
    lost = [rec["t"] for rs in r.records.values() for rec in rs if rec["node"] == r.lost]
    # it wrote until its reset (freeze): the fence, not its own stop, ended its writes
    assert max(lost) > r.cut + 30, (max(lost) - r.cut)
    assert r.fires[3][0] - max(lost) < 2, (r.fires[3][0] - max(lost))
