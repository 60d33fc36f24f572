# SPDX-License-Identifier: GPL-2.0-or-later
"""Scenario 1 of the failover tests as a function, with its timeline: the test
(tests/cluster/test_lost_node.py), the benchmark (bench/bench.py, section failover) and the demo
(demo/failover.py) run the same code.

`lost_node_scenario(io_timeout)`: three nodes (harness/pcmkcluster.py), each with the real
watchdog chain and the responder; fencing configured with the README's pcs commands; the
test's writer runs on host 3, which then loses its network. Returns a `Record` with what
was seen (everything started is stopped before it returns) and `timeline(record)` puts
the moments in order, each from the place that knows it:

  cut                  the test, when it set the link down
  corosync verdict     a survivor's corosync: "A new membership ... Members left: 3"
  fence requested      the DC's fencer: "Requesting that NODE perform 'reboot' ..."
                       (the agent starts on NODE right after)
  reply                the lost node's responder: "replied RESETTING"
  device fired         the fake watchdog device's own record
  proof                the executing fencer: "Operation 'reboot' ... returned 0"
  writer started       the survivor's controller: "Result of start operation for writer"
  lost node's last write / survivor's first write   the writer's records on storage

The writer's records are the ground truth; log lines are parsed from Pacemaker's and
corosync's logs (millisecond stamps, local time, this year).
"""

import contextlib
import os
import time

from .clusterwriter import read_records
from .pcmkcluster import PacemakerCluster, log_events
from sanlock_fencing.core import timing
from .simcluster import SimCluster, wait_for

AGENT = "fence_sanlock_vdsm"


class Record:
    """What a scenario saw; everything it started is stopped before anyone reads it."""


def readme_pcs_commands(cib, lockspace, timeout):
    """The README's commands ("Node names: no pcmk_host_map")."""
    return [["cluster", "cib", cib],
            ["-f", cib, "stonith", "create", "sanlock", AGENT, "ip=%s" % lockspace,
             "pcmk_off_timeout=%d" % timeout, "pcmk_reboot_timeout=%d" % timeout,
             "op", "monitor", "interval=60s"],
            ["-f", cib, "property", "set", "stonith-timeout=%d" % timeout],
            ["cluster", "cib-push", cib, "--config"]]


def writer_pcs_commands(cib, prefer):
    """The scenario's own resource: the writer, preferring node `prefer`, and
    no-quorum-policy=freeze (a lost node keeps its writer, as a VM whose stop hangs:
    only its reset ends its writes)."""
    return [["cluster", "cib", cib],
            ["-f", cib, "property", "set", "no-quorum-policy=freeze"],
            ["-f", cib, "resource", "create", "writer", "ocf:fsvtest:writer",
             "op", "monitor", "interval=2s"],
            ["-f", cib, "constraint", "location", "writer", "prefers", "%s=100" % prefer],
            ["cluster", "cib-push", cib, "--config"]]


def configure(pc, prefer_host, io_timeout):
    """The README's fencing, then the writer on prefer_host; returns the pcs results."""
    node = pc.nodes[0]
    results = []
    for argv in readme_pcs_commands(os.path.join(pc.workdir, "sanlock.xml"),
                                    pc.sim.lockspace, timing.pacemaker_timeout(io_timeout)):
        results.append(pc.pcs(node, *argv))
    pc.wait_started(node, ["sanlock"], 90)
    for argv in writer_pcs_commands(os.path.join(pc.workdir, "writer.xml"),
                                    pc.node(prefer_host).name):
        pc.pcs(node, *argv)
    pc.wait_started(node, ["writer"], 60)
    where = pc.resource_node(node, "writer")
    if where != pc.node(prefer_host).name:
        raise RuntimeError("the writer started on %s, not on %s"
                           % (where, pc.node(prefer_host).name))
    return results


def start_cluster(hosts, watchdog, io_timeout, two_node=False, prefix="fo"):
    """A started SimCluster (every host's responder answering) and PacemakerCluster."""
    sim = SimCluster(hosts=hosts, io_timeout=io_timeout, watchdog=watchdog,
                     name_prefix=prefix)
    pc = None
    try:
        sim.start()
        for h in sim.host_ids:
            sim.start_responder(h)
        pc = PacemakerCluster(sim, two_node=two_node).start()
    except BaseException:
        if pc is not None:
            pc.stop()
        sim.stop()
        raise
    return sim, pc


@contextlib.contextmanager
def cluster_run(r, hosts, watchdog, io_timeout, **kwargs):
    """A scenario's cluster (start_cluster's arguments), yielded as (sim, pc); when the
    scenario's body returns, what the nodes left is collected into r, then everything is
    stopped, whatever happened. r.seconds: the whole run, start-up included."""
    started = time.monotonic()
    sim, pc = start_cluster(hosts, watchdog, io_timeout, **kwargs)
    try:
        yield sim, pc
        collect(r, sim, pc)
    finally:
        stop_cluster(sim, pc)
        r.seconds = time.monotonic() - started


def stop_cluster(sim, pc):
    try:
        pc.stop()
    finally:
        sim.stop()


