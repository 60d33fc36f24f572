"""fence-sanlock-vdsm-resetd-sync and on_target unfencing against real sanlock daemons and a
real sanlk-resetd (issue 5). Each simulated host's sanlk-resetd and the sync service share
one lasting private mount namespace (SimCluster.resetd_namespace), so that sanlk-resetd
can be restarted under the running service."""

import os
import re
import time

import pytest

from conftest import PYTHON, ROOT, run_agent
from simcluster import wait_for

SYNC = os.path.join(ROOT, "agents", "sanlock_vdsm", "fence-sanlock-vdsm-resetd-sync")


def read(path):
    try:
        with open(path, errors="replace") as handle:
            return handle.read()
    except FileNotFoundError:
        return ""


def registered(cluster, host_id):
    """{lockspace: number of times sanlk-resetd registered it} from its -D log."""
    counts = {}
    for name in re.findall(r"reg_event \d+ fd \d+ ls (\S+)",
                           read(cluster.host(host_id).resetd_log_path)):
        counts[name] = counts.get(name, 0) + 1
    return counts


def ended(cluster, host_id):
    return re.findall(r"end_event \d+ fd -?\d+ ls (\S+)",
                      read(cluster.host(host_id).resetd_log_path))


class Sync:
    """The sync service of one simulated host, running in that host's resetd namespace."""

    def __init__(self, cluster, host_id, *args, interval=0.5):
        self.cluster = cluster
        self.host_id = host_id
        self.log = os.path.join(cluster.workdir, "sync%d.log" % host_id)
        self.state = os.path.join(cluster.workdir, "sync%d.json" % host_id)
        self.args = ["--interval", str(interval), "--state-file", self.state] + list(args)
        self.proc = None

    def start(self):
        self.proc = self.cluster.spawn_in_resetd_namespace(
            self.host_id, [PYTHON, SYNC] + self.args, self.log)
        return self

    def stop(self):
        return self.cluster.stop_process(self.proc)

    def text(self):
        return read(self.log)

    def wait_line(self, pattern, timeout=15):
        return wait_for(lambda: re.search(pattern, self.text()), timeout, 0.1,
                        "sync log of host %d to match %r\n%s" % (self.host_id, pattern,
                                                                 self.text()))


def wait_registered(cluster, host_id, name, times=1, timeout=15):
    wait_for(lambda: registered(cluster, host_id).get(name, 0) >= times, timeout, 0.1,
             "sanlk-resetd of host %d to register %s" % (host_id, name))


@pytest.mark.slow
def test_new_lockspace_is_watched_within_seconds_and_a_fence_through_it_succeeds(make_cluster):
    cluster = make_cluster(hosts=2)
    cluster.start_resetd_in_namespace(2)
    sync = Sync(cluster, 2).start()
    wait_registered(cluster, 2, cluster.lockspace)

    started = time.monotonic()
    new = cluster.add_lockspace()
    joined = time.monotonic()
    wait_registered(cluster, 2, new)
    registered_after = time.monotonic() - joined
    assert registered_after < 3, registered_after
    sync.wait_line(r"watching lockspace %s: this host \(host id 2" % new)

    cluster.arm_watchdog(2, [new], delay=0)
    result = run_agent(["-o", "off", "-a", "%s:2" % new], env=cluster.env(1))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "Success: Powered OFF"
    assert cluster.host(2).killed_at is not None
    assert "Traceback" not in sync.text()
    assert time.monotonic() - started < 150


def test_leave_ends_restart_re_registers_and_nothing_is_registered_twice(make_cluster):
    cluster = make_cluster(hosts=2)
    other = cluster.add_lockspace()
    cluster.start_resetd_in_namespace(2)
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
    cluster.start_resetd_in_namespace(2)
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
    cluster.stop_resetd(2)
    again.wait_line(r"sanlk-resetd is not running")
    time.sleep(1.5)
    assert len(re.findall("sanlk-resetd is not running", again.text())) == 1
    assert again.proc.alive()
    cluster.start_resetd_in_namespace(2)
    wait_registered(cluster, 2, other, times=4)
    assert "Traceback" not in sync.text() + again.text()


def test_lockspace_filter_and_once(make_cluster):
    cluster = make_cluster(hosts=1)
    other = cluster.add_lockspace()
    cluster.start_resetd_in_namespace(1)
    state = os.path.join(cluster.workdir, "once.json")
    once = cluster.run_in_resetd_namespace(
        1, [PYTHON, SYNC, "--once", "--state-file", state, "--lockspace", other])
    assert once.returncode == 0, once.stderr
    assert "watching lockspace %s" % other in once.stderr
    assert registered(cluster, 1) == {other: 1}
    missing = cluster.run_in_resetd_namespace(
        1, [PYTHON, SYNC, "--once", "--state-file", state, "--lockspace", "nosuchls"])
    assert missing.returncode == 1
    assert "lockspace nosuchls is not watched: this host's sanlock daemon has not joined it" \
        in missing.stderr


