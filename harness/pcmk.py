# SPDX-License-Identifier: GPL-2.0-or-later
"""A real one-node Pacemaker cluster for end-to-end tests (corosync + pacemakerd).

The node runs in private PID, mount and network namespaces (``unshare -p -m -n``):

- network: corosync talks to itself on 127.0.0.1, and every Pacemaker/corosync IPC
  endpoint (libqb abstract unix sockets: "stonith-ng", "cib_rw", "cmap", ...) belongs to
  the network namespace, so this cluster never meets another Pacemaker or corosync
  running on the machine;
- mount: /etc/corosync, /var/lib/pacemaker, /var/lib/corosync and /var/log/pacemaker are
  bind mounts of directories in the work directory (pcmkbase.py, as every node's), /run is
  a private tmpfs (corosync.pid) and /proc shows only the node's processes, so the cluster
  writes no state outside the work directory and pacemakerd never sees another Pacemaker's
  daemons;
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
run) are recorded with their start times (machine.Proc) and stopped at stop(); nothing is killed
by name.

(About 300 lines: the node's namespaces and pid records, and the CIB helpers; the
configuration and start order every node shares are in pcmkbase.py.)
"""

import os
import signal
import subprocess
import time

from .machine import Proc, start_process
from .pcmkbase import START_DAEMONS_SH, PacemakerTools, corosync_conf, install, prepare_state
from .simhost import children as _children, log_tail as _log_tail, wait_for

NODE_NAME = "node1"

# Runs as root, as PID 1 of the node's namespaces; $1 = work directory. The daemons start
# as on every node of the harness (pcmkbase.START_DAEMONS_SH).
_RUN_SH = r"""
set -e
W=$1
mount -t tmpfs -o mode=0755 pcmk-test-run /run
ip link set lo up
""" + START_DAEMONS_SH


def install_agent():
    """The project's own install step: /usr/sbin/fence_sanlock_vdsm + its library."""
    return install()


def _comm(pid):
    try:
        with open("/proc/%d/comm" % pid) as f:
            return f.read().strip()
    except OSError:
        return None


class PacemakerNode(PacemakerTools):
    """A one-node corosync + Pacemaker cluster in its own namespaces.

    env: the environment of corosync, pacemakerd and so of pacemaker-fenced and every
    fence agent it runs (e.g. a simulated host's cluster.env(proxy_id)).
    workdir: where its state and logs go (pacemaker.log, corosync.log, cib/)."""

    def __init__(self, workdir, env, cluster_name="sanlockfence"):
        self.workdir = os.path.abspath(workdir)
        self.env = dict(env)
        self.cluster_name = cluster_name
        self.node = self.name = NODE_NAME
        self.unshare = None               # Proc of unshare (our child)
        self.shell = None                 # Proc of the shell, PID 1 of the namespace
        self.procs = []                   # Proc of everything seen running under it

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
        self.unshare = Proc(popen, argv, "unshare")
        try:
            kids = wait_for(lambda: self._unshare_alive() and _children(popen.pid), 10,
                            0.02, "unshare to fork the node's first process")
            self.shell = Proc.adopt(kids[0], "pacemaker node shell (PID 1)")
            wait_for(self._dc_and_fencer_ready, timeout, 0.5,
                     "the Pacemaker node to elect itself DC and its fencer to answer")
        except BaseException:
            self.stop()
            raise
        return self

    def _prepare(self):
        prepare_state(self.workdir, corosync_conf(self.cluster_name, self.workdir,
                                                  [("127.0.0.1", self.node, 1)]))

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
                    self.procs.append(Proc.adopt(pid, _comm(pid) or "?"))

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
        self.unshare.alive()              # reaps it
        self.unshare = self.shell = None
        if left:
            raise RuntimeError("processes survived PacemakerNode.stop(): %s" % left)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    # ------------------------------------------------------------------ tools

    def namespace_pid(self):
        return self.shell.pid

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
            return set(names) <= set(listed) and set(names) <= self.started()
        wait_for(ready, timeout, 0.5, "devices %s registered and started" % list(names))

    # ------------------------------------------------------------------ logs

    def _out_tail(self):
        return _log_tail(os.path.join(self.workdir, "node.out"), 20)
