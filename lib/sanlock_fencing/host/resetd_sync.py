# SPDX-License-Identifier: GPL-2.0-or-later
"""Keep the local sanlk-resetd watching every lockspace the local sanlock daemon has joined.

A host can be fenced through a lockspace only if its sanlk-resetd has registered for
that lockspace's events. vdsm joins and leaves storage-domain lockspaces as domains
come and go and knows nothing about sanlk-resetd, so this service does the matching:
every few seconds it compares the daemon's lockspaces with what sanlk-resetd was told
(sync_state) and sends "reg" for new ones and "end" for ones the host has left
(resetd_protocol, sync_plan). It registers nothing while this host's watchdog is not
in use (watchdog_check): a reply would then promise a reset nothing carries out.
(About 290 lines: the Syncer says each change once in the journal, which takes room.)
"""

import argparse
import logging
import sys

from . import service
from ..core import watchdog_check
from ..core.errors import FenceError
from ..core.proxy import Proxy
from ..core.resetd_protocol import RESETD_MAX_LOCKSPACES, RESETD_SOCKET, ResetdClient, ResetdDown
from .sync_plan import look_at_daemon, plan
from .sync_state import DEFAULT_STATE_FILE, StateFile

DEFAULT_INTERVAL = 3.0

log = logging.getLogger("resetd-sync")


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
            result.over_limit.add(name)
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


def register(proxy, names, client, state_file, capacity=RESETD_MAX_LOCKSPACES, watchdog=None):
    """One pass for just these lockspaces (unfencing): have sanlk-resetd watch them now,
    sharing the service's state file. Returns the Result."""
    return Syncer(proxy, client, state_file, set(names), capacity, watchdog).step()


class Result:
    """What one pass found: registered {name: key}, pending {name: why not watched}."""

    def __init__(self):
        self.local = None
        self.resetd = None
        self.registered = {}
        self.pending = {}
        self.over_limit = set()     # names held back by sanlk-resetd's limit
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
    arguments = service.parser(
        "fence-sanlock-vdsm-resetd-sync",
        "Keep the local sanlk-resetd watching every lockspace the local sanlock daemon has "
        "joined, so that fence_sanlock_vdsm can fence this host through any of them.",
        DEFAULT_INTERVAL)
    arguments.add_argument("--once", action="store_true",
                           help="check once and exit: 0 when every lockspace is watched, 1 "
                                "when some cannot be (the reasons are logged)")
    arguments.add_argument("-l", "--lockspace", action="append", metavar="NAME[,NAME...]",
                           help="watch only these lockspaces (repeatable); default: every "
                                "lockspace the daemon has joined")
    arguments.add_argument("--state-file", default=DEFAULT_STATE_FILE,
                           help="what sanlk-resetd was told (default %(default)s); 'none' "
                                "keeps it in memory")
    arguments.add_argument("--resetd-socket", default=RESETD_SOCKET, help=argparse.SUPPRESS)
    arguments.add_argument("--max-lockspaces", type=int, default=RESETD_MAX_LOCKSPACES,
                           help=argparse.SUPPRESS)
    arguments.add_argument("--no-watchdog-check", action="store_true",
                           help="register lockspaces even when wdmd pets no watchdog device "
                                "(for test hosts only: their resets are acknowledged and "
                                "never carried out)")
    return service.parse(arguments, argv)


def main(argv=None, proxy_factory=None):
    args = parse_args(argv)
    proxy_factory = proxy_factory or Proxy
    try:
        proxy = proxy_factory()
    except FenceError as err:
        log.error("%s", err)
        return 1
    state_path = None if args.state_file.lower() == "none" else args.state_file
    wanted = _names(args.lockspace)
    syncer = Syncer(proxy, ResetdClient(args.resetd_socket), StateFile(state_path),
                    wanted or None, args.max_lockspaces,
                    watchdog=None if args.no_watchdog_check else watchdog_check.check)
    if args.once:
        result = syncer.step()
        for name, why in sorted(result.pending.items()):
            log.warning("lockspace %s is not watched: %s", name, why)
        return 0 if result.in_sync else 1
    return service.run_until_signalled(
        syncer.step, args.interval, "keeping sanlk-resetd watching %s"
        % (", ".join(sorted(wanted)) if wanted else "every joined lockspace"))


if __name__ == "__main__":
    sys.exit(main())