def collect(r, sim, pc):
    """The records, logs and device events, read before anything is stopped."""
    r.records = read_records(pc.data_backing)
    r.names = {n.host_id: n.name for n in pc.nodes}
    r.logs = {n.host_id: n.log() for n in pc.nodes}
    r.corosync = {n.host_id: n.corosync_log() for n in pc.nodes}
    r.fires = {h.host_id: [e["real"] for e in h.fires()] for h in sim.hosts}
    r.would_fire = {h.host_id: [e["real"] for e in h.device_events(["would_fire"])]
                    for h in sim.hosts}
    r.running = {h.host_id: h.machine.running for h in sim.hosts}
    r.responder = {h.host_id: h.responder_log() for h in sim.hosts}


def lost_node_scenario(io_timeout=3, progress=None):
    """Scenario 1: host 3 runs the writer and loses its network. progress(text), if
    given, hears what happens as it happens (the demo)."""
    say = progress or (lambda text: None)
    fence_timeout = timing.pacemaker_timeout(io_timeout)
    r = Record()
    r.io_timeout = io_timeout
    started = time.monotonic()
    say("starting 3 simulated machines, each with its own network, corosync, Pacemaker, "
        "sanlock daemon, wdmd on a fake watchdog device and the responder (io_timeout %d)"
        % io_timeout)
    with cluster_run(r, 3, "real", io_timeout, prefix="fo1") as (sim, pc):
        r.setup_seconds = time.monotonic() - started
        say("cluster up in %.0f s; configuring fencing with the README's pcs commands and "
            "the writer on node 3" % r.setup_seconds)
        r.pcs = configure(pc, 3, io_timeout)
        survivors = [pc.node(1), pc.node(2)]
        time.sleep(2)                                     # some records before the cut
        r.lost = pc.node(3).name
        r.cut = time.time()
        pc.cut(3)
        say("node 3's link is down; its storage and sanlock keep working")

        def taken_over():
            where = pc.resource_node(survivors[0], "writer")
            return where if where in (survivors[0].name, survivors[1].name) else None
        r.survivor = wait_for(taken_over, fence_timeout + 90, 1.0,
                              "the writer to start on a survivor")
        say("the writer runs on %s" % r.survivor)
        time.sleep(3)                                     # the survivor's records
        r.history = pc.node(1).tool("stonith_admin", "--history", r.lost, timeout=30)
        r.crm_mon = pc.node(1).tool("crm_mon", "-1", "--include", "all").stdout
    return r


# ---------------------------------------------------------------- the timeline

def _first(events, after=0.0):
    for t, line in events:
        if t >= after:
            return t, line
    return None, None


def _in_logs(logs, pattern, after=0.0):
    found = sorted(e for log in logs.values() for e in log_events(log, pattern))
    return _first(found, after)


def fence_success(r):
    """(realtime, line) of the fencer's 'Operation ... targeting LOST using sanlock
    returned 0', or (None, None)."""
    return _in_logs(r.logs, r"Operation '(reboot|off)' \[\d+\] targeting %s using "
                    r"sanlock returned 0" % r.lost)


def timeline(r):
    """[(name, realtime or None)] in the order they should happen, and the durations."""
    lost_id = [h for h, n in r.names.items() if n == r.lost][0]
    survivor_logs = {h: log for h, log in r.corosync.items() if h != lost_id}
    verdict = _in_logs(survivor_logs, r"A new membership .* Members left: %d" % lost_id,
                       r.cut)[0]
    requested = _in_logs(r.logs, r"Requesting that \S+ perform '(reboot|off)' action "
                         r"targeting %s" % r.lost, r.cut)[0]
    reply = None
    for line in r.responder.get(lost_id, "").splitlines():
        if "replied RESETTING" in line:
            reply = time.mktime(time.strptime(line[:19], "%Y-%m-%d %H:%M:%S")) + \
                int(line[20:23]) / 1000.0
            break
    fired = r.fires[lost_id][0] if r.fires.get(lost_id) else None
    proof = fence_success(r)[0]
    started = _in_logs(r.logs, r"Result of start operation for writer on %s: ok"
                       % r.survivor, r.cut)[0]
    lost_writes = [x["t"] for rs in r.records.values() for x in rs if x["node"] == r.lost]
    survivor_writes = [x["t"] for rs in r.records.values() for x in rs
                       if x["node"] == r.survivor and x["t"] >= r.cut]
    moments = [("cut", r.cut), ("corosync verdict", verdict),
               ("fence requested", requested), ("reply", reply),
               ("lost node's last write", max(lost_writes) if lost_writes else None),
               ("device fired", fired), ("proof", proof), ("writer started", started),
               ("survivor's first write", min(survivor_writes) if survivor_writes else None)]
    return moments


def durations(moments):
    """The downtime and its parts, in seconds (None where a moment is missing)."""
    m = dict(moments)

    def between(a, b):
        return None if m.get(a) is None or m.get(b) is None else round(m[b] - m[a], 2)
    return {"outage (cut -> survivor's first write)": between("cut", "survivor's first write"),
            "detection (cut -> corosync verdict)": between("cut", "corosync verdict"),
            "scheduling (verdict -> fence requested)": between("corosync verdict",
                                                               "fence requested"),
            "fence (requested -> proof)": between("fence requested", "proof"),
            "start (proof -> survivor's first write)": between(
                "proof", "survivor's first write"),
            "writer gap (lost node's last write -> survivor's first write)":
                between("lost node's last write", "survivor's first write"),
            "margin (device fired -> proof)": between("device fired", "proof")}
