"""Keep the local sanlk-resetd watching every lockspace the local sanlock daemon has joined.

A host can be fenced through a lockspace only if its sanlk-resetd has registered for
that lockspace's events. vdsm joins and leaves storage-domain lockspaces as domains
come and go and knows nothing about sanlk-resetd, so this service does the matching:
every few seconds it compares the daemon's lockspaces with what sanlk-resetd was told
and sends "reg" for new ones and "end" for ones the host has left.

sanlk-resetd's update socket (/run/sanlk-resetd/sanlk-resetd.sock) takes datagrams of
exactly 256 bytes holding "reg NAME", "end NAME" or "clear all", NUL padded, and
answers nothing. Facts about its side that shape this module:

- it keeps at most 64 lockspaces; a "reg" beyond that is dropped without a word, so
  this service counts its own registrations and holds the rest back;
- a "reg" of a name it already has ends and re-registers it (its event fd is closed
  for a moment), so nothing is ever sent twice for the same registration;
- it unlinks and re-binds its socket at every start, so a new inode on that path is a
  new sanlk-resetd with an empty list: everything is registered again;
- when the sanlock daemon leaves a lockspace, sanlk-resetd's event fd fails and it
  drops the registration by itself; the "end" sent here is then a harmless no-op.

What was registered, and with which sanlk-resetd (its socket's identity), is kept in a
small state file, so that restarting this service, or `--once` runs, and the unfence
action (which registers one lockspace itself) never re-register anything needlessly.
The file is read and written under an flock, so they may run concurrently.

The datagram protocol is spoken directly rather than through `sanlk-reset reg`:
the errno of each send tells a stopped sanlk-resetd (ECONNREFUSED, ENOENT) from a
full queue (EAGAIN), the socket's identity can be checked around the sends in the
same process, and no process is forked per lockspace.
"""

import argparse
import errno
import fcntl
import json
import logging
import os
import signal
import socket
import sys
import time

from .errors import FenceError
from .service import setup_logging

RESETD_SOCKET = "/run/sanlk-resetd/sanlk-resetd.sock"
RESETD_MAX_LOCKSPACES = 64     # sanlk-resetd's MAX_LS
UPDATE_SIZE = 256              # sanlk-resetd reads exactly this many bytes per datagram
DEFAULT_STATE_FILE = "/run/fence-sanlock-vdsm/resetd-sync.json"
STATE_FILE_ENV = "FENCE_SANLOCK_VDSM_RESETD_STATE"   # overrides it (tests, odd layouts)
DEFAULT_INTERVAL = 3.0
MAX_NAME_BYTES = 48

log = logging.getLogger("resetd-sync")


# ------------------------------------------------------------------ sanlk-resetd

class ResetdDown(FenceError):
    """No sanlk-resetd answers on its socket."""


class ResetdClient:
    """Sends update commands to a local sanlk-resetd, the way `sanlk-reset reg/end` does."""

    def __init__(self, path=RESETD_SOCKET):
        self.path = path

    def identity(self):
        """(st_dev, st_ino, st_ctime_ns) of the socket file, or None when it is missing.

        sanlk-resetd unlinks and binds its socket at every start, so a new identity is
        a new sanlk-resetd that watches nothing yet.
        """
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        except OSError as err:
            raise ResetdDown("cannot look at %s: %s" % (self.path, err.strerror)) from None
        return (st.st_dev, st.st_ino, st.st_ctime_ns)

    def _socket(self):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.settimeout(2.0)
        try:
            sock.connect(self.path)
        except OSError as err:
            sock.close()
            raise self._error(err, "connecting to") from None
        return sock

    def _error(self, err, doing):
        if err.errno in (errno.ENOENT, errno.ECONNREFUSED, errno.ENOTSOCK):
            return ResetdDown("sanlk-resetd is not running (nothing listens on %s)"
                              % self.path)
        if err.errno in (errno.EACCES, errno.EPERM):
            return FenceError("permission denied %s %s: run as root" % (doing, self.path))
        return FenceError("%s %s failed: %s" % (doing, self.path, err.strerror or err))

    def running(self):
        """True when a sanlk-resetd is bound to the socket (connect sends nothing)."""
        try:
            self._socket().close()
        except ResetdDown:
            return False
        return True

    def send(self, command, names):
        """Send `command NAME` for each name; returns the names sent before any error.

        Raises ResetdDown (sanlk-resetd gone) or FenceError; the exception carries the
        names already sent in its `sent` attribute.
        """
        sent = []
        try:
            sock = self._socket()
        except FenceError as err:
            err.sent = sent
            raise
        try:
            for name in names:
                data = encode_update(command, name)
                try:
                    sock.send(data)
                except OSError as err:
                    failure = self._error(err, "sending '%s %s' to" % (command, name))
                    failure.sent = sent
                    raise failure from None
                sent.append(name)
        finally:
            sock.close()
        return sent


