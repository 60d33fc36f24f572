# SPDX-License-Identifier: GPL-2.0-or-later
"""A simulated machine for tests: a process tree that is killed, booted and clocked like a host.

What a machine is made of, and why:

* **a cgroup** (``<cgroup v2 root>/fsvm-<test pid>-<name>-<uid>``, the same path for every
  boot; the root is wherever this machine mounts cgroup2, see cgroup2_root()).  Every
  process of the machine is put there before it execs (a preexec that writes its own pid to
  ``cgroup.procs``), and whatever those processes fork stays there.  ``power_off()`` writes
  ``1`` to ``cgroup.kill``: the kernel SIGKILLs every member at once, including children
  forked while the kill runs, and nothing outside it.  That is a reset button: no signal
  handlers, no clean shutdown, pids nobody recorded die too (sanlock's helper child, a
  shell's children).  The fake watchdog (fakewatchdog.py) fires through the same file.
  Only grouping and cgroup.kill (Linux 5.14) are used, no controller, so the same code runs
  on a hybrid host (cgroup2 at /sys/fs/cgroup/unified, no controllers) and on a unified one
  (a stock Debian 12: /sys/fs/cgroup, the root cgroup, which may hold processes beside its
  children).
* **a mount namespace** (``unshare --mount --propagation slave``) with private tmpfs on
  /run/wdmd, /run/sanlk-resetd, /run/fence-sanlock-vdsm and /dev/shm: wdmd and sanlk-resetd
  hard-code their sockets there, and wdmd refuses to start when another wdmd left
  ``/dev/shm/wdmd``.  A power-off drops the namespace, so a reboot starts with them empty,
  like a real /run.  ``slave``: mounts the parent makes later under a *shared* mount point
  (fuselite.py makes its mount points shared) appear inside, and their unmount propagates.
  A mount under a private mount point made after boot() is not seen until the next boot.
* **a time namespace** (``unshare --time --monotonic=OFFSET --boottime=OFFSET``): the first
  boot's CLOCK_MONOTONIC reads the host's + ``first_boot_offset`` (1,000,000 s), every
  later boot starts at ``reboot_monotonic`` (100 s) or lower, so a new boot always reads
  lower than the last one did when it went down, as after a real reboot; sanlock writes
  that clock into its lease.  A process restarted inside a running machine enters the same
  namespace and keeps the clock (a daemon restart, not a reboot).
* **a holder**: ``sleep infinity`` inside all of that, in the cgroup.  Everything else is
  started with ``nsenter --target HOLDER --mount --time`` (setns into a time namespace takes
  effect for the caller at once; nsenter then execs, so the recorded pid is the program's).

Processes started with spawn() get PR_SET_PDEATHSIG=SIGKILL from one process-lifetime
thread (see _Spawner), so they die with the test process even when it is SIGKILLed; the
machine's empty cgroup is then left behind and removed by the next Machine created on this
host (``_sweep_stale_cgroups``: only empty ``fsvm-<pid>-...`` groups whose creator is gone).
Processes are only signalled by recorded pid + start time, never by name.

Limits: no pid, network or user namespace (a machine sees every process of the host and
shares its network); the clock offsets are whole seconds; CLOCK_REALTIME is shared.

(About 430 lines: cgroup, namespaces, clock offsets and the process records that let a
machine stop exactly what it started; each mechanism is explained where it lives.)
"""

import atexit
import concurrent.futures
import ctypes
import os
import queue
import re
import shutil
import signal
import subprocess
import threading
import time
import uuid

CGROUP_PREFIX = "fsvm-"
PRIVATE_DIRS = ("/run/wdmd", "/run/sanlk-resetd", "/run/fence-sanlock-vdsm", "/dev/shm")
FIRST_BOOT_OFFSET = 1_000_000
REBOOT_MONOTONIC = 100
WORK_BASE = "/var/tmp"

# the source tree, named here once for the whole harness: the harness package and the
# library (for the processes it starts), the agent script as the tests run it
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LIB = os.path.join(ROOT, "lib")
AGENT = os.path.join(ROOT, "agents", "sanlock_vdsm", "fence_sanlock_vdsm.py")


