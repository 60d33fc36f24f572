# SPDX-License-Identifier: GPL-2.0-or-later
"""fence-sanlock-vdsm-resetd-sync and on_target unfencing against real sanlock daemons and a
real sanlk-resetd (issue 5).

Every simulated host is a machine of its own (machine.py): its /run/sanlk-resetd and
/run/fence-sanlock-vdsm are private to it, so sanlk-resetd, the sync service and the
agent find each other at their packaged paths (resetd's socket, the sync's state file)
and sanlk-resetd can be restarted under the running service. These hosts have no
watchdog device (their daemons run -w 0), so the sync runs with --no-watchdog-check,
as SimHost.start_sync() starts it; without it nothing is registered (shown below). The
agent's own on_target unfencing always checks the watchdog: its test runs on a host with
the real wdmd and sanlock -w 1.

(About 310 lines: the sync against a real sanlk-resetd, one scenario per lockspace change.)
"""

import os
import re
import time

import pytest

from harness.callers import PYTHON, pacemaker_stdin
from harness.machine import ROOT
from harness.simcluster import wait_for

SYNC = "-m sanlock_fencing.host.resetd_sync".split()     # the command, from the source tree


def read(path, since=0):
    try:
        with open(path, "rb") as handle:
            handle.seek(since)
            return handle.read().decode("utf-8", "replace")
    except FileNotFoundError:
        return ""


def size(path):
    try:
        return os.path.getsize(path)
    except FileNotFoundError:
        return 0


def registered(cluster, host_id):
    """{lockspace: number of times sanlk-resetd registered it} from its -D log (every
    sanlk-resetd this host ran, in order)."""
    counts = {}
    for name in re.findall(r"reg_event \d+ fd \d+ ls (\S+)",
                           read(cluster.host(host_id).log("resetd"))):
        counts[name] = counts.get(name, 0) + 1
    return counts


def ended(cluster, host_id):
    return re.findall(r"end_event \d+ fd -?\d+ ls (\S+)",
                      read(cluster.host(host_id).log("resetd")))


class Sync:
    """The sync service of one simulated host (SimHost.start_sync: on that machine, with
    its default state file in the machine's /run); reads only its own part of the log."""

    def __init__(self, cluster, host_id, lockspaces=None):
        self.host = cluster.host(host_id)
        self.lockspaces = lockspaces
        self.since = 0
        self.proc = None

    def start(self):
        self.since = size(self.host.log("sync"))
        self.host.start_sync(self.lockspaces)
        self.proc = self.host.procs["sync"]
        return self

    def stop(self):
        """SIGTERM; its exit status."""
        return self.proc.stop()

    def text(self):
        return read(self.host.log("sync"), self.since)

    def wait_line(self, pattern, timeout=15):
        return wait_for(lambda: re.search(pattern, self.text()), timeout, 0.1,
                        "sync log of host %d to match %r\n%s" % (self.host.host_id, pattern,
                                                                 self.text()))


def wait_registered(cluster, host_id, name, times=1, timeout=15):
    wait_for(lambda: registered(cluster, host_id).get(name, 0) >= times, timeout, 0.1,
             "sanlk-resetd of host %d to register %s" % (host_id, name))


def on_host(cluster, host_id, argv, timeout=60, **kwargs):
    """A short command on the host's machine, in the environment of its clients."""
    return cluster.host(host_id).machine.run(argv, env=cluster.env(host_id),
                                             capture_output=True, text=True,
                                             timeout=timeout, **kwargs)


@pytest.mark.slow
def test_new_lockspace_is_watched_within_seconds_and_a_fence_through_it_succeeds(make_cluster):
    cluster = make_cluster(hosts=2)
    host = cluster.host(2)
    host.start_resetd()
    sync = Sync(cluster, 2).start()
    wait_registered(cluster, 2, cluster.lockspace)

    started = time.monotonic()
    new = cluster.add_lockspace()
    joined = time.monotonic()
    wait_registered(cluster, 2, new)
    registered_after = time.monotonic() - joined
    assert registered_after < 3, registered_after
    sync.wait_line(r"watching lockspace %s: this host \(host id 2" % new)

    cluster.arm_standin(2, [new], delay=0)
    result = cluster.agent(1, ["-o", "off", "-a", "%s:2" % new])
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "Success: Powered OFF"
    assert host.standin.killed_at is not None
    assert "Traceback" not in sync.text()
    assert time.monotonic() - started < 150