def name_problem(name):
    """Why sanlk-resetd cannot be asked to watch `name`, or None."""
    raw = name.encode("utf-8", "replace")
    if not name or any(ch.isspace() for ch in name) or not name.isprintable():
        return "its name is empty or holds spaces or control characters, which " \
               "sanlk-resetd's update protocol cannot carry"
    if len(raw) > MAX_NAME_BYTES:
        return "its name is longer than sanlock's %d bytes" % MAX_NAME_BYTES
    return None


def encode_update(command, name):
    text = ("%s %s" % (command, name)).encode("utf-8")
    if len(text) >= UPDATE_SIZE:
        raise ValueError("update too long: %r" % text)
    return text + b"\0" * (UPDATE_SIZE - len(text))


# ------------------------------------------------------------------ state file

class SyncState:
    """What this host's sanlk-resetd was told: its socket identity and, per lockspace
    name, the key (host id, path, offset, generation) of the lockspace registered."""

    def __init__(self, resetd=None, registered=None):
        self.resetd = resetd
        self.registered = dict(registered or {})

    def to_json(self):
        return {"resetd": list(self.resetd) if self.resetd else None,
                "registered": {name: list(key) for name, key in
                               sorted(self.registered.items())}}

    @classmethod
    def from_json(cls, data):
        resetd = data.get("resetd")
        registered = {name: tuple(key) for name, key in
                      (data.get("registered") or {}).items()}
        return cls(tuple(resetd) if resetd else None, registered)


class StateFile:
    """A SyncState on disk, read-modify-written under an exclusive flock.

    path None keeps the state in memory only (tests, or a state dir that cannot be
    created): then a restart of the service re-registers everything once.
    """

    def __init__(self, path=""):
        self.path = (os.environ.get(STATE_FILE_ENV) or DEFAULT_STATE_FILE) if path == "" \
            else path
        self._memory = SyncState()
        self._lock_fd = None

    def __enter__(self):
        if self.path is None:
            return self._memory
        os.makedirs(os.path.dirname(self.path) or ".", mode=0o755, exist_ok=True)
        self._lock_fd = os.open(self.path + ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC,
                                0o600)
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        try:
            with open(self.path) as handle:
                self._memory = SyncState.from_json(json.load(handle))
        except FileNotFoundError:
            self._memory = SyncState()
        except (ValueError, TypeError, AttributeError) as err:
            log.warning("ignoring unreadable state file %s (%s): every lockspace will be "
                        "registered again", self.path, err)
            self._memory = SyncState()
        return self._memory

    def __exit__(self, exc_type, exc, tb):
        if self.path is None:
            return False
        try:
            if exc_type is None:
                tmp = "%s.tmp.%d" % (self.path, os.getpid())
                with open(tmp, "w") as handle:
                    json.dump(self._memory.to_json(), handle)
                os.replace(tmp, self.path)
        finally:
            os.close(self._lock_fd)
            self._lock_fd = None
        return False


# ------------------------------------------------------------------ the local daemon

class LocalLockspaces:
    """One look at the local sanlock daemon: stable lockspaces and those in transition.

    stable: {name: key}, key = (host id, path, offset, generation): the generation
    changes at every join, so a lockspace left and joined again between two looks is
    still seen as new. transition: {name: "being added" | "being removed" | reason}.
    unsure: names joined whose generation could not be read this time (left as they are).
    """

    def __init__(self, stable, transition, unsure=()):
        self.stable = stable
        self.transition = transition
        self.unsure = set(unsure)


