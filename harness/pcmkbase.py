# SPDX-License-Identifier: GPL-2.0-or-later
"""What every Pacemaker node of the harness starts the same way, one node or several.

The one-node cluster (pcmk.py: a fencing proxy beside the simulated hosts) and the
multi-node one (pcmkcluster.py: a node on each simulated host) differ in where the node
runs and which namespaces it gets; both then configure corosync and Pacemaker, lay out
their state directories, start them in the same order and reach them with the same
command-line tools. Those pieces live here:

- corosync_conf(): corosync.conf for a node list (knet, no crypto, votequorum, a log
  file with high-resolution time stamps, which pcmkcluster.log_events() reads);
- prepare_state(): the state and log directories Pacemaker's daemons write (owned by
  hacluster:haclient, as the packages make them), etc-corosync/corosync.conf and a
  starting CIB, in a node's work directory; the node's mount namespace binds them over
  /var/lib/pacemaker, /var/lib/corosync, /var/log/pacemaker and /etc/corosync;
- START_DAEMONS_SH: the tail of a node's PID 1 shell: corosync, then pacemakerd once
  corosync answers, then wait (the PID namespace ends with that shell);
- install(): the project's `make install`, into the system or a prefix;
- PacemakerTools: a node's command line (nsenter into its namespaces), crm_mon, logs.
"""

import grp
import os
import pwd
import subprocess
from xml.etree import ElementTree

from .machine import ROOT
from .simhost import log_tail, wait_for


_COROSYNC_CONF = """\
totem {
    version: 2
    cluster_name: %(cluster)s
    transport: knet
    crypto_cipher: none
    crypto_hash: none
}
nodelist {
%(nodes)s}
quorum {
    provider: corosync_votequorum
%(quorum)s}
logging {
    to_logfile: yes
    logfile: %(workdir)s/corosync.log
    to_stderr: no
    to_syslog: no
    timestamp: hires
}
"""

_NODE = """    node {
        ring0_addr: %(addr)s
        name: %(name)s
        nodeid: %(id)d
    }
"""

# The starting CIB: dc-deadtime 2 s, so that a DC is elected in seconds rather than the
# default 20 s; everything else is configured later, as pcs (or cibadmin under it) would.
_CIB = """\
<cib crm_feature_set="3.16.1" validate-with="pacemaker-3.9" epoch="1" num_updates="0"
     admin_epoch="0">
  <configuration>
    <crm_config>
      <cluster_property_set id="cib-bootstrap-options">
        <nvpair id="cib-bootstrap-options-dc-deadtime" name="dc-deadtime" value="2s"/>
      </cluster_property_set>
    </crm_config>
    <nodes/>
    <resources/>
    <constraints/>
  </configuration>
  <status/>
</cib>
"""

# The daemons, after a node's own mounts; $W = its work directory (prepare_state), bound
# at /etc/corosync. corosync gets 30 s to answer; pacemakerd starts its daemons itself.
START_DAEMONS_SH = r"""
mount --bind "$W/etc-corosync" /etc/corosync
mount --bind "$W/lib-pacemaker" /var/lib/pacemaker
mount --bind "$W/lib-corosync" /var/lib/corosync
mount --bind "$W/log-pacemaker" /var/log/pacemaker
corosync -f &
i=0
until corosync-cmapctl totem.cluster_name >/dev/null 2>&1; do
    i=$((i + 1)); [ $i -lt 300 ] || { echo "corosync did not start"; exit 1; }
    sleep 0.1
done
pacemakerd &
wait
"""

_STATE_DIRS = ("lib-pacemaker", "lib-pacemaker/cib", "lib-pacemaker/pengine",
               "lib-pacemaker/blackbox", "lib-pacemaker/cores", "log-pacemaker")


class PacemakerError(RuntimeError):
    pass


def corosync_conf(cluster_name, workdir, nodes, two_node=False):
    """corosync.conf for nodes [(address, name, node id)], logging to workdir."""
    listed = "".join(_NODE % {"addr": addr, "name": name, "id": node_id}
                     for addr, name, node_id in nodes)
    return _COROSYNC_CONF % {"cluster": cluster_name, "nodes": listed, "workdir": workdir,
                             "quorum": "    two_node: 1\n" if two_node else ""}