def package_env(base=None, **extra):
    """base (default os.environ) with the harness and the library importable: what a
    process started with `python3 -m harness.X` or `-m sanlock_fencing.X` needs."""
    env = dict(os.environ if base is None else base, **extra)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [ROOT, LIB, env.get("PYTHONPATH")]))
    return env


def _unescape_mount_field(field):
    """A mountinfo path field as the path: the kernel writes space, tab, newline and
    backslash as octal escapes (\\040 ...)."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def cgroup2_root(mountinfo="/proc/self/mountinfo"):
    """Where this machine mounts the cgroup v2 hierarchy (the first mount of fstype
    cgroup2 in mountinfo), or None when it has none. /sys/fs/cgroup on a unified host
    (Debian 12, EL9), /sys/fs/cgroup/unified on a hybrid one (systemd's hybrid layout)."""
    try:
        with open(mountinfo) as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    for line in lines:
        # "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER"
        head, sep, tail = line.partition(" - ")
        fields = head.split()
        if sep and len(fields) >= 5 and tail.split()[:1] == ["cgroup2"]:
            return _unescape_mount_field(fields[4])
    return None


CGROUP_ROOT = cgroup2_root()     # None: no cgroup v2 here; Machine() says so


def require_cgroup2():
    """CGROUP_ROOT, or MachineError saying what is missing and what to do."""
    # (the root cgroup has no cgroup.kill of its own: the machines' groups, its children,
    # have it from Linux 5.14 on)
    if CGROUP_ROOT is None or not os.path.exists(os.path.join(CGROUP_ROOT, "cgroup.procs")):
        raise MachineError(
            "simulated machines need a cgroup v2 hierarchy (and Linux 5.14 or later for "
            "cgroup.kill): %s. Run on a host with the unified layout (Debian 12, EL9) or "
            "mount one: mount -t cgroup2 none /sys/fs/cgroup/unified"
            % ("no cgroup2 mount in /proc/self/mountinfo" if CGROUP_ROOT is None else
               "%s is no cgroup v2 root (no cgroup.procs)" % CGROUP_ROOT))
    return CGROUP_ROOT


_PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True)
_libc.signal.argtypes = [ctypes.c_int, ctypes.c_void_p]
_SIG_IGN = 1


class MachineError(RuntimeError):
    pass


class _Spawner:
    """One long-lived thread forks every long-running process: PR_SET_PDEATHSIG fires when
    the *thread* that forked the child ends, so forking from a short-lived thread would kill
    the child with that thread."""

    _lock = threading.Lock()
    _queue = None

    @classmethod
    def call(cls, fn):
        with cls._lock:
            if cls._queue is None:
                cls._queue = queue.SimpleQueue()
                threading.Thread(target=cls._loop, args=(cls._queue,), daemon=True,
                                 name="machine-spawner").start()
        fut = concurrent.futures.Future()
        cls._queue.put((fn, fut))
        return fut.result()

    @staticmethod
    def _loop(q):
        while True:
            fn, fut = q.get()
            try:
                fut.set_result(fn())
            except BaseException as e:
                fut.set_exception(e)


def start_process(argv, env=None, log_path=None, pdeathsig=signal.SIGKILL, preexec=None,
                  pass_fds=(), cwd=None, ignore_sigpipe=False):
    """Popen a long-running process in its own session, output appended to log_path
    (or discarded), that receives `pdeathsig` when the test process dies."""
    def child_setup():
        _libc.prctl(_PR_SET_PDEATHSIG, int(pdeathsig), 0, 0, 0)
        if ignore_sigpipe:
            _libc.signal(signal.SIGPIPE, _SIG_IGN)
        if preexec is not None:
            preexec()

    def spawn():
        log = open(log_path, "ab") if log_path else subprocess.DEVNULL
        try:
            return subprocess.Popen(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                                    stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True, pass_fds=pass_fds,
                                    preexec_fn=child_setup)
        finally:
            if log_path:
                log.close()
    return _Spawner.call(spawn)


