# SPDX-License-Identifier: GPL-2.0-or-later
"""Self-tests of harness/simcluster.py: what the fence tests rely on the cluster for.

The mechanisms underneath (machine.py, storagepath.py, fakewatchdog.py with the real wdmd)
have their own tests in test_harness.py; these check what SimCluster builds from them:
a reboot restarts a host's lease clock lower and a daemon restart does not, a power-off
or a storage fault reaches one host only, the stand-in watchdog acts on the reply, stop()
leaves nothing behind, clusters run side by side, 4K-sector lockspaces at both
alignments.

Run with: /usr/bin/python3 -m pytest -n 4 tests/real/test_simcluster.py
Each test uses its own cluster, so tests are independent under pytest-xdist.
"""

import concurrent.futures
import errno
import os
import subprocess
import time

import pytest

from harness import fuselite
from harness.callers import require
from harness.machine import CGROUP_PREFIX, CGROUP_ROOT
from harness.machine import exited as gone
from harness.observe import LeaseWatch, StandIn, reply_on_disk, request_on_disk
from harness.simcluster import SimCluster, wait_for
from sanlock_fencing.core.events import RESETTING as EVENT_RESETTING


@pytest.fixture(autouse=True, scope="module")
def needs():
    require(os.geteuid() == 0, "root (it starts sanlock daemons): run the tests as root")
    require(os.path.exists("/dev/fuse"), "/dev/fuse: modprobe fuse (in a container: "
            "--device /dev/fuse)")
    require(os.path.exists("/usr/sbin/sanlk-resetd"), "sanlk-resetd (package sanlk-reset): "
            "make deps")


LIVE = 3            # sanlock.HOST_LIVE
ALIGN_FLAGS = {1: 0x10, 2: 0x20, 4: 0x40, 8: 0x80}      # sanlock's LFL_ALIGN_*M


def timestamps(cluster, host_ids, lockspace=None):
    return {h: cluster.read_leader(h, lockspace)["timestamp"] for h in host_ids}


def renewing(cluster, host_ids, lockspace=None, timeout=10):
    """host_ids whose lease timestamp moved within timeout seconds."""
    before = timestamps(cluster, host_ids, lockspace)
    moved = set()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and moved != set(host_ids):
        time.sleep(0.5)
        now = timestamps(cluster, host_ids, lockspace)
        moved |= {h for h in host_ids if now[h] > before[h]}
    return moved


def test_wait_for():
    assert wait_for(lambda: 42, 1) == 42
    with pytest.raises(TimeoutError, match="the answer"):
        wait_for(lambda: 0, 0.1, 0.02, what="the answer")


def test_a_reboot_restarts_the_lease_clock_lower_and_a_daemon_restart_does_not(make_cluster):
    cluster = make_cluster(hosts=2)
    host = cluster.host(2)
    ls = cluster.lockspace
    first = cluster.read_leader(2)
    boots = host.machine.boot_count

    cluster.restart_daemon(2)                  # same boot: the clock goes on
    restarted = cluster.read_leader(2)
    assert host.machine.boot_count == boots
    assert restarted["owner_generation"] > first["owner_generation"]
    assert restarted["timestamp"] > first["timestamp"]
    assert host.generations[ls] == restarted["owner_generation"]

    cluster.reboot(2)                          # a new boot: a new, lower clock
    rebooted = cluster.read_leader(2)
    assert host.machine.boot_count == boots + 1
    assert rebooted["owner_generation"] > restarted["owner_generation"]
    assert 0 < rebooted["timestamp"] < restarted["timestamp"]
    seen = {h["host_id"]: h for h in cluster.get_hosts(1)}
    assert (seen[2]["generation"], seen[2]["flags"]) == (rebooted["owner_generation"], LIVE)
    # the rebooted host's services are back (its /run started empty)
    assert host.alive("daemon") and host.alive("witness")
    print("timestamps: %d, daemon restart %d, reboot %d"
          % (first["timestamp"], restarted["timestamp"], rebooted["timestamp"]))