def test_leave_ends_restart_re_registers_and_nothing_is_registered_twice(make_cluster):
    cluster = make_cluster(hosts=2)
    other = cluster.add_lockspace()
    host = cluster.host(2)
    host.start_resetd()
    sync = Sync(cluster, 2).start()
    for name in (cluster.lockspace, other):
        wait_registered(cluster, 2, name)
    time.sleep(2)                                         # four more polls: nothing sent
    assert registered(cluster, 2) == {cluster.lockspace: 1, other: 1}

    # the host leaves: sanlk-resetd's registration ends, and the service says so
    cluster.leave_lockspace(2, other)
    wait_for(lambda: other in ended(cluster, 2), 10, 0.1, "end_event of %s" % other)
    sync.wait_line(r"stopped watching lockspace %s: this host left it" % other)

    # joins again (new generation): registered again
    cluster.join_lockspace(2, other)
    wait_registered(cluster, 2, other, times=2)

    # sanlk-resetd restarted: it watches nothing; the service registers everything again
    host.start_resetd()
    for name in (cluster.lockspace, other):
        wait_registered(cluster, 2, name, times={cluster.lockspace: 2, other: 3}[name])
    sync.wait_line(r"sanlk-resetd was restarted")

    # the service restarted: its state file says what is registered, nothing is sent
    before = registered(cluster, 2)
    assert sync.stop() == 0
    again = Sync(cluster, 2).start()
    again.wait_line(r"started: keeping sanlk-resetd watching")
    time.sleep(2)
    assert registered(cluster, 2) == before

    # sanlk-resetd stopped: said once, the service keeps running
    host.stop("resetd")
    again.wait_line(r"sanlk-resetd is not running")
    time.sleep(1.5)
    assert len(re.findall("sanlk-resetd is not running", again.text())) == 1
    assert again.proc.alive()
    host.start_resetd()
    wait_registered(cluster, 2, other, times=4)
    assert "Traceback" not in sync.text() + again.text()


def test_lockspace_filter_and_once(make_cluster):
    cluster = make_cluster(hosts=1)
    other = cluster.add_lockspace()
    cluster.host(1).start_resetd()
    once = [PYTHON] + SYNC + ["--once", "--no-watchdog-check"]

    # without --no-watchdog-check a host whose sanlock runs without a watchdog (no wdmd
    # here) registers nothing: a reply from it would be a promise nothing keeps
    refused = on_host(cluster, 1, [PYTHON] + SYNC + ["--once", "--lockspace", other])
    assert refused.returncode == 1, refused
    assert registered(cluster, 1) == {}

    done = on_host(cluster, 1, once + ["--lockspace", other])
    assert done.returncode == 0, done.stderr
    assert "watching lockspace %s" % other in done.stderr
    assert registered(cluster, 1) == {other: 1}
    missing = on_host(cluster, 1, once + ["--lockspace", "nosuchls"])
    assert missing.returncode == 1
    assert "lockspace nosuchls is not watched: this host's sanlock daemon has not joined it" \
        in missing.stderr
    # the state file is the packaged one, in this machine's own /run
    state = cluster.host(1).machine.path("/run/fence-sanlock-vdsm/resetd-sync.json")
    assert other in read(state)


@pytest.mark.slow
def test_65_lockspaces_reach_the_limit_without_crashing(make_cluster):
    cluster = make_cluster(hosts=1)
    names = [cluster.lockspace] + cluster.add_lockspaces(64, workers=22)
    host = cluster.host(1)
    host.start_resetd()
    sync = Sync(cluster, 1).start()
    wait_for(lambda: len(registered(cluster, 1)) >= 64, 30, 0.2, "64 registrations")
    sync.wait_line(r"limit of 64 lockspaces is reached: 1 joined lockspace\(s\) are not "
                   r"watched")
    time.sleep(2)
    assert len(registered(cluster, 1)) == 64
    assert len(re.findall("limit of 64 lockspaces is reached", sync.text())) == 1
    waiting = (set(names) - set(registered(cluster, 1))).pop()
    assert sync.proc.alive()
    assert "reg_event" in read(host.log("resetd"))
    assert "error" not in read(host.log("resetd"))

    # room appears: the waiting lockspace is registered
    cluster.leave_lockspace(1, sorted(set(names) - {waiting})[0])
    wait_registered(cluster, 1, waiting)
    sync.wait_line(r"every joined lockspace is watched again")
    assert "Traceback" not in sync.text()


