# SPDX-License-Identifier: GPL-2.0-or-later
"""Per-host views of shared lease storage through FUSE, with switchable faults.

The lockspace files live in a backing directory on ext4 (default under /var/tmp: sanlock
also opens backing files itself with O_DIRECT, which tmpfs refuses).  Each simulated host
gets a view directory: ``MOUNT/<view>/<file>`` is ``BACKING/<file>``.  A test switches
each view's reads and writes separately, while the host's processes keep running, between
* ``ok``: served at once;
* ``eio``: failed at once with EIO (a path failure with no queueing);
* ``stall``: held until the mode changes (a hung path: the request then completes, or fails
  if switched to eio), like multipath queueing;
* ``crawl``: served at `rate` bytes per second, requests of a view queued in order (an
  overloaded array).
Lookups, stat and open always work (the "device node" is there even when its paths are
not).

Why FUSE: it puts a user-space server under the unmodified sanlock (libaio + O_DIRECT)
and any reader; device-mapper (dm-delay/dm-flakey) does the same for block devices but is
not available here.  Why direct_io on every open: no page cache in front of the server, so
every read of every host reaches the backing file (two hosts see each other's writes at
once, as on shared storage) and every read can be stalled or failed; O_DIRECT opens work
on such files.  The server asks the kernel for FUSE_ASYNC_DIO, so sanlock's aio reads are
really asynchronous: io_submit() returns and sanlock's own io_timeout handling runs against
a stalled view as against a real one (with libfuse 2.9/fusepy io_submit would block).  Up
to 1 MiB per request (max_pages 256): a renewal's 1 MiB read is one request.

Stalled requests are answered (EIO) when the server stops, and also as soon as their
process is dying (SIGKILL pending, exiting, gone): a real disk's I/O cannot stop a reset,
and without that a power_off() (machine.py) of a host blocked on a stalled view would wait
for the view (aio completion is awaited at exit).  The backing files are read and written
with ordinary (buffered) I/O by the one server process, so all views agree at once.

Limits: flat backing directory of regular files; no create/truncate/rename through a view
(EPERM); fsync is a no-op (nothing is durable here anyway); attributes come from the backing
file and are not cached.

(About 370 lines: the FUSE file operations of a view and the fault modes, one switch
per view, with the server's command line.)
"""

import errno
import os
import stat
import threading
import time

from . import fuselite

MODES = ("ok", "eio", "stall", "crawl")
WORK_BASE = "/var/tmp"
_DYING_CHECK = 0.1


class View:
    def __init__(self, name, ino):
        self.name, self.ino = name, ino
        self.mode = {"read": "ok", "write": "ok"}
        self.rate = {"read": 1 << 20, "write": 1 << 20}
        self.busy_until = {"read": 0.0, "write": 0.0}   # crawl queue
        self.stats = {k: 0 for k in ("reads", "read_bytes", "writes", "write_bytes",
                                     "errors", "deferred", "released_dying")}