def test_a_power_off_ends_every_process_of_that_host_only(make_cluster):
    cluster = make_cluster(hosts=3)
    cluster.start_resetd(2, watchdog_delay=None)
    h2 = cluster.host(2)
    # a process tree nobody recorded but its root: the power-off must end its child too
    tree = h2.machine.spawn(["sh", "-c", "sleep 1000 & wait"])
    # the holder, sanlock and its helper, sanlk-resetd, the witness, sh and its sleep
    wait_for(lambda: len(h2.machine.processes()) >= 7, 10, 0.05, "host 2's processes")
    doomed = h2.machine.processes()
    others = {h: cluster.host(h).machine.processes() for h in (1, 3)}
    assert not set(doomed) & set(others[1] + others[3])

    cluster.power_off(2)
    assert h2.machine.processes() == [] and not h2.machine.running
    assert all(gone(pid) for pid in doomed), [p for p in doomed if not gone(p)]
    assert not tree.alive() and h2.pid is None
    for h, pids in others.items():
        assert all(not gone(pid) for pid in pids), h
        assert cluster.host(h).machine.processes() == pids
    # the others renew, host 2 has stopped
    assert renewing(cluster, [1, 2, 3]) == {1, 3}


def test_a_storage_fault_on_one_host_reaches_that_host_only(make_cluster):
    cluster = make_cluster(hosts=3)
    ls = cluster.lockspace_info()
    h3 = cluster.host(3)

    def read_through(host_id):
        path = cluster.host(host_id).lease_path(ls)
        return subprocess.run(["sanlock", "direct", "read_leader", "-s",
                               "%s:3:%s:0" % (ls.name, path)], capture_output=True,
                              text=True, timeout=30)

    h3.storage(both="eio")
    time.sleep(0.5)              # a write already being served when the switch came
    try:
        assert "read_leader done 0" in read_through(1).stdout
        assert "read_leader done 0" not in read_through(3).stdout
        # host 3's daemon cannot renew; the others go on
        assert renewing(cluster, [1, 2, 3], timeout=4) == {1, 2}
    finally:
        h3.storage(both="ok")
    # back within its renewal-fail window: host 3 renews again, nobody saw it fail
    assert renewing(cluster, [3], timeout=10) == {3}
    assert "read_leader done 0" in read_through(3).stdout
    assert h3.pid is not None
    assert all(state == "LIVE" for state in cluster.host_states(1).values())


def test_the_stand_in_powers_off_after_the_reply_and_with_none_never(make_cluster):
    cluster = make_cluster(hosts=4)
    cluster.start_resetd(2, watchdog_delay=0.0)
    cluster.start_resetd(3, watchdog_delay=None)
    h2, h3 = cluster.host(2), cluster.host(3)
    started = time.monotonic()
    cluster.set_event(1, 2)         # RESET from host 1 to host 2 (its generation)
    cluster.set_event(4, 3)         # from host 4 to host 3
    wait_for(lambda: h2.standin.killed_at and h3.standin.reply_seen_at, 30, 0.1,
             "host 2 powered off and host 3's reply on storage")
    assert started < h2.standin.reply_seen_at <= h2.standin.killed_at
    assert not h2.machine.running and h2.pid is None
    assert cluster.read_leader(2)["extra2"] & EVENT_RESETTING
    # host 3 acknowledged but "its watchdog never fires": it keeps running and renewing
    time.sleep(2)
    assert h3.standin.killed_at is None and h3.machine.running
    assert renewing(cluster, [2, 3]) == {3}
    assert cluster.read_leader(3)["extra2"] & EVENT_RESETTING


