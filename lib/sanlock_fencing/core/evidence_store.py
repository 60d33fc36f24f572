# SPDX-License-Identifier: GPL-2.0-or-later
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

Who is trusted: root alone. A kept file can make status say OFF, which is worse than a
reset (a cluster starts a second copy of a VM), while members of group sanlock (vdsm)
may only ask for resets. So:
- only a process running as root (the witness, the agent under Pacemaker) writes; a
  fence run by vdsm keeps nothing (status still reaches OFF through the witness);
- the base directory and each lockspace directory are opened one step at a time with
  O_NOFOLLOW relative to the verified parent, and used only when root owns them and
  neither group nor others may write them; otherwise nothing is kept or loaded and
  one warning says what to fix;
- files are created, read, renamed and removed only relative to that verified
  directory, never through a link: a read takes only a regular file owned by root that
  nobody else may write, of at most MAX_FILE_BYTES, opened with O_NONBLOCK so that a
  FIFO cannot hang status.
The directory above the base (/run/fence-sanlock-vdsm) must be root's too, or sticky
(a tmpfs's default 1777): nobody else can then replace the base. Directories above it
are the system's and are not checked.
"""

import contextlib
import errno
import json
import logging
import os
import stat
import time

from .evidence import LeaseEvidence

DEFAULT_DIR = "/run/fence-sanlock-vdsm/evidence"
KEEP_SECONDS = 24 * 3600        # older files are removed when a writer passes by
MAX_FILE_BYTES = 64 * 1024      # an evidence file is a few hundred bytes
DIR_MODE = 0o755
FILE_MODE = 0o644

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_SAFE_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")

log = logging.getLogger(__name__)


class Untrusted(Exception):
    """A directory of the store that root alone does not control; says what to fix."""

    def __init__(self, path, message):
        super().__init__(message)
        self.path = path


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


def quote_name(name):
    """A name (lockspace, writer) as one path component of its own: every byte outside
    [A-Za-z0-9_.-] becomes %XX, and so does a leading '.', so that no quoted name is '.',
    '..' or hidden (temporary files start with '.'); the empty name becomes '%', which
    no other name quotes to."""
    if not name:
        return "%"
    raw = name.encode("utf-8", "surrogateescape")
    quoted = "".join(chr(b) if chr(b) in _SAFE_CHARS else "%%%02X" % b for b in raw)
    return "%2E" + quoted[1:] if quoted.startswith(".") else quoted


def root_only(st):
    """Owned by root, and neither its group nor others may write it."""
    return st.st_uid == 0 and not st.st_mode & 0o022


def _fix_advice(path):
    return "chown root:root %s && chmod %o %s" % (path, DIR_MODE, path)


class EvidenceStore:
    """Evidence files under one directory that root alone controls."""

    def __init__(self, path=DEFAULT_DIR):
        self.path = os.path.abspath(path)
        self.domain = clock_domain()
        self._warned = set()
        self._told_not_root = False

    # -- public interface ------------------------------------------------------------------

    def save(self, ev, writer):
        """Keep ev as what `writer` saw; False (logged) when nothing could be kept."""
        if os.geteuid() != 0:
            if not self._told_not_root:     # once: a fence saves at every step
                self._told_not_root = True
                log.debug("not keeping the evidence of %s: only root keeps evidence (this "
                          "process runs as uid %d)", ev, os.geteuid())
            return False
        name = self._file_name(ev.host_id, ev.generation, writer)
        data = json.dumps({"clock": self.domain, "writer": writer, "saved": time.time(),
                           "evidence": ev.to_json()}).encode()
        if len(data) > MAX_FILE_BYTES:
            log.warning("not keeping the evidence of %s: %d bytes, more than a load "
                        "accepts (%d)", ev, len(data), MAX_FILE_BYTES)
            return False
        try:
            with self._lockspace_dir(ev.lockspace, create=True) as dir_fd:
                if dir_fd is None:
                    return False
                self._write_new(dir_fd, name, data)
                self._prune(dir_fd)
        except OSError as err:
            log.debug("cannot keep the evidence of %s in %s: %s", ev, self.path, err)
            return False
        return True

    def load(self, lockspace, host_id, generation):
        """{writer: LeaseEvidence} kept here for that lease generation, same clock only,
        from files this store may trust (root's, regular, bounded); others are skipped."""
        prefix = "%d-%d-" % (host_id, generation)
        found = {}
        try:
            with self._lockspace_dir(lockspace, create=False) as dir_fd:
                if dir_fd is None:
                    return found
                for name in os.listdir(dir_fd):
                    if name.startswith(prefix) and name.endswith(".json"):
                        kept = self._parse(self._read_trusted(dir_fd, name))
                        if kept is not None and (kept[1].lockspace, kept[1].host_id,
                                                 kept[1].generation) == \
                                (lockspace, host_id, generation):
                            found[kept[0] or name] = kept[1]
        except OSError as err:
            log.debug("cannot read the evidence kept for lockspace %s: %s", lockspace, err)
        return found

    def forget(self, lockspace):
        """Remove everything kept for lockspace (this host left it or joined it again: the
        history belonged to that life of the lockspace). Root only; never through a link."""
        if os.geteuid() != 0:
            return False
        try:
            with self._lockspace_dir(lockspace, create=False) as dir_fd:
                if dir_fd is None:
                    return False
                for name in os.listdir(dir_fd):
                    self._unlink_regular(dir_fd, name)
        except OSError as err:
            log.warning("cannot drop the evidence kept for lockspace %s: %s", lockspace, err)
            return False
        return True

    # -- directories ------------------------------------------------------------------------

    @contextlib.contextmanager
    def _lockspace_dir(self, lockspace, create):
        """The fd of lockspace's verified directory, or None (missing, or untrusted: warned
        once). Every fd opened on the way is closed on leaving."""
        fds = []
        try:
            try:
                # the system's directory above (/run) is not checked; the one below it
                # (/run/fence-sanlock-vdsm) comes from tmpfiles, or is made here by root
                # where nothing made it (a /run without the package's tmpfiles run)
                parent = os.path.dirname(self.path)
                system_fd = os.open(os.path.dirname(parent),
                                    os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
                fds.append(system_fd)
                parent_fd = self._open_or_make(system_fd, os.path.basename(parent),
                                               create and os.geteuid() == 0)
                if parent_fd is None:
                    raise FileNotFoundError(parent)
                fds.append(parent_fd)
                self._check_parent(parent_fd)
                base_fd = self._open_dir(parent_fd, os.path.basename(self.path), create,
                                         self.path)
                if base_fd is not None:
                    fds.append(base_fd)
                    dir_fd = self._open_dir(base_fd, quote_name(lockspace), create,
                                            self._subdir(lockspace))
                    if dir_fd is not None:
                        fds.append(dir_fd)
            except FileNotFoundError:
                yield None
                return
            except Untrusted as why:
                self._warn_once(why)
                yield None
                return
            self._warned.difference_update((self.path, self._subdir(lockspace)))
            yield fds[-1] if len(fds) == 4 else None
        finally:
            for fd in reversed(fds):
                os.close(fd)

    def _check_parent(self, parent_fd):
        st = os.fstat(parent_fd)
        if st.st_uid != 0 or (st.st_mode & 0o022 and not st.st_mode & stat.S_ISVTX):
            parent = os.path.dirname(self.path)
            raise Untrusted(self.path, "ignoring the evidence in %s: %s (owner uid %d, "
                            "mode %04o) may be changed by others than root; fix: %s"
                            % (self.path, parent, st.st_uid, stat.S_IMODE(st.st_mode),
                               _fix_advice(parent)))

    def _open_dir(self, dir_fd, name, create, shown):
        """Open dir_fd/name as a directory without following a link and verify it;
        None when it is missing and not created."""
        try:
            fd = self._open_or_make(dir_fd, name, create)
        except OSError as err:
            if err.errno in (errno.ELOOP, errno.ENOTDIR):
                raise Untrusted(shown, "ignoring the evidence in %s: it is not a directory "
                                "(a symbolic link?); remove it, root recreates it" % shown)
            raise
        if fd is None:
            return None
        st = os.fstat(fd)
        if not root_only(st):
            os.close(fd)
            raise Untrusted(shown, "ignoring the evidence in %s: owner uid %d, mode %04o: "
                            "others than root may write there; fix: %s"
                            % (shown, st.st_uid, stat.S_IMODE(st.st_mode),
                               _fix_advice(shown)))
        return fd

    @staticmethod
    def _open_or_make(dir_fd, name, create):
        try:
            return os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
        except FileNotFoundError:
            if not create:
                return None
        try:
            os.mkdir(name, DIR_MODE, dir_fd=dir_fd)
            made = True
        except FileExistsError:       # another root writer made it meanwhile
            made = False
        fd = os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
        if made:
            os.fchmod(fd, DIR_MODE)   # whatever the umask: readers run as vdsm too
        return fd

    def _subdir(self, lockspace):
        return os.path.join(self.path, quote_name(lockspace))

    def _warn_once(self, why):
        """One warning per untrusted directory, until it is found trusted again."""
        if why.path not in self._warned:
            self._warned.add(why.path)
            log.warning("%s", why)

    # -- files --------------------------------------------------------------------------------

    @staticmethod
    def _file_name(host_id, generation, writer):
        return "%d-%d-%s.json" % (host_id, generation, quote_name(writer))

    @staticmethod
    def _write_new(dir_fd, name, data):
        """Write data under a new temporary name (never an existing file or a link), then
        rename it over name within the same directory."""
        tmp = ".%s.%d.%s" % (name, os.getpid(), os.urandom(4).hex())
        fd = os.open(tmp, _CREATE_FLAGS, FILE_MODE, dir_fd=dir_fd)
        try:
            try:
                os.fchmod(fd, FILE_MODE)
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
            finally:
                os.close(fd)
            os.rename(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(tmp, dir_fd=dir_fd)
            raise

    @staticmethod
    def _read_trusted(dir_fd, name):
        """The bytes of dir_fd/name when it is a regular file root alone may write, of at
        most MAX_FILE_BYTES; None otherwise. Never follows a link, never blocks."""
        try:
            if not stat.S_ISREG(os.stat(name, dir_fd=dir_fd,
                                        follow_symlinks=False).st_mode):
                return None                 # not even opened: FIFOs, devices, links
            fd = os.open(name, _READ_FLAGS, dir_fd=dir_fd)
        except OSError:
            return None
        try:
            st = os.fstat(fd)               # what was opened, whatever was renamed since
            if not stat.S_ISREG(st.st_mode) or not root_only(st) or \
                    st.st_size > MAX_FILE_BYTES:
                return None
            chunks, size = [], 0
            while size <= MAX_FILE_BYTES:
                chunk = os.read(fd, MAX_FILE_BYTES + 1 - size)
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
            return b"".join(chunks) if size <= MAX_FILE_BYTES else None
        except OSError:
            return None
        finally:
            os.close(fd)

    def _parse(self, raw):
        """(writer, LeaseEvidence) from a file's bytes; None when damaged or of another
        clock."""
        if raw is None:
            return None
        try:
            data = json.loads(raw)
            if data.get("clock") != self.domain:
                return None
            return data.get("writer"), LeaseEvidence.from_json(data["evidence"])
        except (ValueError, KeyError, TypeError, AttributeError):
            return None

    @staticmethod
    def _unlink_regular(dir_fd, name):
        """Remove dir_fd/name when it is a regular file (a link or anything else stays)."""
        try:
            st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
            if stat.S_ISREG(st.st_mode):
                os.unlink(name, dir_fd=dir_fd)
                return True
        except OSError:
            pass
        return False

    def _prune(self, dir_fd):
        """Remove regular files older than KEEP_SECONDS from this verified directory."""
        limit = time.time() - KEEP_SECONDS
        for name in os.listdir(dir_fd):
            try:
                st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode) and st.st_mtime < limit:
                self._unlink_regular(dir_fd, name)
