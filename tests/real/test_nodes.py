# SPDX-License-Identifier: GPL-2.0-or-later
"""Hosts by node name, as Pacemaker addresses them without pcmk_host_map, against real
sanlock daemons whose host names are the node names (-e, as our_host_name would do)."""

import pytest

from harness.callers import assert_one_line_error, pacemaker_stdin

pytestmark = pytest.mark.slow


def test_list_prints_one_node_name_per_host_across_lockspaces(make_cluster):
    cluster = make_cluster(hosts=3)
    second = cluster.add_lockspace(host_ids=[1, 3])
    names = sorted(cluster.host(h).name for h in (1, 2, 3))
    result = cluster.agent(2, ["-o", "list", "-a", "%s,%s" % (cluster.lockspace, second)])
    assert result.returncode == 0, result.stderr
    # what Pacemaker's fencer splits the output into (whitespace, ',' and ';')
    entries = [e for e in result.stdout.replace(";", ",").replace(",", " ").split() if e]
    assert sorted(entries) == names
    status = cluster.agent(2, stdin=pacemaker_stdin(cluster.lockspace, "list-status", 1))
    assert sorted(status.stdout.split()) == sorted("%s,ON" % n for n in names)


def test_a_node_name_as_port_is_fenced_by_its_host_id(make_cluster):
    cluster = make_cluster(hosts=3)
    node = cluster.host(3).name
    cluster.start_resetd(3, watchdog_delay=0)
    on = cluster.agent(1, stdin=pacemaker_stdin(cluster.lockspace, "status", node,
                                                nodename=node))
    assert (on.returncode, on.stdout.strip()) == (0, "Status: ON"), on.stderr
    result = cluster.agent(1, stdin=pacemaker_stdin(cluster.lockspace, "reboot", node,
                                                    nodename=node))
    assert result.returncode == 0, result.stderr
    assert "Proof: %s:3 " % cluster.lockspace in result.stdout
    assert cluster.host(3).standin.killed_at is not None


def test_an_unknown_node_name_is_refused_naming_what_to_do(make_cluster):
    cluster = make_cluster(hosts=3)
    result = cluster.agent(1, stdin=pacemaker_stdin(cluster.lockspace, "reboot", "node9",
                                                    nodename="node9"))
    line = assert_one_line_error(result)
    assert "node9" in line and "pcmk_host_map" in line and "our_host_name" in line
    assert cluster.host(2).name in line                     # the candidates
    assert not cluster.read_leader(1)["extra2"]             # nothing was sent


# ------------------------------------------------------------------ whose lease (issue 18)

def entries(stdout):
    """What Pacemaker's fencer splits list output into (whitespace, ',' and ';')."""
    return [e for e in stdout.replace(";", ",").replace(",", " ").split() if e]


def give_default_name(cluster, host_id, nodename):
    """Restart host_id's daemon without -e on a machine whose uname nodename is
    `nodename` (a UTS namespace), so that sanlock makes its own default name, as a host
    without our_host_name does. The host leaves the lockspace cleanly first: a record
    carrying another name is taken only after host_dead_seconds, a released one at once.
    Returns the host name its lease carries."""
    cluster.leave_lockspace(host_id)
    cluster.host(host_id).uts_nodename = nodename
    cluster.restart_daemon(host_id, rejoin=False)
    cluster.join_lockspace(host_id)
    return cluster.read_leader(host_id)["resource_name"]


def test_a_device_made_for_one_node_lists_it_alone_and_fences_no_other(make_cluster):
    """Issue 18, case 1: `pcs stonith create fence-n3 fence_sanlock_vdsm ip=LS:3` and no
    pcmk_host_list. Its list must name node3 only (dynamic-list), and a request for
    node2 (port and nodename, as the fencer sends them) must not reset host 3."""
    cluster = make_cluster(hosts=3)
    names = {h: cluster.host(h).name for h in (1, 2, 3)}
    cluster.start_resetd(3, watchdog_delay=0)      # host 3 could be reset: nothing may ask
    address = "%s:3" % cluster.lockspace
    listed = cluster.agent(1, ["-o", "list", "-a", address])
    assert listed.returncode == 0, listed.stderr
    assert entries(listed.stdout) == [names[3]]

    result = cluster.agent(1, stdin=pacemaker_stdin(address, "reboot", names[2],
                                                    nodename=names[2]))
    line = assert_one_line_error(result)
    assert names[2] in line and names[3] in line and "nothing was sent" in line
    assert not cluster.read_leader(1)["extra2"]             # nothing was sent
    assert cluster.host(3).standin.killed_at is None
    assert {h: s for h, s in cluster.host_states(1).items() if h in (2, 3)} == \
        {2: "LIVE", 3: "LIVE"}
    # only nodename (pcmk_host_argument=none) names the node just as well
    only_nodename = cluster.agent(1, stdin="action=reboot\nnodename=%s\nip=%s\n"
                                  % (names[2], address))
    assert names[3] in assert_one_line_error(only_nodename)

    # the node the device was made for is still served, by name or by host id
    for port in (names[3], "3"):
        status = cluster.agent(1, stdin=pacemaker_stdin(address, "status", port,
                                                        nodename=names[3]))
        assert (status.returncode, status.stdout.strip()) == (0, "Status: ON"), status.stderr


def test_a_cut_default_name_is_never_taken_for_a_node_name(make_cluster):
    """Issue 18, case 2: sanlock's default name keeps 10 characters of the node name, so
    node cluster-n10's lease reads "<uuid>.cluster-n1". Node cluster-n1 (no lease here)
    must not resolve to it, and list must not offer it as a node."""
    cluster = make_cluster(hosts=3)
    cut = give_default_name(cluster, 3, "cluster-n10")
    assert cut.endswith(".cluster-n1") and len(cut.encode()) == 47, cut
    cluster.start_resetd(3, watchdog_delay=0)

    listed = cluster.agent(1, ["-o", "list", "-a", cluster.lockspace])
    assert listed.returncode == 0, listed.stderr
    assert sorted(entries(listed.stdout)) == sorted(cluster.host(h).name for h in (1, 2))
    assert "%s:3 is not listed" % cluster.lockspace in listed.stderr
    assert "our_host_name" in listed.stderr
    monitor = cluster.agent(1, ["-o", "monitor", "-a", cluster.lockspace, "-v"])
    assert monitor.returncode == 0, monitor.stderr
    assert "%s:3 is not listed" % cluster.lockspace in monitor.stderr

    result = cluster.agent(1, stdin=pacemaker_stdin(cluster.lockspace, "reboot",
                                                    "cluster-n1", nodename="cluster-n1"))
    line = assert_one_line_error(result)
    assert "'cluster-n1' matches no host" in line and "may be sanlock's default name cut" \
        in line and "our_host_name" in line
    assert not cluster.read_leader(1)["extra2"]             # nothing was sent
    assert cluster.host(3).standin.killed_at is None
    assert cluster.host_states(1)[3] == "LIVE"
