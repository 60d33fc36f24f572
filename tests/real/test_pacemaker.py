# SPDX-License-Identifier: GPL-2.0-or-later
"""Real Pacemaker runs the installed agent (issue: real clients, Pacemaker).

The agent is installed by the project's own `make install` into /usr/sbin, where
pacemaker-fenced looks for agents. A one-node corosync + Pacemaker cluster (harness/pcmk.py:
node1, in its own namespaces) is the proxy: it runs with simulated host 1's
SANLOCK_RUN_DIR, so pacemaker-fenced and every agent it runs talk to host 1's sanlock
daemon. The node itself runs outside the simulated machines: its agents keep their
evidence in the node's own /run, where the retry of a killed fence finds it. The nodes to
fence are other simulated hosts, each a machine of its own (real sanlock daemons, real
sanlk-resetd, a stand-in watchdog that powers the machine off once its reply is on
storage). The devices and the fencing topology are configured in
the CIB with cibadmin, as pcs does, with timeouts in plain seconds (Pacemaker 2.1.5 reads
"3min" as 3 s); the README's Pacemaker section shows the same configuration for people.

One scenario, run once, fences eight nodes at the same time (a fence takes ~75 s at
io_timeout 1) and is stopped before the tests look at what it recorded:

- node2 (host 2): stonith_admin --reboot, device `sanlock` (pcmk_host_map node2:2).
  Expected: success.
- node3 (host 3): the same, but host 3 runs no sanlk-resetd.  Expected: failure.
- node4 (host 4): topology: 1 = a power device that fails, 2 = `sanlock`.
  Expected: success by level 2.
- node5 (host 5): topology: 1 = a power device that works, 2 = `sanlock-b`.
  Expected: success by level 1; sanlock never asked.
- node6 (host 6): a CIB node never seen: the DC fences it by itself (startup-fencing,
  stonith-timeout).  Expected: success.
- node7 (host 7): device `sanlock-short` with pcmk_reboot_timeout=10: Pacemaker kills the
  agent after 10 s; the admin raises the timeout and retries.  Expected: failure, then
  success: the reset sent before the kill is proven from storage.
- node8 (host 8): one device per node: `ip=LOCKSPACE:8`, pcmk_host_map=node8:8 (the
  lease's host name is not node8).  Expected: success.
- host 9, under its sanlock host name as node name: device `sanlock-byname`, made with
  the README's pcs commands: no map, dynamic-list from the agent's list of sanlock host
  names.  Expected: success.

The power devices are fence_dummy (fence-agents): `type=fail` with power_timeout=1 fails in
about a second; `type=file` succeeds. fence-agents disables its own timeouts under
Pacemaker, hence disable_timeout=false on the failing one.

(About 440 lines: each Pacemaker scenario needs its devices and topology configured as
the README says.)
"""

import re
import subprocess
import threading
import time
from xml.sax.saxutils import quoteattr

import pytest

from harness.pcmk import PacemakerNode, install_agent
from sanlock_fencing.core import timing
from harness.simcluster import SimCluster, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("system-install")]

AGENT = "fence_sanlock_vdsm"
DEVICE_TIMEOUT = 180      # pcmk_reboot_timeout / pcmk_off_timeout, plain seconds
STONITH_TIMEOUT = 300     # cluster property stonith-timeout, plain seconds
ADMIN_TIMEOUT = 240       # stonith_admin --timeout
REBOOTED = ("node2", "node3", "node4", "node5", "node8")
PCS_TIMEOUT = timing.pacemaker_timeout(1)   # what the README derives for io_timeout 1


# ---------------------------------------------------------------- CIB snippets

def nvpairs(owner, params):
    return "".join('<nvpair id=%s name=%s value=%s/>'
                   % (quoteattr("%s-%s" % (owner, k)), quoteattr(k), quoteattr(str(v)))
                   for k, v in params.items())


def stonith_primitive(rid, agent, params):
    """<primitive class="stonith"> as `pcs stonith create RID AGENT k=v... op monitor
    interval=60s` writes it."""
    return ('<primitive id=%s class="stonith" type=%s>'
            '<instance_attributes id=%s>%s</instance_attributes>'
            '<operations><op id=%s name="monitor" interval="60s"/></operations>'
            '</primitive>' % (quoteattr(rid), quoteattr(agent),
                              quoteattr(rid + "-instance_attributes"),
                              nvpairs(rid + "-instance_attributes", params),
                              quoteattr(rid + "-monitor-interval-60s")))


