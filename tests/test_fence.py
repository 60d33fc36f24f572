"""off, reboot and on against real sanlock daemons, real sanlk-resetd and a stand-in
watchdog (issue: fencing). Each scenario has its own cluster, so they run concurrently."""

import os
import subprocess
import threading
import time

import pytest

from conftest import (AGENT, PYTHON, assert_one_line_error, pacemaker_stdin, run_agent,
                      states, vdsm_stdin, wait_state)
from simcluster import wait_for

pytestmark = pytest.mark.slow


def start_agent(stdin, env):
    """The agent as a background process (for things to do while it fences)."""
    proc = subprocess.Popen([PYTHON, AGENT], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    proc.stdin.write(stdin)
    proc.stdin.close()
    return proc


def finish(proc, timeout=300):
    proc.wait(timeout=timeout)
    out, err = proc.stdout.read(), proc.stderr.read()
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def proof_line(result):
    return [l for l in result.stdout.splitlines() if l.startswith(("Proof:", "Already off:"))]


def test_off_is_proven_then_every_proxy_reports_off(make_cluster):
    cluster = make_cluster(hosts=3)
    ls = cluster.lockspace
    cluster.start_resetd(3, watchdog_delay=0)
    proxy2_before = cluster.read_leader(2)

    started = time.monotonic()
    result = run_agent(stdin=vdsm_stdin(ls, "off", port="3"), env=cluster.env(1))
    ended = time.monotonic()
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "Success: Powered OFF"
    assert len(proof_line(result)) == 1, result.stdout
    host = cluster.host(3)
    assert host.killed_at is not None and started < host.reply_seen_at < host.killed_at < ended
    assert 60 < ended - started < 110

    # oVirt may poll through another host: the proof is on shared storage
    wait_state(cluster, 2, 3, "DEAD", 60)
    status = run_agent(stdin=vdsm_stdin(ls, "status", port="3"), env=cluster.env(2))
    assert (status.returncode, status.stdout.splitlines()[-1]) == (2, "Status: OFF")

    again = run_agent(["-o", "off", "-a", "%s:3" % ls], env=cluster.env(2))
    assert (again.returncode, again.stdout.splitlines()[-1]) == (0, "Success: Already OFF")

    # on never sends a reset: sanlock cannot power a host on
    on = run_agent(stdin=vdsm_stdin(ls, "on", port="3", options="power_timeout=3"),
                   env=cluster.env(2))
    assert "has not rejoined" in assert_one_line_error(on)
    on_live = run_agent(stdin=vdsm_stdin(ls, "on", port="1"), env=cluster.env(2))
    assert (on_live.returncode, on_live.stdout.strip()) == (0, "Success: Already ON")
    after = cluster.read_leader(2)
    assert (after["extra1"], after["extra2"]) == (proxy2_before["extra1"],
                                                  proxy2_before["extra2"])


def test_realistic_watchdog_is_proven_by_its_bound_before_the_lease_expires(make_cluster):
    """A real host renews for up to ~70 s after acknowledging; DEAD comes 68 s after
    that at io_timeout 1. The watchdog-bound proof must end the fence well before."""
    cluster = make_cluster(hosts=3)
    cluster.start_resetd(3, watchdog_delay=60)
    started = time.monotonic()
    result = run_agent(["-o", "off", "-a", "%s:3" % cluster.lockspace, "-v"],
                       env=cluster.env(1))
    ended = time.monotonic()
    assert result.returncode == 0, result.stderr
    assert "watchdog" in proof_line(result)[0]
    host = cluster.host(3)
    assert host.killed_at is not None and host.killed_at < ended
    # proven well before the lease could be DEAD (killed_at + 8*io + 60)
    assert ended < host.killed_at + 30
    assert states(cluster, 2).get(3) != "DEAD"
    assert ended - host.reply_seen_at < 80
    assert "acknowledged" in result.stderr       # -v timeline


def test_target_without_sanlk_resetd_fails_and_delay_is_honoured(make_cluster):
    cluster = make_cluster(hosts=3)
    seen_request = []

    def watch_proxy_lease():
        while time.monotonic() - started < 30:
            if cluster.read_leader(1).get("extra2"):
                seen_request.append(time.monotonic())
                return
            time.sleep(0.25)

    started = time.monotonic()
    watcher = threading.Thread(target=watch_proxy_lease)
    watcher.start()
    result = run_agent(stdin=pacemaker_stdin(cluster.lockspace, "reboot", 3, delay=10,
                                             pcmk_unknown="ignored"), env=cluster.env(1))
    watcher.join()
    line = assert_one_line_error(result)
    assert "never acknowledged" in line and "sanlk-resetd" in line
    assert "Success" not in result.stdout
    assert seen_request and seen_request[0] - started >= 10
    assert time.monotonic() - started < 40


def test_watchdog_that_never_fires_is_a_failure(make_cluster):
    """The target acknowledges but keeps renewing. A second fence, from another proxy,
    finds that reply already in the lease: it is not a reply to its own request (sanlk-reset
    would accept it), and that fence fails too instead of trusting it."""
    cluster = make_cluster(hosts=3)
    cluster.start_resetd(3, watchdog_delay=None)
    started = time.monotonic()
    first = start_agent(vdsm_stdin(cluster.lockspace, "off", port="3"), cluster.env(1))
    wait_for(lambda: cluster.host(3).reply_seen_at is not None, 30, what="reply on disk")
    second = start_agent(vdsm_stdin(cluster.lockspace, "off", port="3",
                                    options="verbose=1"), cluster.env(2))
    result = finish(first)
    elapsed = time.monotonic() - started
    line = assert_one_line_error(result)
    assert "did not reset it" in line
    assert 70 < elapsed < 100
    late = finish(second)
    assert "did not reset it" in assert_one_line_error(late)
    assert "not taken as a reply to this one" in late.stderr
    status = run_agent(["-o", "status", "-a", "%s:3" % cluster.lockspace], env=cluster.env(2))
    assert (status.returncode, status.stdout.strip()) == (0, "Status: ON")


def test_target_that_reboots_and_rejoins_is_proven_by_its_new_generation(make_cluster):
    cluster = make_cluster(hosts=3)
    cluster.start_resetd(3, watchdog_delay=None)
    old = cluster.host(3).generation
    proc = start_agent(vdsm_stdin(cluster.lockspace, "off", port="3"), cluster.env(1))
    wait_for(lambda: cluster.host(3).reply_seen_at is not None, 30, what="reply on disk")
    cluster.restart_daemon(3, rejoin=True)
    assert cluster.host(3).generation > old
    result = finish(proc)
    assert result.returncode == 0, result.stderr
    assert "came back with generation %d" % cluster.host(3).generation in proof_line(result)[0]


def test_proxy_daemon_dying_mid_fence_is_a_failure(make_cluster):
    cluster = make_cluster(hosts=3)
    cluster.start_resetd(3, watchdog_delay=None)
    proc = start_agent(vdsm_stdin(cluster.lockspace, "off", port="3"), cluster.env(1))
    time.sleep(4)
    cluster.kill_daemon(1)
    result = finish(proc, timeout=60)
    line = assert_one_line_error(result)
    assert "sanlock daemon" in line and "not proven" in line


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
        procs[host_id] = start_agent(vdsm_stdin(cluster.lockspace, "off", port=str(host_id),
                                                options="verbose=1\n" + options),
                                     cluster.env(1))
    waited_for_the_slot = 0
    for host_id, proc in procs.items():
        result = finish(proc)
        assert result.returncode == 0, (host_id, result.stderr)
        # each process proves its own target, from its own target's replies
        assert proof_line(result)[0].startswith("Proof: %s:%d " % (cluster.lockspace, host_id))
        others = ["%s:%d acknowledged" % (cluster.lockspace, h) for h in targets if h != host_id]
        assert not any(text in result.stderr for text in others), result.stderr
        assert cluster.host(host_id).killed_at is not None
        waited_for_the_slot += "busy with another kind of request" in result.stderr
    assert waited_for_the_slot >= 1


def test_target_in_two_lockspaces_with_reboot(make_cluster):
    cluster = make_cluster(hosts=3)
    second = cluster.add_lockspace(host_ids=[1, 3])
    cluster.start_resetd(3, lockspaces=[cluster.lockspace, second], watchdog_delay=0)
    address = "%s:3,%s:3" % (cluster.lockspace, second)
    result = run_agent(stdin=pacemaker_stdin(address, "reboot", 3), env=cluster.env(1))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "Success: Rebooted"
    status = run_agent(["-o", "status", "-a", address], env=cluster.env(1))
    assert status.returncode in (0, 2)     # ON until the lease is DEAD, then OFF; never 1


def test_4096_byte_sector_lockspace(make_cluster):
    cluster = make_cluster(hosts=2, sector_size=4096)
    cluster.start_resetd(2, watchdog_delay=0)
    result = run_agent(["-o", "off", "-a", "%s:2" % cluster.lockspace], env=cluster.env(1))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "Success: Powered OFF"


def test_power_timeout_is_a_failure_never_success(make_cluster):
    cluster = make_cluster(hosts=2)
    cluster.start_resetd(2, watchdog_delay=None)
    started = time.monotonic()
    result = run_agent(stdin=vdsm_stdin(cluster.lockspace, "off", port="2",
                                        options="power_timeout=12"), env=cluster.env(1))
    line = assert_one_line_error(result)
    assert "not proven within power_timeout (12 s)" in line and "acknowledged" in line
    assert 12 <= time.monotonic() - started < 20
    assert "Success" not in result.stdout


def test_a_person_at_a_terminal_sees_a_live_progress_line(make_cluster):
    import pty
    cluster = make_cluster(hosts=2)
    master, slave = pty.openpty()
    proc = subprocess.Popen([PYTHON, AGENT, "-o", "off", "-a", "%s:2" % cluster.lockspace],
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