def wait_until_sleeping(proc, timeout):
    """Wait until proc, a namespace holder, has exec'd its final `sleep` (its namespaces
    are set up by then): "ready"; "exited" when it died first; "late" after timeout s."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with open("/proc/%d/comm" % proc.pid) as f:
                if f.read().strip() == "sleep":
                    return "ready"
        except OSError:
            pass
        if not proc.alive():
            return "exited"
        if time.monotonic() > deadline:
            return "late"
        time.sleep(0.01)


def proc_starttime(pid):
    """Start time (clock ticks after boot) of pid, or None when it does not exist."""
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            data = f.read().decode("ascii", "replace")
    except OSError:
        return None
    return int(data[data.rindex(")") + 2:].split()[19])


def exited(pid):
    """pid has exited: no such process, or a zombie (one waiting for the parent it was
    reparented to counts too)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except OSError:
        return True


def threads_finished(pid):
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


class Proc:
    """A process we started: pid + start time, so a recycled pid is never signalled.
    adopt(): a descendant of one, which is no child of ours (nothing here reaps it)."""

    def __init__(self, popen, argv, what="", boot=None, pid=None):
        self.popen = popen
        self.pid = popen.pid if popen is not None else pid
        self.argv = list(argv)
        self.what = what or os.path.basename(str(argv[0]))
        self.boot = boot
        self.started = time.monotonic()
        self.starttime = proc_starttime(self.pid)

    @classmethod
    def adopt(cls, pid, what):
        return cls(None, [what], what, pid=pid)

    def alive(self):
        if self.popen is not None:
            return self.popen.poll() is None         # (and reaps it once it has ended)
        return (self.starttime is not None and proc_starttime(self.pid) == self.starttime
                and not threads_finished(self.pid))

    def wait_dead(self, timeout):
        """True once the process has ended, False if it still runs after timeout s."""
        deadline = time.monotonic() + timeout
        while self.alive():
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)
        return True

    def signal(self, sig):
        """Send sig if the process still runs; False if it had already ended."""
        if not self.alive() or proc_starttime(self.pid) != self.starttime:
            return False
        try:
            os.kill(self.pid, sig)
        except ProcessLookupError:
            return False
        return True

    def wait(self, timeout):
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, grace=5.0):
        """SIGTERM, then SIGKILL after grace seconds; returns the exit status."""
        self.signal(signal.SIGTERM)
        if self.wait(grace) is None:
            self.signal(signal.SIGKILL)
            self.wait(10)
        return self.popen.returncode

    def __repr__(self):
        return "<Proc %s pid %d boot %s>" % (self.what, self.pid, self.boot)


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _sweep_stale_cgroups():
    """rmdir empty machine cgroups whose creating test process is gone (it was SIGKILLed
    and could not clean up); a busy or foreign group is left alone."""
    if CGROUP_ROOT is None:
        return
    try:
        names = os.listdir(CGROUP_ROOT)
    except OSError:
        return
    for name in names:
        m = re.match(re.escape(CGROUP_PREFIX) + r"(\d+)-", name)
        if not m or _pid_alive(int(m.group(1))):
            continue
        try:
            os.rmdir(os.path.join(CGROUP_ROOT, name))
        except OSError:
            pass


def _cgroup_populated(path):
    try:
        with open(os.path.join(path, "cgroup.events")) as f:
            return "populated 1" in f.read()
    except FileNotFoundError:
        return False


