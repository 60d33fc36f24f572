# SPDX-License-Identifier: GPL-2.0-or-later
"""Whose evidence is it, with real sanlock daemons at io_timeout 1 (issue "Whose proof
is it", cases 5, 6 and 7; their unit timelines are in unit/test_whose_evidence.py).

Each scenario failed on the code before commit c5ca758 ("Evidence bound to one lease
and one life"): the earlier life's proof said OFF, and a reboot-shaped newer generation
proved a reset whoever wrote it and whatever the other lockspaces showed.

- An earlier life of the same lease: a proof kept on host 1 for host 3 generation 1,
  then the lockspace written afresh under the same name, everyone back at generation 1.
- Another machine takes the host id: host 3 acknowledges, its reset never happens, it
  loses its storage, and after host_dead_seconds (8 * 1 + 60 = 68 s, sanlock's own wait
  for a record with another host name) another machine with its own clock joins as
  host id 3.
- A reboot in one lockspace while the other lives on: a clone with host 3's name (and
  a clock of its own) takes host id 3 in one lockspace while host 3 renews in the other.

Limits: the target's watchdog is the harness's stand-in (io_timeout 1; the real chain
needs io_timeout 3, test_realchain.py); it never fires here except where a test
reboots the host itself.
"""

import subprocess
import time

import pytest

from harness.callers import assert_one_line_error, vdsm_stdin
from harness.simcluster import SimClusterError, wait_for
from sanlock_fencing.core.events import RESETTING as EVENT_RESETTING

pytestmark = pytest.mark.slow


def finish(proc, timeout=300):
    out, err = proc.communicate(timeout=timeout)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def status(cluster, host_id, address):
    return cluster.agent(host_id, ["-o", "status", "-a", address])


def never_off(result):
    assert result.returncode != 2 and "Success" not in result.stdout, result
    assert "Status: OFF" not in result.stdout, result


def wait_reply_on_disk(cluster, host_id, lockspace=None):
    """Until host_id's record carries its RESETTING reply; returns the record. Polled
    faster than the stand-in does: case 6 races sanlock's own 68 s wait against the
    72 s watchdog bound, and every tenth of a second of delay comes off that margin."""
    return wait_for(lambda: (lambda lead: lead if lead["extra2"] & EVENT_RESETTING else None)(
        cluster.read_leader(host_id, lockspace)), 30, 0.05,
        "host %d's reply on storage" % host_id)


# ------------------------------------------------------------ case 5: an earlier life

def test_a_proof_from_an_earlier_life_of_the_lockspace_is_not_this_lifes(make_cluster):
    """Host 1 fences host 3 (proven: it rebooted after replying) and keeps that proof of
    generation 1. The lockspace is then written afresh under the same name; hosts 1
    and 2 rejoin, host 3 boots again and joins: everyone is at generation 1 again, host
    3 running with a clock that reads lower. status must say ON, and off must fence.

    No witness runs here: a witness on host 1 drops what is kept for a lockspace this
    host leaves (commit 794a129), which hid the hole when it runs. The binding of the
    evidence to its lease must hold without it (the witness is a separate service, the
    agent keeps its own evidence whether it runs or not)."""
    cluster = make_cluster(hosts=3, witness=False)
    ls = cluster.lockspace
    address = "%s:3" % ls
    cluster.start_resetd(3, watchdog_delay=None)
    proc = cluster.agent_popen(1, vdsm_stdin(ls, "off", port="3"))
    first_life = wait_reply_on_disk(cluster, 3)
    cluster.reboot(3)                   # reset and booted again: generation 2
    fenced = finish(proc)
    assert fenced.returncode == 0 and "rebooted" in fenced.stdout, fenced
    assert first_life["owner_generation"] == 1

    for host_id in (1, 2, 3):
        cluster.leave_lockspace(host_id)
    cluster.reinit_lockspace()
    cluster.join_lockspace(1, wait_live=False)
    cluster.join_lockspace(2, wait_live=False)
    cluster.reboot(3)                   # a new boot again: its clock restarts lower
    cluster.join_lockspace(3)
    second_life = cluster.read_leader(3)
    assert [cluster.read_leader(h)["owner_generation"] for h in (1, 2, 3)] == [1, 1, 1]
    assert second_life["resource_name"] == first_life["resource_name"]
    assert second_life["timestamp"] < first_life["timestamp"]

    now = status(cluster, 1, address)
    assert (now.returncode, now.stdout.splitlines()[-1]) == (0, "Status: ON"), now
    # no responder runs on host 3 in this life: off must send and wait for a reply
    again = cluster.agent(1, stdin=vdsm_stdin(ls, "off", port="3",
                                              options="power_timeout=40"))
    assert "Already OFF" not in again.stdout, again
    assert "never acknowledged" in assert_one_line_error(again)
    assert cluster.read_leader(1)["extra2"] & 1       # the request of this life went out


