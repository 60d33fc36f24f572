# SPDX-License-Identifier: GPL-2.0-or-later
"""off, reboot and on against real sanlock daemons and real sanlk-resetd at io_timeout 1.

Each scenario has its own cluster of simulated machines, so scenarios run concurrently.
The target's watchdog is played by the harness here (a stand-in that powers the target's
machine off once its reply is on storage): the real watchdog chain needs io_timeout 3
and is in test_realchain.py. The known holes of earlier versions (evidence.md) each
have a scenario here: a reply carried into the next generation, the reply of a fence
whose watchdog failed, a daemon restart taken for a reboot, an empty boolean.

(About 350 lines: one scenario per known hole and per proxy fault.)
"""

import os
import subprocess
import time

import pytest

from harness.callers import assert_one_line_error, pacemaker_stdin, vdsm_stdin, wait_state
from harness.simcluster import wait_for

pytestmark = pytest.mark.slow


def finish(proc, timeout=300):
    out, err = proc.communicate(timeout=timeout)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def proof_line(result):
    return [line for line in result.stdout.splitlines()
            if line.startswith(("Proof:", "Already off:"))]


def status(cluster, host_id, target=3, lockspace=None):
    return cluster.agent(host_id, ["-o", "status", "-a", "%s:%d" % (
        lockspace or cluster.lockspace, target)])


def never_off(result):
    """A status or off that must not claim the host is off."""
    assert result.returncode != 2 and "Success" not in result.stdout, result
    assert "Status: OFF" not in result.stdout, result


# ------------------------------------------------------------------ the normal case

def test_off_is_proven_then_every_host_reports_off(make_cluster):
    cluster = make_cluster(hosts=3)
    ls = cluster.lockspace
    cluster.start_resetd(3, watchdog_delay=0)
    proxy2_before = cluster.read_leader(2)

    started = time.monotonic()
    result = cluster.agent(1, stdin=vdsm_stdin(ls, "off", port="3"))
    ended = time.monotonic()
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "Success: Powered OFF"
    assert len(proof_line(result)) == 1, result.stdout
    standin = cluster.host(3).standin
    assert started < standin.reply_seen_at < standin.killed_at < ended

    # on the proxy that ran off: at once (what it saw is kept on this host)
    first = status(cluster, 1)
    assert (first.returncode, first.stdout.splitlines()[-1]) == (2, "Status: OFF"), first
    assert time.monotonic() - ended < 5
    # oVirt may poll through another host: its witness saw the reply and the silence
    deadline = ended + 2 * 1 + 5
    while True:
        other = status(cluster, 2)
        if other.returncode == 2 or time.monotonic() > deadline:
            break
        assert other.returncode == 0, other          # ON while not proven; never "cannot tell"
        time.sleep(0.5)
    assert (other.returncode, other.stdout.splitlines()[-1]) == (2, "Status: OFF"), other

    again = cluster.agent(2, ["-o", "off", "-a", "%s:3" % ls])
    assert (again.returncode, again.stdout.splitlines()[-1]) == (0, "Success: Already OFF")
    # on never sends a reset: sanlock cannot power a host on
    on = cluster.agent(2, stdin=vdsm_stdin(ls, "on", port="3", options="power_timeout=3"))
    assert "has not rejoined" in assert_one_line_error(on)
    on_live = cluster.agent(2, stdin=vdsm_stdin(ls, "on", port="1"))
    assert (on_live.returncode, on_live.stdout.strip()) == (0, "Success: Already ON")
    after = cluster.read_leader(2)
    assert (after["extra1"], after["extra2"]) == (proxy2_before["extra1"],
                                                  proxy2_before["extra2"])


def test_target_without_sanlk_resetd_fails_and_delay_is_honoured(make_cluster):
    cluster = make_cluster(hosts=3)
    started = time.monotonic()
    result = cluster.agent(1, stdin=pacemaker_stdin(cluster.lockspace, "reboot", 3, delay=10,
                                                    pcmk_unknown="ignored"))
    assert_one_line_error(result)
    assert "never acknowledged" in result.stderr and "Success" not in result.stdout
    # the request went out only after the delay: the proxy's lease carries it, and the
    # whole run took the delay plus the four renewals it waits for a reply
    assert cluster.read_leader(1)["extra2"] & 1
    assert 10 + 8 <= time.monotonic() - started < 45