class StorageFS(fuselite.Filesystem):
    attr_timeout = 0.0             # sizes/modes always from the backing file

    def __init__(self, backing):
        self.backing = backing
        self.views = {}            # name -> View
        self.view_by_ino = {}
        self.files = {}            # ino -> (view, file name)
        self.file_ino = {}         # (view name, file name) -> ino
        self.handles = {}          # fh -> (view, backing fd)
        self.next_ino = 2
        self.next_fh = 1
        self.pending = {}          # unique -> thread-side state
        self.lock = threading.Condition()
        self.closing = False

    # ---------------------------------------------------------------- control commands

    def handle(self, msg):
        op = msg["op"]
        with self.lock:
            if op == "add_view":
                name = msg["name"]
                if name in self.views or "/" in name or name.startswith("."):
                    raise ValueError("bad or duplicate view name %r" % name)
                view = View(name, self._ino())
                self.views[name] = view
                self.view_by_ino[view.ino] = view
                return name
            if op == "stats":
                return {v.name: dict(v.stats, pending=self._pending(v), mode=dict(v.mode))
                        for v in self.views.values()}
            view = self.views[msg["name"]]
            if op == "set_mode":
                for direction in ("read", "write"):
                    mode = msg.get(direction)
                    if mode is not None:
                        if mode not in MODES:
                            raise ValueError("mode must be one of %s" % (MODES,))
                        view.mode[direction] = mode
                    if msg.get("rate") is not None:
                        view.rate[direction] = float(msg["rate"])
                self.lock.notify_all()
                return dict(view.mode)
            raise ValueError("unknown op %r" % op)

    def _pending(self, view):
        return sum(1 for v in self.pending.values() if v is view)

    def _ino(self):
        self.next_ino += 1
        return self.next_ino - 1

    # ---------------------------------------------------------------- namespace

    def _backing_stat(self, name):
        try:
            st = os.stat(os.path.join(self.backing, name))
        except FileNotFoundError:
            raise OSError(errno.ENOENT, name)
        if not stat.S_ISREG(st.st_mode):
            raise OSError(errno.ENOENT, name)
        return st

    def lookup(self, parent, name):
        with self.lock:
            if parent == 1:
                view = self.views.get(name)
                if view is None:
                    raise OSError(errno.ENOENT, name)
                return fuselite.Attr(view.ino, stat.S_IFDIR | 0o755, nlink=2)
            view = self.view_by_ino.get(parent)
            if view is None:
                raise OSError(errno.ENOENT, name)
            st = self._backing_stat(name)
            ino = self.file_ino.get((view.name, name))
            if ino is None:
                ino = self.file_ino[(view.name, name)] = self._ino()
                self.files[ino] = (view, name)
            return fuselite.Attr.from_stat(ino, st)

    def getattr(self, ino):
        with self.lock:
            if ino == 1 or ino in self.view_by_ino:
                return fuselite.Attr(ino, stat.S_IFDIR | 0o755, nlink=2)
            if ino not in self.files:
                raise OSError(errno.ENOENT, "ino %d" % ino)
            return fuselite.Attr.from_stat(ino, self._backing_stat(self.files[ino][1]))

    def readdir(self, ino):
        with self.lock:
            if ino == 1:
                return [(v.name, fuselite.Attr(v.ino, stat.S_IFDIR | 0o755))
                        for v in self.views.values()]
            view = self.view_by_ino.get(ino)
            if view is None:
                raise OSError(errno.ENOTDIR, "ino %d" % ino)
            names = sorted(n for n in os.listdir(self.backing)
                           if os.path.isfile(os.path.join(self.backing, n)))
        return [(n, self.lookup(ino, n)) for n in names]

    def open(self, req, ino, flags):
        with self.lock:
            if ino not in self.files:
                raise OSError(errno.EISDIR if ino in self.view_by_ino else errno.ENOENT, "open")
            view, name = self.files[ino]
            fd = os.open(os.path.join(self.backing, name),
                         (flags & os.O_ACCMODE) | os.O_CLOEXEC)
            fh = self.next_fh
            self.next_fh += 1
            self.handles[fh] = (view, fd)
            return fh, fuselite.FOPEN_DIRECT_IO

    def release(self, req, fh, flags):
        with self.lock:
            _, fd = self.handles.pop(fh, (None, None))
        if fd is not None:
            os.close(fd)

    # ---------------------------------------------------------------- I/O with faults

    def read(self, req, fh, offset, size):
        return self._io(req, fh, "read", offset, size, None)

    def write(self, req, fh, offset, data):
        return self._io(req, fh, "write", offset, len(data), data)

    def _do(self, view, fd, direction, offset, size, data):
        if direction == "read":
            out = os.pread(fd, size, offset)
            view.stats["reads"] += 1
            view.stats["read_bytes"] += len(out)
            return out
        n = os.pwrite(fd, data, offset)
        view.stats["writes"] += 1
        view.stats["write_bytes"] += n
        return n

    def _io(self, req, fh, direction, offset, size, data):
        with self.lock:
            view, fd = self.handles.get(fh, (None, None))
            if view is None:
                raise OSError(errno.EBADF, "fh %d" % fh)
            mode = view.mode[direction]
            if mode == "ok" and not self.closing:
                return self._do(view, fd, direction, offset, size, data)
            if mode == "eio" or self.closing:
                view.stats["errors"] += 1
                raise OSError(errno.EIO, "view %s %s: %s" % (view.name, direction, mode))
            view.stats["deferred"] += 1
            self.pending[req.unique] = view
        threading.Thread(target=self._deferred, daemon=True, name="deferred",
                         args=(req, view, fd, direction, offset, size, data)).start()
        return fuselite.DEFER

    def _deferred(self, req, view, fd, direction, offset, size, data):
        """Wait while the view stalls or crawls; then serve or fail the request, once."""
        tgid = fuselite.task_tgid(req.pid)
        due = None                         # crawl: when this request's bytes are through
        error, result = None, None
        with self.lock:
            while True:
                mode = view.mode[direction]
                now = time.monotonic()
                if self.closing or mode == "eio":
                    error = errno.EIO
                    break
                if req.pid and fuselite.task_dying(req.pid, tgid):
                    error = errno.EIO
                    view.stats["released_dying"] += 1
                    break
                if mode == "ok":
                    break
                if mode == "crawl":
                    if due is None:
                        start = max(now, view.busy_until[direction])
                        due = view.busy_until[direction] = start + size / view.rate[direction]
                    if now >= due:
                        break
                    self.lock.wait(min(due - now, _DYING_CHECK))
                else:                      # stall
                    due = None
                    self.lock.wait(_DYING_CHECK)
            try:
                if error is None:
                    result = self._do(view, fd, direction, offset, size, data)
            except OSError as e:
                error = e.errno
            if error:
                view.stats["errors"] += 1
            del self.pending[req.unique]
        if error:
            self.server.reply(req.unique, error)
        elif direction == "read":
            self.server.reply(req.unique, 0, result)
        else:
            self.server.reply(req.unique, 0, fuselite.WRITE_OUT.pack(result, 0))

    def interrupt(self, unique):
        with self.lock:
            self.lock.notify_all()         # a deferred request re-checks its process

    def shutdown(self):
        with self.lock:
            self.closing = True
            self.lock.notify_all()
            deadline = time.monotonic() + 5
            while self.pending and time.monotonic() < deadline:
                self.lock.wait(0.05)