class Machine:
    """One simulated host.  boot(), spawn()/command_prefix(), power_off(), stop()."""

    def __init__(self, name, workdir=None, first_boot_offset=FIRST_BOOT_OFFSET,
                 reboot_monotonic=REBOOT_MONOTONIC):
        self.name = re.sub(r"[^A-Za-z0-9_.-]", "_", name)[:40]
        self.uid = uuid.uuid4().hex[:8]
        self.first_boot_offset = first_boot_offset
        self.reboot_monotonic = reboot_monotonic
        self.cgroup = os.path.join(require_cgroup2(), "%s%d-%s-%s" % (
            CGROUP_PREFIX, os.getpid(), self.name, self.uid))
        self._own_workdir = workdir is None
        self.workdir = workdir or os.path.join(WORK_BASE, "machine-%s-%s" % (self.name, self.uid))
        self.holder = None            # Proc of the namespace holder of the current boot
        self.offset = None            # CLOCK_MONOTONIC offset of the current boot (s)
        self.boots = []               # [{n, offset, booted, down, monotonic_at_down}]
        self.records = []             # [Proc] every process ever started, every boot
        self._lock = threading.RLock()
        self._stopped = False
        _sweep_stale_cgroups()
        os.makedirs(self.cgroup, exist_ok=True)
        os.makedirs(self.workdir, exist_ok=True)
        atexit.register(self.stop)

    # ------------------------------------------------------------------ boot / power

    @property
    def running(self):
        return self.holder is not None and self.holder.alive()

    @property
    def boot_count(self):
        return len(self.boots)

    def boot(self, monotonic=None, timeout=10):
        """Start a fresh holder: new mount + time namespaces, empty private dirs.
        monotonic: what CLOCK_MONOTONIC reads at boot; default: the host's clock +
        first_boot_offset at the first boot, reboot_monotonic (or less, so that it is
        below where the last boot ended) at later ones."""
        with self._lock:
            if self._stopped:
                raise MachineError("machine %s was stopped" % self.name)
            if self.running:
                raise MachineError("machine %s is already running" % self.name)
            self._note_down()
            self._wait_empty(30)
            if monotonic is None and not self.boots:
                offset = int(self.first_boot_offset)
            else:
                if monotonic is None:
                    last = self.boots[-1]["monotonic_at_down"]
                    monotonic = min(self.reboot_monotonic, max(1, last - 10))
                offset = int(round(monotonic - time.monotonic()))
            script = ("set -e; for d in %s; do mkdir -p $d; mount -t tmpfs -o mode=0755 "
                      "machine-%s $d; done; chmod 1777 /dev/shm; exec sleep infinity"
                      % (" ".join(PRIVATE_DIRS), self.name))
            argv = ["unshare", "--mount", "--propagation", "slave", "--time",
                    "--monotonic=%d" % offset, "--boottime=%d" % offset,
                    "--", "sh", "-c", script]
            n = len(self.boots) + 1
            log = os.path.join(self.workdir, "holder.log")
            popen = start_process(argv, log_path=log, preexec=self._join_cgroup)
            holder = Proc(popen, argv, "holder", n)
            self.records.append(holder)
            state = wait_until_sleeping(holder, timeout)
            if state == "exited":
                with open(log, errors="replace") as f:
                    raise MachineError("holder of %s exited: %s"
                                       % (self.name, f.read()[-2000:]))
            if state == "late":
                holder.signal(signal.SIGKILL)
                raise MachineError("holder of %s not ready after %ss" % (self.name, timeout))
            holder.starttime = proc_starttime(holder.pid)   # after the execs
            with open("/proc/%d/timens_offsets" % holder.pid) as f:
                offsets = dict((line.split()[0], int(line.split()[1]))
                               for line in f if line.strip())
            self.holder = holder
            self.offset = offsets["monotonic"]
            self.boots.append({"n": n, "offset": self.offset, "booted": time.monotonic(),
                               "down": None, "monotonic_at_down": None})
            return self

    def _join_cgroup(self):
        # runs in the forked child before exec; "0" means the writing process itself
        fd = os.open(os.path.join(self.cgroup, "cgroup.procs"), os.O_WRONLY)
        try:
            os.write(fd, b"0")
        finally:
            os.close(fd)

    def _wait_empty(self, timeout):
        deadline = time.monotonic() + timeout
        while _cgroup_populated(self.cgroup):
            if time.monotonic() > deadline:
                raise MachineError("cgroup %s still has processes %s after %ss"
                                   % (self.cgroup, self.processes(), timeout))
            time.sleep(0.01)
        for p in self.records:
            p.popen.poll()

    def _note_down(self):
        """Record when the current boot ended (power_off, or a watchdog fire we learn of now)."""
        if self.boots and self.boots[-1]["down"] is None:
            now = time.monotonic()
            self.boots[-1]["down"] = now
            self.boots[-1]["monotonic_at_down"] = now + self.boots[-1]["offset"]
        self.holder = None

    def power_off(self, timeout=30):
        """Kill every process of the machine at once (cgroup.kill) and wait until the cgroup
        is empty.  Nothing outside the machine is touched.  Idempotent."""
        with self._lock:
            if os.path.isdir(self.cgroup) and _cgroup_populated(self.cgroup):
                with open(os.path.join(self.cgroup, "cgroup.kill"), "w") as f:
                    f.write("1")
            self._wait_empty(timeout)
            self._note_down()

    def stop(self):
        """power_off() and remove the cgroup (and the workdir we created).  Idempotent;
        registered with atexit."""
        if self._stopped:
            return
        self._stopped = True
        atexit.unregister(self.stop)
        self.power_off()
        try:
            os.rmdir(self.cgroup)
        except FileNotFoundError:
            pass
        if self._own_workdir and os.environ.get("MACHINE_KEEP", "") in ("", "0"):
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self):
        return self.boot() if not self.running else self

    def __exit__(self, *exc):
        self.stop()
        return False

    # ------------------------------------------------------------------ processes

    def _require_running(self):
        if not self.running:
            raise MachineError("machine %s is not running" % self.name)

    def spawn(self, argv, env=None, log_path=None, cwd=None, ignore_sigpipe=True):
        """Start a long-running process on the machine (its cgroup and namespaces), output
        appended to log_path; returns its Proc (pid = the program's own pid).

        ignore_sigpipe: start it with SIGPIPE ignored, as systemd starts services
        (IgnoreSIGPIPE=yes is its default; sanlock.service and wdmd.service keep it).  It
        matters: libwdmd sends without MSG_NOSIGNAL, so a sanlock daemon started with
        SIGPIPE at its default dies at its first renewal after wdmd is gone."""
        with self._lock:
            self._require_running()
            wd = cwd or os.getcwd()
            full = ["nsenter", "--target", str(self.holder.pid), "--mount", "--time",
                    "--wdns=" + wd, "--"] + list(argv)
            popen = start_process(full, env=env, log_path=log_path, preexec=self._join_cgroup,
                                  ignore_sigpipe=ignore_sigpipe)
            proc = Proc(popen, argv, boot=len(self.boots))
            self.records.append(proc)
            return proc

    def command_prefix(self):
        """argv prefix that runs a short command on the machine as it is booted now:
        ``subprocess.run(m.command_prefix() + ["sanlock", "client", "status"], ...)``.
        The command joins the cgroup and namespaces; it fails (exit 125) once this boot is
        over, even when the holder's pid has been reused.  Not recorded in records."""
        self._require_running()
        script = ('[ "$(cut -d" " -f22 /proc/%d/stat 2>/dev/null)" = "%d" ] || '
                  '{ echo "machine %s is not running" >&2; exit 125; }; '
                  'echo $$ > %s/cgroup.procs && '
                  'exec nsenter --target %d --mount --time --wdns="$PWD" -- "$@"'
                  % (self.holder.pid, self.holder.starttime, self.name, self.cgroup,
                     self.holder.pid))
        return ["sh", "-c", script, "machine-" + self.name]

    def run(self, argv, **kwargs):
        """subprocess.run(command_prefix() + argv, **kwargs)."""
        return subprocess.run(self.command_prefix() + list(argv), **kwargs)

    def processes(self):
        """pids in the machine's cgroup now (including ones we never started ourselves)."""
        try:
            with open(os.path.join(self.cgroup, "cgroup.procs")) as f:
                return [int(x) for x in f.read().split()]
        except FileNotFoundError:
            return []

    def pids(self):
        """Every pid ever started by this object (holders included), in order."""
        return [p.pid for p in self.records]

    # ------------------------------------------------------------------ clock and files

    def monotonic(self):
        """The machine's CLOCK_MONOTONIC now (host clock + this boot's offset); None if off."""
        if not self.running:
            return None
        return time.monotonic() + self.offset

    def path(self, path):
        """A path inside the machine's mount namespace, as seen from outside."""
        self._require_running()
        return "/proc/%d/root%s" % (self.holder.pid, path)

    def __repr__(self):
        return "<Machine %s boot %d %s>" % (self.name, len(self.boots),
                                            "on" if self.running else "off")