def test_validation_happens_before_the_delay(make_cluster):
    cluster = make_cluster(hosts=2)
    started = time.monotonic()
    own = cluster.agent(1, stdin=pacemaker_stdin(cluster.lockspace, "off", 1, delay=300))
    assert "own host id" in assert_one_line_error(own)
    empty = cluster.agent(1, stdin=pacemaker_stdin(cluster.lockspace, "off", 2, delay=300,
                                                   resource_mode=""))
    assert "resource_mode" in assert_one_line_error(empty)
    assert time.monotonic() - started < 15
    assert not cluster.read_leader(1)["extra2"]            # nothing was ever sent


def test_a_host_id_beyond_the_lockspace_is_refused(make_cluster):
    cluster = make_cluster(hosts=2, sector_size=4096)      # 1 MiB alignment: ids 1..250
    line = assert_one_line_error(cluster.agent(1, ["-o", "off", "-a",
                                                   "%s:300" % cluster.lockspace]))
    assert "300" in line and "250" in line and "holds no lease" not in line


# ------------------------------------------------------------------ hole 2: a failed fence

def test_a_watchdog_that_never_fires_fails_and_its_reply_never_proves_off(make_cluster):
    """The target acknowledges but keeps renewing (its watchdog failed). Both fences
    fail; later the host loses its storage while it still runs: its lease expires
    carrying that reply, and nothing may call it off."""
    cluster = make_cluster(hosts=3)
    ls = cluster.lockspace
    cluster.start_resetd(3, watchdog_delay=None)
    first = cluster.agent_popen(1, vdsm_stdin(ls, "off", port="3"))
    wait_for(lambda: cluster.host(3).standin.reply_seen_at, 30, what="reply on disk")
    second = cluster.agent_popen(2, vdsm_stdin(ls, "off", port="3", options="verbose=1"))
    result, late = finish(first), finish(second)
    assert "did not reset it" in assert_one_line_error(result)
    assert_one_line_error(late)
    assert "Success" not in late.stdout
    assert status(cluster, 2).returncode == 0               # it runs: ON

    cluster.host(3).storage(both="eio")                     # still running, no storage
    wait_state(cluster, 2, 3, "DEAD", 120)
    for host_id in (1, 2):
        never_off(status(cluster, host_id))
        never_off(cluster.agent(host_id, ["-o", "off", "-a", "%s:3" % ls]))
    assert cluster.host(3).machine.running


# ------------------------------------------------------------------ hole 3: restart is not reboot

def test_a_daemon_restart_after_the_reply_is_not_a_reboot(make_cluster):
    """The target acknowledges, then its sanlock daemon and sanlk-resetd restart on the
    same boot (resetd's clean exit disarms its watchdog): it keeps running in a newer
    generation. The fence fails saying so; nothing ever says off."""
    cluster = make_cluster(hosts=3)
    ls = cluster.lockspace
    cluster.start_resetd(3, watchdog_delay=None)
    proc = cluster.agent_popen(1, vdsm_stdin(ls, "off", port="3"))
    wait_for(lambda: cluster.host(3).standin.reply_seen_at, 30, what="reply on disk")
    cluster.restart_daemon(3, restart_resetd=True)
    result = finish(proc)
    line = assert_one_line_error(result)
    assert "without a reboot" in line and "Success" not in result.stdout
    never_off(status(cluster, 2))
    never_off(status(cluster, 1))


def test_a_reboot_after_the_reply_is_proven_by_the_restarted_clock(make_cluster):
    cluster = make_cluster(hosts=3)
    cluster.start_resetd(3, watchdog_delay=None)
    old = cluster.host(3).generations[cluster.lockspace]
    proc = cluster.agent_popen(1, vdsm_stdin(cluster.lockspace, "off", port="3"))
    wait_for(lambda: cluster.host(3).standin.reply_seen_at, 30, what="reply on disk")
    cluster.reboot(3)                      # a new boot: its clock starts low again
    assert cluster.host(3).generations[cluster.lockspace] > old
    result = finish(proc)
    assert result.returncode == 0, result.stderr
    assert "rebooted" in proof_line(result)[0]


