"""This host's sanlock daemon (the "proxy"), with errors a person can act on.

Every call to the sanlock python binding goes through here, so that a missing
daemon, a socket the user may not open, or a lockspace this host has not joined
becomes one clear FenceError instead of a traceback.
"""

import errno
import os
import time
from collections import namedtuple

from .errors import FenceError
from .hoststate import HostView

DEFAULT_RUN_DIR = "/run/sanlock"


class ProxyError(FenceError):
    """This host's sanlock daemon cannot do what the action needs."""


# host_id is this proxy's own host id in the lockspace; adding/removing: in transition
JoinedLockspace = namedtuple("JoinedLockspace", "name host_id path offset adding removing")


def socket_path():
    return os.path.join(os.environ.get("SANLOCK_RUN_DIR", DEFAULT_RUN_DIR), "sanlock.sock")


def _import_sanlock():
    try:
        import sanlock
    except ImportError:
        raise ProxyError("the sanlock python module is missing: install python3-sanlock "
                         "(and run the agent with /usr/bin/python3)") from None
    return sanlock


class Proxy:
    """Thin, error-translating access to the local sanlock daemon."""

    def __init__(self, sanlock_module=None):
        self.sanlock = sanlock_module or _import_sanlock()

    # -- errors ---------------------------------------------------------------------

    def _daemon_error(self, err, doing):
        code = getattr(err, "errno", None)
        if code in (errno.ENOENT, errno.ECONNREFUSED):
            return ProxyError("this host's sanlock daemon is not running (no answer on %s) "
                              "while %s: start sanlock on this host, or fence through another "
                              "host" % (socket_path(), doing))
        if code in (errno.EACCES, errno.EPERM):
            return ProxyError("permission denied on %s while %s: run the agent as root or as a "
                              "member of the sanlock group" % (socket_path(), doing))
        return ProxyError("sanlock failed while %s: %s" % (doing, err))

    # -- lockspaces -----------------------------------------------------------------

    def joined(self):
        """{name: JoinedLockspace} for every lockspace this host's daemon holds."""
        try:
            entries = self.sanlock.get_lockspaces()
        except self.sanlock.SanlockException as err:
            raise self._daemon_error(err, "listing its lockspaces") from None
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
        while True:
            try:
                return self.sanlock.get_hosts(lockspace.encode("utf-8"), host_id)
            except self.sanlock.SanlockException as err:
                code = getattr(err, "errno", None)
                if code == errno.EAGAIN and time.monotonic() < deadline:
                    time.sleep(0.2)   # joined, but no host check done yet
                    continue
                if code == errno.EAGAIN:
                    raise ProxyError("this host's sanlock daemon has joined lockspace %s but "
                                     "has not checked its hosts yet: retry in a few seconds"
                                     % lockspace) from None
                if code == errno.ENOENT:
                    raise ProxyError("this host's sanlock daemon has not joined lockspace %s "
                                     "(or has just left it)" % lockspace) from None
                raise self._daemon_error(err, "reading the hosts of %s" % lockspace) from None

    def host(self, lockspace, host_id, retry_seconds=5.0):
        """HostView of one host (FREE when it holds no lease)."""
        entries = self._get_hosts(lockspace, host_id, retry_seconds)
        for entry in entries:
            if entry["host_id"] == host_id:
                return HostView.from_sanlock(entry)
        return HostView.free(host_id)

    def hosts(self, lockspace, retry_seconds=5.0):
        """HostViews of every host with a lease in lockspace, by host id."""
        entries = self._get_hosts(lockspace, 0, retry_seconds)
        return sorted((HostView.from_sanlock(e) for e in entries), key=lambda v: v.host_id)

    # -- events ---------------------------------------------------------------------

    def register_events(self, lockspace):
        try:
            return self.sanlock.reg_event(lockspace.encode("utf-8"))
        except self.sanlock.SanlockException as err:
            raise self._daemon_error(err, "registering for events of %s" % lockspace) from None

    def read_events(self, fd):
        """Every pending event on fd (a list of dicts, possibly empty)."""
        pending = []
        while True:
            try:
                batch = self.sanlock.get_event(fd)
            except self.sanlock.SanlockException as err:
                if getattr(err, "errno", None) == errno.EAGAIN:
                    return pending
                raise self._daemon_error(err, "reading reset replies") from None
            if not batch:
                return pending
            pending.extend(batch)

    def end_events(self, fd, lockspace):
        try:
            self.sanlock.end_event(fd, lockspace.encode("utf-8"))
        except (self.sanlock.SanlockException, OSError):
            pass   # the daemon may be gone already; nothing left to clean up

    def send_event(self, lockspace, host_id, generation, event):
        """set_event; raises the SanlockException on EBUSY so the caller can wait its turn."""
        try:
            self.sanlock.set_event(lockspace.encode("utf-8"), host_id, generation, event)
        except self.sanlock.SanlockException as err:
            if getattr(err, "errno", None) == errno.EBUSY:
                raise
            raise self._daemon_error(err, "sending the reset request in %s" % lockspace) \
                from None

    def is_busy(self, err):
        return isinstance(err, self.sanlock.SanlockException) and \
            getattr(err, "errno", None) == errno.EBUSY
