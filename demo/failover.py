#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""make demo-cluster: a real three-node Pacemaker cluster loses a node's network, fences it
through fence_sanlock_vdsm and fails over; the timeline is printed at the end.

It runs scenario 1 of the tests (harness/failover.py) at io_timeout 3: three simulated
machines on this host, each with its own network namespace, corosync, Pacemaker, sanlock
daemon, wdmd on a fake watchdog device and the responder; a test resource writes
time-stamped records to the shared storage like a VM. About three minutes; everything it
starts is stopped at the end. Root, Debian 12 (make deps).
"""

import os
import sys
import time

from harness.clusterwriter import no_overlap
from harness.failover import durations, lost_node_scenario, timeline

WIDTH = 60
WHAT = {
    "cut": "node 3's link goes down (its storage and sanlock keep working)",
    "corosync verdict": "corosync on the survivors: node 3 left; nodes 1 and 2 keep quorum",
    "fence requested": "Pacemaker asks a survivor's fencer to reboot node 3 (the agent starts)",
    "reply": "node 3's responder arms its watchdog and replies RESETTING on storage",
    "lost node's last write": "node 3's writer writes its last record",
    "device fired": "node 3's watchdog device fires: every process of node 3 dies at once",
    "proof": "the agent proves the reset (watchdog bound) and exits 0",
    "writer started": "Pacemaker records the writer's start on the survivor as done",
    "survivor's first write": "the survivor's first record on the shared storage",
}


def say(text, began=[None]):
    if began[0] is None:
        began[0] = time.monotonic()
    print("[%6.1f s] %s" % (time.monotonic() - began[0], text), flush=True)


def picture(moments):
    """One line per moment, a mark at its place on a common time axis."""
    known = [(n, t) for n, t in moments if t is not None]
    zero = dict(moments)["cut"]
    span = max(t for _n, t in known) - zero or 1.0
    lines = []
    for name, t in sorted(known, key=lambda m: m[1]):
        at = int(round((t - zero) / span * WIDTH))
        lines.append("  %7.1f s  |%s*%s|  %s" % (t - zero, "-" * at, " " * (WIDTH - at),
                                                 WHAT.get(name, name)))
    missing = [n for n, t in moments if t is None]
    if missing:
        lines.append("  (not seen: %s)" % ", ".join(missing))
    return lines


def main():
    if os.geteuid() != 0:
        print("make demo-cluster runs as root (namespaces, FUSE, cgroups)", file=sys.stderr)
        return 1
    r = lost_node_scenario(3, progress=say)
    moments = timeline(r)
    say("done in %.0f s; everything it started is stopped. The timeline, seconds after "
        "the cut:" % r.seconds)
    print()
    for line in picture(moments):
        print(line)
    print()
    for part, seconds in durations(moments).items():
        print("  %-64s %s" % (part, "-" if seconds is None else "%.1f s" % seconds))
    safe, why = no_overlap(r.records, r.lost, r.survivor, since=r.cut)
    print()
    print("  never two writers: %s (%s)" % ("yes" if safe else "NO", why))
    return 0 if safe else 1


if __name__ == "__main__":
    sys.exit(main())