def look_at_daemon(proxy):
    """LocalLockspaces from a proxy.Proxy; raises FenceError when the daemon does not answer."""
    stable, transition, unsure = {}, {}, set()
    for name, space in proxy.joined().items():
        if space.adding:
            transition[name] = "being added"
            continue
        if space.removing:
            transition[name] = "being removed"
            continue
        try:
            view = proxy.host(name, space.host_id, retry_seconds=0)
        except FenceError as err:
            transition[name] = str(err)
            unsure.add(name)
            continue
        stable[name] = (space.host_id, space.path, space.offset, view.generation)
    return LocalLockspaces(stable, transition, unsure)


# ------------------------------------------------------------------ the decision (pure)

class Plan:
    def __init__(self, end, reg, waiting, unusable):
        self.end = end              # [name] to end: no longer joined as registered
        self.reg = reg              # [name] to register, in this order
        self.waiting = waiting      # [name] wanted but held back by the limit
        self.unusable = unusable    # {name: reason} that can never be registered


def plan(registered, stable, wanted=None, capacity=RESETD_MAX_LOCKSPACES, unsure=()):
    """Decide what to send.

    registered: {name: key} sanlk-resetd was told; stable: {name: key} joined now;
    wanted: None (every joined lockspace) or a set of names (a configured subset).

    A registration whose lockspace is no longer joined with the same key is ended (a
    changed key means left and joined again: "reg" alone redoes it). Registrations of
    joined lockspaces outside `wanted` are left alone: someone registered them on
    purpose (the unfence action). New registrations are capped at `capacity` in all.
    Registrations of `unsure` lockspaces (joined, but not readable this time) are kept.
    """
    end, reg, waiting, unusable = [], [], [], {}
    kept = 0
    for name in sorted(registered):
        key = stable.get(name)
        if name in unsure:
            kept += 1
        elif key is None:
            end.append(name)
        elif key != registered[name]:
            reg.append(name)        # re-joined: its old registration is gone
            kept += 1
        else:
            kept += 1
    room = capacity - kept
    for name in sorted(stable):
        if name in registered or (wanted is not None and name not in wanted):
            continue
        problem = name_problem(name)
        if problem:
            unusable[name] = problem
        elif room > 0:
            reg.append(name)
            room -= 1
        else:
            waiting.append(name)
    return Plan(end, reg, waiting, unusable)


# ------------------------------------------------------------------ one pass

