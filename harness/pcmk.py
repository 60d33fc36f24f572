# SPDX-License-Identifier: GPL-2.0-or-later
"""A real one-node Pacemaker cluster for end-to-end tests (corosync + pacemakerd).

The node runs in private PID, mount and network namespaces (``unshare -p -m -n``):

- network: corosync talks to itself on 127.0.0.1, and every Pacemaker/corosync IPC
  endpoint (libqb abstract unix sockets: "stonith-ng", "cib_rw", "cmap", ...) belongs to
  the network namespace, so this cluster never meets another Pacemaker or corosync
  running on the machine;
- mount: /var/lib/pacemaker, /var/lib/corosync and /var/log/pacemaker are bind mounts of
  directories in the work directory, /run is a private tmpfs (corosync.pid) and /proc
  shows only the node's processes, so the cluster writes no state outside the work
  directory and pacemakerd never sees another Pacemaker's daemons;
- PID: when the namespace's first process ends, the kernel kills every process left in
  it, so nothing survives the node, even when the test process is SIGKILLed (unshare
  --kill-child, and unshare itself dies with the test process).

Command-line tools (stonith_admin, cibadmin, crm_mon, ...) reach it through
``nsenter -p -m -n``.  Files in /var/tmp are shared, and sanlock's sockets are files: the
cluster is started with a simulated host's ``SANLOCK_RUN_DIR`` in its environment, which
pacemakerd passes to pacemaker-fenced and pacemaker-fenced to every fence agent, so that
host is the fencing proxy.

The node runs outside the simulated machines (machine.py): it is no simulated host, only
a client of host 1's daemon through its socket. Its agents therefore keep their evidence
(/run/fence-sanlock-vdsm) in the node's own private /run, on the test machine's clock,
which is where a retried fence finds what the killed one saw.

Safety: processes are only ever signalled by pid: the pids of unshare, of the namespace's
shell and of what it started (corosync, pacemakerd, pacemakerd's daemons, the agents they
run) are recorded with their start times (_Pid) and stopped at stop(); nothing is killed
by name.

(About 400 lines: corosync and Pacemaker in private namespaces need their configuration,
start order and pid records; the CIB helpers sit beside them.)
"""

import os
import signal
import subprocess
import time
from xml.etree import ElementTree

from .machine import proc_starttime, start_process
from .simhost import children as _children, log_tail as _log_tail, wait_for

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NODE_NAME = "node1"

_COROSYNC_CONF = """\
totem {
    version: 2
    cluster_name: %(cluster)s
    transport: knet
    crypto_cipher: none
    crypto_hash: none
}
nodelist {
    node {
        ring0_addr: 127.0.0.1
        name: %(node)s
        nodeid: 1
    }
}
quorum {
    provider: corosync_votequorum
}
logging {
    to_logfile: yes
    logfile: %(workdir)s/corosync.log
    to_stderr: no
    to_syslog: no
    timestamp: on
}
"""

# The starting CIB: only dc-deadtime, so that the node becomes DC in seconds rather than
# the default 20 s.  Everything the tests need is configured later with cibadmin, as
# pcs would.
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

# Runs as root, as PID 1 of the node's namespaces; $1 = work directory.
_RUN_SH = r"""
set -e
W=$1
mount -t tmpfs -o mode=0755 pcmk-test-run /run
mount --bind "$W/lib-pacemaker" /var/lib/pacemaker
mount --bind "$W/lib-corosync" /var/lib/corosync
mount --bind "$W/log-pacemaker" /var/log/pacemaker
ip link set lo up
corosync -f -c "$W/corosync.conf" &
i=0
until corosync-cmapctl totem.cluster_name >/dev/null 2>&1; do
    i=$((i + 1)); [ $i -lt 300 ] || { echo "corosync did not start"; exit 1; }
    sleep 0.1
done
pacemakerd &
wait
"""


def install_agent():
    """The project's own install step: /usr/sbin/fence_sanlock_vdsm + its library."""
    result = subprocess.run(["make", "-s", "-C", ROOT, "install"], capture_output=True,
                            text=True, timeout=120)
    if result.returncode != 0:
        raise RuntimeError("make install failed: %s %s" % (result.stdout, result.stderr))
    return "/usr/sbin/fence_sanlock_vdsm"


def _threads_finished(pid):
    """True when pid is gone or every thread of it is a zombie (a killed multi-threaded
    process shows Z for its main thread while its other threads still finish)."""
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return True
    for tid in tids:
        try:
            with open("/proc/%d/task/%s/stat" % (pid, tid), "rb") as f:
                data = f.read().decode("ascii", "replace")
        except OSError:
            continue
        if data[data.rindex(")") + 2:].split()[0] not in ("Z", "X"):
            return False
    return True


