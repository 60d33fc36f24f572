# SPDX-License-Identifier: GPL-2.0-or-later
"""Real multi-node Pacemaker clusters on one machine, one node per simulated host.

A node is a simulated host of a SimCluster (simhost.py: a machine of its own with its own
cgroup, mount and time namespaces, its own sanlock daemon, wdmd on its fake watchdog
device, the responder and the witness) plus, from this module:

- **its own network** (netns.py): a network namespace whose only link goes to a bridge
  in a namespace the test created; corosync talks over it (knet, 10.250.0.ID). Cutting
  the node's network is that link going down; its storage (the FUSE view) and its sanlock
  daemon do not use the network and keep working.
- **its own corosync and Pacemaker**, started *inside the machine* (machine.spawn: its
  cgroup), so that the node's watchdog firing kills them with everything else, as a
  reset does. They run in nested namespaces of their own: the node's network, a PID
  namespace (pacemakerd looks for its daemons in /proc) and a mount namespace with
  private /etc/corosync, /var/lib/pacemaker, /var/lib/corosync, /var/log/pacemaker,
  /run (a tmpfs, into which the machine's /run/wdmd, /run/sanlk-resetd and
  /run/fence-sanlock-vdsm are bound back: the agent keeps its evidence where the
  machine's witness does) and /dev/shm (libqb's IPC buffers). libqb's IPC sockets are
  abstract, so they belong to the network namespace: nodes never meet each other's IPC.
- **the agent as `make install` lays it out**, into a prefix of this cluster's work
  directory, shown at /usr/sbin/fence_sanlock_vdsm inside the node only (an overlay of
  /usr/sbin: pacemaker-fenced runs agents from there); the system's /usr/sbin is not
  touched, so these tests need no exclusive install and run beside the others. The
  test's OCF agent (harness/ocf/writer, provider fsvtest) is shown the same way under
  /usr/lib/ocf/resource.d.

Every fence agent pacemaker-fenced runs inherits the node's environment, whose
SANLOCK_RUN_DIR is that host's daemon: each node fences through its own sanlock.

Node names are the hosts' sanlock host names (``-e``), as the README tells users to set
``our_host_name``: the agent's `list` prints exactly the node names, and the README's
pcs commands need no pcmk_host_map.

Safety: everything a node runs is in its machine's cgroup; stop() ends the node's
process tree by the recorded pid of its unshare (``--kill-child``: the node's PID
namespace dies with it), then the network's holders by theirs. Nothing is killed by name.

Limits: corosync runs with its defaults (token 3 s, for 3 nodes 3.65 s with the
coefficient), like a cluster that pcs set up; it gives itself SCHED_RR priority 99 as on
a real node, which is what keeps its token on time while other tests load both CPUs.
No pcsd (configuration goes through pcs -f and cib-push, which need none).
"""

import datetime
import os
import re
import time

from .clusterwriter import create as create_data_file
from .netns import Network
from .pcmkbase import (START_DAEMONS_SH, PacemakerError, PacemakerTools, corosync_conf,
                       install, prepare_state)
from .simhost import children, log_tail, wait_for

HERE = os.path.dirname(os.path.abspath(__file__))
OCF_AGENT = os.path.join(HERE, "ocf", "writer")
WRITER = os.path.join(HERE, "clusterwriter.py")
DATA_FILE = "writer.data"

# PID 1 of the node's PID namespace, in its own mount namespace, in the node's network;
# $1 = the node's work directory, $2 = the agent's install prefix. The daemons start as on
# every node of the harness (pcmkbase.START_DAEMONS_SH).
_RUN_SH = r"""
set -e
W=$1; INST=$2
mkdir -p "$W/oldrun"
mount --rbind /run "$W/oldrun"
mount -t tmpfs -o mode=0755 pcmk-run /run
for d in wdmd sanlk-resetd fence-sanlock-vdsm; do
    mkdir -p /run/$d
    mount --rbind "$W/oldrun/$d" /run/$d
done
umount -l "$W/oldrun"
mount -t proc proc /proc
mount -t tmpfs -o mode=1777 pcmk-shm /dev/shm
mount -t overlay fsv-sbin -o lowerdir="$INST/sbin:/usr/sbin" /usr/sbin
mount -t overlay fsv-ocf -o lowerdir="$W/ocf:/usr/lib/ocf/resource.d" /usr/lib/ocf/resource.d
cp "$W/writer.env" /run/fsv-writer.env
""" + START_DAEMONS_SH


