# SPDX-License-Identifier: GPL-2.0-or-later
"""What this host's sanlk-resetd was told, kept in a small file shared by its writers.

The resetd sync service, its --once runs and unfencing (which registers its own
lockspaces) all read and write it under an flock, so that nothing is registered twice
and a restarted service knows what the running sanlk-resetd watches (the socket's
identity says whether it is still the same sanlk-resetd).
"""

import fcntl
import json
import logging
import os

DEFAULT_STATE_FILE = "/run/fence-sanlock-vdsm/resetd-sync.json"

log = logging.getLogger("resetd-sync")


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
        self.path = DEFAULT_STATE_FILE if path == "" else path
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
