# SPDX-License-Identifier: GPL-2.0-or-later
"""Simulated sanlock clusters on one machine, for integration tests, the demo and benchmarks.

A cluster is a set of simulated hosts (simhost.py: each a machine of its own, with
its own cgroup, mount and time namespaces, machine.py) sharing lockspace files. The
files live in a backing directory on ext4 (/var/tmp; sanlock uses O_DIRECT, which tmpfs
refuses); every host reaches them through its own FUSE view (storagepath.py), which a
test can make fail, stall or crawl while the host runs. Watchdog hosts run the real
wdmd against a fake device of their own (fakewatchdog.py); its fire resets the host.

Typical use::

    with SimCluster(hosts=3, io_timeout=3, watchdog={3: "real"}) as c:
        c.start_resetd(3)                 # sanlk-resetd -w 1 + the sync service
        c.agent(1, ["-o", "off", "-a", "%s:3" % c.lockspace])   # run on host 1
        c.host(3).fires()                 # when its watchdog reset it

Safety rules: processes are signalled only through the records of the objects that
started them (pid + start time), never by name; stop() powers every machine off,
stops the FUSE servers (unmounting) and removes what it created; it is idempotent and
registered with atexit. The FUSE servers start before any machine boots: machines see
mounts made under them later only through mount propagation from those mount points.

(About 610 lines: the cluster ties machines, storage views, watchdog devices and daemons
together and offers the faults tests name; the per-host parts live in simhost.py.)
"""

import atexit
import concurrent.futures
import json
import os
import re
import shutil
import subprocess
import time
import uuid

from sanlock_fencing.core import events

from .fakewatchdog import FakeWatchdog
from .machine import AGENT
from .observe import StandIn
from .simhost import SYS_PYTHON, SimHost, SimHostError, log_tail, wait_for
from .storagepath import StoragePaths

WORK_BASE = "/var/tmp"
HOST_STATE_NAMES = {1: "UNKNOWN", 2: "FREE", 3: "LIVE", 4: "FAIL", 5: "DEAD"}
MAX_LOCKSPACE_NAME = 48
LEASE_FILE_SIZE = 8 * 1024 * 1024

__all__ = ["SimCluster", "SimClusterError", "wait_for", "AGENT"]


class SimClusterError(SimHostError):
    pass


class Lockspace:
    def __init__(self, name, backing, sector_size, align, io_timeout):
        self.name = name
        self.filename = "%s.leases" % name
        self.backing = backing            # the file itself (no view)
        self.sector_size = sector_size
        self.align = align
        self.io_timeout = io_timeout
        self.members = set()

    def geometry_args(self):
        if self.sector_size == 4096:
            return ["-Z", "4096", "-A", "%dM" % (self.align >> 20)]
        return []