def topology(levels):
    """<fencing-topology> from [(node, index, device), ...]."""
    return "<fencing-topology>%s</fencing-topology>" % "".join(
        '<fencing-level id="fl-%s-%d" target="%s" index="%d" devices="%s"/>'
        % (node, index, node, index, device) for node, index, device in levels)


# ---------------------------------------------------------------- the scenario

class Record:
    """What the scenario saw; everything it started is stopped before tests read it."""


def wait_all(procs, timeout):
    """{name: (CompletedProcess, seconds)} for background processes started together."""
    started = time.monotonic()
    done = {}
    while len(done) < len(procs):
        for name, proc in procs.items():
            if name not in done and proc.poll() is not None:
                out, err = proc.communicate()
                done[name] = (subprocess.CompletedProcess(proc.args, proc.returncode, out,
                                                          err), time.monotonic() - started)
        if time.monotonic() - started > timeout:
            for name, proc in procs.items():
                if name not in done:
                    proc.kill()
                    out, err = proc.communicate()
                    done[name] = (subprocess.CompletedProcess(
                        proc.args, proc.returncode, out, err + "\n[killed by the test]"),
                        time.monotonic() - started)
        time.sleep(0.2)
    return done


def pcs_commands(cib, ls, timeout):
    """The README's pcs commands for a device that needs no pcmk_host_map."""
    return [["pcs", "cluster", "cib", cib],
            ["pcs", "-f", cib, "stonith", "create", "sanlock-byname", AGENT, "ip=%s" % ls,
             "pcmk_off_timeout=%d" % timeout, "pcmk_reboot_timeout=%d" % timeout,
             "op", "monitor", "interval=60s"],
            ["pcs", "-f", cib, "property", "set", "stonith-timeout=%d" % timeout],
            ["pcs", "cluster", "cib-push", cib, "--config"]]


def configure_with_pcs(node, ls, cib, r):
    """Runs pcs_commands; every output is kept for the tests."""
    r.pcs = []
    for argv in pcs_commands(cib, ls, PCS_TIMEOUT):
        result = node.tool(*argv, timeout=120)
        r.pcs.append(result)
        if result.returncode != 0:
            raise RuntimeError("%s failed: %s %s" % (" ".join(argv), result.stdout,
                                                     result.stderr))


def configure(node, ls, ls_b, status_file):
    node.set_property("stonith-enabled", "true")
    node.set_property("stonith-timeout", STONITH_TIMEOUT)
    timeouts = {"pcmk_off_timeout": DEVICE_TIMEOUT, "pcmk_reboot_timeout": DEVICE_TIMEOUT}
    # several fences through one proxy at once: the agent supports it
    node.cibadmin_create("resources", stonith_primitive("sanlock", AGENT, dict(
        ipaddr=ls, pcmk_host_map="node2:2;node3:3;node4:4;node6:6",
        pcmk_action_limit=-1, **timeouts)))
    # "ip" is the current name of the same option ("ipaddr" is deprecated in the metadata)
    node.cibadmin_create("resources", stonith_primitive("sanlock-b", AGENT, dict(
        ip=ls_b, pcmk_host_map="node5:5", **timeouts)))
    # the host id in the address: a node name beside it must be that lease's host name,
    # which node8's is not (README): the map makes the port the host id, taken as given
    node.cibadmin_create("resources", stonith_primitive("sanlock-node8", AGENT, dict(
        ip="%s:8" % ls, pcmk_host_map="node8:8", **timeouts)))
    # too short for a fence: Pacemaker kills the agent after its request went out
    node.cibadmin_create("resources", stonith_primitive("sanlock-short", AGENT, dict(
        ipaddr=ls, pcmk_host_map="node7:7", pcmk_off_timeout=10, pcmk_reboot_timeout=10)))
    node.cibadmin_create("resources", stonith_primitive("power-fails", "fence_dummy", dict(
        type="fail", power_timeout=1, disable_timeout="false", pcmk_host_list="node4",
        pcmk_reboot_timeout=20)))
    node.cibadmin_create("resources", stonith_primitive("power-works", "fence_dummy", dict(
        type="file", status_file=status_file, pcmk_host_list="node5")))
    node.cibadmin_create("configuration", topology([
        ("node4", 1, "power-fails"), ("node4", 2, "sanlock"),
        ("node5", 1, "power-works"), ("node5", 2, "sanlock-b")]))
    node.wait_devices(["sanlock", "sanlock-b", "sanlock-node8", "sanlock-short",
                       "power-fails", "power-works"])


