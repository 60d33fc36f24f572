# SPDX-License-Identifier: GPL-2.0-or-later
"""Fences against the real watchdog chain: real wdmd petting a fake device of the host's
own (its fire resets the whole simulated machine), the real `sanlock daemon -w 1` and,
on the target, the project's own fence-sanlock-vdsm-responder (the default target side
on every platform) at io_timeout 3 (the lowest at which sanlock does not trip its own
watchdog). The harness's record of the device fire is the ground truth the agent's
verdict is checked against.

Interoperability with the real `sanlk-resetd -w 1` (registered by the project's sync
service; EL8, Debian) keeps one run of the main scenario, and the tests of what is
particular to it (its -w 0, Debian's sanlock -w 0): the other scenarios test the agent
and the chain, which do not depend on which program replies, so each runs once.
"""

import subprocess
import time

import pytest

from harness.callers import assert_one_line_error, pacemaker_stdin, vdsm_stdin, wait_state
from harness.simcluster import wait_for

pytestmark = pytest.mark.slow
IO = 3
TARGET = "responder"        # the target side of every scenario not about sanlk-resetd


def finish(proc, timeout=400):
    out, err = proc.communicate(timeout=timeout)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def off(cluster, proxy, target=3, address=None, **kwargs):
    return cluster.agent(proxy, ["-o", "off", "-a",
                                 address or "%s:%d" % (cluster.lockspace, target)], **kwargs)


def status_code(cluster, host_id, target=3, address=None):
    return cluster.agent(host_id, ["-o", "status", "-a", address or "%s:%d" % (
        cluster.lockspace, target)]).returncode


def assert_cannot_tell(cluster, host_id, target=3):
    """status through host_id, once its own daemon says the target's lease is DEAD: an
    expired lease without a proof is "cannot tell" (exit 1), neither ON nor OFF."""
    result = cluster.agent(host_id, ["-o", "status", "-a",
                                     "%s:%d" % (cluster.lockspace, target)])
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert_one_line_error(result)


def wait_status_off(cluster, host_id, within, address=None):
    """Seconds until status through host_id says OFF (exit 2); ON (0) meanwhile."""
    started = time.monotonic()
    while True:
        code = status_code(cluster, host_id, address=address)
        if code == 2:
            return time.monotonic() - started
        assert code == 0, "status said neither ON nor OFF (exit %d)" % code
        assert time.monotonic() - started < within, "status not OFF within %d s" % within
        time.sleep(0.5)


def fenceable_on_target(cluster, host_id=3):
    """The agent's on_target "on" (Pacemaker's unfencing) run on the target: its line."""
    on = cluster.agent(host_id, stdin=pacemaker_stdin(cluster.lockspace, "on", host_id,
                                                      nodename="node%d" % host_id))
    assert on.returncode == 0, on.stdout + on.stderr
    assert on.stdout.splitlines()[-1] == "Success: Powered ON", on.stdout
    return on.stdout


@pytest.mark.parametrize("side", ["responder", "sanlk-resetd"])
def test_a_fence_through_the_real_chain_is_proven_after_the_fire(make_cluster, side):
    cluster = make_cluster(hosts=3, io_timeout=IO, watchdog={3: "real"})
    cluster.start_target_side(3, side)
    # unfencing on the target judges the side it runs
    said = fenceable_on_target(cluster)
    assert ("fence-sanlock-vdsm-responder (pid %d) answers reset requests here"
            % cluster.host(3).procs["responder"].pid if side == "responder"
            else "is watched by sanlk-resetd") in said, said
    result = off(cluster, 1)
    ended = time.monotonic()
    assert result.returncode == 0, result.stderr
    fires = cluster.host(3).fires()
    assert len(fires) == 1 and fires[0]["mono"] < ended       # reset before success
    assert not cluster.host(3).machine.processes()            # every process of it is gone
    # status through a host that did not send the reset, within one renewal + 5 s
    assert wait_status_off(cluster, 2, 2 * IO + 5) < 2 * IO + 5


def test_a_watchdog_that_never_fires_fails_the_fence(make_cluster):
    cluster = make_cluster(hosts=3, io_timeout=IO, watchdog={3: "broken"})
    cluster.start_target_side(3, TARGET)
    result = off(cluster, 1)
    assert "did not reset it" in assert_one_line_error(result)
    host = cluster.host(3)
    assert host.device_events(["would_fire"]) and not host.fires()
    assert host.machine.running
    assert status_code(cluster, 2) == 0 and status_code(cluster, 1) == 0


def test_storage_lost_after_the_reply_still_ends_in_a_reset(make_cluster):
    """The reply armed the watchdog; the host then loses its storage and keeps running
    until the watchdog fires. The agent succeeds only after that fire."""
    cluster = make_cluster(hosts=3, io_timeout=IO, watchdog={3: "real"})
    cluster.start_target_side(3, TARGET)
    proc = cluster.agent_popen(1, vdsm_stdin(cluster.lockspace, "off", port="3"))
    wait_for(lambda: cluster.read_leader(3)["extra2"] & 2, 60, 0.2, "the reply on storage")
    cluster.host(3).storage(both="eio")
    result = finish(proc)
    ended = time.monotonic()
    assert result.returncode == 0, result.stderr
    fires = cluster.host(3).fires()
    assert fires and fires[0]["mono"] < ended


