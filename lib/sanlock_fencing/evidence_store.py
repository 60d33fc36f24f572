"""What observers on this host have seen of other hosts' leases, kept between processes.

A single look at a lease cannot prove a reset: a reply in a record may be carried
over from an earlier generation, or be the reply of a fence whose watchdog failed
(evidence.py). What tells them apart is history: having seen the reply arrive, and
the renewals after it. The fence agent and the witness service (witness.py) keep
that history here, one file per observer and lease generation, so that

- status on this host can say OFF as soon as an observer here proved the reset,
- a fence that was killed (Pacemaker's timeout) and is retried on this host, or a
  second fence of the same host, can use the arrival of the reply that an earlier
  observer saw.

Times in the files are this host's CLOCK_MONOTONIC: files from another boot or
another time namespace (a different clock) are ignored. /run is cleared at boot.
Only a directory and files that not everyone can write are trusted: a planted file
could otherwise fake a proof. The package makes the directory writable by group
sanlock (vdsm runs the agent as a member of it), whose members can fence hosts anyway.
"""

import json
import logging
import os
import time

from .evidence import LeaseEvidence

DEFAULT_DIR = "/run/fence-sanlock-vdsm/evidence"
KEEP_SECONDS = 24 * 3600        # older files are removed when a writer passes by

log = logging.getLogger(__name__)


def clock_domain():
    """Identifies this host's CLOCK_MONOTONIC: the boot and the time namespace."""
    try:
        with open("/proc/sys/kernel/random/boot_id") as handle:
            boot = handle.read().strip()
    except OSError:
        boot = "unknown-boot"
    try:
        space = os.readlink("/proc/self/ns/time")
    except OSError:
        space = "time:[?]"
    return "%s %s" % (boot, space)


def _quote(name):
    """A lockspace name as one path component (names may hold '/' and '%')."""
    return "".join(ch if ch.isalnum() or ch in "_.-" else "%%%02X" % ord(ch)
                   for ch in name.encode("utf-8").decode("latin-1"))


class EvidenceStore:
    """Evidence files under one directory."""

    def __init__(self, path=DEFAULT_DIR):
        self.path = path
        self.domain = clock_domain()

    def _dir(self, lockspace):
        return os.path.join(self.path, _quote(lockspace))

    def _trusted(self, st):
        return not st.st_mode & 0o002

    def save(self, ev, writer):
        """Write ev as what `writer` saw; False (logged) when this user cannot write here."""
        directory = self._dir(ev.lockspace)
        name = "%d-%d-%s.json" % (ev.host_id, ev.generation, writer)
        try:
            os.makedirs(directory, mode=0o755, exist_ok=True)
            tmp = os.path.join(directory, ".%s.%d" % (name, os.getpid()))
            with open(tmp, "w") as handle:
                json.dump({"clock": self.domain, "writer": writer, "saved": time.time(),
                           "evidence": ev.to_json()}, handle)
            os.chmod(tmp, 0o644)
            os.replace(tmp, os.path.join(directory, name))
        except OSError as err:
            log.debug("cannot keep the evidence of %s in %s: %s", ev, directory, err)
            return False
        self._prune(directory)
        return True

    def load(self, lockspace, host_id, generation):
        """{writer: LeaseEvidence} recorded here for that lease generation, same clock only."""
        directory = self._dir(lockspace)
        prefix = "%d-%d-" % (host_id, generation)
        found = {}
        try:
            dir_st = os.stat(directory)
            names = os.listdir(directory)
        except OSError:
            return found
        if not self._trusted(dir_st):
            log.warning("ignoring evidence in %s: others may write there", directory)
            return found
        for name in names:
            if not name.startswith(prefix) or not name.endswith(".json"):
                continue
            path = os.path.join(directory, name)
            try:
                with open(path) as handle:
                    if not self._trusted(os.fstat(handle.fileno())):
                        continue
                    data = json.load(handle)
                if data.get("clock") != self.domain:
                    continue
                ev = LeaseEvidence.from_json(data["evidence"])
            except (OSError, ValueError, KeyError, TypeError, AttributeError):
                continue
            if (ev.lockspace, ev.host_id, ev.generation) == (lockspace, host_id, generation):
                found[data.get("writer", name)] = ev
        return found

    def _prune(self, directory):
        limit = time.time() - KEEP_SECONDS
        try:
            for name in os.listdir(directory):
                path = os.path.join(directory, name)
                if os.stat(path).st_mtime < limit:
                    os.unlink(path)
        except OSError:
            pass
