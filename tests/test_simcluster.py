"""Self-tests of tests/simcluster.py against real sanlock daemons.

Run with: /usr/bin/python3 -m pytest tests/test_simcluster.py [-n 2]
Each test uses its own cluster, so tests are independent under pytest-xdist.
"""

import concurrent.futures
import errno
import os
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from simcluster import (  # noqa: E402
    EVENT_RESETTING, HOST_LIVE, SimCluster, SimClusterError, _threads_finished, wait_for)

pytestmark = pytest.mark.skipif(
    not os.path.exists("/usr/sbin/sanlk-resetd") or os.geteuid() != 0,
    reason="needs root and the sanlock / sanlk-reset packages")


def test_wait_for():
    assert wait_for(lambda: 42, 1) == 42
    with pytest.raises(TimeoutError, match="the answer"):
        wait_for(lambda: 0, 0.1, 0.02, what="the answer")


def test_reset_watchdog_restart_and_stop():
    c = SimCluster(hosts=4)
    pids = []
    try:
        c.start()
        # every host sees every host LIVE
        for observer in c.host_ids:
            hosts = c.get_hosts(observer)
            assert sorted(h["host_id"] for h in hosts) == [1, 2, 3, 4]
            assert all(h["flags"] == HOST_LIVE for h in hosts), hosts
        h2 = c.host(2)
        assert h2.env["SANLOCK_RUN_DIR"] == h2.run_dir == c.env(2)["SANLOCK_RUN_DIR"]
        assert h2.pid and h2.generation == 1
        assert len(c.lockspace.encode()) <= 48

        # host 2 acks and is "reset" at once; host 3 acks but its watchdog never fires
        c.start_resetd(2, watchdog_delay=0.0)
        c.start_resetd(3, watchdog_delay=None)
        t0 = time.monotonic()
        c.set_event(1, 2)   # RESET from host 1 to host 2 (current generation)
        c.set_event(4, 3)   # RESET from host 4 to host 3
        wait_for(lambda: c.host(2).killed_at and c.host(3).reply_seen_at, 30, 0.1,
                 "host 2 killed and host 3's reply on disk")
        assert h2.reply_seen_at <= h2.killed_at
        assert h2.reply_leader["extra2"] & EVENT_RESETTING
        assert h2.reply_leader["owner_generation"] == 1
        assert h2.reply_leader["extra1"] == c.host(1).generation   # requester's gen
        assert h2.pid is None and h2.resetd_pid is None
        lead = c.read_leader(2)
        assert lead["extra2"] & EVENT_RESETTING
        print("reset request -> reply on disk %.1fs, kill %.1fs"
              % (h2.reply_seen_at - t0, h2.killed_at - t0))

        # host 2's lease stops changing; host 3 keeps renewing (watchdog None)
        ts2, ts3 = lead["timestamp"], c.read_leader(3)["timestamp"]
        time.sleep(2.5 * c.io_timeout + 0.5)
        assert c.read_leader(2)["timestamp"] == ts2
        assert c.read_leader(3)["timestamp"] > ts3
        assert c.host(3).killed_at is None and c.host(3).pid
        assert c.read_leader(3)["extra2"] & EVENT_RESETTING

        # a "reboot" of host 2 with the same name: fast re-acquire, higher generation
        t0 = time.monotonic()
        c.restart_daemon(2)
        print("restart -> rejoined and LIVE everywhere %.1fs" % (time.monotonic() - t0))
        assert h2.generation == 2
        assert c.read_leader(2)["owner_generation"] == 2
        assert c.read_leader(2)["extra2"] == 0          # reacquire clears the event
        seen = {h["host_id"]: h for h in c.get_hosts(1)}
        assert seen[2]["generation"] == 2 and seen[2]["flags"] == HOST_LIVE
        pids = c.recorded_pids()
        assert len(pids) >= 4 * 2 + 2 + 2           # daemons+helpers, resetds, new ones
    finally:
        c.stop()
    assert pids and all(_threads_finished(p) for p in pids), \
        [p for p in pids if not _threads_finished(p)]
    assert c.alive_pids() == []
    assert not os.path.exists(c.workdir)
    c.stop()    # idempotent


def test_two_clusters_4k_and_lockspaces():
    a = SimCluster(hosts=2)
    b = SimCluster(hosts=[3, 7], sector_size=4096)
    try:
        # start both at once from worker threads (daemons must survive the threads)
        with concurrent.futures.ThreadPoolExecutor(2) as ex:
            list(ex.map(lambda c: c.start(), [a, b]))
        assert a.lockspace != b.lockspace and a.workdir != b.workdir
        assert a.host(1).name != b.host(3).name
        assert [h["host_id"] for h in a.get_hosts(2)] == [1, 2]
        assert [h["host_id"] for h in b.get_hosts(3)] == [3, 7]
        assert b.read_leader(7)["sector_size"] == 4096
        assert all(h["flags"] == HOST_LIVE for h in b.get_hosts(7))
        with pytest.raises(OSError) as ei:       # a's daemons never joined b's lockspace
            a.get_hosts(1, b.lockspace)
        assert ei.value.errno == errno.ENOENT

        # kill one of b's hosts: a is unaffected
        b.kill_daemon(7)
        assert b.host(7).pid is None and b.host(7).killed_at is None
        assert a.host(1).pid and a.host(2).pid
        assert all(h["flags"] == HOST_LIVE for h in a.get_hosts(1))

        # a second lockspace in a, joined by host 2 only, then left cleanly
        ls2 = a.add_lockspace(host_ids=[2])
        assert ls2 != a.lockspace and os.path.exists(a.lockspace_path(ls2))
        assert [h["host_id"] for h in a.get_hosts(2, ls2)] == [2]
        a.start_resetd(2, [a.lockspace, ls2], watchdog_delay=None)   # one resetd, two lockspaces
        assert a.host(2).resetd_pid
        a.stop_resetd(2)
        assert a.host(2).resetd_pid is None
        with pytest.raises(SimClusterError):
            a.start_resetd(1, [ls2], timeout=5)   # host 1 is not in ls2
        a.leave_lockspace(2, ls2)
        assert a.read_leader(2, ls2)["timestamp"] == 0
        pids = a.recorded_pids() + b.recorded_pids()
    finally:
        a.stop()
        b.stop()
    assert all(_threads_finished(p) for p in pids)