def test_storage_lost_before_any_request_is_never_off(make_cluster):
    """The target loses its storage and keeps running: no request can reach it. off fails
    and status never says OFF, whatever sanlock's own watchdog use does to the host."""
    cluster = make_cluster(hosts=3, io_timeout=IO, watchdog={3: "real"})
    cluster.start_target_side(3, TARGET)
    cluster.host(3).storage(both="eio")
    result = off(cluster, 1, timeout=600)
    line = assert_one_line_error(result)
    assert "expired without acknowledging" in line or "never acknowledged" in line
    for host_id in (1, 2):
        wait_state(cluster, host_id, 3, "DEAD", 200)     # each daemon judges on its own
        assert_cannot_tell(cluster, host_id)
    # what really happened: sanlock holds no resource lease there, so when its lease
    # cannot be renewed it drops the lockspace without letting its watchdog fire; the
    # host keeps running, which is exactly why an expired lease proves nothing
    assert not cluster.host(3).fires()
    assert cluster.host(3).machine.running and cluster.host(3).alive("daemon")


def test_sanlock_without_its_watchdog_still_resets_through_the_responder(make_cluster):
    """Debian's default sanlock runs -w 0. Measured with Debian's 3.8.5: wdmd pets its
    device from its own start, and the responder arms it through its own connection (as
    sanlk-resetd -w 1 does), so the reset still happens; the proof holds."""
    cluster = make_cluster(hosts=3, io_timeout=IO, watchdog={3: "daemon-w0"})
    cluster.start_target_side(3, TARGET)
    result = off(cluster, 1)
    ended = time.monotonic()
    assert result.returncode == 0, result.stderr
    assert cluster.host(3).fires()[0]["mono"] < ended


def test_sanlk_resetd_without_its_watchdog_is_not_made_fenceable(make_cluster):
    """sanlk-resetd -w 0 acknowledges resets without arming anything. The sync service
    sees it is not one of wdmd's clients and registers nothing; off then fails rather
    than trusting a reply."""
    cluster = make_cluster(hosts=3, io_timeout=IO, watchdog={3: "real"})
    host = cluster.host(3)
    host.start_resetd(watchdog=False)
    host.start_sync()
    wait_for(lambda: "no sanlk-resetd is connected to wdmd" in open(host.log("sync")).read(),
             30, 0.5, "the sync service to refuse")
    result = off(cluster, 1)
    assert "never acknowledged" in assert_one_line_error(result)
    assert not host.fires() and host.machine.running


def test_a_reboot_after_a_proven_fence_then_lost_storage_is_never_off(make_cluster):
    cluster = make_cluster(hosts=3, io_timeout=IO, watchdog={3: "real"})
    cluster.start_target_side(3, TARGET)
    assert off(cluster, 1).returncode == 0
    cluster.boot(3, rejoin=False)
    cluster.cut_after_join_write(3, cut="storage")      # its record: the old reply
    assert cluster.read_leader(3)["extra2"] & 2
    for host_id in (1, 2):
        wait_state(cluster, host_id, 3, "DEAD", 200)     # each daemon judges on its own
        assert_cannot_tell(cluster, host_id)
        again = off(cluster, host_id)
        assert again.returncode == 1 and "Success" not in again.stdout


@pytest.mark.parametrize("align_mb", [1, 8])
def test_two_lockspaces_one_on_4k_sectors(make_cluster, align_mb):
    cluster = make_cluster(hosts=3, io_timeout=IO, watchdog={3: "real"})
    big = cluster.add_lockspace(sector_size=4096, align_mb=align_mb)
    cluster.start_target_side(3, TARGET)
    address = "%s:3,%s:3" % (cluster.lockspace, big)
    result = cluster.agent(1, ["-o", "reboot", "-a", address])
    ended = time.monotonic()
    assert result.returncode == 0, result.stderr
    assert cluster.host(3).fires()[0]["mono"] < ended
    assert wait_status_off(cluster, 2, 2 * IO + 5, address=address) < 2 * IO + 5


@pytest.mark.parametrize("repetition", range(3))
def test_two_nodes_fencing_each_other_leave_exactly_one_standing(make_cluster, repetition):
    """Both lose their network, not their storage, and start off against each other
    within two seconds (in random order). With the mutual guard (on by default under
    Pacemaker), exactly one of them is reset, and the other's off succeeds."""
    import random
    cluster = make_cluster(hosts=2, io_timeout=IO, watchdog="real")
    for host_id in (1, 2):
        cluster.start_target_side(host_id, TARGET)
    offsets = {1: random.uniform(0, 2), 2: random.uniform(0, 2)}
    procs = {}
    started = time.monotonic()
    for host_id in sorted(offsets, key=offsets.get):
        time.sleep(max(0.0, started + offsets[host_id] - time.monotonic()))
        procs[host_id] = cluster.agent_popen(host_id, args=[
            "-o", "off", "-a", "%s:%d" % (cluster.lockspace, 3 - host_id), "--mutual-guard=1"])
    results = {h: finish(procs[h]) for h in (1, 2)}
    wait_for(lambda: any(cluster.host(h).fires() for h in (1, 2)), 150, 1.0, "a reset")
    time.sleep(2 * IO + 75)                 # long enough for a second fire to show
    reset = [h for h in (1, 2) if cluster.host(h).fires()]
    assert len(reset) == 1, (offsets, reset, results)
    survivor = 3 - reset[0]
    assert results[survivor].returncode == 0, results[survivor].stderr
    assert results[reset[0]].returncode != 0
    assert cluster.host(survivor).machine.running
