# SPDX-License-Identifier: GPL-2.0-or-later
"""This host's sanlock daemon (the "proxy"): every call bounded, every error typed.

All calls to the sanlock python binding go through here. Each runs with a
deadline (bounded.call), because a stopped daemon accepts connections and never
answers. Errors are translated once, at this border, into the exceptions below;
their messages say what was wrong and what to do.
"""

import errno
import os
import time
from collections import namedtuple

from . import bounded
from .address import shown_name
from .errors import DaemonError
from .hoststate import HostView

DEFAULT_RUN_DIR = "/run/sanlock"
CALL_DEADLINE = 10.0    # the daemon answers these from memory in milliseconds


class ProxyError(DaemonError):
    """This host's sanlock daemon cannot do what the action needs.

    errno: the daemon's error number, when it gave one."""


class DaemonDown(ProxyError):
    """No daemon answers on the socket, or it went away during a call."""


class DaemonHung(ProxyError):
    """The daemon accepted the call but did not answer in time."""


class NotJoined(ProxyError):
    """The daemon has not joined that lockspace (or has just left it)."""


class NotReady(ProxyError):
    """Joined, but the daemon has not checked the lockspace's hosts yet."""


class EventSlotBusy(ProxyError):
    """The lockspace's one event slot holds another kind of event (EBUSY)."""


# host_id is this proxy's own host id in the lockspace; adding/removing: in transition
JoinedLockspace = namedtuple("JoinedLockspace", "name host_id path offset adding removing")


def socket_path():
    return os.path.join(os.environ.get("SANLOCK_RUN_DIR", DEFAULT_RUN_DIR), "sanlock.sock")


def import_sanlock():
    try:
        import sanlock
    except ImportError:
        raise ProxyError("the sanlock python module is missing: install python3-sanlock "
                         "(and run the agent with /usr/bin/python3)") from None
    return sanlock