class PacemakerClusterError(PacemakerError):
    pass


class Node(PacemakerTools):
    """One cluster node: a SimHost and the corosync + Pacemaker running on its machine."""

    error = PacemakerClusterError

    def __init__(self, cluster, host):
        self.cluster = cluster
        self.host = host
        self.host_id = host.host_id
        self.name = host.name
        self.workdir = os.path.join(cluster.workdir, "node%d" % host.host_id)
        self.proc = None           # machine.Proc of the node's unshare (in the machine)
        self.shell = None          # pid of PID 1 of the node's PID namespace

    def __repr__(self):
        return "<Node %s host %d>" % (self.name, self.host_id)

    # ------------------------------------------------------------------ lifecycle

    def prepare(self, address_of):
        c = self.cluster
        prepare_state(self.workdir, corosync_conf(
            c.cluster_name, self.workdir, [(address_of(n.name), n.name, n.host_id)
                                           for n in c.nodes], c.two_node))
        os.makedirs(os.path.join(self.workdir, "ocf", "fsvtest"), exist_ok=True)
        with open(os.path.join(self.workdir, "ocf", "fsvtest", "writer"), "wb") as out, \
                open(OCF_AGENT, "rb") as src:
            out.write(src.read())
        os.chmod(os.path.join(self.workdir, "ocf", "fsvtest", "writer"), 0o755)
        view_file = c.sim.storage.view_path(self.host.view, DATA_FILE)
        with open(os.path.join(self.workdir, "writer.env"), "w") as f:
            f.write("WRITER_PY=%s\nWRITER_FILE=%s\nWRITER_NODE=%s\nWRITER_SLOT=%d\n"
                    "WRITER_LOG=%s\nWRITER_INTERVAL=%s\n"
                    % (WRITER, view_file, self.name, self.host_id,
                       os.path.join(self.workdir, "writer.log"), c.writer_interval))

    def spawn(self):
        argv = ["nsenter", "--net=%s" % self.cluster.network.netns_path(self.name),
                "unshare", "--pid", "--fork", "--kill-child", "--mount",
                "--propagation", "private", "sh", "-c", _RUN_SH, "sh", self.workdir,
                self.cluster.prefix]
        self.proc = self.host.machine.spawn(argv, env=self.host.env,
                                            log_path=os.path.join(self.workdir, "node.out"))
        kids = wait_for(lambda: self._alive() and children(self.proc.pid), 10, 0.02,
                        "the node %s to fork its first process" % self.name)
        self.shell = kids[0]

    def _alive(self):
        if not self.proc.alive():
            raise PacemakerClusterError("node %s exited (rc %s)\n%s\n%s" % (
                self.name, self.proc.popen.poll(),
                log_tail(os.path.join(self.workdir, "node.out")), self.log_tail()))
        return True

    @property
    def running(self):
        return self.proc is not None and self.proc.alive()

    def stop(self):
        """The node's unshare, by recorded pid: with --kill-child its PID namespace (corosync,
        Pacemaker, the agents and the writer it runs) ends with it."""
        if self.proc is not None and self.proc.alive():
            self.proc.stop(grace=2)

    # ------------------------------------------------------------------ tools

    def namespace_pid(self):
        if self.shell is None:
            raise PacemakerClusterError("node %s was never started" % self.name)
        return self.shell


