"""Simulated sanlock clusters on one machine, for integration tests, demos and benchmarks.

Every simulated host is a real ``sanlock daemon`` with its own ``SANLOCK_RUN_DIR``
(socket + pid file) and its own stable ``-e`` host name; all hosts share lockspace
files under a unique directory in /var/tmp (not tmpfs: sanlock uses O_DIRECT).
A host can also run a real ``sanlk-resetd`` (in a private mount namespace, because
its socket path is hard-coded) plus a stand-in watchdog thread that "resets" the
host (SIGKILLs its sanlock daemon) once resetd's RESETTING/REBOOTING reply is in
the host's delta lease on disk.

Typical use::

    from simcluster import SimCluster
    with SimCluster(hosts=3) as c:
        c.start_resetd(2, watchdog_delay=0.0)
        subprocess.run([...], env=c.env(1))      # run a client "on" host 1
        c.get_hosts(1)                           # host states seen by host 1

Safety rules this module follows: processes are only ever signalled by the pid
recorded when *this* object started them (checked against the process start time
so a recycled pid is never hit), never by name; every daemon is torn down by
``stop()``, which is idempotent and also registered with ``atexit``.  By default
(die_with_parent=True) the long-running processes also get PR_SET_PDEATHSIG=SIGKILL
and are forked from one process-lifetime thread, so even a SIGKILLed test process
leaves no daemons behind.

Only /usr/bin/python3 can import the ``sanlock`` binding; the binding reads
SANLOCK_RUN_DIR once per process, so host-specific queries run in short
``/usr/bin/python3`` subprocesses.  This module itself does not import sanlock.
"""

import atexit
import concurrent.futures
import ctypes
import grp
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import threading
import time
import uuid

SYS_PYTHON = "/usr/bin/python3"
SANLOCK = "sanlock"
SANLK_RESETD = "sanlk-resetd"
RESETD_RUN_DIR = "/run/sanlk-resetd"
WORK_BASE = "/var/tmp"

# sanlock.get_hosts() flags
HOST_UNKNOWN = 1
HOST_FREE = 2
HOST_LIVE = 3
HOST_FAIL = 4
HOST_DEAD = 5
HOST_STATE_NAMES = {1: "UNKNOWN", 2: "FREE", 3: "LIVE", 4: "FAIL", 5: "DEAD"}

# sanlk-resetd event values
EVENT_RESET = 1
EVENT_RESETTING = 2
EVENT_REBOOT = 4
EVENT_REBOOTING = 8

MAX_LOCKSPACE_NAME = 48
LEASE_FILE_SIZE = 8 * 1024 * 1024
UNIX_PATH_MAX = 107  # sun_path is 108 bytes including the NUL

_PR_SET_PDEATHSIG = 1


def wait_for(predicate, timeout, interval=0.2, what="condition"):
    """Call predicate() until it returns something truthy; return that value.

    Raises TimeoutError naming `what` (and the last value seen) after `timeout`
    seconds.  Exceptions raised by predicate propagate.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError("timed out after %.1fs waiting for %s (last value: %r)"
                               % (timeout, what, value))
        time.sleep(interval)


class SimClusterError(RuntimeError):
    pass


def _log_tail(path, lines=25):
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 16384))
            data = f.read().decode("utf-8", "replace")
    except OSError as e:
        return "<no log %s: %s>" % (path, e)
    tail = data.splitlines()[-lines:]
    return "--- tail of %s ---\n%s" % (path, "\n".join(tail))


try:
    _libc = ctypes.CDLL(None, use_errno=True)
except OSError:  # pragma: no cover
    _libc = None


def _pdeathsig_preexec():
    # runs in the forked child before exec: SIGKILL me when my parent thread dies
    if _libc is not None:
        _libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)


class _Spawner:
    """One long-lived thread that forks every long-running process.

    PR_SET_PDEATHSIG fires when the *thread* that forked the child exits, so
    forking from whatever thread calls us (e.g. a ThreadPoolExecutor worker)
    would kill daemons when that thread ends.  This thread lives as long as the
    process, so the daemons die with the process and not earlier."""

    _lock = threading.Lock()
    _thread = None
    _queue = None

    @classmethod
    def call(cls, fn):
        with cls._lock:
            if cls._thread is None or not cls._thread.is_alive():
                cls._queue = queue.SimpleQueue()
                cls._thread = threading.Thread(target=cls._loop, args=(cls._queue,),
                                               name="simcluster-spawner", daemon=True)
                cls._thread.start()
            q = cls._queue
        fut = concurrent.futures.Future()
        q.put((fn, fut))
        return fut.result()

    @staticmethod
    def _loop(q):
        while True:
            fn, fut = q.get()
            try:
                fut.set_result(fn())
            except BaseException as e:
                fut.set_exception(e)


def _proc_stat(pid):
    """(state, starttime) of pid from /proc, or None if it does not exist."""
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            data = f.read().decode("ascii", "replace")
    except OSError:
        return None
    # comm may contain spaces/parens: fields after the last ')'
    rest = data[data.rindex(")") + 2:].split()
    return rest[0], int(rest[19])


def _threads_finished(pid):
    """True when pid is gone or every thread of it is a zombie: a killed
    multi-threaded process shows Z for its main thread while other threads still
    finish (and still hold e.g. its pid-file lock)."""
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


def _children(pid):
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


class _Proc:
    """A process this module started (or a child of one), identified by pid AND
    start time so that signalling never hits a recycled pid."""

    def __init__(self, pid, popen=None, what=""):
        self.pid = pid
        self.popen = popen
        self.what = what
        st = _proc_stat(pid)
        self.starttime = st[1] if st else None

    def alive(self):
        """True until the process has fully exited.

        Z alone is not "dead" (see _threads_finished): our own children count
        as dead once reaped; other processes once every thread has finished."""
        if self.popen is not None:
            return self.popen.poll() is None
        st = _proc_stat(self.pid)
        if st is None or self.starttime is None or st[1] != self.starttime:
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
            try:
                self.popen.poll()
            except Exception:
                pass

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


class _Lockspace:
    def __init__(self, name, path, sector_size, align, io_timeout):
        self.name = name
        self.path = path
        self.sector_size = sector_size
        self.align = align
        self.io_timeout = io_timeout
        self.members = set()

    def spec(self, host_id):
        return "%s:%d:%s:0" % (self.name, host_id, self.path)

    def geometry_args(self):
        if self.sector_size == 4096:
            return ["-Z", "4096", "-A", "%dM" % (self.align >> 20)]
        return []


class SimHost:
    """One simulated host: a sanlock daemon with its own run dir and host name."""

    def __init__(self, cluster, host_id, name, run_dir):
        self.cluster = cluster
        self.host_id = host_id
        self.name = name                  # the -e host name (stable across restarts)
        self.run_dir = run_dir
        self.log_path = os.path.join(cluster.workdir, "daemon%d.log" % host_id)
        self.resetd_log_path = os.path.join(cluster.workdir, "resetd%d.log" % host_id)
        self.env = dict(os.environ)
        self.env["SANLOCK_RUN_DIR"] = run_dir
        self.lockspaces = set()           # names of lockspaces this host has joined
        self.generations = {}             # lockspace name -> generation at last join
        self.daemon = None                # _Proc
        self.helpers = []                 # [_Proc] sanlock's forked helper child(ren)
        self.resetd = None                # _Proc of sanlk-resetd
        self.resetd_lockspaces = []
        self.watchdog = None              # _Watchdog
        self.reply_seen_at = None         # time.monotonic() when reply seen on disk
        self.reply_leader = None          # read_leader() dict showing the reply
        self.killed_at = None             # time.monotonic() when watchdog killed daemon
        self.restarts = 0

    @property
    def pid(self):
        d = self.daemon
        return d.pid if d is not None and d.alive() else None

    @property
    def resetd_pid(self):
        r = self.resetd
        return r.pid if r is not None and r.alive() else None

    @property
    def generation(self):
        """Generation in the cluster's primary lockspace at the last join."""
        return self.generations.get(self.cluster.lockspace)

    def __repr__(self):
        return "<SimHost %d %s pid %s>" % (self.host_id, self.name, self.pid)


