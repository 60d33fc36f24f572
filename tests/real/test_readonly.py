# SPDX-License-Identifier: GPL-2.0-or-later
"""status, list, monitor against real sanlock daemons (issue: the agent's foundation)."""

import re

import pytest

from harness.callers import assert_one_line_error, pacemaker_stdin, vdsm_stdin, wait_state


def test_live_host_is_on_through_every_caller(make_cluster):
    cluster = make_cluster(hosts=3)
    ls = cluster.lockspace

    for stdin in (vdsm_stdin(ls, "status", port="2"),              # oVirt: bare name + port
                  vdsm_stdin("%s:3" % ls, "status"),               # REST API form
                  pacemaker_stdin(ls, "status", port=2)):          # pcmk_host_map port
        result = cluster.agent(1, stdin=stdin)
        assert (result.returncode, result.stdout.strip()) == (0, "Status: ON"), result.stderr

    result = cluster.agent(1, ["-o", "status", "-a", "%s:2" % ls])
    assert (result.returncode, result.stdout.strip()) == (0, "Status: ON"), result.stderr
    result = cluster.agent(1, ["-o", "status", "-a", ls, "-n", "3"])
    assert result.returncode == 0, result.stderr


def test_list_and_monitor(make_cluster):
    cluster = make_cluster(hosts=3)
    ls = cluster.lockspace

    # one node name per host (the host name in its lease), as Pacemaker's fencer reads
    # list output: entries split on whitespace, ',' and ';'
    result = cluster.agent(2, ["-o", "list", "-a", ls])
    assert result.returncode == 0, result.stderr
    names = sorted(cluster.host(i).name for i in (1, 2, 3))
    assert sorted(e for e in re.split(r"[\s,;]+", result.stdout) if e) == names

    result = cluster.agent(2, stdin=pacemaker_stdin(ls, "list-status", port=1))
    assert result.returncode == 0, result.stderr
    assert sorted(result.stdout.split()) == ["%s,ON" % n for n in names]

    result = cluster.agent(2, ["-o", "monitor", "-a", ls])
    assert (result.returncode, result.stdout) == (0, ""), result.stderr

    line = assert_one_line_error(cluster.agent(2, ["-o", "monitor", "-a", "nosuchspace"]))
    assert "not joined lockspace nosuchspace" in line and ls in line


def test_own_host_id_is_refused(make_cluster):
    cluster = make_cluster(hosts=2)
    line = assert_one_line_error(
        cluster.agent(1, ["-o", "off", "-a", "%s:1" % cluster.lockspace]))
    assert "own host id" in line


def test_free_hosts_are_never_off(make_cluster):
    cluster = make_cluster(hosts=3)
    ls = cluster.lockspace
    never_joined = cluster.agent(1, stdin=vdsm_stdin(ls, "status", port="7"))
    assert "holds no lease" in assert_one_line_error(never_joined)

    cluster.leave_lockspace(3)
    wait_state(cluster, 1, 3, None, 20)       # gone from the list of hosts with a lease
    left = cluster.agent(1, ["-o", "status", "-a", "%s:3" % ls])
    assert "holds no lease" in assert_one_line_error(left)
    off = cluster.agent(1, ["-o", "off", "-a", "%s:3" % ls])
    assert "nothing was sent" in assert_one_line_error(off)


def test_lockspace_not_joined_here(make_cluster):
    cluster = make_cluster(hosts=2)
    result = cluster.agent(1, ["-o", "status", "-a", "elsewhere:2"])
    line = assert_one_line_error(result)
    assert "not joined lockspace elsewhere" in line and cluster.lockspace in line


@pytest.mark.slow
def test_expired_lease_without_reply_is_never_off(make_cluster):
    """Storage loss: the daemon dies without any request. The lease goes DEAD, but
    nothing proves the host stopped, so status and off fail and nothing is sent."""
    cluster = make_cluster(hosts=3)
    ls = cluster.lockspace
    cluster.kill_daemon(3)

    wait_state(cluster, 1, 3, "FAIL", 30)
    failing = cluster.agent(1, ["-o", "status", "-a", "%s:3" % ls])
    assert (failing.returncode, failing.stdout.strip()) == (0, "Status: ON")

    wait_state(cluster, 1, 3, "DEAD", 120)
    wait_state(cluster, 2, 3, "DEAD", 30)
    for proxy in (1, 2):
        result = cluster.agent(proxy, stdin=vdsm_stdin(ls, "status", port="3"))
        line = assert_one_line_error(result)
        assert "without acknowledging a reset" in line and "Status: OFF" not in result.stdout

    before = cluster.read_leader(1)
    off = cluster.agent(1, stdin=vdsm_stdin(ls, "off", port="3"))
    assert "nothing was sent" in assert_one_line_error(off)
    assert "Success" not in off.stdout
    after = cluster.read_leader(1)
    assert (after["extra1"], after["extra2"]) == (before["extra1"], before["extra2"]) == (0, 0)

    resource_mode = cluster.agent(1, stdin=vdsm_stdin(ls, "status", port="3",
                                                      options="resource_mode=1"))
    assert (resource_mode.returncode, resource_mode.stdout.splitlines()[-1]) == \
        (2, "Status: OFF"), resource_mode.stderr
