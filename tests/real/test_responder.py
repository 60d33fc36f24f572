# SPDX-License-Identifier: GPL-2.0-or-later
"""The project's own responder (fence-sanlock-vdsm-responder) against the real watchdog
chain: real wdmd petting a fake device of the host's own (its fire resets the whole
simulated machine), the real `sanlock daemon -w 1`, at io_timeout 3; no sanlk-resetd on
the target. Requesters: this agent, and Debian's `sanlk-reset`.
"""

import os
import subprocess
import time

import pytest

from harness.callers import assert_one_line_error, pacemaker_stdin
from harness.simcluster import wait_for
from sanlock_fencing.core.events import RESETTING

pytestmark = pytest.mark.slow
IO = 3


def off(cluster, proxy, target=3):
    return cluster.agent(proxy, ["-o", "off", "-a", "%s:%d" % (cluster.lockspace, target)])


def fake_itco(path, timeout=60):
    """A sysfs watchdog directory holding one iTCO_wdt device, as an unpatched wdmd
    leaves it (timeout 60: it fires 120 s after its last ping)."""
    device = os.path.join(str(path), "watchdog0")
    os.makedirs(device)
    for name, value in (("identity", "iTCO_wdt"), ("timeout", str(timeout)),
                        ("dev", "250:0"), ("state", "active")):
        with open(os.path.join(device, name), "w") as f:
            f.write(value + "\n")
    return str(path)


def test_the_agent_fences_a_host_running_the_responder(make_cluster):
    cluster = make_cluster(hosts=3, io_timeout=IO, watchdog={3: "real"})
    cluster.start_responder(3)
    result = off(cluster, 1)
    ended = time.monotonic()
    assert result.returncode == 0, result.stderr
    host = cluster.host(3)
    fires = host.fires()
    assert len(fires) == 1 and fires[0]["mono"] < ended       # reset before success
    assert not host.machine.processes()
    log = host.responder_log()
    assert "watchdog armed (wdmd confirmed" in log
    assert log.index("watchdog armed") < log.index("replied RESETTING")


