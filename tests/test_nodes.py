"""Hosts by node name, as Pacemaker addresses them without pcmk_host_map, against real
sanlock daemons whose host names are the node names (-e, as our_host_name would do)."""

import pytest

from conftest import assert_one_line_error, pacemaker_stdin

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
