# SPDX-License-Identifier: GPL-2.0-or-later
"""sanlk-resetd's update socket: the datagrams that tell it which lockspaces to watch.

sanlk-resetd (3.8.5) binds /run/sanlk-resetd/sanlk-resetd.sock and reads datagrams of
exactly 256 bytes holding "reg NAME", "end NAME" or "clear all", NUL padded; it answers
nothing. Facts about its side:

- it keeps at most 64 lockspaces; a "reg" beyond that is dropped without a word;
- a "reg" of a name it already has ends and re-registers it (its event fd is closed
  for a moment);
- it unlinks and re-binds its socket at every start, so a new inode on that path is a
  new sanlk-resetd with an empty list;
- when this host's sanlock daemon leaves a lockspace, sanlk-resetd's event fd fails and
  it ends that registration itself, writing to the closed connection: it dies of SIGPIPE
  unless SIGPIPE is ignored, as systemd does for services (IgnoreSIGPIPE=yes, the
  default). A hand-started sanlk-resetd must be started with SIGPIPE ignored too.

The protocol is spoken directly rather than through `sanlk-reset reg`: the errno of each
send tells a stopped sanlk-resetd (ECONNREFUSED, ENOENT) from a full queue (EAGAIN),
the socket's identity can be checked around the sends, and no process is forked per
lockspace.
"""

import errno
import os
import socket

from .errors import FenceError

RESETD_SOCKET = "/run/sanlk-resetd/sanlk-resetd.sock"
RESETD_MAX_LOCKSPACES = 64     # sanlk-resetd's MAX_LS
UPDATE_SIZE = 256              # sanlk-resetd reads exactly this many bytes per datagram
MAX_NAME_BYTES = 48


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