class Syncer:
    """One sync pass at a time; remembers only what it has already logged."""

    def __init__(self, proxy, client=None, state_file=None, wanted=None,
                 capacity=RESETD_MAX_LOCKSPACES, watchdog=None):
        """watchdog: a callable giving None while this host's watchdog is in use, else the
        reason (watchdog_check.check); None skips the check (tests without a watchdog)."""
        self.proxy = proxy
        self.watchdog = watchdog
        self.client = client or ResetdClient()
        self.state_file = state_file if state_file is not None else StateFile(None)
        self.wanted = set(wanted) if wanted else None
        self.capacity = capacity
        self._said = {}             # topic -> last message logged for it
        self.last = None            # the last Result

    def _say_once(self, topic, level, message, *args):
        text = message % args if args else message
        if self._said.get(topic) != text:
            self._said[topic] = text
            log.log(level, "%s", text)

    def _clear(self, topic):
        return self._said.pop(topic, None) is not None

    def step(self):
        """Bring sanlk-resetd in line once. Returns a Result."""
        result = Result()
        try:
            local = look_at_daemon(self.proxy)
        except FenceError as err:
            return self._daemon_down(result, err)
        if self._clear("daemon"):
            log.info("the sanlock daemon answers again")
        result.local = local
        for name, reason in sorted(local.transition.items()):
            if self.wanted is None or name in self.wanted:
                result.pending[name] = reason
        if self.wanted:
            for name in sorted(self.wanted - set(local.stable) - set(local.transition)):
                result.pending[name] = "this host's sanlock daemon has not joined it"
        with self.state_file as state:
            self._step_locked(state, local, result)
        self.last = result
        return result

    def _daemon_down(self, result, err):
        """The daemon does not answer: its lockspaces and sanlk-resetd's fds are gone."""
        self._say_once("daemon", logging.WARNING, "cannot list this host's lockspaces: %s; "
                       "retrying every poll", err)
        result.problem = str(err)
        with self.state_file as state:
            if state.registered:
                log.info("forgetting %d registration(s): sanlk-resetd drops them when the "
                         "sanlock daemon goes away", len(state.registered))
                state.registered = {}
        self.last = result
        return result

    def _step_locked(self, state, local, result):
        try:
            identity = self.client.identity()
        except ResetdDown as err:
            identity, problem = None, str(err)
        else:
            problem = "sanlk-resetd is not running (no socket %s)" % self.client.path
        if identity is not None and not self.client.running():
            identity = None    # a socket file left by a sanlk-resetd that has exited
            problem = "sanlk-resetd is not running (nothing listens on %s)" % self.client.path
        if identity is None:
            self._resetd_down(state, problem, local, result)
            return
        unsafe = self.watchdog() if self.watchdog is not None else None
        if unsafe:
            self._watchdog_unsafe(state, unsafe, local, result)
            return
        self._clear("watchdog")
        if state.resetd != identity:
            wanted_now = [n for n in local.stable
                          if self.wanted is None or n in self.wanted]
            if state.resetd is not None or state.registered:
                log.info("sanlk-resetd was restarted (new socket): registering the %d "
                         "lockspace(s) again", len(wanted_now))
            else:
                log.info("sanlk-resetd is running: registering %d lockspace(s)",
                         len(wanted_now))
            state.resetd = identity
            state.registered = {}
            self._clear("resetd")
        todo = plan(state.registered, local.stable, self.wanted, self.capacity, local.unsure)
        try:
            self._apply(state, local, todo)
        except ResetdDown as err:
            self._resetd_down(state, str(err), local, result)
            return
        except FenceError as err:
            self._say_once("send", logging.WARNING, "%s; retrying at the next poll", err)
            result.problem = str(err)
            todo.waiting = []        # not known to be the limit until every send went out
        else:
            self._clear("send")
        if self.client.identity() != identity:
            # restarted while we were sending: nothing above can be trusted
            state.resetd = None
            state.registered = {}
            result.problem = "sanlk-resetd restarted during the update"
            return
        self._report_limit(todo, state)
        for name, reason in todo.unusable.items():
            self._say_once("unusable:" + name, logging.ERROR,
                           "cannot ask sanlk-resetd to watch lockspace %s: %s; this host "
                           "cannot be fenced through it", name, reason)
            result.pending[name] = reason
        for name in todo.waiting:
            result.pending[name] = ("sanlk-resetd's limit of %d lockspaces is reached"
                                    % self.capacity)
        result.registered = dict(state.registered)
        result.resetd = identity

    def _apply(self, state, local, todo):
        for name in todo.end:
            try:
                self.client.send("end", [name])
            except ResetdDown:
                raise
            del state.registered[name]
            log.info("stopped watching lockspace %s: this host left it", name)
        for name in todo.reg:
            key = local.stable[name]
            again = name in state.registered
            self.client.send("reg", [name])
            state.registered[name] = key
            log.info("watching lockspace %s%s: this host (host id %d, generation %d) can be "
                     "fenced through it (%d of %d lockspaces watched)",
                     name, " again (rejoined)" if again else "", key[0], key[3],
                     len(state.registered), self.capacity)

    def _watchdog_unsafe(self, state, problem, local, result):
        """No registration while a reply would promise a reset nothing carries out."""
        wanted_now = [n for n in local.stable if self.wanted is None or n in self.wanted]
        self._say_once("watchdog", logging.ERROR, "not asking sanlk-resetd to watch any "
                       "lockspace: %s", problem)
        if state.registered:
            try:
                self.client.send("end", sorted(state.registered))
            except FenceError as err:
                log.warning("could not withdraw the registrations: %s", err)
            else:
                state.registered = {}
        result.problem = problem
        for name in wanted_now:
            result.pending[name] = problem

    def _resetd_down(self, state, problem, local, result):
        wanted_now = [n for n in local.stable if self.wanted is None or n in self.wanted]
        self._say_once("resetd", logging.WARNING,
                       "%s: this host cannot be fenced through its %d lockspace(s) until it "
                       "runs; retrying every poll", problem, len(wanted_now))
        state.resetd = None
        state.registered = {}
        result.problem = problem
        for name in wanted_now:
            result.pending[name] = problem

    def _report_limit(self, todo, state):
        if todo.waiting:
            self._say_once("limit", logging.ERROR,
                           "sanlk-resetd's limit of %d lockspaces is reached: %d joined "
                           "lockspace(s) are not watched, so this host cannot be fenced "
                           "through them: %s (they are registered as soon as the host "
                           "leaves others)", self.capacity, len(todo.waiting),
                           ", ".join(todo.waiting))
        elif self._clear("limit"):
            log.info("every joined lockspace is watched again (%d of %d)",
                     len(state.registered), self.capacity)


