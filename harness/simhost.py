# SPDX-License-Identifier: GPL-2.0-or-later
"""One simulated host: a machine (machine.py), a view of the shared storage
(storagepath.py), and the programs a real host runs, started as their units start them.

What runs on a host, and with which flags:
- ``sanlock daemon -D -w W -U root -G GROUP -l 0 -h 0 -e NAME``: -D foreground (logs to
  stderr), -w 1 with a watchdog device (sanlock then asks wdmd to open it), -w 0 without,
  -U/-G: the daemon stays root (SANLOCK_PRIVILEGED=0 skips its uid switch and the
  mlock that containers refuse) and gives its socket that group, -l 0: no mlockall,
  -h 0: no realtime priority, -e: a stable host name (the same after a reboot, as
  our_host_name in sanlock.conf, so a rebooted host re-acquires its id at once).
  SANLOCK_RUN_DIR puts its socket in a per-host directory that clients outside the
  machine reach too.
- ``wdmd -D -H 0 -G root -w DEVICE`` (watchdog hosts only): the real wdmd, petting this
  host's fake device (fakewatchdog.py); -H 0: no realtime priority.
- ``sanlk-resetd -D -w W [LOCKSPACE...]``: the real target side, -w 1 on watchdog hosts.
  Without lockspace arguments, fence-sanlock-vdsm-resetd-sync registers them, as the
  package sets it up.
- the project's own services, fence-sanlock-vdsm-resetd-sync and
  fence-sanlock-vdsm-witness, from the source tree (python3 -m, PYTHONPATH=lib).
Every long-running process starts with SIGPIPE ignored, as systemd starts services.

A stand-in host (no device) can have its reset played by the harness: observe.StandIn,
which SimCluster.start_resetd arms (host.standin).

(About 350 lines: one host's daemons, each started as its real service would be, with
the flags explained.)
"""

import os
import re
import signal
import subprocess
import time

from .machine import Machine, package_env

SYS_PYTHON = "/usr/bin/python3"
# the host services from the source tree, as their installed commands run them
SYNC = ["-m", "sanlock_fencing.host.resetd_sync"]
WITNESS = ["-m", "sanlock_fencing.host.witness"]
RESPONDER = ["-m", "sanlock_fencing.host.responder"]
RESETD_SOCKET = "/run/sanlk-resetd/sanlk-resetd.sock"
WDMD_SOCKET = "/run/wdmd/wdmd.sock"


class SimHostError(RuntimeError):
    pass