# ------------------------------------------------------------ case 6: another machine

def test_another_machine_taking_the_host_id_proves_nothing(make_cluster):
    """Host 3 acknowledges, its watchdog never fires, and it loses its storage while
    it runs. After sanlock's 68 s wait another machine (another host name, a clock of
    its own that reads lower) joins with host id 3. The fence must fail naming it,
    before the 72 s watchdog bound could turn the silence into a (wrong) proof."""
    cluster = make_cluster(hosts=[1, 3])
    ls = cluster.lockspace
    cluster.start_resetd(3, watchdog_delay=None)
    other = cluster.add_machine("another-machine-%s" % cluster.uid, 3)
    proc = cluster.agent_popen(1, vdsm_stdin(ls, "off", port="3",
                                             options="power_timeout=150"))
    replied = wait_reply_on_disk(cluster, 3)
    replied_at = time.monotonic()
    cluster.host(3).storage(both="eio")     # still running, no storage: no more writes
    time.sleep(0.3)                         # a write served before the switch lands first
    generation = cluster.join_machine(other)
    joined_at = time.monotonic()
    result = finish(proc)

    lease = cluster.read_leader(3)
    assert (generation, lease["resource_name"]) == (2, other.name), lease
    assert lease["timestamp"] < replied["timestamp"]     # its own clock reads lower
    # sanlock checks its write 2 * io_timeout after making it: the new generation was
    # on storage that much before the join returned (measured: 68.4 s after the reply).
    # Past the 72 s bound, the silence would prove a reset before the fence saw it: the
    # harness would have been too slow for this scenario, which says nothing either way.
    written = joined_at - 2 - replied_at
    assert written < 71, "the other machine joined %.1f s after the reply" % written
    line = assert_one_line_error(result)
    assert "Success" not in result.stdout
    assert "another machine" in line and other.name in line, line
    assert cluster.host(3).machine.running
    never_off(status(cluster, 1, "%s:3" % ls))


# ------------------------------------------------------------ case 7: one machine, one clock

def take_over(cluster, machine, lockspace, tries=3):
    """join_machine, again if the owner's renewal raced the take-over: its read came
    before the machine's write and its write after, so sanlock's check after the write
    saw another record (busy). Returns the generation."""
    for attempt in range(tries):
        try:
            return cluster.join_machine(machine, lockspace)
        except SimClusterError:
            if attempt == tries - 1:
                raise
    return None


def test_a_reboot_in_one_lockspace_while_the_other_renews_is_no_proof(make_cluster):
    """Host 3 holds host id 3 in two lockspaces and acknowledges a fence addressed to
    both; its watchdog never fires. A clone (host 3's host name, a clock of its own that
    reads lower) takes host id 3 in the first lockspace, which sanlock allows at once
    for the same name: that looks like a reboot there, while host 3 renews on in the
    second. The fence must fail.

    Host 3 does not release the first lease before: a clean release seen by the fence
    fails it at once, before and after c5ca758 alike (and whether the fence sees the
    short FREE window is luck), so it would test nothing. Without a release, host 3's
    next renewal there finds another owner and stops writing."""
    cluster = make_cluster(hosts=[1, 3])
    ls1 = cluster.lockspace
    ls2 = cluster.add_lockspace()
    cluster.start_resetd(3, lockspaces=[ls1, ls2], watchdog_delay=None)
    clone = cluster.add_machine(cluster.host(3).name, 3)
    address = "%s:3,%s:3" % (ls1, ls2)
    proc = cluster.agent_popen(1, args=["-o", "reboot", "-a", address,
                                        "--power-timeout", "60"])
    before = wait_reply_on_disk(cluster, 3, ls1)
    assert take_over(cluster, clone, ls1) == 2
    result = finish(proc)

    lease1 = cluster.read_leader(3, ls1)
    assert lease1["resource_name"] == cluster.host(3).name
    assert lease1["timestamp"] < before["timestamp"]     # reboot-shaped in ls1
    line = assert_one_line_error(result)
    assert "Success" not in result.stdout
    assert "not a reboot" in line, line
    # host 3 runs on in ls2, in its first generation
    ts2 = cluster.read_leader(3, ls2)["timestamp"]
    wait_for(lambda: cluster.read_leader(3, ls2)["timestamp"] > ts2, 10, 0.5,
             "host 3 renewing in %s" % ls2)
    assert cluster.read_leader(3, ls2)["owner_generation"] == 1
    never_off(status(cluster, 1, address))