UNFENCE = r"""
import sys
sys.path.insert(0, sys.argv[1])
from sanlock_fencing.core.address import parse_targets
from sanlock_fencing.core.errors import FenceError
from sanlock_fencing.core.proxy import Proxy
from sanlock_fencing.host.resetd_sync import StateFile
from sanlock_fencing.host.unfence import addresses_this_host, unfence
proxy = Proxy()
targets = parse_targets(sys.argv[2])
print("own:", addresses_this_host(proxy, targets))
# argv[4] "nocheck": as --no-watchdog-check (hosts without a watchdog device only)
extra = {"watchdog": lambda: None} if sys.argv[4] == "nocheck" else {}
try:
    print(unfence(proxy, targets, wait=float(sys.argv[3]), state_file=StateFile(""), **extra))
except FenceError as err:
    print("Failed:", err)
    sys.exit(1)
"""


def test_unfence_on_the_target_registers_its_lockspace(make_cluster):
    cluster = make_cluster(hosts=2)
    ls = cluster.lockspace
    lib = os.path.join(ROOT, "lib")

    def on(address, wait=0, check="nocheck"):
        # StateFile(""): the packaged state file, in host 2's /run (the service's too)
        return on_host(cluster, 2, [PYTHON, "-c", UNFENCE, lib, address, str(wait), check])

    no_resetd = on("%s:2" % ls)
    assert no_resetd.returncode == 1 and "no sanlk-resetd runs on this host" in no_resetd.stdout
    cluster.host(2).start_resetd()
    # with the watchdog check (the agent's): this host's sanlock runs without a watchdog,
    # so it is not made fenceable and nothing is registered
    unwatched = on("%s:2" % ls, check="check")
    assert unwatched.returncode == 1, unwatched.stdout + unwatched.stderr
    assert registered(cluster, 2) == {}
    ok = on("%s:2" % ls)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "own: True" in ok.stdout and "%s:2 is watched by sanlk-resetd" % ls in ok.stdout
    assert on("%s:2" % ls).returncode == 0
    assert registered(cluster, 2) == {ls: 1}          # the second on sent nothing
    wrong = on("%s:1" % ls)
    assert wrong.returncode == 1 and "this host holds host id 2" in wrong.stdout
    # the sync service shares the state: it does not register the lockspace again
    sync = Sync(cluster, 2).start()
    sync.wait_line(r"started")
    time.sleep(1.5)
    assert registered(cluster, 2) == {ls: 1}
    assert sync.stop() == 0


def test_agent_on_run_by_the_target_unfences_and_monitor_describes_targets(make_cluster):
    # the agent's on_target registers only where the watchdog is in use: host 2 runs the
    # real wdmd and sanlock -w 1 (io_timeout 3, which that needs)
    cluster = make_cluster(hosts=2, io_timeout=3, watchdog={2: "real"})
    ls = cluster.lockspace
    cluster.host(2).start_resetd()

    # Pacemaker runs on_target "on" on node 2 itself, port = its host id
    on = cluster.agent(2, stdin=pacemaker_stdin(ls, "on", 2, nodename="node2"))
    assert on.returncode == 0, on.stderr
    assert on.stdout.splitlines()[-1] == "Success: Powered ON"
    assert "%s:2 is watched by sanlk-resetd" % ls in on.stdout
    assert registered(cluster, 2) == {ls: 1}

    # from another host, on is the proxy's "on": unchanged
    proxy_on = cluster.agent(1, ["-o", "on", "-a", "%s:2" % ls])
    assert (proxy_on.returncode, proxy_on.stdout.strip()) == (0, "Success: Already ON")

    # monitor -v says what it can about each addressed target
    mon = cluster.agent(1, ["-o", "monitor", "-a", "%s:2" % ls, "-v"])
    assert mon.returncode == 0, mon.stderr
    assert re.search(r"%s:2 is LIVE \(generation \d+, io_timeout 3 s\): a fence should take "
                     r"about \d+ s" % ls, mon.stderr), mon.stderr


@pytest.mark.parametrize("as_systemd", [True, False])
def test_leaving_a_watched_lockspace_and_sigpipe(make_cluster, as_systemd):
    """sanlk-resetd 3.8.5 ends the registration of a lockspace its host left by writing
    to the closed connection: started as systemd starts services (SIGPIPE ignored) it
    survives and keeps watching the others; started with SIGPIPE at its default, it
    dies, and the host can no longer be fenced through any lockspace."""
    cluster = make_cluster(hosts=2)
    other = cluster.add_lockspace()
    host = cluster.host(2)
    host.start_resetd([cluster.lockspace, other], as_systemd=as_systemd)
    cluster.leave_lockspace(2, other)
    time.sleep(5)
    assert host.alive("resetd") == as_systemd, open(host.log("resetd")).read()[-800:]