def prepare_state(workdir, conf):
    """A node's state directories, its corosync.conf (text conf) and starting CIB."""
    uid = pwd.getpwnam("hacluster").pw_uid
    gid = grp.getgrnam("haclient").gr_gid
    for sub in _STATE_DIRS:
        path = os.path.join(workdir, sub)
        os.makedirs(path, exist_ok=True)
        os.chown(path, uid, gid)
        os.chmod(path, 0o770)
    for sub in ("lib-corosync", "etc-corosync"):
        os.makedirs(os.path.join(workdir, sub), exist_ok=True)
    with open(os.path.join(workdir, "etc-corosync", "corosync.conf"), "w") as f:
        f.write(conf)
    cib = os.path.join(workdir, "lib-pacemaker", "cib", "cib.xml")
    with open(cib, "w") as f:
        f.write(_CIB)
    os.chown(cib, uid, gid)
    os.chmod(cib, 0o600)


def install(prefix=None):
    """The project's `make install`: into the system (prefix None; the agent at
    /usr/sbin/fence_sanlock_vdsm) or all of it under prefix, nothing into the system.
    Returns the agent's path."""
    argv = ["make", "-s", "-C", ROOT, "install"]
    if prefix is not None:
        argv += ["PREFIX=%s" % prefix, "UNITDIR=%s/units" % prefix,
                 "TMPFILESDIR=%s/tmpfiles" % prefix]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        raise PacemakerError("%s failed: %s %s" % (" ".join(argv), result.stdout,
                                                   result.stderr))
    return os.path.join(prefix or "/usr", "sbin", "fence_sanlock_vdsm")


class PacemakerTools:
    """A node's tools, for a class that has workdir, name, an `error` class and
    namespace_pid(): the pid whose PID, mount and network namespaces are the node's."""

    error = PacemakerError

    @property
    def log_path(self):
        return os.path.join(self.workdir, "log-pacemaker", "pacemaker.log")

    @property
    def corosync_log_path(self):
        return os.path.join(self.workdir, "corosync.log")

    def command(self, *argv):
        """argv that runs a command inside the node's namespaces."""
        return ["nsenter", "-t", str(self.namespace_pid()), "-p", "-m", "-n"] + list(argv)

    def tool(self, *argv, timeout=60, check=False):
        """Run a command-line tool against this node; CompletedProcess. check: raise
        self.error with its output and the log's tail when it fails."""
        result = subprocess.run(self.command(*argv), capture_output=True, text=True,
                                timeout=timeout)
        if check and result.returncode != 0:
            raise self.error("%s on %s failed (rc %d): %s %s\n%s" % (
                " ".join(argv), self.name, result.returncode, result.stdout, result.stderr,
                self.log_tail()))
        return result

    def crm_mon(self):
        """crm_mon's XML as an ElementTree root, or None when it does not answer."""
        try:
            result = self.tool("crm_mon", "-1", "--output-as=xml", timeout=20)
        except subprocess.TimeoutExpired:
            return None
        if result.returncode != 0:
            return None
        try:
            return ElementTree.fromstring(result.stdout)
        except ElementTree.ParseError:
            return None

    def started(self):
        """Ids of the resources this node's crm_mon shows Started and not failed (an
        empty set when it does not answer)."""
        mon = self.crm_mon()
        if mon is None:
            return set()
        return {r.get("id") for r in mon.iter("resource")
                if r.get("role") == "Started" and r.get("failed") == "false"}

    def wait_started(self, names, timeout=60):
        """Until this node sees every one of names Started."""
        wait_for(lambda: set(names) <= self.started(), timeout, 0.5,
                 "resources %s started" % list(names))

    def log(self):
        return _read(self.log_path)

    def corosync_log(self):
        return _read(self.corosync_log_path)

    def log_tail(self, lines=40):
        return log_tail(self.log_path, lines)


def _read(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return ""