def test_stand_ins_sharing_one_watch_act_on_what_it_saw(make_cluster):
    """The bench's way: one LeaseWatch (the product's reader on the backing file) for
    several stand-ins. It sees the request in the proxy's lease, then the reply in the
    target's, in the order they were written, and what it read agrees with sanlock's own
    read_leader."""
    cluster = make_cluster(hosts=3)
    for host_id in (2, 3):
        cluster.host(host_id).start_resetd([cluster.lockspace])    # no stand-in of its own
    watch = LeaseWatch(cluster, [1, 2, 3])
    watch.start()
    started = time.monotonic()
    standins = {h: StandIn(cluster.host(h), delay=0.0 if h == 2 else None, watch=watch,
                           after=started) for h in (2, 3)}
    try:
        for standin in standins.values():
            standin.start()
        cluster.set_event(1, 2)
        wait_for(lambda: standins[2].killed_at, 30, 0.1, "host 2 powered off")
    finally:
        for standin in standins.values():
            standin.stop()
        watch.stop()
    generation = cluster.host(2).generations[cluster.lockspace]
    requested = request_on_disk(watch, 1, started)
    replied = reply_on_disk(watch, 2, generation, started)
    assert started <= requested <= replied == standins[2].reply_seen_at
    assert replied <= standins[2].killed_at and not cluster.host(2).machine.running
    assert standins[3].reply_seen_at is None and cluster.host(3).machine.running
    last = watch.changes[2][-1]
    lead = cluster.read_leader(2)
    assert (last.generation, last.event, last.event_generation) == (
        lead["owner_generation"], lead["extra2"], lead["extra1"])


def _our_cgroups(uid=None):
    prefix = "%s%d-" % (CGROUP_PREFIX, os.getpid())
    return [n for n in os.listdir(CGROUP_ROOT)
            if n.startswith(prefix) and (uid is None or uid in n)]


def test_stop_leaves_nothing_behind():
    """With a real-watchdog host too: its wdmd, its fake device's server and mount."""
    c = SimCluster(hosts=2, io_timeout=3, watchdog={2: "real"})
    try:
        c.start()
        c.start_resetd(2)
        c.start_resetd(1, watchdog_delay=None)
        assert c.host(2).alive("wdmd") and c.host(2).alive("sync")
        assert len(_our_cgroups(c.uid)) == 2
        assert fuselite.mounts_under(c.workdir)        # the storage views, the device
        pids = c.recorded_pids()
        in_cgroups = [p for h in c.hosts for p in h.machine.processes()]
    finally:
        c.stop()
    assert fuselite.mounts_under(c.workdir) == []
    assert _our_cgroups() == []
    assert c.alive_pids() == []
    assert all(gone(p) for p in pids + in_cgroups), \
        [p for p in pids + in_cgroups if not gone(p)]
    assert not os.path.exists(c.workdir)
    c.stop()    # idempotent


def test_two_clusters_at_once_and_4k_sector_lockspaces():
    a = SimCluster(hosts=2)
    b = SimCluster(hosts=[3, 7], sector_size=4096)
    try:
        # start both at once from worker threads (their processes outlive the threads)
        with concurrent.futures.ThreadPoolExecutor(2) as ex:
            list(ex.map(lambda c: c.start(), [a, b]))
        assert a.lockspace != b.lockspace and a.workdir != b.workdir
        assert a.host(1).name != b.host(3).name
        assert a.host(1).run_dir != b.host(3).run_dir
        assert sorted(a.host_states(2)) == [1, 2] and sorted(b.host_states(3)) == [3, 7]
        with pytest.raises(OSError) as ei:       # a's daemons never joined b's lockspace
            a.get_hosts(1, b.lockspace)
        assert ei.value.errno == errno.ENOENT

        # b's lockspace: 4 KiB sectors, 1 MiB alignment (host ids up to 250); another one
        # at 8 MiB (what host ids above 250 need)
        lead = b.read_leader(7)
        assert lead["sector_size"] == 4096 and lead["flags"] & 0xF0 == ALIGN_FLAGS[1]
        big = b.add_lockspace(sector_size=4096, align_mb=8)
        lead = b.read_leader(7, big)
        assert lead["sector_size"] == 4096 and lead["flags"] & 0xF0 == ALIGN_FLAGS[8]
        assert set(b.host_states(3, big).values()) == {"LIVE"}

        # one of b's hosts powered off: a is untouched
        a_pids = [p for h in a.hosts for p in h.machine.processes()]
        b.power_off(7)
        assert b.host(7).machine.processes() == []
        assert all(not gone(p) for p in a_pids)
        assert set(a.host_states(1).values()) == {"LIVE"}
        pids = a.recorded_pids() + b.recorded_pids()
    finally:
        a.stop()
        b.stop()
    assert all(gone(p) for p in pids)