class Proxy:
    """Bounded, error-translating access to the local sanlock daemon."""

    def __init__(self, sanlock_module=None, deadline=CALL_DEADLINE):
        self.sanlock = sanlock_module or import_sanlock()
        self.deadline = deadline
        self.until = None     # an absolute time.monotonic() no call may outlast (+1 s)

    def _call(self, doing, fn, *args):
        seconds = self.deadline
        if self.until is not None:
            seconds = max(0.5, min(seconds, self.until - time.monotonic() + 1))
        try:
            return bounded.call(lambda: fn(*args), seconds, doing)
        except bounded.CallTimeout:
            raise DaemonHung("this host's sanlock daemon did not answer within %.0f s while "
                             "%s: it is stopped or overloaded; check it (sanlock client status)"
                             ", or fence through another host" % (seconds, doing)) \
                from None
        except self.sanlock.SanlockException as err:
            raise self._translate(err, doing) from None

    def _translate(self, err, doing):
        code = getattr(err, "errno", None)
        # ENOENT is also the daemon's "no such lockspace": the socket tells them apart
        if code == errno.ECONNREFUSED or code == errno.ENOENT and \
                not os.path.exists(socket_path()):
            return DaemonDown("this host's sanlock daemon is not running (no answer on %s) "
                              "while %s: start sanlock on this host, or fence through another "
                              "host" % (socket_path(), doing))
        if code == errno.EACCES:
            return ProxyError("permission denied on %s while %s: run the agent as root or as "
                              "a member of the sanlock group" % (socket_path(), doing), code)
        if code in (errno.EPERM, errno.EPIPE, errno.ECONNRESET):
            # the client library returns -1 (EPERM) when the daemon closes the connection
            return DaemonDown("this host's sanlock daemon closed the connection while %s: it "
                              "stopped or crashed; check it, or fence through another host"
                              % doing, code)
        return ProxyError("sanlock failed while %s: %s" % (doing, err), code)

    # -- lockspaces -----------------------------------------------------------------

    def joined(self):
        """{name: JoinedLockspace} for every lockspace this host's daemon holds."""
        entries = self._call("listing its lockspaces", self.sanlock.get_lockspaces)
        result = {}
        for entry in entries:
            name = entry["lockspace"]
            if isinstance(name, bytes):
                name = name.decode("utf-8", "replace")
            flags = entry.get("flags", 0)
            result[name] = JoinedLockspace(
                name=name, host_id=entry["host_id"], path=entry["path"],
                offset=entry.get("offset", 0),
                adding=bool(flags & getattr(self.sanlock, "LSFLAG_ADD", 1)),
                removing=bool(flags & getattr(self.sanlock, "LSFLAG_REM", 2)))
        return result

    # -- hosts ----------------------------------------------------------------------

    def _get_hosts(self, lockspace, host_id, retry_seconds):
        deadline = time.monotonic() + retry_seconds
        doing = "reading the hosts of lockspace %s" % shown_name(lockspace)
        while True:
            try:
                return self._call(doing, self.sanlock.get_hosts, lockspace.encode("utf-8"),
                                  host_id)
            except ProxyError as err:
                code = err.errno
                if isinstance(err, DaemonDown) or code not in (errno.EAGAIN, errno.ENOENT):
                    raise
                if code == errno.ENOENT:
                    raise NotJoined("this host's sanlock daemon has not joined lockspace %s "
                                    "(or has just left it)" % shown_name(lockspace)) from None
                if time.monotonic() >= deadline:
                    raise NotReady("this host's sanlock daemon has joined lockspace %s but has "
                                   "not checked its hosts yet: retry in a few seconds"
                                   % shown_name(lockspace)) from None
                time.sleep(0.2)

    def host(self, lockspace, host_id, retry_seconds=5.0):
        """HostView of one host (FREE when it holds no lease)."""
        for entry in self._get_hosts(lockspace, host_id, retry_seconds):
            if entry["host_id"] == host_id:
                return HostView.from_sanlock(entry)
        return HostView.free(host_id)

    def hosts(self, lockspace, retry_seconds=5.0):
        """HostViews of every host with a lease in lockspace, by host id."""
        entries = self._get_hosts(lockspace, 0, retry_seconds)
        return sorted((HostView.from_sanlock(e) for e in entries), key=lambda v: v.host_id)

    # -- events ---------------------------------------------------------------------

    def register_events(self, lockspace):
        return self._call("registering for events of lockspace %s" % shown_name(lockspace),
                          self.sanlock.reg_event, lockspace.encode("utf-8"))

    def read_events(self, fd):
        """Every pending event on fd (a list of dicts, possibly empty)."""
        pending = []
        while True:
            try:
                batch = self._call("reading events", self.sanlock.get_event, fd)
            except ProxyError as err:
                if err.errno == errno.EAGAIN:
                    return pending
                raise
            if not batch:
                return pending
            pending.extend(batch)

    def end_events(self, fd, lockspace):
        try:
            self._call("ending event registration", self.sanlock.end_event, fd,
                       lockspace.encode("utf-8"))
        except (ProxyError, OSError):
            pass   # the daemon may be gone already; nothing left to clean up

    def withdraw_event(self, lockspace, host_id, generation):
        """Clear host_id's bit and this lockspace's event slot, so that a request still in
        the daemon's memory is not written at its next renewal (the daemon handles one
        clearing flag per call)."""
        for flag, what in ((self.sanlock.SETEV_CLEAR_HOSTID, "bit"),
                           (self.sanlock.SETEV_CLEAR_EVENT, "event")):
            self._call("withdrawing the reset request (%s) in lockspace %s"
                       % (what, shown_name(lockspace)),
                       self.sanlock.set_event, lockspace.encode("utf-8"), host_id, generation,
                       0, 0, flag)

    def send_event(self, lockspace, host_id, generation, event):
        try:
            self._call("sending the reset request in lockspace %s" % shown_name(lockspace),
                       self.sanlock.set_event, lockspace.encode("utf-8"), host_id,
                       generation, event)
        except ProxyError as err:
            if err.errno == errno.EBUSY:
                raise EventSlotBusy("lockspace %s's event slot on this host holds another "
                                    "kind of event" % shown_name(lockspace)) from None
            raise

    def send_reply(self, lockspace, host_id, generation, event, data=0):
        """A responder's reply, addressed to every host (as sanlk-resetd sends it); when the
        slot holds another kind of event (this host's own outgoing request), the reply
        replaces it: this host is being reset, its own request can no longer matter."""
        name = lockspace.encode("utf-8")
        doing = "replying in lockspace %s" % lockspace
        try:
            self._call(doing, self.sanlock.set_event, name, host_id, generation, event, data,
                       self.sanlock.SETEV_ALL_HOSTS)
        except ProxyError as err:
            if err.errno != errno.EBUSY:
                raise
            self._call(doing, self.sanlock.set_event, name, host_id, generation, event, data,
                       self.sanlock.SETEV_ALL_HOSTS | self.sanlock.SETEV_REPLACE_EVENT)