def time_out_then_retry(node, r):
    """node7 (in a thread): the fence times out; the admin sets a long enough timeout
    and retries. An exception is kept for the scenario to raise."""
    r.node7_error = None
    try:
        _time_out_then_retry(node, r)
    except BaseException as e:
        r.node7_error = e


def _time_out_then_retry(node, r):
    started = time.monotonic()
    r.node7_first = node.stonith_admin("--reboot", "node7", "--timeout", str(ADMIN_TIMEOUT),
                                       timeout=ADMIN_TIMEOUT + 60)
    r.node7_first_seconds = time.monotonic() - started
    for name in ("pcmk_off_timeout", "pcmk_reboot_timeout"):
        node.tool("crm_resource", "--resource", "sanlock-short", "--set-parameter", name,
                  "--parameter-value", str(DEVICE_TIMEOUT), check=True)
    # pacemaker-fenced re-registers the device from the CIB change
    change = ("Updating device list from CIB: modify "
              "nvpair[@id='sanlock-short-instance_attributes-pcmk_reboot_timeout']")

    def updated():
        log = node.log()
        return change in log and "Added 'sanlock-short' to device list" in \
            log[log.rindex(change):]
    wait_for(updated, 30, 0.5, "the fencer to take the new timeouts")
    retry_started = time.monotonic()
    r.node7_retry = node.stonith_admin("--reboot", "node7", "--timeout", str(ADMIN_TIMEOUT),
                                       timeout=ADMIN_TIMEOUT + 60)
    r.node7_retry_seconds = time.monotonic() - retry_started


@pytest.fixture(scope="module")
def scenario(tmp_path_factory):
    install_agent()
    work = tmp_path_factory.mktemp("pacemaker")
    status_file = str(work / "power-works.status")
    with open(status_file, "w") as f:
        f.write("on")
    r = Record()
    cluster = SimCluster(hosts=9, name_prefix="pcmk")
    node = None
    try:
        cluster.start()
        ls = cluster.lockspace
        ls_b = cluster.add_lockspace(host_ids=[1, 5])
        r.ls, r.ls_b = ls, ls_b
        for host_id in (2, 4, 6, 7, 8, 9):
            cluster.start_resetd(host_id, watchdog_delay=0)
        cluster.start_resetd(5, lockspaces=[ls_b], watchdog_delay=0)

        node = PacemakerNode(str(work / "node"), cluster.env(1)).start()
        configure(node, ls, ls_b, status_file)
        configure_with_pcs(node, ls, str(work / "sanlock.xml"), r)
        node.wait_devices(["sanlock-byname"])
        r.names = {h.host_id: h.name for h in cluster.hosts}
        r.list_targets = node.stonith_admin("--list-targets", "sanlock-byname")
        r.list_node4 = node.stonith_admin("--list", "node4")
        r.query = node.stonith_admin("--query", "sanlock")

        procs = {name: node.background("stonith_admin", "--reboot", name,
                                       "--timeout", str(ADMIN_TIMEOUT))
                 for name in REBOOTED + (r.names[9],)}
        node7 = threading.Thread(target=time_out_then_retry, args=(node, r))
        node7.start()
        # node6: a cluster node that was never seen is unclean; the DC fences it itself
        node.cibadmin_create("nodes", '<node id="6" uname="node6"/>')
        node6_started = time.monotonic()
        r.reboot = wait_all(procs, ADMIN_TIMEOUT + 60)
        node7.join(2 * ADMIN_TIMEOUT + 120)
        if node7.is_alive() or r.node7_error is not None:
            raise RuntimeError("node7's sequence did not finish") from r.node7_error
        r.node6_history = wait_for(
            lambda: (lambda h: h if "successful" in h.stdout else None)(
                node.stonith_admin("--history", "node6", timeout=30)),
            ADMIN_TIMEOUT - (time.monotonic() - node6_started), 2, "node6 to be fenced")
        r.history = {name: node.stonith_admin("--history", name) for name in REBOOTED}
        r.crm_mon = node.tool("crm_mon", "-1", "--include", "all").stdout
        r.proxy_lease_b = cluster.read_leader(1, ls_b)
        r.target5_lease_b = cluster.read_leader(5, ls_b)
        r.hosts = {h.host_id: (h.pid,) + ((h.standin.reply_seen_at, h.standin.killed_at)
                                          if h.standin is not None else (None, None))
                   for h in cluster.hosts}
    finally:
        try:
            if node is not None:
                node.stop()
        finally:
            cluster.stop()
    r.log = node.log()
    yield r


