#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""make demo: fence a host through shared storage, with its real watchdog chain.

Three simulated hosts (harness/simcluster.py), each a machine of its own on this computer
(its own processes, /run and clock), run real sanlock daemons sharing one lockspace
file. Host 3 is set up as a real target: the real wdmd pets its watchdog device (a fake
device that resets host 3's machine when it fires), its sanlock runs with the watchdog
(-w 1), and the project's own fence-sanlock-vdsm-responder (the target side on every
platform; EL9 and EL10 ship no sanlk-resetd) answers reset requests in every lockspace
host 3 has joined.

The agent lists the hosts, reads host 3's status, then fences host 3 from host 1:
request -> host 3's responder arms its watchdog through wdmd, then replies on storage
-> host 3's wdmd stops petting and closes the device
-> the device fires and host 3 is reset -> the agent proves it, and host 2, which did not
fence, reports it OFF too. Everything is stopped and removed at the end.
"""

import subprocess
import sys
import time

from harness.observe import LeaseWatch, reply_on_disk
from harness.simcluster import SimCluster

IO_TIMEOUT = 3            # sanlock with its watchdog needs 3 s or more
START = time.monotonic()


def say(text):
    print("[%5.1f s] %s" % (time.monotonic() - START, text), flush=True)


def agent(cluster, host, args):
    """Run the agent on a simulated host, as a person there would; show what it printed."""
    print("\n  host%d# fence_sanlock_vdsm %s" % (host, " ".join(args)), flush=True)
    proc = subprocess.Popen(cluster.agent_argv(host, args), env=cluster.env(host),
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    for line in proc.stdout:
        print("    " + line.rstrip(), flush=True)
    proc.wait()
    print("    (exit status %d)\n" % proc.returncode, flush=True)
    return proc.returncode


def first_after(events, since):
    """Monotonic time of the first device event at or after since, or None."""
    times = [e["mono"] for e in events if e["mono"] >= since]
    return min(times) if times else None


def main():
    cluster = SimCluster(hosts=3, io_timeout=IO_TIMEOUT, watchdog={3: "real"},
                         name_prefix="demo")
    try:
        say("starting 3 simulated hosts (each its own machine: processes, /run, clock) with "
            "real sanlock daemons sharing one lockspace file (io_timeout %d s)" % IO_TIMEOUT)
        say("host 3 gets the real watchdog chain: wdmd petting a watchdog device that "
            "resets host 3 when it fires, and sanlock -w 1")
        cluster.start()
        ls = cluster.lockspace
        target = cluster.host(3)
        say("lockspace %s ready; hosts 1, 2, 3 see each other live" % ls)
        cluster.start_responder(3)
        say("host 3 runs fence-sanlock-vdsm-responder, the project's own target side (no "
            "sanlk-resetd): it checked that its watchdog would reset host 3 in time, and "
            "answers reset requests in lockspace %s; every host runs "
            "fence-sanlock-vdsm-witness" % ls)
        for line in target.responder_log().splitlines():
            if "this host can be fenced" in line:
                say("host 3's responder says: %s" % line.split("INFO: ", 1)[-1])

        agent(cluster, 1, ["-o", "list", "-a", ls])
        agent(cluster, 1, ["-o", "status", "-a", "%s:3" % ls])

        say("host 1 fences host 3 (a couple of minutes: after host 3 acknowledges, its "
            "watchdog has up to about 72 s to fire; the agent's timeline below is -v)")
        say("note: 'is LIVE/FAIL/DEAD' in it is sanlock's state of the lease as host 1's "
            "daemon computes it: a reset host stays LIVE there until its lease has gone "
            "unrenewed for %d s, so it is no sign of life" % (8 * IO_TIMEOUT))
        # host 3's reply as it reaches the storage itself (the lockspace file read
        # directly, by no host; nothing here acts on it)
        watch = LeaseWatch(cluster, [3], interval=0.2)
        watch.start()
        started = time.monotonic()
        code = agent(cluster, 1, ["-o", "off", "-a", "%s:3" % ls, "-v"])
        ended = time.monotonic()
        watch.stop()
        reply_seen = reply_on_disk(watch, 3, target.generations[ls], started)
        if code != 0:
            say("the fence FAILED (exit %d): the agent says why above" % code)
            return 1

        closes = [e for e in target.device_events(["close"]) if e["mono"] >= started]
        fires = [e for e in target.fires() if e["mono"] >= started]
        say("what happened, in seconds after the agent started (from the storage and the "
            "watchdog device's own log, not from the agent):")
        rows = [(0.0, "the agent on host 1 sends the reset request (it reaches host 3's "
                      "responder through host 1's lease on storage)")]
        if closes:
            rows.append((closes[0]["mono"] - started,
                         "host 3's wdmd, at its next test, finds the connection the "
                         "responder expired (confirmed by wdmd before the reply) and "
                         "closes the device without disarming it"))
        if reply_seen is not None:
            rows.append((reply_seen - started,
                         "host 3's RESETTING reply is in its lease on storage: the promise "
                         "that its watchdog is armed"))
        if fires:
            after = " (%.0f s after the close)" % (fires[0]["mono"] - closes[0]["mono"]) \
                if closes else ""
            rows.append((fires[0]["mono"] - started,
                         "the device fires%s: host 3 is reset, every process of it ends "
                         "at once" % after))
        rows.append((ended - started, "the agent has proven the reset (its Proof: line "
                                      "above) and exits 0"))
        for at, text in sorted(rows):
            print("           %6.1f s  %s" % (at, text))
        print()
        if not fires or not fires[0].get("killed"):
            say("host 3's watchdog did not reset it, yet the agent claims a proof: that "
                "would be a bug")
            return 1
        say("host 3's machine is %s; its processes now: %s"
            % ("running" if target.machine.running else "off",
               target.machine.processes() or "none"))

        say("host 2 did not fence; oVirt may ask it anyway. Its witness service saw host "
            "3's reply arrive and the silence after it:")
        deadline = time.monotonic() + 30
        while True:     # its witness may need a few seconds more than the agent did
            status = cluster.agent(2, ["-o", "status", "-a", "%s:3" % ls])
            if status.returncode == 2 or time.monotonic() > deadline:
                break
            time.sleep(1)
        code = agent(cluster, 2, ["-o", "status", "-a", "%s:3" % ls])
        say("done: host 3 was reset by its own watchdog, and hosts 1 and 2 both prove it"
            if code == 2 else "host 2 cannot prove host 3 off (exit %d)" % code)
        return 0 if code == 2 else 1
    finally:
        cluster.stop()
        say("cleaned up: every simulated host is powered off and its files removed")


if __name__ == "__main__":
    sys.exit(main())
