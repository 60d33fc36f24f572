# SPDX-License-Identifier: GPL-2.0-or-later
"""wdmd's own client API (libwdmd.so.1), every call bounded, every error typed.

The responder arms this host's watchdog the way sanlk-resetd does: it holds one
connection to wdmd, registered under a name and with its refcount set, and arms by
telling wdmd that this connection's lease expires "now". What wdmd (wdmd/main.c)
does with such a connection, and why the responder relies on it:

- a registered client that never called test_live has no expire time and is never
  tested: it cannot trip the watchdog while the host is healthy;
- the refcount keeps wdmd from exiting cleanly (and disarming the device with the
  magic close) while the connection is open; a connection closed *before* any
  test_live is simply forgotten, refcount included;
- test_live(now, now): at its next test (every test_interval seconds) wdmd finds the
  client expired, closes the device without the magic character and stops petting
  it, so the device fires fire_timeout seconds later; a connection closed *after*
  that keeps failing every test (wdmd keeps the dead client), so the reset happens
  even if the responder dies;
- wdmd_status answers on the same connection, in order: a status reply that follows
  a test_live proves wdmd has processed the test_live (a bare send only proves that
  the message was queued, which is all sanlk-resetd checks).

libwdmd talks to the socket under the hard-coded /run/wdmd (a simulated host has a
private one). Its calls block in send()/recv() without a timeout, so each runs with a
deadline (bounded.call); a connection whose call missed its deadline is never used
again, because its reply may still arrive. libwdmd's status leaves its result
unset when wdmd closes the connection instead of answering, so a status is believed
only when the connection is still open afterwards and the values are plausible.
"""

import ctypes
import errno
import os
import socket
import struct
import time
from collections import namedtuple

from ..core import bounded
from ..core.errors import DaemonError

LIBRARY = "libwdmd.so.1"
RUN_DIR = "/run/wdmd"              # libwdmd's hard-coded directory (wdmd_sock.h)
SOCKET = RUN_DIR + "/wdmd.sock"
NAME_SIZE = 128                    # WDMD_NAME_SIZE
CALL_DEADLINE = 5.0                # wdmd answers from memory; it polls every second or so

# test_interval: seconds between wdmd's tests; fire_timeout: the device's timeout as wdmd
# set it; last_keepalive: wdmd's CLOCK_MONOTONIC second of its last pet (0: never)
Status = namedtuple("Status", "test_interval fire_timeout last_keepalive")


class WdmdError(DaemonError):
    """wdmd cannot do what was asked. errno: the error number, when there was one."""


class WdmdMissing(WdmdError):
    """libwdmd.so.1 is not installed."""


class WdmdDown(WdmdError):
    """No wdmd answers on its socket, or it closed the connection."""


class WdmdHung(WdmdError):
    """wdmd did not answer within the deadline."""


_library = None


def load(path=LIBRARY):
    """The library with its prototypes (loaded once per process)."""
    global _library
    if _library is not None and path == LIBRARY:
        return _library
    try:
        lib = ctypes.CDLL(path, use_errno=True)
    except OSError:
        raise WdmdMissing("%s is missing: install sanlock's library (libsanlock1 on "
                          "Debian and Ubuntu, sanlock-lib on EL)" % path) from None
    c_int, c_u64 = ctypes.c_int, ctypes.c_uint64
    lib.wdmd_connect.argtypes = []
    lib.wdmd_register.argtypes = [c_int, ctypes.c_char_p]
    lib.wdmd_refcount_set.argtypes = [c_int]
    lib.wdmd_refcount_clear.argtypes = [c_int]
    lib.wdmd_test_live.argtypes = [c_int, c_u64, c_u64]
    lib.wdmd_status.argtypes = [c_int, ctypes.POINTER(c_int), ctypes.POINTER(c_int),
                                ctypes.POINTER(c_u64)]
    for fn in (lib.wdmd_connect, lib.wdmd_register, lib.wdmd_refcount_set,
               lib.wdmd_refcount_clear, lib.wdmd_test_live, lib.wdmd_status):
        fn.restype = c_int
    if path == LIBRARY:
        _library = lib
    return lib


def monotonic_seconds():
    """wdmd's clock: CLOCK_MONOTONIC in whole seconds."""
    return int(time.monotonic())


