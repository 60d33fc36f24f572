#!/usr/bin/python3
"""make demo: three simulated hosts, each a real sanlock daemon, sharing one lockspace;
the agent lists them, reads host 3's status, fences host 3 through the storage and
proves it, then another host confirms it is off. Everything is cleaned up at the end."""

import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests"))

from simcluster import SimCluster  # noqa: E402

AGENT = os.path.join(ROOT, "agents", "sanlock_vdsm", "fence_sanlock_vdsm.py")
START = time.monotonic()


def say(text):
    print("[%5.1f s] %s" % (time.monotonic() - START, text), flush=True)


def agent(cluster, host, args, stream=False):
    """Run the agent on a simulated host and show the command and what it printed."""
    print("\n  host%d$ fence_sanlock_vdsm %s" % (host, " ".join(args)), flush=True)
    proc = subprocess.Popen(["/usr/bin/python3", AGENT] + args, env=cluster.env(host),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for line in proc.stdout:
        print("    " + line.rstrip(), flush=True)
    proc.wait()
    print("    (exit status %d)" % proc.returncode, flush=True)
    return proc.returncode


def main():
    cluster = SimCluster(hosts=3, io_timeout=1, name_prefix="demo")
    try:
        say("starting 3 simulated hosts: real sanlock daemons sharing one lockspace "
            "(io_timeout 1 s) on a file in /var/tmp")
        cluster.start()
        ls = cluster.lockspace
        say("lockspace %s ready; hosts 1, 2, 3 see each other live" % ls)
        cluster.start_resetd(3, watchdog_delay=0)
        say("host 3 runs sanlk-resetd; its stand-in watchdog kills host 3's sanlock daemon "
            "once host 3 has written its RESETTING reply")

        agent(cluster, 1, ["-o", "list", "-a", ls])
        agent(cluster, 1, ["-o", "status", "-a", "%s:3" % ls])

        say("host 1 fences host 3 (about 75 s at io_timeout 1; the timeline below is -v)")
        fence_started = time.monotonic()
        code = agent(cluster, 1, ["-o", "off", "-a", "%s:3" % ls, "-v"])
        fence_ended = time.monotonic()
        host = cluster.host(3)
        if code != 0:
            say("the fence FAILED (exit %d)" % code)
            return 1

        print()
        say("timeline of the fence, from the request:")
        if host.reply_seen_at:
            print("           %5.1f s  host 3's RESETTING reply is on shared storage"
                  % (host.reply_seen_at - fence_started))
        if host.killed_at:
            print("           %5.1f s  host 3's watchdog fires (its sanlock daemon is killed)"
                  % (host.killed_at - fence_started))
        print("           %5.1f s  the agent has proven the reset and exits 0"
              % (fence_ended - fence_started))

        say("another host, host 2, asks for host 3's status (oVirt may poll any host)")
        deadline = time.monotonic() + 20
        while True:
            status = subprocess.run(["/usr/bin/python3", AGENT, "-o", "status", "-a",
                                     "%s:3" % ls], env=cluster.env(2), capture_output=True)
            if status.returncode == 2 or time.monotonic() > deadline:
                break
            time.sleep(1)
        code = agent(cluster, 2, ["-o", "status", "-a", "%s:3" % ls])
        say("done: host 3 was reset and every host can prove it" if code == 2 else
            "host 2 does not see host 3 as off yet")
        return 0
    finally:
        cluster.stop()
        say("cleaned up: every daemon the demo started is stopped")


if __name__ == "__main__":
    sys.exit(main())