# ------------------------------------------------------------------ hole 1: carried-over reply

@pytest.mark.parametrize("cut", ["power", "storage"])
def test_a_reply_carried_into_the_next_generation_proves_nothing(make_cluster, cut):
    """Host 3 is fenced (proven), reboots and rejoins with the same name; right after
    its new generation is on storage it stops (power) or loses its storage while it
    runs (storage). Its record carries the old RESETTING in the new generation."""
    cluster = make_cluster(hosts=3)
    ls = cluster.lockspace
    cluster.start_resetd(3, watchdog_delay=0)
    assert cluster.agent(1, ["-o", "off", "-a", "%s:3" % ls]).returncode == 0
    cluster.boot(3, rejoin=False)
    new = cluster.cut_after_join_write(3, cut=cut)
    lease = cluster.read_leader(3)
    assert lease["owner_generation"] == new and lease["extra2"] & 2    # the carried reply

    # an off started now must not take that reply for its own
    started = cluster.agent_popen(2, vdsm_stdin(ls, "off", port="3"))
    wait_state(cluster, 2, 3, "DEAD", 120)
    for host_id in (1, 2):
        never_off(status(cluster, host_id))
        never_off(cluster.agent(host_id, ["-o", "off", "-a", "%s:3" % ls]))
    never_off(finish(started))


# ------------------------------------------------------------------ the proxy failing

def test_proxy_daemon_dying_mid_fence_is_a_failure_naming_it(make_cluster):
    cluster = make_cluster(hosts=3)
    cluster.start_resetd(3, watchdog_delay=None)
    proc = cluster.agent_popen(1, vdsm_stdin(cluster.lockspace, "off", port="3"))
    time.sleep(4)
    cluster.kill_daemon(1)
    line = assert_one_line_error(finish(proc, timeout=60))
    assert "sanlock daemon" in line and "not proven" in line
    assert "permission" not in line


@pytest.mark.parametrize("fault", ["stopped daemon", "stalled storage", "crawling storage"])
def test_proxy_faults_end_off_within_power_timeout(make_cluster, fault):
    cluster = make_cluster(hosts=3)
    cluster.start_resetd(3, watchdog_delay=None)
    started = time.monotonic()
    proc = cluster.agent_popen(1, vdsm_stdin(cluster.lockspace, "off", port="3",
                                             options="power_timeout=20"))
    wait_for(lambda: cluster.host(3).standin.reply_seen_at, 30, what="reply on disk")
    proxy = cluster.host(1)
    if fault == "stopped daemon":
        proxy.pause_daemon()
    elif fault == "stalled storage":
        proxy.storage(both="stall")
    else:
        proxy.storage(both="crawl", rate=512)
    try:
        result = finish(proc, timeout=60)
    finally:
        if fault == "stopped daemon":
            proxy.resume_daemon()
        else:
            proxy.storage(both="ok")
    assert_one_line_error(result)
    assert "Success" not in result.stdout
    assert time.monotonic() - started < 20 + 5


def stalled_call(cluster, host_id, argv):
    """argv run on host_id while its storage stalls: (result, seconds)."""
    proxy = cluster.host(host_id)
    proxy.storage(both="stall")
    try:
        started = time.monotonic()
        result = cluster.agent(host_id, argv, timeout=60)
        return result, time.monotonic() - started
    finally:
        proxy.storage(both="ok")


def test_proxy_storage_stalled_before_off_or_monitor_fails_naming_the_storage(make_cluster):
    # The check before sending gives up on a read that does not return; the read stays
    # blocked in its thread with its buffer (seen in make bench: "unexpected BufferError:
    # cannot close exported pointers exist" when the check closed a buffer still in use).
    # io_timeout 3: the proxy keeps its own lease through two stalls of about 10 s.
    cluster = make_cluster(hosts=3, io_timeout=3)
    cluster.start_resetd(3, watchdog_delay=None)
    for argv in (["-o", "off", "-a", "%s:3" % cluster.lockspace],
                 ["-o", "monitor", "-a", cluster.lockspace]):
        result, elapsed = stalled_call(cluster, 1, argv)
        line = assert_one_line_error(result)
        assert "cannot read lockspace" in line and "did not return" in line, (argv, line)
        assert elapsed < 10 + 5, argv
        time.sleep(7)       # a renewal of the proxy's own lease before the next stall
    # nothing was sent: the target never replied
    assert not cluster.host(3).standin.reply_seen_at