def wait_for(predicate, timeout, interval=0.2, what="condition"):
    """predicate() until truthy (returned); TimeoutError naming `what` after timeout s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError("timed out after %.1fs waiting for %s (last value: %r)"
                               % (timeout, what, value))
        time.sleep(interval)


def log_tail(path, lines=25):
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 16384))
            data = f.read().decode("utf-8", "replace")
    except OSError as err:
        return "<no log %s: %s>" % (path, err)
    return "--- tail of %s ---\n%s" % (path, "\n".join(data.splitlines()[-lines:]))


def children(pid):
    kids = []
    try:
        tasks = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return kids
    for tid in tasks:
        try:
            with open("/proc/%d/task/%s/children" % (pid, tid)) as f:
                kids.extend(int(x) for x in f.read().split())
        except OSError:
            pass
    return kids


class SimHost:
    """One host of a SimCluster. kind: None (no watchdog device), "real", "broken" (a
    device that never fires), or "daemon-w0": a real device and wdmd, but the sanlock
    daemon runs -w 0 (Debian's default), so nothing ever asks wdmd to open the device."""

    def __init__(self, cluster, host_id, kind=None, name=None, label=None):
        """name: the daemon's -e host name (default: one per host id of the cluster);
        label: what names this machine's directories, storage view and cgroup (default:
        its host id): another machine may claim a host id of the cluster (add_machine)."""
        self.cluster = cluster
        self.host_id = host_id
        self.kind = kind
        tag = "%d" % host_id if label is None else label
        self.name = name or "%s-%s-h%s" % (cluster.name_prefix, cluster.uid, tag)
        self.run_dir = os.path.join(cluster.workdir, "run%s" % tag)
        self.log_dir = os.path.join(cluster.workdir, "logs%s" % tag)
        os.makedirs(self.log_dir, exist_ok=True)
        self.env = package_env(SANLOCK_RUN_DIR=self.run_dir)
        self.view = "h%s" % tag
        cluster.storage.add_view(self.view)
        self.machine = Machine("%s-h%s" % (cluster.uid, tag),
                               workdir=os.path.join(cluster.workdir, "machine%s" % tag))
        self.device = None
        if kind in ("real", "broken", "daemon-w0"):
            self.device = cluster.watchdog.add_device(
                self.view, self.machine.cgroup, "broken" if kind == "broken" else "normal")
        self.lockspaces = set()         # names of the lockspaces it has joined
        self.generations = {}           # lockspace -> generation at its last join
        self.procs = {}                 # "daemon", "wdmd", "resetd", "sync", "witness"
        self.standin = None
        self.restarts = 0
        # None: the daemon runs with -e self.name; a name: without -e, on a machine (a UTS
        # namespace) with that uname nodename, so that sanlock makes its default host name
        self.uts_nodename = None

    def __repr__(self):
        return "<SimHost %d %s %s>" % (self.host_id, self.name, self.machine)

    # -- paths and logs -----------------------------------------------------------------

    def log(self, what):
        return os.path.join(self.log_dir, "%s.log" % what)

    def lease_path(self, lockspace):
        return self.cluster.storage.view_path(self.view, lockspace.filename)

    @property
    def watchdog_flag(self):
        return "1" if self.device else "0"

    def alive(self, what="daemon"):
        proc = self.procs.get(what)
        return proc is not None and proc.alive()

    @property
    def pid(self):
        proc = self.procs.get("daemon")
        return proc.pid if proc is not None and proc.alive() else None

    # -- boot -------------------------------------------------------------------------

    def boot(self, monotonic=None):
        """Power on: a fresh machine (new clock; monotonic: what it reads at boot, see
        Machine.boot), wdmd if it has a device, the daemon."""
        self.machine.boot(monotonic)
        if self.device:
            self._spawn("wdmd", ["wdmd", "-D", "-H", "0", "-G", "root", "-w", self.device])
            wait_for(lambda: os.path.exists(self.machine.path(WDMD_SOCKET))
                     or self._died("wdmd"), 15, 0.05, "wdmd of host %d" % self.host_id)
        self.start_daemon()

    def _spawn(self, what, argv, env=None, ignore_sigpipe=True):
        with open(self.log(what), "ab") as f:
            f.write(("=== %s: %s\n" % (time.strftime("%H:%M:%S"), " ".join(argv))).encode())
        proc = self.machine.spawn(argv, env=env or self.env, log_path=self.log(what),
                                  ignore_sigpipe=ignore_sigpipe)
        self.procs[what] = proc
        return proc

    def _died(self, what):
        proc = self.procs.get(what)
        if proc is not None and not proc.alive():
            raise SimHostError("%s of host %d exited\n%s" % (what, self.host_id,
                                                             log_tail(self.log(what))))
        return False

    def start_daemon(self):
        os.makedirs(self.run_dir, exist_ok=True)
        group = self.cluster.socket_group or "root"
        if self.cluster.socket_group:
            os.chmod(self.run_dir, 0o755)
        env = dict(self.env, SANLOCK_PRIVILEGED="0")
        daemon_w = "0" if self.kind == "daemon-w0" else self.watchdog_flag
        argv = ["sanlock", "daemon", "-D", "-w", daemon_w, "-U", "root", "-G", group,
                "-l", "0", "-h", "0"]
        if self.uts_nodename is None:
            argv += ["-e", self.name]
        else:   # sanlock's default name: a new UUID, '.', the nodename; 47 bytes on disk
            argv = ["unshare", "--uts", "sh", "-c", 'hostname "$0" && exec "$@"',
                    self.uts_nodename] + argv
        proc = self._spawn("daemon", argv, env)

        def answers():
            self._died("daemon")
            try:
                with open(os.path.join(self.run_dir, "sanlock.pid")) as f:
                    if int(f.read().split()[0]) != proc.pid:
                        return False
            except (OSError, ValueError, IndexError):
                return False
            return subprocess.run(["sanlock", "client", "status"], env=self.env,
                                  capture_output=True, timeout=30).returncode == 0
        wait_for(answers, 30, 0.05, "sanlock daemon of host %d" % self.host_id)

    # -- the target side --------------------------------------------------------------

    def start_resetd(self, lockspaces=(), watchdog=None, as_systemd=True):
        """The real sanlk-resetd, -w 1 on watchdog hosts (watchdog=False: -w 0 anyway);
        lockspaces: registered on its command line (none: the sync service does it).
        as_systemd: SIGPIPE ignored, as systemd starts services (False: as a shell
        would, which sanlk-resetd 3.8.5 does not survive when a lockspace is left)."""
        self.stop("resetd")
        sock = self.machine.path(RESETD_SOCKET)

        def inode():
            try:
                return os.stat(sock).st_ino
            except OSError:
                return None
        before = inode()
        start = os.path.getsize(self.log("resetd")) if os.path.exists(self.log("resetd")) \
            else 0
        flag = self.watchdog_flag if watchdog is None else ("1" if watchdog else "0")
        self._spawn("resetd", ["sanlk-resetd", "-D", "-w", flag] + list(lockspaces),
                    ignore_sigpipe=as_systemd)
        wait_for(lambda: self._died("resetd") or (inode() not in (None, before)), 15, 0.05,
                 "sanlk-resetd of host %d to bind its socket" % self.host_id)
        if lockspaces:
            self.wait_resetd_registered(lockspaces, since=start)

    def wait_resetd_registered(self, lockspaces, since=0, timeout=30):
        def registered():
            self._died("resetd")
            with open(self.log("resetd"), "rb") as f:
                f.seek(since)
                text = f.read().decode("utf-8", "replace")
            failed = re.search(r"reg_event \d+ error (-?\d+) ls (\S+)", text)
            if failed:
                raise SimHostError("sanlk-resetd of host %d could not register %s (%s)"
                                   % (self.host_id, failed.group(2), failed.group(1)))
            return all(re.search(r"reg_event \d+ fd \d+ ls %s\s*$" % re.escape(ls), text,
                                 re.M) for ls in lockspaces)
        wait_for(registered, timeout, 0.1, "sanlk-resetd of host %d to register %s"
                 % (self.host_id, list(lockspaces)))

    def start_sync(self, lockspaces=None):
        """fence-sanlock-vdsm-resetd-sync, checking every 0.5 s; hosts without a watchdog
        device need --no-watchdog-check (their resetd runs -w 0)."""
        argv = [SYS_PYTHON] + SYNC + ["-i", "0.5"]
        if not self.device:
            argv.append("--no-watchdog-check")
        for name in lockspaces or ():
            argv += ["-l", name]
        self.stop("sync")
        self._spawn("sync", argv)

    def start_witness(self):
        self.stop("witness")
        self._spawn("witness", [SYS_PYTHON] + WITNESS + ["-i", "0.5"])

    def start_responder(self, sysfs=None, extra=()):
        """fence-sanlock-vdsm-responder, the project's own target side, polling every 0.5 s.
        sysfs: the watchdog sysfs directory it reads (default: an empty one of this host,
        so that the test machine's own devices never count); /proc/sysrq-trigger is
        always replaced by a file in the log directory (it would reboot the test machine).
        Returns at once; wait_responder() waits for its registrations."""
        self.stop("responder")
        if sysfs is None:
            sysfs = os.path.join(self.log_dir, "sysfs-watchdog")
            os.makedirs(sysfs, exist_ok=True)
        self.sysrq_file = os.path.join(self.log_dir, "sysrq-trigger")
        argv = [SYS_PYTHON] + RESPONDER + ["-i", "0.5", "--watchdog-sysfs", sysfs,
                                           "--sysrq-trigger", self.sysrq_file] + list(extra)
        self._spawn("responder", argv)

    def responder_log(self):
        try:
            with open(self.log("responder"), "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def wait_responder(self, lockspaces, verdict="can be fenced", timeout=30):
        """Until the responder says `verdict` and answers in every one of lockspaces."""
        def ready():
            self._died("responder")
            text = self.responder_log().rsplit("=== ", 1)[-1]
            return ("this host %s" % verdict) in text and all(
                "answering reset requests in lockspace %s " % ls in text for ls in lockspaces)
        wait_for(ready, timeout, 0.1, "the responder of host %d to answer in %s (%s)"
                 % (self.host_id, list(lockspaces), verdict))

    # -- faults -----------------------------------------------------------------------

    def stop(self, what, sig=signal.SIGTERM, grace=5.0):
        proc = self.procs.get(what)
        if proc is not None and proc.alive():
            proc.signal(sig)
            if not proc.wait(grace):
                proc.signal(signal.SIGKILL)
                proc.wait(5)

    def kill_daemon(self):
        """SIGKILL the sanlock daemon and its helper child: a crash on the same boot."""
        proc = self.procs.get("daemon")
        if proc is None or not proc.alive():
            return
        helpers = children(proc.pid)
        proc.signal(signal.SIGKILL)
        for pid in helpers:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        proc.wait(10)
        wait_for(lambda: not any(os.path.exists("/proc/%d" % p) for p in helpers), 10, 0.05,
                 "the daemon's helper of host %d to exit" % self.host_id)

    def pause_daemon(self):
        self.procs["daemon"].signal(signal.SIGSTOP)

    def resume_daemon(self):
        self.procs["daemon"].signal(signal.SIGCONT)

    def power_off(self):
        """Every process of the host dies at once; nothing else."""
        if self.standin is not None:
            self.standin.stop()
        self.machine.power_off()

    def fires(self):
        """The device's fire records (real/broken hosts)."""
        return self.cluster.watchdog.fires(self.view) if self.device else []

    def device_events(self, kinds=None):
        return self.cluster.watchdog.events(self.view, kinds) if self.device else []

    def storage(self, **modes):
        """Switch this host's storage path: read=, write=, both= ok|eio|stall|crawl, rate=."""
        return self.cluster.storage.set_mode(self.view, **modes)
