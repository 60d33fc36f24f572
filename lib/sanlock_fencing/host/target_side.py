# SPDX-License-Identifier: GPL-2.0-or-later
"""Which target side this host runs: the project's responder, or sanlk-resetd.

A host answers reset requests with one of two programs: fence-sanlock-vdsm-responder
(the default, on every platform) or sanlk-resetd kept watching by
fence-sanlock-vdsm-resetd-sync (EL8 and Debian, for interoperability). monitor and
on-target unfencing ask this module which one runs, then check that one's way.

How the responder is seen: for as long as it runs it holds an exclusive flock on
RESPONDER_LOCK. The kernel drops the lock when the process ends, however it ends, so
there is no stale pid file to trust. The file is root's and 0600 in root's 0755
/run/fence-sanlock-vdsm: only root can open it, so no other process can hold the lock and
pose as the responder. It holds the responder's pid and the watchdog sysfs directory it
checks, so that monitor and unfencing judge the watchdog on the same devices it does.
sanlk-resetd is seen as the responder itself sees it: its socket accepts a connection.

Limits: a process that is not root cannot open the lock file; it is then told it
cannot tell (monitor run as vdsm). The responder's registrations are not visible from
outside: that it runs, and that the lockspace is joined, is what is checked.
"""

import errno
import fcntl
import json
import os
import stat
import time
from collections import namedtuple

from ..core.errors import FenceError
from ..core.resetd_protocol import ResetdClient

RESPONDER_LOCK = "/run/fence-sanlock-vdsm/responder.lock"
RESPONDER = "fence-sanlock-vdsm-responder"
LOCK_WAIT = 3.0           # a probe holds the lock a few microseconds: retry that long
DETAILS_LIMIT = 4096

# kind: "responder", "sanlk-resetd", "both", "none" or "unknown" (the responder could not
# be looked for, and no sanlk-resetd answers); pid and sysfs: the responder's
# (None when it does not run or did not say); note: why the responder could not be
# looked for (None when it could)
Side = namedtuple("Side", "kind pid sysfs note")


class OtherResponder(FenceError):
    """Another responder holds the lock: two would answer the same requests."""


def hold_responder_lock(sysfs, path=RESPONDER_LOCK, wait=LOCK_WAIT, sleep=time.sleep,
                        clock=time.monotonic):
    """Take the responder's lock for this process's life; returns the fd (keep it open).

    Raises OtherResponder when another process keeps it for `wait` seconds, OSError
    when the file cannot be made."""
    os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        os.fchmod(fd, 0o600)          # made by someone else's umask or an older version
        deadline = clock() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if clock() >= deadline:
                    raise OtherResponder("another %s runs on this host (%s) and holds %s: "
                                         "stop it first; two would answer the same requests"
                                         % (RESPONDER, _pid_text(_details(fd)), path))
                sleep(0.1)
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"pid": os.getpid(), "watchdog_sysfs": sysfs}).encode(), 0)
        return fd
    except BaseException:
        os.close(fd)
        raise


def _pid_text(details):
    pid = details.get("pid")
    return "pid %d" % pid if isinstance(pid, int) else "pid unknown"


def _details(fd):
    try:
        data = json.loads(os.pread(fd, DETAILS_LIMIT, 0).decode("utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def responder_presence(path=RESPONDER_LOCK, owner_uid=0):
    """(running, details, note): running True/False, or None when it cannot be told
    (note says why); details: what the responder wrote into its lock file."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except FileNotFoundError:
        return False, {}, None
    except OSError as err:
        if err.errno in (errno.EACCES, errno.EPERM):
            return None, {}, ("whether %s runs cannot be told without root (%s is root's)"
                              % (RESPONDER, path))
        if err.errno == errno.ELOOP:
            return None, {}, "%s is a symbolic link, which no responder makes" % path
        return None, {}, "cannot open %s: %s" % (path, err.strerror)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_uid != owner_uid or st.st_mode & 0o077:
            return None, {}, ("%s is not a file only root can open (owner %d, mode %o): it "
                              "proves nothing; remove it and restart %s"
                              % (path, st.st_uid, st.st_mode & 0o7777, RESPONDER))
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True, _details(fd), None
        return False, {}, None            # nobody holds it: closing releases ours
    finally:
        os.close(fd)


def which(client=None, lock_path=RESPONDER_LOCK, owner_uid=0):
    """The target side this host runs (a Side)."""
    running, details, note = responder_presence(lock_path, owner_uid)
    client = client or ResetdClient()
    try:
        resetd = client.running()
    except FenceError:
        resetd = False            # its socket refuses us: not root; the responder's view
    sysfs = details.get("watchdog_sysfs")
    pid = details.get("pid")
    side = Side("none", pid if isinstance(pid, int) else None,
                sysfs if isinstance(sysfs, str) else None, note)
    if running and resetd:
        return side._replace(kind="both")
    if running:
        return side._replace(kind="responder")
    if resetd:
        return side._replace(kind="sanlk-resetd")
    return side._replace(kind="unknown" if running is None else "none")


def both_problem(client):
    return ("both %s and sanlk-resetd (%s) run on this host and would answer the same "
            "requests: keep one (the responder: 'systemctl disable --now sanlk-resetd "
            "fence-sanlock-vdsm-resetd-sync')" % (RESPONDER, client.path))


def none_problem(client, side):
    """Why no reset request would be answered here (kind "none"), or why that cannot be
    told (kind "unknown")."""
    if side.kind == "unknown":
        return ("whether anything answers reset requests on this host cannot be told: %s; "
                "and no sanlk-resetd answers on %s" % (side.note, client.path))
    return ("nothing answers reset requests on this host: %s is not running (start it: "
            "'systemctl enable --now %s'), and no sanlk-resetd runs on this host either "
            "(nothing listens on %s)" % (RESPONDER, RESPONDER, client.path))


def responder_verdict(side, fenceable=None):
    """(ok, text) for a host running the responder: would it answer, and truly?
    fenceable: watchdog_fire.fenceable (tests pass another)."""
    if fenceable is None:
        from .watchdog_fire import SYSFS_WATCHDOG, fenceable as check
        sysfs = side.sysfs or SYSFS_WATCHDOG

        def fenceable():
            return check(sysfs)
    ok, text = fenceable()
    who = "%s%s" % (RESPONDER, " (pid %d)" % side.pid if side.pid else "")
    if ok:
        return True, "%s answers reset requests here: %s" % (who, text)
    return False, ("%s runs but answers no reset request: this host cannot be fenced: %s"
                   % (who, text))