class _Watchdog(threading.Thread):
    """Stand-in for wdmd + the hardware watchdog of a host running sanlk-resetd.

    Polls the host's delta leases on disk; once one shows a RESETTING/REBOOTING
    reply written by the host's current generation, waits `delay` seconds and
    SIGKILLs the host's daemon (and its resetd).  delay None: never fires (only
    records reply_seen_at)."""

    def __init__(self, cluster, host, lockspaces, delay, interval=0.2):
        super().__init__(name="simcluster-watchdog-%s-%d" % (cluster.uid, host.host_id),
                         daemon=True)
        self.cluster = cluster
        self.host = host
        self.lockspaces = list(lockspaces)
        self.delay = delay
        self.interval = interval
        self.generations = {ls: host.generations.get(ls) for ls in self.lockspaces}
        self.stop_event = threading.Event()
        self.error = None

    def _reply_on_disk(self):
        for ls in self.lockspaces:
            gen = self.generations.get(ls)
            try:
                lead = self.cluster.read_leader(self.host.host_id, ls)
            except Exception:
                continue
            if (lead.get("owner_id") == self.host.host_id
                    and lead.get("owner_generation") == gen
                    and lead.get("extra2", 0) & (EVENT_RESETTING | EVENT_REBOOTING)):
                return lead
        return None

    def run(self):
        try:
            while not self.stop_event.is_set():
                lead = self._reply_on_disk()
                if lead is not None:
                    self.host.reply_seen_at = time.monotonic()
                    self.host.reply_leader = lead
                    break
                self.stop_event.wait(self.interval)
            else:
                return
            if self.delay is None:
                return
            if self.stop_event.wait(self.delay):
                return
            self.cluster._watchdog_fire(self.host)
        except Exception as e:  # keep the failure visible to tests
            self.error = e