# ------------------------------------------------------------------ concurrency, geometry

@pytest.mark.parametrize("count", [2, 4])
def test_simultaneous_fences_through_one_proxy(make_cluster, count):
    cluster = make_cluster(hosts=count + 1)
    targets = list(range(2, count + 2))
    for host_id in targets:
        cluster.start_resetd(host_id, watchdog_delay=0)
    procs = {}
    for n, host_id in enumerate(targets):
        # the last one asks for a sysrq reboot too: a different event value, which
        # must wait for the lockspace's event slot (EBUSY) and still succeed
        options = "sysrq_reboot=1" if n == len(targets) - 1 else ""
        procs[host_id] = cluster.agent_popen(1, vdsm_stdin(cluster.lockspace, "off",
                                                           port=str(host_id),
                                                           options="verbose=1\n" + options))
    waited_for_the_slot = 0
    for host_id, proc in procs.items():
        result = finish(proc)
        assert result.returncode == 0, (host_id, result.stderr)
        # each process proves its own target, from its own target's replies
        assert proof_line(result)[0].startswith("Proof: %s:%d " % (cluster.lockspace, host_id))
        assert cluster.host(host_id).standin.killed_at is not None
        waited_for_the_slot += "busy with another kind of request" in result.stderr
    assert waited_for_the_slot >= 1


def test_target_in_two_lockspaces_with_reboot(make_cluster):
    cluster = make_cluster(hosts=3)
    second = cluster.add_lockspace(host_ids=[1, 3])
    cluster.start_resetd(3, lockspaces=[cluster.lockspace, second], watchdog_delay=0)
    address = "%s:3,%s:3" % (cluster.lockspace, second)
    result = cluster.agent(1, stdin=pacemaker_stdin(address, "reboot", 3))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "Success: Rebooted"
    after = cluster.agent(1, ["-o", "status", "-a", address])
    assert after.returncode == 2, after


@pytest.mark.parametrize("align_mb", [1, 8])
def test_4096_byte_sector_lockspace(make_cluster, align_mb):
    cluster = make_cluster(hosts=2, sector_size=4096, align_mb=align_mb)
    cluster.start_resetd(2, watchdog_delay=0)
    result = cluster.agent(1, ["-o", "off", "-a", "%s:2" % cluster.lockspace])
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "Success: Powered OFF"


def test_power_timeout_is_a_failure_never_success(make_cluster):
    cluster = make_cluster(hosts=2)
    cluster.start_resetd(2, watchdog_delay=None)
    started = time.monotonic()
    result = cluster.agent(1, stdin=vdsm_stdin(cluster.lockspace, "off", port="2",
                                               options="power_timeout=12"))
    line = assert_one_line_error(result)
    assert "not proven within power_timeout (12 s)" in line and "acknowledged" in line
    assert 12 <= time.monotonic() - started < 20
    assert "Success" not in result.stdout


def test_a_person_at_a_terminal_sees_a_live_progress_line(make_cluster):
    import pty
    cluster = make_cluster(hosts=2)
    master, slave = pty.openpty()
    proc = subprocess.Popen(cluster.agent_argv(1, ["-o", "off", "-a", "%s:2" % cluster.lockspace]),
                            stdout=subprocess.PIPE, stderr=slave, text=True,
                            env=cluster.env(1))
    os.close(slave)
    screen = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        if not chunk:
            break
        screen += chunk
    proc.wait(timeout=60)
    os.close(master)
    text = screen.decode()
    assert proc.returncode == 1
    assert "\r\033[Kfence_sanlock_vdsm: request on storage; waiting for the target's reply" \
        in text
    assert "never acknowledged" in text.splitlines()[-1]