class Result:
    """What one pass found: registered {name: key}, pending {name: why not watched}."""

    def __init__(self):
        self.local = None
        self.resetd = None
        self.registered = {}
        self.pending = {}
        self.problem = None

    @property
    def in_sync(self):
        return not self.pending and self.problem is None


# ------------------------------------------------------------------ the command

def _names(values):
    names = set()
    for value in values or ():
        names.update(n.strip() for n in value.split(",") if n.strip())
    return names


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="fence-sanlock-vdsm-resetd-sync",
        description="Keep the local sanlk-resetd watching every lockspace the local sanlock "
                    "daemon has joined, so that fence_sanlock_vdsm can fence this host "
                    "through any of them.")
    parser.add_argument("-i", "--interval", type=float, default=DEFAULT_INTERVAL,
                        help="seconds between checks (default %(default)s)")
    parser.add_argument("--once", action="store_true",
                        help="check once and exit: 0 when every lockspace is watched, 1 "
                             "when some cannot be (the reasons are logged)")
    parser.add_argument("-l", "--lockspace", action="append", metavar="NAME[,NAME...]",
                        help="watch only these lockspaces (repeatable); default: every "
                             "lockspace the daemon has joined")
    parser.add_argument("--state-file",
                        default=os.environ.get(STATE_FILE_ENV) or DEFAULT_STATE_FILE,
                        help="what sanlk-resetd was told (default %(default)s); "
                             "'none' keeps it in memory")
    parser.add_argument("--resetd-socket", default=RESETD_SOCKET, help=argparse.SUPPRESS)
    parser.add_argument("--max-lockspaces", type=int, default=RESETD_MAX_LOCKSPACES,
                        help=argparse.SUPPRESS)
    parser.add_argument("--no-watchdog-check", action="store_true",
                        help="register lockspaces even when wdmd pets no watchdog device "
                             "(for test hosts only: their resets are acknowledged and never "
                             "carried out)")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    if args.interval <= 0:
        parser.error("--interval must be more than 0")
    return args


def main(argv=None, proxy_factory=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    setup_logging(args.verbose)
    if proxy_factory is None:
        from .proxy import Proxy as proxy_factory
    try:
        proxy = proxy_factory()
    except FenceError as err:
        log.error("%s", err)
        return 1
    state_path = None if args.state_file.lower() == "none" else args.state_file
    wanted = _names(args.lockspace)
    from . import watchdog_check
    syncer = Syncer(proxy, ResetdClient(args.resetd_socket), StateFile(state_path),
                    wanted or None, args.max_lockspaces,
                    watchdog=None if args.no_watchdog_check else watchdog_check.check)

    if args.once:
        result = syncer.step()
        for name, why in sorted(result.pending.items()):
            log.warning("lockspace %s is not watched: %s", name, why)
        return 0 if result.in_sync else 1

    stopping = []

    def stop(signum, _frame):
        stopping.append(signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info("started: keeping sanlk-resetd watching %s, checking every %g s",
             ", ".join(sorted(wanted)) if wanted else "every joined lockspace", args.interval)
    while not stopping:
        try:
            syncer.step()
        except Exception as err:    # keep serving: one bad pass must not stop fencing
            log.exception("unexpected %s: %s", type(err).__name__, err)
        deadline = time.monotonic() + args.interval
        while not stopping and time.monotonic() < deadline:
            time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))
    log.info("stopped (signal %d); sanlk-resetd keeps its registrations", stopping[0])
    return 0