def operations(log, target):
    """pacemaker-fenced's result lines for target, in order: [(device, line)]."""
    found = []
    for line in log.splitlines():
        if "(log_async_result)" in line and "targeting %s using " % target in line:
            device = line.split("targeting %s using " % target)[1].split()[0]
            found.append((device, line))
    return found


# ---------------------------------------------------------------- the tests

def test_metadata_and_validate_through_stonith_admin():
    install_agent()
    meta = subprocess.run(["stonith_admin", "--metadata", "--agent", AGENT],
                          capture_output=True, text=True, timeout=60)
    assert meta.returncode == 0, meta.stderr
    assert '<resource-agent name="fence_sanlock_vdsm"' in meta.stdout
    for text in ('name="ipaddr"', 'name="port"', '<action name="off"',
                 '<action name="reboot"', '<action name="monitor"', '<action name="list"'):
        assert text in meta.stdout, text
    shown = subprocess.run(["crm_resource", "--show-metadata", "stonith:" + AGENT],
                           capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0 and 'name="fence_sanlock_vdsm"' in shown.stdout

    def validate(*options):
        argv = ["stonith_admin", "--validate", "--agent", AGENT]
        for option in options:
            argv += ["--option", option]
        return subprocess.run(argv, capture_output=True, text=True, timeout=60)

    for options in (("ipaddr=myls", "port=3"), ("ipaddr=myls:3", "port=3"),
                    ("ipaddr=ls1,ls2", "port=3")):
        good = validate(*options)
        assert good.returncode == 0, (options, good.stdout, good.stderr)
        assert "Validation of fence_sanlock_vdsm succeeded" in good.stdout

    bad = validate("ipaddr=my:ls:x", "port=3")
    assert bad.returncode != 0
    assert "Validation of fence_sanlock_vdsm failed" in bad.stdout
    assert "invalid lockspace name 'my:ls'" in bad.stdout + bad.stderr
    contradiction = validate("ipaddr=myls:4", "port=5")
    assert contradiction.returncode != 0
    assert "contradicts" in contradiction.stdout + contradiction.stderr


def test_validate_a_device_configured_with_pcmk_host_map():
    install_agent()
    result = subprocess.run(["stonith_admin", "--validate", "--agent", AGENT,
                             "--option", "ipaddr=myls", "--option", "pcmk_host_map=node2:2"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_cluster_sees_the_device(scenario):
    assert scenario.list_node4.returncode == 0, scenario.list_node4.stderr
    assert set(scenario.list_node4.stdout.split()[:2]) == {"sanlock", "power-fails"}
    # --query runs the agent's monitor through the fencer: host 1 joined the lockspace
    assert scenario.query.returncode == 0, scenario.query.stdout + scenario.query.stderr
    assert re.search(r"\* sanlock\s+\(stonith:fence_sanlock_vdsm\):\s+Started node1",
                     scenario.crm_mon), scenario.crm_mon


def test_reboot_succeeds_once_the_reset_is_proven(scenario):
    result, seconds = scenario.reboot["node2"]
    assert result.returncode == 0, (result.stderr, scenario.log[-5000:])
    pid, reply_seen_at, killed_at = scenario.hosts[2]
    assert reply_seen_at is not None and killed_at is not None and pid is None
    assert 55 < seconds < 150
    results = operations(scenario.log, "node2")
    assert [device for device, _ in results] == ["sanlock"]
    assert "returned 0" in results[0][1]
    assert "reboot of node2 successful" in scenario.history["node2"].stdout


def test_one_device_per_node_with_the_host_id_in_the_address(scenario):
    result, seconds = scenario.reboot["node8"]
    assert result.returncode == 0, (result.stderr, scenario.log[-5000:])
    pid, reply_seen_at, killed_at = scenario.hosts[8]
    assert killed_at is not None and pid is None
    results = operations(scenario.log, "node8")
    assert [device for device, _ in results] == ["sanlock-node8"]
    assert "returned 0" in results[0][1]


def test_reboot_fails_when_the_target_runs_no_sanlk_resetd(scenario):
    result, seconds = scenario.reboot["node3"]
    assert result.returncode != 0
    assert "Couldn't fence node3" in result.stderr
    assert seconds < 70                     # 4 renewals of the target, retried once
    pid, reply_seen_at, killed_at = scenario.hosts[3]
    assert pid is not None and killed_at is None
    results = operations(scenario.log, "node3")
    assert results and all(device == "sanlock" and "returned 1" in line
                           for device, line in results)
    # the agent's one-line reason reaches Pacemaker's log
    assert ("never acknowledged it: no responder (fence-sanlock-vdsm-responder or "
            "sanlk-resetd) watches lockspace %s" % scenario.ls) in scenario.log
    assert "reboot of node3 by node1" in scenario.crm_mon.split("Failed Fencing Actions")[1]


def test_topology_falls_back_to_sanlock_when_power_fencing_fails(scenario):
    result, seconds = scenario.reboot["node4"]
    assert result.returncode == 0, (result.stderr, scenario.log[-5000:])
    results = operations(scenario.log, "node4")
    devices = [device for device, _ in results]
    assert devices[0] == "power-fails" and devices[-1] == "sanlock", results
    assert "returned 0" not in " ".join(line for device, line in results[:-1])
    assert "returned 0" in results[-1][1]
    pid, reply_seen_at, killed_at = scenario.hosts[4]
    assert killed_at is not None and pid is None
    assert "reboot of node4 successful" in scenario.history["node4"].stdout


def test_working_power_fencing_is_used_and_sanlock_is_never_asked(scenario):
    result, seconds = scenario.reboot["node5"]
    assert result.returncode == 0, (result.stderr, scenario.log[-5000:])
    assert seconds < 30
    results = operations(scenario.log, "node5")
    assert [device for device, _ in results] == ["power-works"]
    assert "returned 0" in results[0][1]
    # no reset request was ever written by the proxy in that lockspace, no reply by host 5
    assert scenario.proxy_lease_b["extra2"] == 0
    assert scenario.target5_lease_b["extra2"] == 0
    pid, reply_seen_at, killed_at = scenario.hosts[5]
    assert pid is not None and reply_seen_at is None and killed_at is None


def test_the_cluster_fences_an_unclean_node_by_itself(scenario):
    """The DC schedules the fence (stonith-timeout applies), not stonith_admin."""
    assert "reboot of node6 successful" in scenario.node6_history.stdout
    assert "client=pacemaker-controld" in scenario.node6_history.stdout
    pid, reply_seen_at, killed_at = scenario.hosts[6]
    assert killed_at is not None and pid is None
    results = operations(scenario.log, "node6")
    assert results and results[-1][0] == "sanlock" and "returned 0" in results[-1][1]


def test_a_fence_pacemaker_timed_out_is_proven_by_the_retry(scenario):
    """Pacemaker kills the agent at pcmk_reboot_timeout, after the request went out: the
    target still resets itself, and the next attempt proves it from shared storage."""
    first = scenario.node7_first
    assert first.returncode != 0
    assert "did not complete within 10s" in first.stderr, first.stderr
    assert scenario.node7_first_seconds < 30
    assert scenario.node7_retry.returncode == 0, (scenario.node7_retry.stderr,
                                                  scenario.log[-5000:])
    pid, reply_seen_at, killed_at = scenario.hosts[7]
    assert killed_at is not None and pid is None
    results = operations(scenario.log, "node7")
    assert "Timed Out" in results[0][1] and "returned 0" in results[-1][1], results


# ---------------------------------------------------------------- no map: node names

def test_the_readme_pcs_commands_draw_no_warning(scenario):
    for result in scenario.pcs:
        assert result.returncode == 0, result
        assert "Warning" not in result.stdout + result.stderr, result


def test_the_fencer_parses_list_into_exactly_the_node_names(scenario):
    result = scenario.list_targets
    assert result.returncode == 0, result.stderr
    targets = [line.strip() for line in result.stdout.splitlines()
               if line.strip() and "fence targets found" not in line]
    assert sorted(targets) == sorted(scenario.names.values())


def test_a_node_is_fenced_by_its_name_with_no_map(scenario):
    name = scenario.names[9]
    completed, _seconds = scenario.reboot[name]
    assert completed.returncode == 0, (completed.stderr, scenario.log[-3000:])
    pid, _reply_seen_at, killed_at = scenario.hosts[9]
    assert killed_at is not None and pid is None
    results = operations(scenario.log, name)
    assert results and results[-1][0] == "sanlock-byname" and "returned 0" in results[-1][1]


def test_pcs_describe_shows_the_timeouts_to_set():
    install_agent()
    described = subprocess.run(["pcs", "stonith", "describe", AGENT], capture_output=True,
                               text=True, timeout=120)
    assert described.returncode == 0, described.stderr
    text = " ".join(described.stdout.split())
    assert "pcmk_reboot_timeout" in text and "stonith-timeout" in text
    assert str(timing.pacemaker_timeout(10)) in text