@pytest.mark.slow
def test_65_lockspaces_reach_the_limit_without_crashing(make_cluster):
    cluster = make_cluster(hosts=1)
    names = [cluster.lockspace] + cluster.add_lockspaces(64, workers=22)
    cluster.start_resetd_in_namespace(1)
    sync = Sync(cluster, 1).start()
    wait_for(lambda: len(registered(cluster, 1)) >= 64, 30, 0.2, "64 registrations")
    sync.wait_line(r"limit of 64 lockspaces is reached: 1 joined lockspace\(s\) are not "
                   r"watched")
    time.sleep(2)
    assert len(registered(cluster, 1)) == 64
    assert len(re.findall("limit of 64 lockspaces is reached", sync.text())) == 1
    waiting = (set(names) - set(registered(cluster, 1))).pop()
    assert sync.proc.alive()
    assert "reg_event" in read(cluster.host(1).resetd_log_path)
    assert "error" not in read(cluster.host(1).resetd_log_path)

    # room appears: the waiting lockspace is registered
    cluster.leave_lockspace(1, sorted(set(names) - {waiting})[0])
    wait_registered(cluster, 1, waiting)
    sync.wait_line(r"every joined lockspace is watched again")
    assert "Traceback" not in sync.text()


UNFENCE = r"""
import sys
sys.path.insert(0, sys.argv[1])
from sanlock_fencing.address import parse_targets
from sanlock_fencing.errors import FenceError
from sanlock_fencing.proxy import Proxy
from sanlock_fencing.resetd_sync import StateFile
from sanlock_fencing.unfence import addresses_this_host, unfence
proxy = Proxy()
targets = parse_targets(sys.argv[2])
print("own:", addresses_this_host(proxy, targets))
try:
    print(unfence(proxy, targets, wait=float(sys.argv[4]), state_file=StateFile(sys.argv[3])))
except FenceError as err:
    print("Failed:", err)
    sys.exit(1)
"""


def test_unfence_on_the_target_registers_its_lockspace(make_cluster):
    cluster = make_cluster(hosts=2)
    ls = cluster.lockspace
    state = Sync(cluster, 2).state      # the same state file as the service
    lib = os.path.join(ROOT, "lib")

    def on(address, wait=0):
        return cluster.run_in_resetd_namespace(
            2, [PYTHON, "-c", UNFENCE, lib, address, state, str(wait)])

    cluster.resetd_namespace(2)
    no_resetd = on("%s:2" % ls)
    assert no_resetd.returncode == 1 and "no sanlk-resetd runs on this host" in no_resetd.stdout
    cluster.start_resetd_in_namespace(2)
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
    sync.stop()


def _glue_applied():
    from sanlock_fencing import agent
    return hasattr(agent, "on_target")


@pytest.mark.skipif(not _glue_applied(), reason="agent.py has no on_target glue yet")
def test_agent_on_run_by_the_target_unfences_and_monitor_describes_targets(make_cluster):
    from conftest import AGENT, pacemaker_stdin
    cluster = make_cluster(hosts=2)
    ls = cluster.lockspace
    cluster.start_resetd_in_namespace(2)
    state = {"FENCE_SANLOCK_VDSM_RESETD_STATE": Sync(cluster, 2).state}   # not /run's

    # Pacemaker runs on_target "on" on node 2 itself, port = its host id
    on = cluster.run_in_resetd_namespace(
        2, [PYTHON, AGENT], input=pacemaker_stdin(ls, "on", 2, nodename="node2"),
        extra_env=state)
    assert on.returncode == 0, on.stderr
    assert on.stdout.splitlines()[-1] == "Success: Powered ON"
    assert "%s:2 is watched by sanlk-resetd" % ls in on.stdout
    assert registered(cluster, 2) == {ls: 1}

    # from another host, on is the proxy's "on": unchanged
    proxy_on = run_agent(["-o", "on", "-a", "%s:2" % ls], env=cluster.env(1))
    assert (proxy_on.returncode, proxy_on.stdout.strip()) == (0, "Success: Already ON")

    # monitor -v says what it can about each addressed target
    mon = run_agent(["-o", "monitor", "-a", "%s:2" % ls, "-v"], env=cluster.env(1))
    assert mon.returncode == 0, mon.stderr
    assert re.search(r"%s:2 is LIVE \(generation \d+, io_timeout 1 s\): a fence should take "
                     r"about \d+ s" % ls, mon.stderr), mon.stderr