class StoragePaths(fuselite.MountedServer):
    """Test-side API: ``sp = StoragePaths().start(); d = sp.add_view("h1")`` then give host 1
    ``d + "/LS.leases"`` as its lease path, and ``sp.set_mode("h1", read="stall")``.
    start() it before booting the machines that use it (fuselite.py: mount propagation);
    views added later appear in running machines at once. stop() fails whatever is
    stalled (EIO) before it unmounts."""

    def __init__(self, backing=None, workdir=None, keep=None):
        super().__init__("storagepath", "views", workdir, keep, "STORAGEPATH_KEEP", WORK_BASE)
        self.backing = os.path.abspath(backing or os.path.join(self.workdir, "backing"))

    def start(self):
        os.makedirs(self.backing, exist_ok=True)
        return self._start_server(__name__, ["--backing", self.backing])

    def backing_path(self, filename):
        return os.path.join(self.backing, filename)

    def add_view(self, name):
        """A new view directory (all modes ok); returns its path."""
        self.server.call("add_view", name=name)
        return self.view_path(name)

    def view_path(self, name, filename=None):
        d = os.path.join(self.mountpoint, name)
        return os.path.join(d, filename) if filename else d

    def set_mode(self, name, read=None, write=None, rate=None, both=None):
        """Switch the view's reads and/or writes: "ok", "eio", "stall", "crawl" (at `rate`
        bytes/s); both= sets reads and writes.  Returns the new {read, write} modes."""
        if both is not None:
            read = write = both
        return self.server.call("set_mode", name=name, read=read, write=write, rate=rate)

    def stats(self):
        """{view: {reads, read_bytes, writes, write_bytes, errors, deferred,
        released_dying, pending, mode}}."""
        return self.server.call("stats")

    def server_cpu_seconds(self):
        """CPU time of the server's live threads (ns resolution, from schedstat; the
        short-lived threads of deferred requests are not counted)."""
        total = 0
        task_dir = "/proc/%d/task" % self.server.pid
        for tid in os.listdir(task_dir):
            try:
                with open(os.path.join(task_dir, tid, "schedstat")) as f:
                    total += int(f.read().split()[0])
            except OSError:
                pass
        return total / 1e9


def main():
    fuselite.server_main("storagepath", StorageFS, "--backing",
                         "storage views FUSE server (see docstring)")


if __name__ == "__main__":
    main()