class Connection:
    """One connection to wdmd. Not thread-safe: one call at a time."""

    def __init__(self, lib=None, deadline=CALL_DEADLINE):
        self.lib = lib or load()
        self.deadline = deadline
        self.fd = None
        self.broken = None        # why this connection may not be used any more

    def __enter__(self):
        return self.connect()

    def __exit__(self, *exc):
        self.close()
        return False

    def _call(self, doing, fn, *args):
        if self.broken:
            raise WdmdDown("the connection to wdmd is unusable (%s)" % self.broken)
        try:
            rv = bounded.call(lambda: fn(*args), self.deadline, doing)
        except bounded.CallTimeout:
            self.broken = "it did not answer while %s" % doing
            raise WdmdHung("wdmd did not answer within %.0f s while %s: it is stopped or "
                           "overloaded; check it (systemctl status wdmd)"
                           % (self.deadline, doing)) from None
        if rv < 0:
            code = -rv
            if code in (errno.ENOENT, errno.ECONNREFUSED, errno.EPIPE, errno.ECONNRESET,
                        errno.ENOTCONN):
                self.broken = "wdmd went away"
                raise WdmdDown("wdmd is not running (no answer on %s) while %s: start "
                               "wdmd (systemctl start wdmd)" % (SOCKET, doing), code)
            if code in (errno.EACCES, errno.EPERM):
                raise WdmdError("permission denied on %s while %s: run as root"
                                % (SOCKET, doing), code)
            raise WdmdError("wdmd failed while %s: %s" % (doing, os.strerror(code)), code)
        return rv

    def connect(self):
        self.fd = self._call("connecting", self.lib.wdmd_connect)
        return self

    def register(self, name):
        raw = name.encode("utf-8")
        if len(raw) >= NAME_SIZE:
            raise ValueError("wdmd client name longer than %d bytes" % (NAME_SIZE - 1))
        self._call("registering as %s" % name, self.lib.wdmd_register, self.fd, raw)

    def refcount_set(self):
        self._call("setting the refcount", self.lib.wdmd_refcount_set, self.fd)

    def refcount_clear(self):
        self._call("clearing the refcount", self.lib.wdmd_refcount_clear, self.fd)

    def test_live(self, renewal, expire):
        self._call("sending test_live", self.lib.wdmd_test_live, self.fd, renewal, expire)

    def status(self):
        """Status; WdmdDown when wdmd closed the connection instead of answering."""
        interval, fire, keepalive = ctypes.c_int(0), ctypes.c_int(0), ctypes.c_uint64(0)
        self._call("asking its status", self.lib.wdmd_status, self.fd, ctypes.byref(interval),
                   ctypes.byref(fire), ctypes.byref(keepalive))
        if self.peer_closed():
            self.broken = "wdmd closed it"
            raise WdmdDown("wdmd closed the connection instead of answering its status: it "
                           "is exiting or restarting; check it (systemctl status wdmd)")
        result = Status(interval.value, fire.value, keepalive.value)
        if not (0 < result.test_interval <= 3600 and 0 < result.fire_timeout <= 65535):
            raise WdmdError("wdmd's status makes no sense (test interval %d, fire timeout "
                            "%d): is it wdmd that listens on %s?"
                            % (result.test_interval, result.fire_timeout, SOCKET))
        return result

    def _socket(self):
        # a duplicate of the fd, for the socket calls libwdmd does not offer
        return socket.socket(socket.AF_UNIX, socket.SOCK_STREAM, 0, os.dup(self.fd))

    def peer_closed(self):
        """True when wdmd has closed its end (wdmd never sends unless asked)."""
        sock = self._socket()
        try:
            # MSG_DONTWAIT, not setblocking(False): the duplicate shares the file's
            # flags with libwdmd's fd, whose recv(MSG_WAITALL) must keep blocking
            try:
                return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
            except BlockingIOError:
                return False
            except OSError:
                return True
        finally:
            sock.close()

    def peer(self):
        """(pid, uid, gid) of the process that listens on wdmd's socket (SO_PEERCRED)."""
        sock = self._socket()
        try:
            raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                  struct.calcsize("3i"))
        finally:
            sock.close()
        return struct.unpack("3i", raw)

    def close(self):
        if self.fd is not None and self.fd >= 0:
            try:
                os.close(self.fd)
            except OSError:
                pass
        self.fd = None


def status(lib=None, deadline=CALL_DEADLINE):
    """(Status, wdmd's pid) through a short-lived, unregistered connection: closing it
    changes nothing in wdmd (it has no expire time)."""
    with Connection(lib, deadline) as con:
        return con.status(), con.peer()[0]