class SimCluster:
    """Real sanlock daemons on simulated machines, sharing lockspace files."""

    def __init__(self, hosts=3, io_timeout=1, lockspace=None, sector_size=512, align_mb=None,
                 watchdog=None, witness=True, workdir=None, name_prefix="t",
                 socket_group=None, lease_group=None):
        """watchdog: None (no host has a device), "real"/"broken" (every host), or
        {host_id: "real"|"broken"}; hosts with a device need io_timeout 3 or more.
        witness: run fence-sanlock-vdsm-witness on every host (as the package does).
        socket_group: each daemon's -G (its socket's group, as /run/sanlock belongs to
        group sanlock); lease_group: the lockspace files' group, mode 0660 (as vdsm's
        ids volumes)."""
        self.host_ids = list(range(1, hosts + 1)) if isinstance(hosts, int) else \
            sorted(set(int(h) for h in hosts))
        if not isinstance(watchdog, dict):
            watchdog = {h: watchdog for h in self.host_ids}
        self.kinds = {h: watchdog.get(h) for h in self.host_ids}
        if any(self.kinds.values()) and io_timeout < 3:
            raise ValueError("hosts with a real watchdog need io_timeout 3 or more: sanlock "
                             "trips its own watchdog below that (evidence.md)")
        self.io_timeout = io_timeout
        self.sector_size = sector_size
        self.align_mb = align_mb or (1 if sector_size == 512 or max(self.host_ids) <= 250
                                     else 8)
        self.uid = uuid.uuid4().hex[:10]
        self.name_prefix = re.sub(r"[^A-Za-z0-9_]", "_", name_prefix)[:20]
        self._ls_counter = 0
        self.lockspace = lockspace or self._new_ls_name()
        self._own_workdir = workdir is None
        self.workdir = os.path.abspath(workdir or os.path.join(
            WORK_BASE, "simcluster-%s-%s" % (self.name_prefix, self.uid)))
        self.keep_workdir = os.environ.get("SIMCLUSTER_KEEP", "") not in ("", "0")
        self.witness_on = witness
        self.socket_group = socket_group
        self.lease_group = lease_group
        self.storage = None
        self.watchdog = None
        self._lockspaces = {}
        self._hosts = {}
        self._machines = []             # add_machine(): machines that are no host id's own
        self._started = self._stopped = False
        self.timings = {}

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
        """Environment (a copy) for a sanlock client talking to that host's daemon."""
        return dict(self.host(host_id).env)

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

    def _new_ls_name(self):
        self._ls_counter += 1
        suffix = "" if self._ls_counter == 1 else "_%d" % self._ls_counter
        return "%s%s%s" % (self.name_prefix, self.uid, suffix)

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
            if self.socket_group or self.lease_group:
                os.chmod(self.workdir, 0o755)
            for sub in ("storage", "watchdog"):
                os.makedirs(os.path.join(self.workdir, sub), exist_ok=True)
            self.storage = StoragePaths(backing=os.path.join(self.workdir, "backing"),
                                        workdir=os.path.join(self.workdir, "storage")).start()
            if self.socket_group or self.lease_group:
                for path in (self.storage.workdir, self.storage.backing):
                    os.chmod(path, 0o755)
            if any(self.kinds.values()):
                self.watchdog = FakeWatchdog(
                    workdir=os.path.join(self.workdir, "watchdog")).start()
            self._create_lockspace(self.lockspace, self.sector_size, self.io_timeout)
            for hid in self.host_ids:
                self._hosts[hid] = SimHost(self, hid, self.kinds[hid])
            self._parallel(lambda h: h.boot(), self.hosts)
            t1 = time.monotonic()
            self._join(self.lockspace, self.host_ids)
            t2 = time.monotonic()
            self._wait_live(self.lockspace, self.host_ids)
            if self.witness_on:
                for h in self.hosts:
                    h.start_witness()
            t3 = time.monotonic()
        except BaseException:
            self.stop()
            raise
        self.timings.update(start_daemons=t1 - t0, start_join=t2 - t1, start_live=t3 - t2,
                            start_total=t3 - t0)
        return self

    @staticmethod
    def _parallel(fn, items):
        items = list(items)
        if len(items) <= 1:
            return [fn(i) for i in items]
        with concurrent.futures.ThreadPoolExecutor(min(8, len(items))) as pool:
            return list(pool.map(fn, items))

    def stop(self):
        """Power every machine off, stop the FUSE servers, remove the work directory."""
        if self._stopped:
            return
        self._stopped = True
        atexit.unregister(self.stop)
        errors = []
        for h in list(self._hosts.values()) + self._machines:
            try:
                if h.standin is not None:
                    h.standin.stop()
                h.machine.stop()
            except Exception as err:
                errors.append("host %d: %s" % (h.host_id, err))
        for server in (self.watchdog, self.storage):
            if server is not None:
                try:
                    server.stop()
                except Exception as err:
                    errors.append(str(err))
        if self._own_workdir and not self.keep_workdir and not errors:
            shutil.rmtree(self.workdir, ignore_errors=True)
        if errors:
            raise SimClusterError("stop() left something behind: %s" % "; ".join(errors))

    def recorded_pids(self):
        return [pid for h in list(self._hosts.values()) + self._machines
                for pid in h.machine.pids()]

    def alive_pids(self):
        return [p.pid for h in list(self._hosts.values()) + self._machines
                for p in h.machine.records if p.alive()]

    def __repr__(self):
        return "<SimCluster %s hosts %s workdir %s>" % (self.lockspace, self.host_ids,
                                                        self.workdir)

    # ------------------------------------------------------------------ lockspaces

    def _create_lockspace(self, name, sector_size, io_timeout, align_mb=None):
        if not name or len(name.encode()) > MAX_LOCKSPACE_NAME or \
                re.search(r"[:/\s]", name):
            raise ValueError("bad lockspace name %r" % name)
        if name in self._lockspaces:
            raise SimClusterError("lockspace %s already exists" % name)
        align = (align_mb or (self.align_mb if sector_size == 4096 else 1)) << 20
        ls = Lockspace(name, self.storage.backing_path("%s.leases" % name), sector_size,
                       align, io_timeout)
        with open(ls.backing, "wb") as f:
            f.truncate(max(LEASE_FILE_SIZE, align))
        if self.lease_group is not None:
            import grp
            os.chown(ls.backing, -1, grp.getgrnam(self.lease_group).gr_gid)
            os.chmod(ls.backing, 0o660)
        self._write_fresh_leases(ls)
        self._lockspaces[name] = ls
        return ls

    @staticmethod
    def _write_fresh_leases(ls):
        # -o: the io_timeout written into the fresh leases
        argv = ["sanlock", "direct", "init", "-s", "%s:0:%s:0" % (ls.name, ls.backing),
                "-o", str(ls.io_timeout)] + ls.geometry_args()
        r = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        if r.returncode != 0 or "init done 0" not in r.stdout:
            raise SimClusterError("%s failed (rc %d): %s %s"
                                  % (" ".join(argv), r.returncode, r.stdout, r.stderr))

    def reinit_lockspace(self, lockspace=None):
        """Write the lockspace afresh under the same name and file (as a recovery of an
        ids volume does): every lease FREE, generation 0. Every host must have left it."""
        ls = self._ls(lockspace)
        if ls.members:
            raise SimClusterError("lockspace %s still has hosts %s: they leave it first"
                                  % (ls.name, sorted(ls.members)))
        self._write_fresh_leases(ls)

    def _join(self, lockspace, host_ids, timeout=None):
        ls = self._ls(lockspace)
        timeout = timeout or 60 + 30 * ls.io_timeout
        procs = []
        for hid in host_ids:
            h = self.host(hid)
            if h.pid is None:
                raise SimClusterError("host %d has no running daemon" % hid)
            spec = "%s:%d:%s:0" % (ls.name, hid, h.lease_path(ls))
            argv = ["sanlock", "client", "add_lockspace", "-s", spec, "-o", str(ls.io_timeout)]
            procs.append((h, spec, subprocess.Popen(argv, env=h.env, stdout=subprocess.PIPE,
                                                    stderr=subprocess.STDOUT, text=True)))
        errors = []
        for h, spec, p in procs:
            try:
                out, _ = p.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                out, _ = p.communicate()
            m = re.search(r"done (-?\d+)", out or "")
            if p.returncode != 0 or not m or int(m.group(1)) != 0:
                errors.append("host %d: add_lockspace %s failed (rc %s): %s\n%s"
                              % (h.host_id, spec, p.returncode, out, log_tail(h.log("daemon"))))
                continue
            h.lockspaces.add(ls.name)
            ls.members.add(h.host_id)
            h.generations[ls.name] = self.read_leader(h.host_id, ls.name)["owner_generation"]
        if errors:
            raise SimClusterError("\n".join(errors))

    def _wait_live(self, lockspace, host_ids, timeout=None):
        """Until every running host in host_ids sees every other LIVE at its generation."""
        ls = self._ls(lockspace)
        timeout = timeout or 30 + 12 * ls.io_timeout
        host_ids = [i for i in host_ids if self.host(i).pid is not None]
        want = [(i, self.host(i).generations.get(ls.name, 0)) for i in host_ids]
        procs = [(i, self._hosts_script(i, ls.name, "live", timeout, want)) for i in host_ids]
        problems = []
        for i, p in procs:
            res = self._collect(p, "get_hosts on host %d" % i, timeout)
            if "error" in res or res.get("timeout"):
                problems.append("host %d sees %s" % (i, res))
        if problems:
            raise SimClusterError("lockspace %s: hosts not all LIVE after %ss: %s"
                                  % (ls.name, timeout, "; ".join(problems)))

    def add_lockspace(self, name=None, host_ids=None, sector_size=512, io_timeout=None,
                      wait_live=True, align_mb=None):
        """Create another lockspace, join host_ids (default: all); returns its name."""
        name = name or self._new_ls_name()
        ids = self.host_ids if host_ids is None else sorted(set(host_ids))
        self._create_lockspace(name, sector_size, io_timeout or self.io_timeout, align_mb)
        self._join(name, ids)
        if wait_live:
            self._wait_live(name, ids)
        return name

    def add_lockspaces(self, count, host_ids=None, io_timeout=None, workers=16):
        names = [self._new_ls_name() for _ in range(count)]
        with concurrent.futures.ThreadPoolExecutor(min(workers, count)) as ex:
            for f in [ex.submit(self.add_lockspace, n, host_ids, 512, io_timeout)
                      for n in names]:
                f.result()
        return names

    def join_lockspace(self, host_id, lockspace=None, wait_live=True):
        ls = self._ls(lockspace)
        self._join(ls.name, [host_id])
        if wait_live:
            self._wait_live(ls.name, sorted(ls.members))

    def leave_lockspace(self, host_id, lockspace=None):
        """Clean rem_lockspace: the host's lease gets timestamp 0 (FREE to others)."""
        ls = self._ls(lockspace)
        h = self.host(host_id)
        argv = ["sanlock", "client", "rem_lockspace", "-s",
                "%s:%d:%s:0" % (ls.name, host_id, h.lease_path(ls))]
        r = subprocess.run(argv, env=h.env, capture_output=True, text=True,
                           timeout=60 + 30 * ls.io_timeout)
        m = re.search(r"done (-?\d+)", r.stdout or "")
        if r.returncode != 0 or not m or int(m.group(1)) != 0:
            raise SimClusterError("host %d: rem_lockspace %s failed: %s %s"
                                  % (host_id, ls.name, r.stdout, r.stderr))
        h.lockspaces.discard(ls.name)
        ls.members.discard(host_id)

    # ------------------------------------------------------------------ other machines

    def add_machine(self, name, host_id, monotonic=100):
        """Boot another machine, with no host id of the cluster's own: its daemon runs with
        host name `name` (-e), and join_machine() joins it with host_id (taking over that
        id: sanlock lets a machine take an id whose record is FREE or has its own name at
        once, another name's after host_dead_seconds unchanged). monotonic: what its clock
        reads at boot (default low: a clock of its own, below the cluster's hosts').
        Returns its SimHost; stop() powers it off."""
        machine = SimHost(self, host_id, None, name=name, label="m%d" % (len(self._machines)
                                                                         + 1))
        self._machines.append(machine)
        machine.boot(monotonic)
        return machine

    def join_machine(self, machine, lockspace=None, timeout=None):
        """add_lockspace on machine (add_machine) with its host id; returns the generation
        it acquired. Blocks as sanlock does (host_dead_seconds for another name's id)."""
        ls = self._ls(lockspace)
        spec = "%s:%d:%s:0" % (ls.name, machine.host_id, machine.lease_path(ls))
        argv = ["sanlock", "client", "add_lockspace", "-s", spec, "-o", str(ls.io_timeout)]
        r = subprocess.run(argv, env=machine.env, capture_output=True, text=True,
                           timeout=timeout or 120 + 30 * ls.io_timeout)
        m = re.search(r"done (-?\d+)", r.stdout or "")
        if r.returncode != 0 or not m or int(m.group(1)) != 0:
            raise SimClusterError("machine %s: add_lockspace %s failed (rc %s): %s %s\n%s"
                                  % (machine.name, spec, r.returncode, r.stdout, r.stderr,
                                     log_tail(machine.log("daemon"))))
        machine.lockspaces.add(ls.name)
        generation = self.read_leader(machine.host_id, ls.name)["owner_generation"]
        machine.generations[ls.name] = generation
        return generation

    # ------------------------------------------------------------------ the target side

    def start_resetd(self, host_id, lockspaces=None, watchdog_delay=0.0, sync=None):
        """Make host_id fenceable: the real sanlk-resetd, and who registers its lockspaces.

        sync None: hosts with a watchdog device run fence-sanlock-vdsm-resetd-sync (which
        registers what the daemon joined), others name the lockspaces on resetd's command
        line. Hosts without a device get a stand-in watchdog: their machine is powered
        off watchdog_delay seconds after their reply is on storage (None: never).
        Returns once the lockspaces are registered."""
        h = self.host(host_id)
        names = sorted(h.lockspaces) if lockspaces is None else \
            ([lockspaces] if isinstance(lockspaces, str) else list(lockspaces))
        use_sync = bool(h.device) if sync is None else sync
        if use_sync:
            h.start_resetd()
            h.start_sync(None if lockspaces is None else names)
            h.wait_resetd_registered(names)
        else:
            h.start_resetd(names)
        if not h.device:
            self.arm_standin(host_id, names, watchdog_delay)
        return h.procs["resetd"].pid

    def start_responder(self, host_id, sysfs=None, verdict="can be fenced", extra=()):
        """Make host_id fenceable through the project's own responder instead of
        sanlk-resetd (watchdog hosts only: it answers nothing without wdmd petting a
        device). Returns once it answers in every lockspace the host joined, having
        logged `verdict` ("can be fenced" or "cannot be fenced")."""
        h = self.host(host_id)
        h.start_responder(sysfs, extra)
        h.wait_responder(sorted(h.lockspaces), verdict)
        return h.procs["responder"].pid

    def start_target_side(self, host_id, side="responder"):
        """Make a watchdog host fenceable by the target side named: "responder" (the
        project's own, the default on every platform) or "sanlk-resetd" (with the sync
        service: EL8 and Debian, kept for interoperability)."""
        if side == "responder":
            return self.start_responder(host_id)
        if side == "sanlk-resetd":
            return self.start_resetd(host_id)
        raise SimClusterError("no target side %r: 'responder' or 'sanlk-resetd'" % side)

    def arm_standin(self, host_id, lockspaces=None, delay=0.0):
        h = self.host(host_id)
        if h.standin is not None:
            h.standin.stop()
        h.standin = StandIn(h, lockspaces, delay)
        h.standin.start()
        return h.standin

    # ------------------------------------------------------------------ host faults

    def power_off(self, host_id):
        self.host(host_id).power_off()

    def boot(self, host_id, rejoin=True, wait_live=True, resetd=False, responder=False):
        """Power the host on again (a new clock, lower than before: a reboot) and, with
        rejoin, join its lockspaces again (the same host name re-acquires at once).
        resetd / responder: its target side starts again, as its enabled unit would."""
        h = self.host(host_id)
        h.boot()
        h.restarts += 1
        if rejoin:
            self._rejoin(h, wait_live)
        if self.witness_on:
            h.start_witness()
        if resetd:
            self.start_resetd(host_id)
        if responder:
            self.start_responder(host_id)
        return h

    def reboot(self, host_id, **kwargs):
        self.power_off(host_id)
        return self.boot(host_id, **kwargs)

    def restart_daemon(self, host_id, rejoin=True, wait_live=True, restart_resetd=False):
        """Kill and start the host's sanlock daemon on the same boot (the clock goes on):
        a daemon restart, not a reboot. restart_resetd: sanlk-resetd restarts too (its
        clean exit disarms what it armed)."""
        h = self.host(host_id)
        if restart_resetd:
            h.stop("resetd")
        if h.standin is not None:
            h.standin.stop()
            h.standin = None
        h.kill_daemon()
        h.restarts += 1
        h.start_daemon()
        if rejoin:
            self._rejoin(h, wait_live)
        if restart_resetd:
            h.start_resetd()
        return h

    def _rejoin(self, h, wait_live):
        names = sorted(h.lockspaces)
        h.lockspaces = set()
        for name in names:
            self._ls(name).members.discard(h.host_id)
        self._parallel(lambda name: self._join(name, [h.host_id]), names)
        if wait_live:
            for name in names:
                self._wait_live(name, sorted(self._ls(name).members))

    def kill_daemon(self, host_id):
        self.host(host_id).kill_daemon()

    def cut_after_join_write(self, host_id, lockspace=None, cut="power", timeout=60):
        """Join host_id to lockspace and, as soon as its join has written the new
        generation to storage (before its first renewal rewrites the event fields it
        carried over), power the host off (cut="power") or make its storage fail
        (cut="storage": reads and writes EIO while it keeps running). Returns the new
        generation."""
        import threading
        ls = self._ls(lockspace)
        h = self.host(host_id)
        old = self.read_leader(host_id, ls.name)["owner_generation"]
        errors = []

        def join():
            try:
                self._join(ls.name, [host_id])
            except Exception as err:        # expected: the cut makes the join fail
                errors.append(err)
        joiner = threading.Thread(target=join, daemon=True)
        joiner.start()
        new = wait_for(lambda: (lambda g: g if g > old else None)(
            self.read_leader(host_id, ls.name)["owner_generation"]), timeout, 0.02,
            "host %d's join write in %s" % (host_id, ls.name))
        if cut == "power":
            h.power_off()
        else:
            h.storage(both="eio")
        joiner.join(timeout)
        h.generations[ls.name] = new
        return new

    # ------------------------------------------------------------------ running the agent

    def agent_argv(self, host_id, args=(), user=None, agent=AGENT):
        """argv that runs the agent on host_id (its cgroup and namespaces), as root or as
        `user` (setpriv, with that user's groups)."""
        h = self.host(host_id)
        argv = [SYS_PYTHON, agent] + list(args)
        if user is not None:
            import pwd
            entry = pwd.getpwnam(user)
            argv = ["setpriv", "--reuid=%d" % entry.pw_uid, "--regid=%d" % entry.pw_gid,
                    "--init-groups", "--"] + argv
        return h.machine.command_prefix() + argv

    def agent(self, host_id, args=(), stdin=None, timeout=400, env=None, user=None,
              agent=AGENT):
        """Run the agent on host_id as its callers do; a CompletedProcess."""
        return subprocess.run(self.agent_argv(host_id, args, user, agent), input=stdin or "",
                              capture_output=True, text=True, timeout=timeout,
                              env=env or self.env(host_id))

    def agent_popen(self, host_id, stdin="", env=None, user=None, args=(), agent=AGENT):
        proc = subprocess.Popen(self.agent_argv(host_id, args, user, agent),
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True,
                                env=env or self.env(host_id))
        proc.stdin.write(stdin)
        proc.stdin.close()
        proc.stdin = None
        return proc

    # ------------------------------------------------------------------ queries

    def _hosts_script(self, observer_id, lockspace, mode, timeout, want=(), host_id=0,
                      interval=0.2):
        want_s = ",".join("%d:%d" % (i, g) for i, g in want)
        argv = [SYS_PYTHON, "-c", _HOSTS_SCRIPT, lockspace, str(host_id), mode,
                str(timeout), str(interval), want_s]
        return subprocess.Popen(argv, env=self.host(observer_id).env, stdout=subprocess.PIPE,
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

    def get_hosts(self, observer_id, lockspace=None, host_id=0, timeout=10):
        """sanlock.get_hosts() as observer's daemon answers (EAGAIN retried)."""
        name = lockspace or self.lockspace
        res = self._collect(self._hosts_script(observer_id, name, "once", timeout,
                                               host_id=host_id),
                            "get_hosts on host %d" % observer_id, timeout)
        if "error" in res:
            raise OSError(res["error"], "get_hosts(%s) on host %d: %s"
                          % (name, observer_id, res.get("msg")))
        return res["hosts"]

    def host_states(self, observer_id, lockspace=None):
        """{host_id: state name} as seen by observer."""
        return {h["host_id"]: HOST_STATE_NAMES.get(h["flags"], h["flags"])
                for h in self.get_hosts(observer_id, lockspace)}

    def set_event(self, sender_id, target_id, event=events.RESET, generation=None,
                  lockspace=None, data=0, flags=0):
        """sanlock.set_event() from sender_id's daemon (a raw reset request)."""
        name = lockspace or self.lockspace
        if generation is None:
            generation = self.host(target_id).generations.get(name, 0)
        code = "import sanlock, sys; sanlock.set_event(sys.argv[1].encode(), " \
               "*map(int, sys.argv[2:]))"
        r = subprocess.run([SYS_PYTHON, "-c", code, name, str(target_id), str(generation),
                            str(event), str(data), str(flags)],
                           env=self.host(sender_id).env, capture_output=True, text=True,
                           timeout=30)
        if r.returncode != 0:
            raise SimClusterError("set_event from host %d to host %d failed: %s"
                                  % (sender_id, target_id, r.stderr.strip()))

    def read_leader(self, host_id, lockspace=None):
        """`sanlock direct read_leader` of host_id's delta lease, from the backing file (the
        storage itself, not a host's view). Numeric fields become ints."""
        ls = self._ls(lockspace)
        argv = ["sanlock", "direct", "read_leader", "-s",
                "%s:%d:%s:0" % (ls.name, host_id, ls.backing)] + ls.geometry_args()
        r = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        if r.returncode != 0 or "read_leader done 0" not in r.stdout:
            raise SimClusterError("%s failed (rc %d): %s %s"
                                  % (" ".join(argv), r.returncode, r.stdout, r.stderr))
        out = {}
        for line in r.stdout.splitlines():
            parts = line.split(None, 1)
            if not parts or line.startswith("read_leader done"):
                continue
            val = parts[1].strip() if len(parts) > 1 else ""
            if re.fullmatch(r"-?\d+", val):
                out[parts[0]] = int(val)
            elif re.fullmatch(r"0x[0-9a-fA-F]+", val):
                out[parts[0]] = int(val, 16)
            else:
                out[parts[0]] = val
        return out


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
