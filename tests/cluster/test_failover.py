# SPDX-License-Identifier: GPL-2.0-or-later
"""The mission end to end (issue 20): a real cluster loses a node's network, keeps its
storage, fences the node through this agent and fails over, never with two writers.

Each node is a simulated host with its own network, corosync and Pacemaker
(harness/pcmkcluster.py, harness/netns.py), its own sanlock daemon, wdmd on its fake watchdog
device and the project's responder. Fencing is configured with exactly the README's pcs
commands (no pcmk_host_map: node names are the hosts' sanlock names). The resource is
the test's writer (harness/ocf/writer -> harness/clusterwriter.py): records with
CLOCK_REALTIME stamps, O_DIRECT|O_DSYNC, on the shared storage through the node's view.

The cluster property no-quorum-policy is `freeze` here, on purpose: a node that loses
quorum then keeps its resource running, as a VM whose stop hangs on its storage would, so
the only thing that ends the lost node's writes is its reset. With the default `stop` the
lost node stops the writer itself a few seconds after the cut, and the records could not
tell a fence that works from one that merely waits long enough.

Scenarios (io_timeout 3, the shortest at which the real watchdog chain runs):
1. three nodes, the writer's node is cut off: the two others keep quorum, fence it through
   the agent, its own watchdog resets it, the writer starts on a survivor only after the
   proof (test_lost_node.py; harness.failover.lost_node_scenario, which the demo and the
   bench run too). `make check` runs it, beside the other tests;
2. the same with the lost node's device broken (it never fires): the fence fails, the
   failure is in the stonith history, the writer starts nowhere else;
3. two nodes (two_node: 1), the link between them cut: both fence each other at once;
   exactly one survives and runs the writer, in every repetition.
2 and 3 are this file, which `make check-cluster` runs, one cluster at a time.
"""

import random
import time

import pytest

from harness.clusterwriter import no_overlap
from harness.failover import Record, cluster_run, configure
from harness.pcmkcluster import log_events
from harness.simcluster import wait_for
from sanlock_fencing.core import timing

IO = 3
TIMEOUT = timing.pacemaker_timeout(IO)        # what the README derives: 160 s at io 3


# ---------------------------------------------------------------- scenario 2

@pytest.fixture(scope="module")
def broken_watchdog():
    """Three nodes; host 3 runs the writer, loses its network, and its device is broken:
    wdmd pets it, its responder arms it, it never fires."""
    r = Record()
    with cluster_run(r, 3, {1: "real", 2: "real", 3: "broken"}, IO, prefix="fo2") as (_sim, pc):
        configure(pc, 3, IO)
        time.sleep(2)
        r.cut = time.time()
        pc.cut(3)
        r.lost = pc.node(3).name

        def failed():
            # --verbose: without it Pacemaker 2.1.5 lists no failed (or pending) action
            h = pc.node(1).tool("stonith_admin", "--history", r.lost, "--verbose",
                                timeout=30)
            return h if "failed" in h.stdout else None
        r.history = wait_for(failed, TIMEOUT + 90, 2.0, "the first fence to fail")
        r.failed_at = time.time()
        time.sleep(10)                  # Pacemaker's reaction to the failure
        r.where = {n.host_id: pc.resource_node(n, "writer") for n in pc.nodes[:2]}
        r.crm_mon = pc.node(1).tool("crm_mon", "-1", "--include", "all").stdout
    yield r


@pytest.mark.slow
def test_a_watchdog_that_does_not_fire_fails_the_fence(broken_watchdog):
    r = broken_watchdog
    assert "reboot of %s failed" % r.lost in r.history.stdout, r.history.stdout
    assert "Failed Fencing Actions" in r.crm_mon, r.crm_mon
    failures = [line for log in r.logs.values() for _t, line in log_events(
        log, r"Operation '(reboot|off)' \[\d+\] targeting %s using sanlock returned 1"
        % r.lost)]
    assert failures, "no failed operation of the sanlock device in any log"
    joined = "\n".join(r.logs.values())
    assert "its watchdog did not reset it" in joined
    assert r.fires[3] == [] and r.would_fire[3], (r.fires, r.would_fire)
    assert r.running[3]


@pytest.mark.slow
def test_the_writer_starts_nowhere_else_when_the_fence_fails(broken_watchdog):
    r = broken_watchdog
    for host_id in (1, 2):
        assert r.where[host_id] in (None, r.lost), r.where
    others = [rec for rs in r.records.values() for rec in rs if rec["node"] != r.lost]
    assert others == [], others[:3]
    lost = [rec["t"] for rs in r.records.values() for rec in rs if rec["node"] == r.lost]
    assert max(lost) > r.failed_at         # still writing: the only writer


# ---------------------------------------------------------------- scenario 3

def fence_each_other(repetition):
    """Two nodes, two_node: 1; the writer on a random node; the link cut at a random
    moment of corosync's token rotation: both nodes keep quorum and fence each other."""
    rng = random.Random()
    r = Record()
    r.repetition = repetition
    r.writer_host = rng.choice((1, 2))
    r.offset = rng.uniform(0, 4)
    with cluster_run(r, 2, "real", IO, two_node=True, prefix="fo3") as (sim, pc):
        configure(pc, r.writer_host, IO)
        time.sleep(2 + r.offset)
        r.cut = time.time()
        pc.cut(1)
        wait_for(lambda: any(h.fires() for h in sim.hosts), TIMEOUT + 60, 1.0,
                 "a reset")
        r.first_fire = time.time()

        def settled():
            alive = [n for n in pc.nodes if n.host.machine.running]
            if len(alive) != 1:
                return None
            where = pc.resource_node(alive[0], "writer")
            return (alive[0], where) if where == alive[0].name else None
        survivor, _where = wait_for(settled, TIMEOUT, 1.0,
                                    "the writer to run on the one node left")
        r.survivor = survivor.name
        r.survivor_host = survivor.host_id
        time.sleep(3)
    return r


@pytest.mark.slow
@pytest.mark.parametrize("repetition", range(3))
def test_two_nodes_cut_apart_leave_exactly_one_writer(repetition):
    r = fence_each_other(repetition)
    reset = [h for h, fires in r.fires.items() if fires]
    assert len(reset) == 1, (r.fires, r.offset)
    loser = reset[0]
    assert r.survivor_host == 3 - loser
    # the README's configuration (no Pacemaker delays): the mutual guard picks the lower id
    assert r.survivor_host == 1, (r.survivor_host, r.offset)
    assert r.running[r.survivor_host] and not r.running[loser]
    # the survivor's watchdog was never armed: no request for it was ever answered
    assert "watchdog armed" not in r.responder[r.survivor_host]
    assert "watchdog armed" in r.responder[loser]
    ok, why = no_overlap(r.records, r.names[loser], r.survivor,
                         since=r.cut if r.writer_host == loser else 0.0)
    if r.writer_host == loser:
        assert ok, why
    else:   # it never moved: the loser never ran it
        assert not any(rec["node"] == r.names[loser] for rs in r.records.values()
                       for rec in rs)