class _Pid:
    """A process we started, or a descendant of one: pid AND start time, so that a
    recycled pid is never signalled. popen: when it is our own child (reaped by it)."""

    def __init__(self, pid, popen=None, what=""):
        self.pid = pid
        self.popen = popen
        self.what = what
        self.starttime = proc_starttime(pid)

    def alive(self):
        if self.popen is not None:
            return self.popen.poll() is None
        if self.starttime is None or proc_starttime(self.pid) != self.starttime:
            return False
        return not _threads_finished(self.pid)

    def signal(self, sig):
        if not self.alive():
            self.reap()
            return False
        try:
            os.kill(self.pid, sig)
        except ProcessLookupError:
            return False
        return True

    def reap(self):
        if self.popen is not None:
            self.popen.poll()

    def wait_dead(self, timeout):
        deadline = time.monotonic() + timeout
        while True:
            self.reap()
            if not self.alive():
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)

    def __repr__(self):
        return "<%s pid %d>" % (self.what or "proc", self.pid)


def _comm(pid):
    try:
        with open("/proc/%d/comm" % pid) as f:
            return f.read().strip()
    except OSError:
        return None


class PacemakerNode:
    """A one-node corosync + Pacemaker cluster in its own namespaces.

    env: the environment of corosync, pacemakerd and so of pacemaker-fenced and every
    fence agent it runs (e.g. a simulated host's cluster.env(proxy_id)).
    workdir: where its state and logs go (pacemaker.log, corosync.log, cib/)."""

    def __init__(self, workdir, env, cluster_name="sanlockfence"):
        self.workdir = os.path.abspath(workdir)
        self.env = dict(env)
        self.cluster_name = cluster_name
        self.node = NODE_NAME
        self.log_path = os.path.join(self.workdir, "log-pacemaker", "pacemaker.log")
        self.corosync_log_path = os.path.join(self.workdir, "corosync.log")
        self.unshare = None               # _Pid of unshare (our child)
        self.shell = None                 # _Pid of the shell, PID 1 of the namespace
        self.procs = []                   # _Pid of everything seen running under it

    # ------------------------------------------------------------------ lifecycle

    def start(self, timeout=60):
        self._prepare()
        argv = ["unshare", "--pid", "--fork", "--kill-child", "--mount-proc", "--net",
                "--mount", "--propagation", "private", "sh", "-c", _RUN_SH, "sh",
                self.workdir]

        # machine.start_process: forked from one long-lived thread with PDEATHSIG, so
        # unshare (and with --kill-child the whole node) dies with the test process
        popen = start_process(argv, env=self.env,
                              log_path=os.path.join(self.workdir, "node.out"))
        self.unshare = _Pid(popen.pid, popen, "unshare")
        try:
            kids = wait_for(lambda: self._unshare_alive() and _children(popen.pid), 10,
                            0.02, "unshare to fork the node's first process")
            self.shell = _Pid(kids[0], None, "pacemaker node shell (PID 1)")
            wait_for(self._dc_and_fencer_ready, timeout, 0.5,
                     "the Pacemaker node to elect itself DC and its fencer to answer")
        except BaseException:
            self.stop()
            raise
        return self

    def _prepare(self):
        import pwd
        import grp
        uid = pwd.getpwnam("hacluster").pw_uid
        gid = grp.getgrnam("haclient").gr_gid
        for sub in ("lib-pacemaker", "lib-pacemaker/cib", "lib-pacemaker/pengine",
                    "lib-pacemaker/blackbox", "lib-pacemaker/cores", "log-pacemaker"):
            path = os.path.join(self.workdir, sub)
            os.makedirs(path, exist_ok=True)
            os.chown(path, uid, gid)
            os.chmod(path, 0o770)
        os.makedirs(os.path.join(self.workdir, "lib-corosync"), exist_ok=True)
        with open(os.path.join(self.workdir, "corosync.conf"), "w") as f:
            f.write(_COROSYNC_CONF % {"cluster": self.cluster_name, "node": self.node,
                                      "workdir": self.workdir})
        cib = os.path.join(self.workdir, "lib-pacemaker", "cib", "cib.xml")
        with open(cib, "w") as f:
            f.write(_CIB)
        os.chown(cib, uid, gid)
        os.chmod(cib, 0o600)

    def _unshare_alive(self):
        if not self.unshare.alive():
            raise RuntimeError("the Pacemaker node exited (rc %s)\n%s\n%s"
                               % (self.unshare.popen.poll(), self._out_tail(), self.log_tail()))
        return True

    def _dc_and_fencer_ready(self):
        self._unshare_alive()
        if not self._pacemakerd_pid():
            return False
        try:
            # the CIB names the DC once one is elected
            cib = self.tool("cibadmin", "--query", "--xpath", "/cib[@dc-uuid]",
                            "--no-children", timeout=10)
            if cib.returncode != 0 or "dc-uuid=" not in cib.stdout:
                return False
            return self.stonith_admin("--list-registered", timeout=10).returncode == 0
        except subprocess.TimeoutExpired:
            return False

    def _pacemakerd_pid(self):
        self._note_processes()
        for p in self.procs:
            if p.alive() and _comm(p.pid) == "pacemakerd":
                return p.pid
        return None

    def _note_processes(self):
        """Record every descendant of the shell (daemons and the agents they run)."""
        if self.shell is None:
            return
        known = {p.pid for p in self.procs}
        todo = [self.shell.pid]
        while todo:
            for pid in _children(todo.pop()):
                todo.append(pid)
                if pid not in known:
                    known.add(pid)
                    self.procs.append(_Pid(pid, None, _comm(pid) or "?"))

    def stop(self):
        """pacemakerd shuts its daemons down, then corosync stops; whatever is still
        running after that (e.g. a fence agent) is killed with the namespace's PID 1.
        By recorded pid only."""
        if self.unshare is None:
            return
        if self.shell is None:                # unshare never forked
            self.unshare.signal(signal.SIGKILL)
            self.unshare.wait_dead(5)
            self.unshare = None
            return
        self._note_processes()
        pacemakerd = [p for p in self.procs if p.alive() and _comm(p.pid) == "pacemakerd"]
        for p in pacemakerd:
            p.signal(signal.SIGTERM)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(p.alive() for p in pacemakerd):
            self._note_processes()
            time.sleep(0.2)
        self._note_processes()
        for p in self.procs:
            p.signal(signal.SIGTERM)
        for p in self.procs:
            p.wait_dead(5)
        # PID 1 of the namespace: its end kills whatever is left in it
        self.shell.signal(signal.SIGKILL)
        left = [p for p in [self.shell, self.unshare] + self.procs if not p.wait_dead(10)]
        self.unshare.reap()
        self.unshare = self.shell = None
        if left:
            raise RuntimeError("processes survived PacemakerNode.stop(): %s" % left)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    # ------------------------------------------------------------------ tools

    def command(self, *argv):
        """argv that runs a command inside the node's namespaces."""
        return ["nsenter", "-t", str(self.shell.pid), "-p", "-m", "-n"] + list(argv)

    def tool(self, *argv, timeout=60, check=False):
        """Run a command-line tool against this node; CompletedProcess."""
        result = subprocess.run(self.command(*argv), capture_output=True, text=True,
                                timeout=timeout)
        if check and result.returncode != 0:
            raise RuntimeError("%s failed (rc %d): %s %s\n%s"
                               % (" ".join(argv), result.returncode, result.stdout,
                                  result.stderr, self.log_tail()))
        return result

    def stonith_admin(self, *args, timeout=60, check=False):
        return self.tool("stonith_admin", *args, timeout=timeout, check=check)

    def background(self, *argv):
        """A tool in the background: Popen with text pipes."""
        return subprocess.Popen(self.command(*argv), stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def cibadmin_create(self, section, xml):
        """cibadmin --create --scope SECTION --xml-text XML (what pcs does underneath)."""
        return self.tool("cibadmin", "--create", "--scope", section, "--xml-text", xml,
                         check=True)

    def set_property(self, name, value):
        return self.tool("crm_attribute", "--type", "crm_config", "--name", name,
                         "--update", str(value), check=True)

    def wait_devices(self, names, timeout=60):
        """Until the fencer has registered every named device from the CIB and the
        cluster has started them (their start ran the agent's monitor)."""
        def ready():
            listed = self.stonith_admin("--list-registered", timeout=10).stdout.split()
            if not set(names) <= set(listed):
                return False
            mon = self.tool("crm_mon", "-1", "--output-as=xml", timeout=20)
            if mon.returncode != 0:
                return False
            started = {r.get("id") for r in ElementTree.fromstring(mon.stdout).iter("resource")
                       if r.get("role") == "Started" and r.get("failed") == "false"}
            return set(names) <= started
        wait_for(ready, timeout, 0.5, "devices %s registered and started" % list(names))

    # ------------------------------------------------------------------ logs

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def log_tail(self, lines=40):
        return _log_tail(self.log_path, lines)

    def _out_tail(self):
        return _log_tail(os.path.join(self.workdir, "node.out"), 20)