class SimCluster:
    """A set of real sanlock daemons acting as hosts, sharing lockspace files."""

    def __init__(self, hosts=3, io_timeout=1, lockspace=None, sector_size=512,
                 workdir=None, name_prefix="t", keep_workdir=None, die_with_parent=True,
                 socket_group=None, lease_group=None):
        """socket_group: group name given to each daemon's -G, so that its socket
        (0660) and run dir belong to that group, as a packaged sanlock's /run/sanlock
        belongs to group sanlock: non-root members of the group can then use it (like
        vdsm).  lease_group: the lockspace files get that group and mode 0660, like
        vdsm's ids volumes (vdsm:kvm 0660).  With either, the cluster's own workdir
        and the run dirs are made 0755 so other users can reach them.  Default None:
        root-only group (-G root) and files as the umask leaves them."""
        if isinstance(hosts, int):
            host_ids = list(range(1, hosts + 1))
        else:
            host_ids = sorted(set(int(h) for h in hosts))
        if not host_ids or min(host_ids) < 1 or max(host_ids) > 2000:
            raise ValueError("host ids must be 1..2000: %r" % (hosts,))
        if sector_size not in (512, 4096):
            raise ValueError("sector_size must be 512 or 4096")
        self.host_ids = host_ids
        self.io_timeout = io_timeout
        self.sector_size = sector_size
        self.uid = uuid.uuid4().hex[:10]
        self.name_prefix = re.sub(r"[^A-Za-z0-9_]", "_", name_prefix)[:20]
        self._ls_counter = 0
        if lockspace is None:
            lockspace = self._new_ls_name()
        self._check_ls_name(lockspace)
        self.lockspace = lockspace
        self._own_workdir = workdir is None
        if workdir is None:
            workdir = os.path.join(WORK_BASE, "simcluster-%s-%s" % (self.name_prefix, self.uid))
        self.workdir = os.path.abspath(workdir)
        if keep_workdir is None:
            keep_workdir = os.environ.get("SIMCLUSTER_KEEP", "") not in ("", "0")
        self.keep_workdir = keep_workdir
        self.die_with_parent = die_with_parent
        self.socket_group = socket_group
        self.lease_group = lease_group
        if socket_group is not None:
            grp.getgrnam(socket_group)    # KeyError now rather than a daemon failing later
        if lease_group is not None:
            grp.getgrnam(lease_group)
        self._lockspaces = {}
        self._hosts = {}
        for hid in host_ids:
            self._hosts[hid] = self._make_host(hid)
        self._lock = threading.RLock()
        self._procs = []                  # every _Proc ever started, in order
        self._started = False
        self._stopped = False
        self.timings = {}

    # ------------------------------------------------------------------ naming

    def _new_ls_name(self):
        self._ls_counter += 1
        suffix = "" if self._ls_counter == 1 else "_%d" % self._ls_counter
        return "%s%s%s" % (self.name_prefix, self.uid, suffix)

    @staticmethod
    def _check_ls_name(name):
        if not isinstance(name, str) or not name:
            raise ValueError("lockspace name must be a non-empty str")
        if len(name.encode()) > MAX_LOCKSPACE_NAME:
            raise ValueError("lockspace name longer than %d bytes: %r" % (MAX_LOCKSPACE_NAME, name))
        if ":" in name or "/" in name or any(c.isspace() for c in name):
            raise ValueError("lockspace name must not contain ':', '/' or spaces: %r" % name)

    def _make_host(self, hid):
        name = "%s-%s-h%d" % (self.name_prefix, self.uid, hid)
        run_dir = os.path.join(self.workdir, "run%d" % hid)
        if len(os.path.join(run_dir, "sanlock.sock")) > UNIX_PATH_MAX:
            raise ValueError("workdir too long for a unix socket path: %s" % self.workdir)
        return SimHost(self, hid, name, run_dir)

    # ------------------------------------------------------------------ accessors

    def host(self, host_id):
        try:
            return self._hosts[host_id]
        except KeyError:
            raise KeyError("no host %r in this cluster (hosts %s)" % (host_id, self.host_ids))

    @property
    def hosts(self):
        return [self._hosts[h] for h in self.host_ids]

    def env(self, host_id):
        """Environment (copy) for running a sanlock client "on" that host."""
        return dict(self.host(host_id).env)

    def lockspace_path(self, lockspace=None):
        name = lockspace or self.lockspace
        ls = self._lockspaces.get(name)
        if ls is not None:
            return ls.path
        return os.path.join(self.workdir, "%s.leases" % name)

    def lockspace_info(self, lockspace=None):
        return self._ls(lockspace)

    def lockspaces(self):
        return list(self._lockspaces)

    def _ls(self, lockspace):
        name = lockspace or self.lockspace
        try:
            return self._lockspaces[name]
        except KeyError:
            raise KeyError("unknown lockspace %r (known: %s)" % (name, list(self._lockspaces)))

    # ------------------------------------------------------------------ lifecycle

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    def start(self):
        if self._started or self._stopped:
            raise SimClusterError("a SimCluster can be started only once")
        self._started = True
        atexit.register(self.stop)
        t0 = time.monotonic()
        try:
            os.makedirs(self.workdir, exist_ok=True)
            if self._own_workdir and (self.socket_group or self.lease_group):
                os.chmod(self.workdir, 0o755)
            self._create_lockspace(self.lockspace, self.sector_size, self.io_timeout)
            for h in self.hosts:
                self._spawn_daemon(h)
            for h in self.hosts:
                self._wait_daemon_ready(h)
            t1 = time.monotonic()
            self._join(self.lockspace, self.host_ids)
            t2 = time.monotonic()
            self._wait_live(self.lockspace, self.host_ids)
            t3 = time.monotonic()
        except BaseException:
            self.stop()
            raise
        self.timings["start_daemons"] = t1 - t0
        self.timings["start_join"] = t2 - t1
        self.timings["start_live"] = t3 - t2
        self.timings["start_total"] = t3 - t0
        return self

    def _popen(self, argv, env, log_path):
        """Start a long-running process in its own session, output to log_path."""
        def spawn():
            with open(log_path, "ab") as log:
                return subprocess.Popen(
                    argv, env=env, stdin=subprocess.DEVNULL, stdout=log,
                    stderr=subprocess.STDOUT, start_new_session=True, close_fds=True,
                    preexec_fn=_pdeathsig_preexec if self.die_with_parent else None)
        if self.die_with_parent:
            return _Spawner.call(spawn)
        return spawn()

    # ------------------------------------------------------------------ lockspace files

    def _create_lockspace(self, name, sector_size, io_timeout):
        self._check_ls_name(name)
        if name in self._lockspaces:
            raise SimClusterError("lockspace %s already exists" % name)
        max_id = max(self.host_ids)
        if sector_size == 4096:
            align = 1 << 20
            while align < 8 << 20 and max_id > 250 * (align >> 20):
                align <<= 1
        else:
            align = 1 << 20
        ls = _Lockspace(name, os.path.join(self.workdir, "%s.leases" % name),
                        sector_size, align, io_timeout)
        with open(ls.path, "wb") as f:
            f.truncate(max(LEASE_FILE_SIZE, align))
        if self.lease_group is not None:
            os.chown(ls.path, -1, grp.getgrnam(self.lease_group).gr_gid)
            os.chmod(ls.path, 0o660)
        # -o: the io_timeout written into the fresh leases; a joining host waits
        # 2 * that (delta_short_delay) before it owns its host id.
        argv = [SANLOCK, "direct", "init", "-s", ls.spec(0), "-o", str(io_timeout)]
        argv += ls.geometry_args()
        r = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        if r.returncode != 0 or "init done 0" not in r.stdout:
            raise SimClusterError("%s failed (rc %d): %s %s"
                                  % (" ".join(argv), r.returncode, r.stdout, r.stderr))
        self._lockspaces[name] = ls
        return ls

    # ------------------------------------------------------------------ daemons

    def _spawn_daemon(self, h):
        os.makedirs(h.run_dir, exist_ok=True)
        if self.socket_group is not None:
            os.chmod(h.run_dir, 0o755)
        env = dict(h.env)
        env["SANLOCK_PRIVILEGED"] = "0"
        # -G: the daemon gives its run dir and its 0660 socket this group (it still
        # runs as root: SANLOCK_PRIVILEGED=0 skips its uid/gid switch)
        argv = [SANLOCK, "daemon", "-D", "-w", "0", "-U", "root",
                "-G", self.socket_group or "root",
                "-l", "0", "-h", "0", "-e", h.name]
        with open(h.log_path, "ab") as f:
            f.write(("=== simcluster: starting daemon for host %d at %s\n"
                     % (h.host_id, time.strftime("%H:%M:%S"))).encode())
        p = self._popen(argv, env, h.log_path)
        h.daemon = self._record(_Proc(p.pid, p, "sanlock daemon host %d" % h.host_id))
        h.helpers = []

    def _daemon_answers(self, h):
        pidfile = os.path.join(h.run_dir, "sanlock.pid")
        try:
            with open(pidfile) as f:
                if int(f.read().split()[0]) != h.daemon.pid:
                    return False          # stale pid file of a previous daemon
        except (OSError, ValueError, IndexError):
            return False
        r = subprocess.run([SANLOCK, "client", "status"], env=h.env, capture_output=True,
                           timeout=30)
        return r.returncode == 0

    def _wait_daemon_ready(self, h, timeout=30):
        deadline = time.monotonic() + timeout
        while True:
            if not h.daemon.alive():
                raise SimClusterError("sanlock daemon of host %d exited (rc %s)\n%s"
                                      % (h.host_id, h.daemon.popen.poll(), _log_tail(h.log_path)))
            if self._daemon_answers(h):
                break
            if time.monotonic() >= deadline:
                raise SimClusterError("sanlock daemon of host %d not answering after %ss\n%s"
                                      % (h.host_id, timeout, _log_tail(h.log_path)))
            time.sleep(0.05)
        # record the helper child the daemon forks at start
        wait_for(lambda: _children(h.daemon.pid) or not h.daemon.alive(), 5, 0.02,
                 "sanlock helper child of host %d" % h.host_id)
        self._record_helpers(h)

    def _record_helpers(self, h):
        if h.daemon is None or not h.daemon.alive():
            return
        known = {p.pid for p in h.helpers}
        for kid in _children(h.daemon.pid):
            if kid not in known:
                h.helpers.append(self._record(_Proc(kid, None, "sanlock helper host %d" % h.host_id)))

    def _kill_daemon_procs(self, h, sig=signal.SIGKILL, wait=5.0):
        """Signal the daemon and its helper child(ren) together; wait for them."""
        with self._lock:
            self._record_helpers(h)
            procs = ([h.daemon] if h.daemon else []) + list(h.helpers)
            for p in procs:
                p.signal(sig)
            ok = all(p.wait_dead(wait) for p in procs)
            return ok

    def kill_daemon(self, host_id):
        """SIGKILL the host's sanlock daemon and helper: a crash / lost storage,
        no reply is ever written.  The lease simply stops being renewed."""
        h = self.host(host_id)
        with self._lock:
            if not self._kill_daemon_procs(h, signal.SIGKILL):
                raise SimClusterError("could not kill daemon of host %d" % host_id)

    def _watchdog_fire(self, h):
        with self._lock:
            if self._stopped:
                return
            self._kill_daemon_procs(h, signal.SIGKILL)
            h.killed_at = time.monotonic()
            # the whole host is reset: its sanlk-resetd goes down too
            if h.resetd is not None:
                h.resetd.signal(signal.SIGKILL)
                h.resetd.wait_dead(5)

    def restart_daemon(self, host_id, rejoin=True, wait_live=True):
        """Simulate a reboot: stop resetd/watchdog, kill the daemon, start a new one
        with the same host name and run dir; with rejoin, add it back to every
        lockspace it was in (same host id -> higher generation; with the same
        host name sanlock re-acquires at once, ~3 s at io_timeout 1, instead of
        waiting 8*io+60 s for the old lease to expire) and, with wait_live, wait
        until all live members see each other LIVE again (~3 s more).
        rejoin=False: the host is in no lockspace afterwards (join_lockspace())."""
        h = self.host(host_id)
        self.stop_resetd(host_id)
        with self._lock:
            if not self._kill_daemon_procs(h, signal.SIGKILL):
                raise SimClusterError("old daemon of host %d did not exit" % host_id)
            t0 = time.monotonic()
            h.restarts += 1
            self._spawn_daemon(h)
        self._wait_daemon_ready(h)
        t1 = time.monotonic()
        lockspaces = sorted(h.lockspaces)
        if not rejoin:
            h.lockspaces = set()
            for ls in lockspaces:
                self._lockspaces[ls].members.discard(host_id)
            self.timings["restart_daemon"] = t1 - t0
            return h
        if len(lockspaces) == 1:
            self._join(lockspaces[0], [host_id])
        else:  # join them concurrently (~3 s each at io_timeout 1)
            with concurrent.futures.ThreadPoolExecutor(len(lockspaces)) as ex:
                for f in [ex.submit(self._join, ls, [host_id]) for ls in lockspaces]:
                    f.result()
        t2 = time.monotonic()
        if wait_live:
            for ls in lockspaces:
                self._wait_live(ls, sorted(self._lockspaces[ls].members))
        t3 = time.monotonic()
        self.timings["restart_daemon"] = t1 - t0
        self.timings["restart_rejoin"] = t2 - t1
        self.timings["restart_live"] = t3 - t2
        return h

    # ------------------------------------------------------------------ joining

    def _join(self, lockspace, host_ids, timeout=None):
        ls = self._ls(lockspace)
        if timeout is None:
            timeout = 60 + 30 * ls.io_timeout
        procs = []
        for hid in host_ids:
            h = self.host(hid)
            if h.pid is None:
                raise SimClusterError("host %d has no running daemon" % hid)
            argv = [SANLOCK, "client", "add_lockspace", "-s", ls.spec(hid),
                    "-o", str(ls.io_timeout)]
            procs.append((h, subprocess.Popen(argv, env=h.env, stdout=subprocess.PIPE,
                                              stderr=subprocess.STDOUT, text=True)))
        errors = []
        for h, p in procs:
            try:
                out, _ = p.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                out, _ = p.communicate()
                errors.append("host %d: add_lockspace timed out after %ss: %s\n%s"
                              % (h.host_id, timeout, out, _log_tail(h.log_path)))
                continue
            m = re.search(r"done (-?\d+)", out or "")
            if p.returncode != 0 or not m or int(m.group(1)) != 0:
                errors.append("host %d: add_lockspace %s failed (rc %s): %s\n%s"
                              % (h.host_id, ls.spec(h.host_id), p.returncode, out,
                                 _log_tail(h.log_path)))
                continue
            h.lockspaces.add(ls.name)
            ls.members.add(h.host_id)
        for h, _ in procs:
            if h.host_id in ls.members:
                lead = self.read_leader(h.host_id, ls.name)
                h.generations[ls.name] = lead["owner_generation"]
        if errors:
            raise SimClusterError("\n".join(errors))

    def _run_hosts_script(self, observer_id, lockspace, mode, timeout, want=(),
                          host_id=0, interval=0.2):
        h = self.host(observer_id)
        want_s = ",".join("%d:%d" % (i, g) for i, g in want)
        argv = [SYS_PYTHON, "-c", _HOSTS_SCRIPT, lockspace, str(host_id), mode,
                str(timeout), str(interval), want_s]
        return subprocess.Popen(argv, env=h.env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)

    @staticmethod
    def _collect(p, what, timeout):
        try:
            out, err = p.communicate(timeout=timeout + 30)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
        if p.returncode != 0 or not out.strip():
            raise SimClusterError("%s: helper failed (rc %s): %s %s"
                                  % (what, p.returncode, out, err))
        return json.loads(out.strip().splitlines()[-1])

    def _wait_live(self, lockspace, host_ids, timeout=None):
        """Wait until every host in host_ids sees every other as LIVE, with at
        least the generation it got at its last join."""
        ls = self._ls(lockspace)
        if timeout is None:
            timeout = 30 + 12 * ls.io_timeout
        # a killed host (kill_daemon / watchdog) cannot look, nor be seen LIVE
        host_ids = [i for i in host_ids if self.host(i).pid is not None]
        want = [(i, self.host(i).generations.get(ls.name, 0)) for i in host_ids]
        procs = [(i, self._run_hosts_script(i, ls.name, "live", timeout, want))
                 for i in host_ids]
        problems = []
        for i, p in procs:
            res = self._collect(p, "get_hosts on host %d" % i, timeout)
            if "error" in res or res.get("timeout"):
                problems.append("host %d sees %s" % (i, res))
        if problems:
            raise SimClusterError("lockspace %s: hosts not all LIVE after %ss: %s"
                                  % (ls.name, timeout, "; ".join(problems)))

    # ------------------------------------------------------------------ queries

    def get_hosts(self, observer_id, lockspace=None, host_id=0, timeout=10):
        """sanlock.get_hosts(lockspace, host_id) as seen by observer's daemon.

        Retries EAGAIN (just joined) for up to `timeout` s; other errors raise
        an OSError carrying the sanlock errno (e.g. ENOENT: not joined)."""
        name = lockspace or self.lockspace
        p = self._run_hosts_script(observer_id, name, "once", timeout, host_id=host_id)
        res = self._collect(p, "get_hosts on host %d" % observer_id, timeout)
        if "error" in res:
            raise OSError(res["error"], "get_hosts(%s) on host %d: %s"
                          % (name, observer_id, res.get("msg")))
        return res["hosts"]

    def set_event(self, sender_id, target_id, event=EVENT_RESET, generation=None,
                  lockspace=None, data=0, flags=0):
        """sanlock.set_event() sent from sender_id's daemon (e.g. a reset request:
        event 1 to the target's generation; generation None = the target's
        generation at its last join)."""
        name = lockspace or self.lockspace
        if generation is None:
            generation = self.host(target_id).generations.get(name, 0)
        code = ("import sanlock, sys; sanlock.set_event(sys.argv[1].encode(), *map(int, sys.argv[2:]))")
        argv = [SYS_PYTHON, "-c", code, name, str(target_id), str(generation), str(event),
                str(data), str(flags)]
        r = subprocess.run(argv, env=self.host(sender_id).env, capture_output=True, text=True,
                           timeout=30)
        if r.returncode != 0:
            raise SimClusterError("set_event from host %d to host %d failed: %s"
                                  % (sender_id, target_id, r.stderr.strip()))

    def host_states(self, observer_id, lockspace=None):
        """{host_id: state name} as seen by observer (convenience)."""
        return {h["host_id"]: HOST_STATE_NAMES.get(h["flags"], h["flags"])
                for h in self.get_hosts(observer_id, lockspace)}

    def read_leader(self, host_id, lockspace=None):
        """Parsed `sanlock direct read_leader` of host_id's delta lease (from disk,
        no daemon needed).  Numeric fields (decimal or 0x hex) become ints."""
        ls = self._ls(lockspace)
        argv = [SANLOCK, "direct", "read_leader", "-s", ls.spec(host_id)] + ls.geometry_args()
        r = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        if r.returncode != 0 or "read_leader done 0" not in r.stdout:
            raise SimClusterError("%s failed (rc %d): %s %s"
                                  % (" ".join(argv), r.returncode, r.stdout, r.stderr))
        out = {}
        for line in r.stdout.splitlines():
            parts = line.split(None, 1)
            if not parts or line.startswith("read_leader done"):
                continue
            key = parts[0]
            val = parts[1].strip() if len(parts) > 1 else ""
            if re.fullmatch(r"-?\d+", val):
                out[key] = int(val)
            elif re.fullmatch(r"0x[0-9a-fA-F]+", val):
                out[key] = int(val, 16)
            else:
                out[key] = val
        return out

    # ------------------------------------------------------------------ more lockspaces

    def add_lockspace(self, name=None, host_ids=None, sector_size=512, io_timeout=None,
                      wait_live=True):
        """Create + init another lockspace file, join host_ids (default: all) and
        wait until they all see each other LIVE.  Returns its name."""
        if name is None:
            name = self._new_ls_name()
        if io_timeout is None:
            io_timeout = self.io_timeout
        ids = self.host_ids if host_ids is None else sorted(set(host_ids))
        self._create_lockspace(name, sector_size, io_timeout)
        self._join(name, ids)
        if wait_live:
            self._wait_live(name, ids)
        return name

    def join_lockspace(self, host_id, lockspace=None, wait_live=True):
        """(Re)join one host to an existing lockspace of this cluster."""
        ls = self._ls(lockspace)
        self._join(ls.name, [host_id])
        if wait_live:
            self._wait_live(ls.name, sorted(ls.members))

    def leave_lockspace(self, host_id, lockspace=None):
        """Clean rem_lockspace: the host's lease gets timestamp 0 (FREE to others)."""
        ls = self._ls(lockspace)
        h = self.host(host_id)
        argv = [SANLOCK, "client", "rem_lockspace", "-s", ls.spec(host_id)]
        r = subprocess.run(argv, env=h.env, capture_output=True, text=True,
                           timeout=60 + 30 * ls.io_timeout)
        m = re.search(r"done (-?\d+)", r.stdout or "")
        if r.returncode != 0 or not m or int(m.group(1)) != 0:
            raise SimClusterError("host %d: rem_lockspace %s failed (rc %d): %s %s\n%s"
                                  % (host_id, ls.name, r.returncode, r.stdout, r.stderr,
                                     _log_tail(h.log_path)))
        h.lockspaces.discard(ls.name)
        ls.members.discard(host_id)

    # ------------------------------------------------------------------ resetd + watchdog

    def start_resetd(self, host_id, lockspaces=None, watchdog_delay=0.0, timeout=30):
        """Run a real `sanlk-resetd -D -w 0 LS...` for the host (private mount
        namespace with its own /run/sanlk-resetd) and a stand-in watchdog thread.

        watchdog_delay: seconds between the reply appearing in the host's lease
        on disk and the SIGKILL of the host's daemon; None = never kill."""
        h = self.host(host_id)
        if lockspaces is None:
            lockspaces = sorted(h.lockspaces)
        elif isinstance(lockspaces, str):
            lockspaces = [lockspaces]
        lockspaces = list(lockspaces)
        if not lockspaces:
            raise SimClusterError("host %d is in no lockspace" % host_id)
        for ls in lockspaces:
            self._ls(ls)
        if h.pid is None:
            raise SimClusterError("host %d has no running daemon" % host_id)
        self.stop_resetd(host_id)
        os.makedirs(RESETD_RUN_DIR, exist_ok=True)
        with open(h.resetd_log_path, "ab") as f:
            f.write(("=== simcluster: starting sanlk-resetd %s\n" % " ".join(lockspaces)).encode())
        start_offset = os.path.getsize(h.resetd_log_path)
        # unshare and sh both exec: the recorded pid ends up being sanlk-resetd.
        script = ('mount -t tmpfs -o mode=0755 simcluster-resetd %s && exec %s -D -w 0 "$@"'
                  % (RESETD_RUN_DIR, SANLK_RESETD))
        argv = ["unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh"] + lockspaces
        p = self._popen(argv, h.env, h.resetd_log_path)
        h.resetd = self._record(_Proc(p.pid, p, "sanlk-resetd host %d" % host_id))
        h.resetd_lockspaces = lockspaces
        h.reply_seen_at = None
        h.reply_leader = None
        h.killed_at = None

        def registered():
            if not h.resetd.alive():
                raise SimClusterError("sanlk-resetd of host %d exited (rc %s)\n%s"
                                      % (host_id, p.poll(), _log_tail(h.resetd_log_path)))
            try:
                with open(h.resetd_log_path, "rb") as f:
                    f.seek(start_offset)
                    text = f.read().decode("utf-8", "replace")
                with open("/proc/%d/comm" % p.pid) as f:
                    comm = f.read().strip()
            except OSError:
                return False
            m = re.search(r"reg_event \d+ error (-?\d+) ls (\S+)", text)
            if m:  # e.g. -2: this host's daemon has not joined that lockspace
                raise SimClusterError("sanlk-resetd of host %d could not register %s (error %s)\n%s"
                                      % (host_id, m.group(2), m.group(1),
                                         _log_tail(h.resetd_log_path)))
            if comm != "sanlk-resetd":
                return False
            # "reg_event <index> fd <fd> ls <name>" per lockspace
            return all(re.search(r"reg_event \d+ fd \d+ ls %s\s*$" % re.escape(ls), text, re.M)
                       for ls in lockspaces)

        try:
            wait_for(registered, timeout, 0.05, "sanlk-resetd of host %d to register %s"
                     % (host_id, lockspaces))
        except TimeoutError as e:
            self.stop_resetd(host_id)
            raise SimClusterError("%s\n%s" % (e, _log_tail(h.resetd_log_path)))
        except BaseException:
            self.stop_resetd(host_id)
            raise
        wd = _Watchdog(self, h, lockspaces, watchdog_delay)
        h.watchdog = wd
        wd.start()
        return h.resetd.pid

    def stop_resetd(self, host_id):
        h = self.host(host_id)
        wd, h.watchdog = h.watchdog, None
        if wd is not None:
            wd.stop_event.set()
            if wd is not threading.current_thread():
                wd.join(10)
        r = h.resetd
        if r is not None:
            with self._lock:
                r.signal(signal.SIGTERM)
                if not r.wait_dead(2):
                    r.signal(signal.SIGKILL)
                    r.wait_dead(5)

    # ------------------------------------------------------------------ teardown

    def _record(self, proc):
        with self._lock:
            self._procs.append(proc)
        return proc

    def recorded_pids(self):
        """Every pid this cluster ever started (daemons, their helper children,
        sanlk-resetds, including earlier incarnations), alive or not."""
        return [p.pid for p in self._all_procs()]

    def _all_procs(self):
        with self._lock:
            return list(self._procs)

    def alive_pids(self):
        return [p.pid for p in self._all_procs() if p.alive()]

    def stop(self, grace=0.3):
        """Tear everything down (watchdogs, resetds, daemons + helpers), by recorded
        pid only: SIGTERM, then SIGKILL after `grace` seconds.  (A sanlock daemon
        ignores SIGTERM while it holds a lockspace, so it always ends up SIGKILLed.)
        Idempotent; safe from finally/atexit."""
        if self._stopped:
            return
        self._stopped = True
        try:
            atexit.unregister(self.stop)
        except Exception:
            pass
        for h in self._hosts.values():
            wd, h.watchdog = h.watchdog, None
            if wd is not None:
                wd.stop_event.set()
                if wd is not threading.current_thread():
                    wd.join(10)
        with self._lock:
            for h in self._hosts.values():
                self._record_helpers(h)
            procs = self._all_procs()
            for p in procs:
                p.signal(signal.SIGTERM)
            deadline = time.monotonic() + grace
            while time.monotonic() < deadline and any(p.alive() for p in procs):
                for p in procs:
                    p.reap()
                time.sleep(0.02)
            for p in procs:
                if p.alive():
                    p.signal(signal.SIGKILL)
            left = [p for p in procs if not p.wait_dead(5)]
            for p in procs:
                p.reap()
        if left:
            raise SimClusterError("processes survived stop(): %s" % left)
        if self._own_workdir and not self.keep_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __repr__(self):
        return "<SimCluster %s hosts %s workdir %s>" % (self.lockspace, self.host_ids, self.workdir)

    # ------------------------------------------------------------------ a lasting resetd namespace
    # (resetd-sync tests) sanlk-resetd restarts and the tools that talk to it must share
    # one mount namespace: a small holder process keeps it, everything enters it.

    def resetd_namespace(self, host_id, timeout=10):
        """pid of the process holding the host's lasting private mount namespace (a tmpfs
        on /run/sanlk-resetd), started on first use."""
        h = self.host(host_id)
        holder = getattr(h, "ns_holder", None)
        if holder is not None and holder.alive():
            return holder.pid
        script = ("mount -t tmpfs -o mode=0755 simcluster-resetd-ns %s && exec sleep infinity"
                  % RESETD_RUN_DIR)
        argv = ["unshare", "-m", "--propagation", "private", "sh", "-c", script]
        os.makedirs(RESETD_RUN_DIR, exist_ok=True)
        p = self._popen(argv, h.env, h.resetd_log_path)
        holder = self._record(_Proc(p.pid, p, "resetd namespace host %d" % host_id))
        h.ns_holder = holder

        def mounted():
            if not holder.alive():
                raise SimClusterError("namespace holder of host %d exited\n%s"
                                      % (host_id, _log_tail(h.resetd_log_path)))
            try:
                with open("/proc/%d/comm" % p.pid) as f:
                    return f.read().strip() == "sleep"
            except OSError:
                return False
        wait_for(mounted, timeout, 0.02, "resetd namespace of host %d" % host_id)
        return p.pid

    def resetd_socket_path(self, host_id):
        """sanlk-resetd's socket of this host, as seen from outside its namespace."""
        return "/proc/%d/root%s/sanlk-resetd.sock" % (self.resetd_namespace(host_id),
                                                     RESETD_RUN_DIR)

    def start_resetd_in_namespace(self, host_id, lockspaces=(), timeout=30):
        """Start `sanlk-resetd -D -w 0 [LS...]` in the host's lasting namespace (no stand-in
        watchdog: see arm_watchdog); returns its pid once its socket is bound. A previous
        sanlk-resetd of the host is stopped first (a restart)."""
        h = self.host(host_id)
        ns = self.resetd_namespace(host_id)
        self.stop_resetd(host_id)
        sock = self.resetd_socket_path(host_id)

        def inode():
            try:
                return os.stat(sock).st_ino
            except OSError:
                return None
        before = inode()
        with open(h.resetd_log_path, "ab") as f:
            f.write(("=== simcluster: starting sanlk-resetd in namespace %d %s\n"
                     % (ns, " ".join(lockspaces))).encode())
        argv = ["nsenter", "--mount", "--target", str(ns), SANLK_RESETD, "-D", "-w", "0"]
        p = self._popen(argv + list(lockspaces), h.env, h.resetd_log_path)
        h.resetd = self._record(_Proc(p.pid, p, "sanlk-resetd host %d" % host_id))
        h.resetd_lockspaces = list(lockspaces)

        def bound():
            if not h.resetd.alive():
                raise SimClusterError("sanlk-resetd of host %d exited (rc %s)\n%s"
                                      % (host_id, p.poll(), _log_tail(h.resetd_log_path)))
            now = inode()
            return now is not None and now != before
        wait_for(bound, timeout, 0.02, "sanlk-resetd of host %d to bind its socket" % host_id)
        return p.pid

    def arm_watchdog(self, host_id, lockspaces=None, delay=0.0):
        """(Re)start the host's stand-in watchdog over `lockspaces` (default: every
        lockspace it has joined now), with the generations of its current joins."""
        h = self.host(host_id)
        wd, h.watchdog = h.watchdog, None
        if wd is not None:
            wd.stop_event.set()
            wd.join(10)
        h.reply_seen_at = h.reply_leader = h.killed_at = None
        wd = _Watchdog(self, h, sorted(h.lockspaces) if lockspaces is None else lockspaces,
                       delay)
        h.watchdog = wd
        wd.start()
        return wd

    def spawn_in_resetd_namespace(self, host_id, argv, log_path):
        """Start a long-running command in the host's lasting namespace, with the host's
        environment (its SANLOCK_RUN_DIR), output to log_path. Recorded, so stop() ends
        it; returns the _Proc (stop it early with stop_process)."""
        h = self.host(host_id)
        ns = self.resetd_namespace(host_id)
        p = self._popen(["nsenter", "--mount", "--target", str(ns)] + list(argv), h.env,
                        log_path)
        return self._record(_Proc(p.pid, p, "%s host %d" % (os.path.basename(argv[0]),
                                                            host_id)))

    def run_in_resetd_namespace(self, host_id, argv, timeout=60, extra_env=None, **kwargs):
        """subprocess.run of a short command in the host's lasting namespace, with the
        host's environment plus extra_env."""
        ns = self.resetd_namespace(host_id)
        env = self.env(host_id)
        env.update(extra_env or {})
        return subprocess.run(["nsenter", "--mount", "--target", str(ns)] + list(argv),
                              env=env, capture_output=True, text=True,
                              timeout=timeout, **kwargs)

    def stop_process(self, proc, grace=5.0):
        """SIGTERM one process this cluster started (a _Proc), SIGKILL after grace."""
        with self._lock:
            proc.signal(signal.SIGTERM)
            if not proc.wait_dead(grace):
                proc.signal(signal.SIGKILL)
                proc.wait_dead(5)
        return proc.popen.returncode if proc.popen is not None else None

    def add_lockspaces(self, count, host_ids=None, io_timeout=None, workers=16):
        """Create and join `count` more lockspaces concurrently (each join takes ~3 s at
        io_timeout 1); returns their names, in creation order."""
        with self._lock:
            names = [self._new_ls_name() for _ in range(count)]
        with concurrent.futures.ThreadPoolExecutor(min(workers, count)) as ex:
            futures = [ex.submit(self.add_lockspace, name, host_ids, 512, io_timeout)
                       for name in names]
            for f in futures:
                f.result()
        return names


# Runs under /usr/bin/python3 with the observer host's SANLOCK_RUN_DIR.
# argv: lockspace host_id mode(once|live) timeout interval want("id:gen,...")
_HOSTS_SCRIPT = r"""
import errno, json, sys, time
import sanlock
ls = sys.argv[1].encode()
host_id = int(sys.argv[2])
mode = sys.argv[3]
deadline = time.monotonic() + float(sys.argv[4])
interval = float(sys.argv[5])
want = {}
for item in filter(None, sys.argv[6].split(",")):
    i, g = item.split(":")
    want[int(i)] = int(g)
while True:
    try:
        hosts = sanlock.get_hosts(ls, host_id)
        last = {"hosts": hosts}
        if mode == "once":
            break
        seen = {h["host_id"]: h for h in hosts}
        if all(i in seen and seen[i]["flags"] == sanlock.HOST_LIVE
               and seen[i]["generation"] >= g for i, g in want.items()):
            break
    except sanlock.SanlockException as e:
        last = {"error": e.errno, "msg": str(e)}
        if e.errno != errno.EAGAIN:
            break
    if time.monotonic() >= deadline:
        last["timeout"] = True
        break
    time.sleep(interval)
print(json.dumps(last))
"""