class PacemakerCluster:
    """corosync + Pacemaker on every host of a started SimCluster.

    sim: a started SimCluster whose hosts run their target side already (the test
    chooses it: the responder, the project's default); two_node: corosync's two_node: 1
    (two hosts only); writer_interval: seconds between the writer's records."""

    def __init__(self, sim, two_node=False, writer_interval=0.2, cluster_name="fsvcluster"):
        if two_node and len(sim.hosts) != 2:
            raise PacemakerClusterError("two_node needs exactly two hosts, not %d"
                                        % len(sim.hosts))
        self.sim = sim
        self.two_node = two_node
        self.writer_interval = writer_interval
        self.cluster_name = cluster_name
        self.workdir = os.path.join(sim.workdir, "pcmk")
        self.prefix = os.path.join(self.workdir, "inst")
        self.network = None
        self.nodes = [Node(self, h) for h in sim.hosts]
        self.data_backing = sim.storage.backing_path(DATA_FILE)

    def node(self, host_id):
        for n in self.nodes:
            if n.host_id == host_id:
                return n
        raise KeyError("no node for host %r" % host_id)

    def by_name(self, name):
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError("no node named %r" % name)

    def start(self, timeout=120):
        try:
            os.makedirs(self.workdir, exist_ok=True)
            install(self.prefix)
            create_data_file(self.data_backing)
            self.network = Network(os.path.join(self.workdir, "net")).start()
            for n in self.nodes:
                self.network.add_node(n.name, n.host_id)
            for n in self.nodes:
                n.prepare(self.network.address)
            for n in self.nodes:
                n.spawn()
            self.wait_members([n.name for n in self.nodes], timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self):
        """Every node's process tree, then the network: only what this object started."""
        for n in self.nodes:
            try:
                n.stop()
            except Exception:
                pass
        if self.network is not None:
            self.network.stop()
            self.network = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    # ------------------------------------------------------------------ state

    def online(self, observer):
        """{node name: online?} and the DC's name, as observer's crm_mon shows them."""
        mon = observer.crm_mon()
        if mon is None:
            return {}, None
        nodes = {e.get("name"): e.get("online") == "true" for e in mon.iter("node")
                 if e.get("name")}
        dc = mon.find("summary/current_dc")
        dc_name = dc.get("name") if dc is not None and dc.get("present") == "true" else None
        return nodes, dc_name

    def wait_members(self, names, timeout=120):
        """Until every running node sees exactly `names` online and agrees on one DC."""
        def agreed():
            dcs = set()
            for n in self.nodes:
                if n.running:
                    n._alive()
                    seen, dc = self.online(n)
                    if n.name in names and ({k for k, v in seen.items() if v} != set(names)
                                            or dc is None):
                        return False
                    if n.name in names:
                        dcs.add(dc)
            return len(dcs) == 1
        wait_for(agreed, timeout, 0.5, "nodes %s online with one DC" % names)

    def resource_node(self, observer, rid):
        """The node observer's crm_mon says runs resource rid (Started), or None."""
        mon = observer.crm_mon()
        if mon is None:
            return None
        for r in mon.iter("resource"):
            if r.get("id") == rid and r.get("role") == "Started":
                n = r.find("node")
                return n.get("name") if n is not None else None
        return None

    def wait_started(self, observer, names, timeout=60):
        """Until observer sees every one of names Started."""
        observer.wait_started(names, timeout)

    def pcs(self, node, *argv, timeout=120):
        """pcs on node; raises with its output when it fails."""
        return node.tool("pcs", *argv, timeout=timeout, check=True)

    def cut(self, host_id):
        """Node host_id loses its network (its link down at the bridge)."""
        self.network.cut(self.node(host_id).name)


# ---------------------------------------------------------------- logs as timelines

def _parse_stamp(text):
    year = time.localtime().tm_year
    fmt = "%Y %b %d %H:%M:%S.%f" if "." in text else "%Y %b %d %H:%M:%S"
    return datetime.datetime.strptime("%d %s" % (year, text), fmt).timestamp()


def log_events(text, pattern):
    """[(realtime seconds, line)] of the log lines matching the regex `pattern`, where the
    line starts with a syslog-like time stamp (Pacemaker's and corosync's logs)."""
    found = []
    rx = re.compile(pattern)
    for line in text.splitlines():
        m = re.match(r"^(\w{3} \d{2} \d{2}:\d{2}:\d{2}(?:\.\d+)?) ", line)
        if m and rx.search(line):
            found.append((_parse_stamp(m.group(1)), line))
    return found