def sanlk_reset_against_the_responder(make_cluster):
    """One run of `sanlk-reset reset LS:3` from host 1 against host 3 running the
    responder: (its output, its exit status, host 3's device fires)."""
    cluster = make_cluster(hosts=3, io_timeout=IO, watchdog={3: "real"})
    cluster.start_responder(3)
    host1 = cluster.host(1)
    argv = host1.machine.command_prefix() + ["sanlk-reset", "-D", "reset",
                                             "%s:3" % cluster.lockspace]
    proc = subprocess.Popen(argv, env=cluster.env(1), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        wait_for(lambda: cluster.read_leader(3)["extra2"] & RESETTING, 60, 0.2,
                 "the responder's reply on storage")
        out, _ = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    wait_for(lambda: cluster.host(3).fires(), 120, 1.0, "host 3's device to fire")
    return out, proc.returncode, "host resetting in ls %s:3" % cluster.lockspace


def test_sanlk_reset_gets_resetting_from_the_responder(make_cluster):
    """Debian's requester, unchanged: `sanlk-reset reset LS:ID` sends generation 0 and
    waits for RESETTING from the target, then for its lease to be DEAD.

    sanlk-reset gives up after 4 renewals of the target counted from its own request,
    before that is even on storage, and learns of a reply only by its event, one renewal
    of its own daemon after the reply is on storage: on a loaded machine it fails now and
    then against sanlk-resetd too (bench/README.md). That one failure, with the reply on
    storage and the host reset anyway, is run again once on a fresh cluster; any other
    outcome fails the test."""
    for attempt in (1, 2):
        out, status, acknowledged = sanlk_reset_against_the_responder(make_cluster)
        if status == 0 or attempt == 2 or "host renewals 4 with no reply" not in out:
            break
    assert acknowledged in out, out
    assert status == 0, out


def test_an_itco_device_that_fires_late_is_refused(make_cluster, tmp_path):
    cluster = make_cluster(hosts=3, io_timeout=IO, watchdog={3: "real"})
    host = cluster.host(3)
    cluster.start_responder(3, sysfs=fake_itco(tmp_path / "sysfs"), verdict="cannot be fenced")
    log = host.responder_log()
    assert "iTCO_wdt" in log and "only after two timeouts" in log, log
    # the same reason from on-target unfencing and from monitor on host 3
    on = cluster.agent(3, stdin=pacemaker_stdin(cluster.lockspace, "on", 3, nodename="node3"))
    line = assert_one_line_error(on)
    assert "cannot be made fenceable" in line and "only after two timeouts" in line, line
    monitor = cluster.agent(3, ["-o", "monitor", "-a", cluster.lockspace])
    assert monitor.returncode == 0 and "iTCO_wdt" in monitor.stderr, monitor.stderr
    result = off(cluster, 1)
    assert "never acknowledged" in assert_one_line_error(result)
    assert not cluster.read_leader(3)["extra2"] & RESETTING
    assert "not answering, this host cannot be fenced" in host.responder_log()
    assert not host.fires() and host.machine.running


def test_no_watchdog_in_use_is_refused(make_cluster):
    """A host without wdmd: the responder runs, says why it cannot answer, and a request
    gets no reply."""
    cluster = make_cluster(hosts=3, io_timeout=IO)
    host = cluster.host(3)
    cluster.start_responder(3, verdict="cannot be fenced")
    assert "wdmd" in host.responder_log()
    cluster.set_event(1, 3)
    wait_for(lambda: "not answering, this host cannot be fenced" in host.responder_log(),
             60, 0.5, "the responder to refuse the request")
    time.sleep(4 * IO)              # two renewals: a reply would be on storage by now
    assert not cluster.read_leader(3)["extra2"] & RESETTING
    assert host.alive("responder")


def test_it_refuses_to_start_beside_sanlk_resetd(make_cluster):
    cluster = make_cluster(hosts=2, io_timeout=IO, watchdog={2: "real"})
    host = cluster.host(2)
    host.start_resetd()
    host.start_responder()
    assert host.procs["responder"].wait(30) == 3
    log = host.responder_log()
    assert "sanlk-resetd is running on this host" in log and "systemctl disable" in log, log
    assert "Traceback" not in log


def test_it_follows_joins_leaves_and_daemon_restarts(make_cluster):
    """Registrations only (no watchdog needed, so io_timeout 1): a lockspace joined later is
    answered in, one left is dropped, and after a daemon restart every lockspace is
    registered again."""
    cluster = make_cluster(hosts=2, io_timeout=1, witness=False)
    host = cluster.host(2)
    cluster.start_responder(2, verdict="cannot be fenced")
    second = cluster.add_lockspace()
    host.wait_responder([cluster.lockspace, second], "cannot be fenced")
    cluster.leave_lockspace(2, second)
    wait_for(lambda: "no longer answering in lockspace %s" % second in host.responder_log(),
             30, 0.2, "the responder to drop the lockspace it left")
    before = host.responder_log().count("answering reset requests in lockspace %s "
                                        % cluster.lockspace)
    cluster.restart_daemon(2)
    wait_for(lambda: host.responder_log().count("answering reset requests in lockspace %s "
                                                % cluster.lockspace) > before,
             60, 0.5, "the responder to register again after the daemon restart")
    assert host.alive("responder") and "Traceback" not in host.responder_log()


def test_a_reply_forged_on_the_target_does_not_make_it_unfenceable(make_cluster):
    """A process on host 3 that may use its sanlock daemon (any member of group sanlock;
    root here) sets RESETTING to every host, arming nothing. The witness on host 1 credits
    it, as it must (nothing tells it from a real reply). A fence of host 3 from host 1 is
    still sent, and proven from the responder's own, numbered reply: the device fires
    before the agent reports success. Before, the fence judged from the forged reply and
    failed once host 3 outlived its bound (or sent nothing at all, once the witness had
    seen it do so)."""
    cluster = make_cluster(hosts=3, io_timeout=IO, watchdog={3: "real"})
    cluster.start_responder(3)
    ls = cluster.lockspace
    generation = cluster.host(1).generations[ls]
    cluster.set_event(3, 1, RESETTING, generation=generation, flags=16)   # SETEV_ALL_HOSTS
    wait_for(lambda: cluster.read_leader(3)["extra2"] & RESETTING, 30, 0.2,
             "the forged reply on storage")
    time.sleep(3 * IO)          # host 1's daemon hands it to the witness, which credits it
    result = off(cluster, 1)
    ended = time.monotonic()
    assert result.returncode == 0, result.stderr
    fires = cluster.host(3).fires()
    assert len(fires) == 1 and fires[0]["mono"] < ended
    assert "replied RESETTING" in cluster.host(3).responder_log()
