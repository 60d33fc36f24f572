# SPDX-License-Identifier: GPL-2.0-or-later
"""A small FUSE server in pure Python speaking the kernel's /dev/fuse protocol, and the
plumbing shared by fakewatchdog.py and storagepath.py (server process, control channel).

Why not fusepy/libfuse (both installed): fusepy sits on libfuse 2.9, which
* does not negotiate FUSE_ASYNC_DIO, so an aio O_DIRECT read is synchronous inside
  io_submit().  Measured: through a fusepy direct_io file whose read takes 15 s,
  ``sanlock direct read_leader -o 3`` took 30 s instead of failing after 3 s; sanlock's
  renewal would hang in io_submit on a stalled view instead of timing out in
  io_getevents() as against real storage.  This server gets "aio timeout ... ioto 3"
  and "renewal error -202" from the real daemon, as with a real hung path;
* cannot leave a request unanswered in its worker thread and answer it later from
  another, which is what "stall until the mode changes" and "fail it when its process
  is killed or the server stops" need.
(The watchdog server reads WDIOC_SETOPTIONS' argument from the caller's memory,
read_process_memory(): it is encoded _IOR, so the kernel passes no input for it to a
FUSE server; only CUSE may do unrestricted ioctls.)
The protocol subset needed for flat files is small: INIT, LOOKUP, GETATTR, OPEN, READ,
WRITE, FLUSH, RELEASE, IOCTL, INTERRUPT, (RELEASE)OPENDIR/READDIR, STATFS, FSYNC, FORGET;
everything else answers ENOSYS or EPERM.  Protocol 7.31 is negotiated (kernel 6.18 offers
more; the structures here are 7.31's) with ASYNC_DIO, MAX_PAGES (1 MiB requests) and
max_background 1024, so one host's stalled aio cannot queue up another host's requests.

Mounting: the server process bind-mounts its mount point onto itself, marks it shared and
mounts FUSE on top (``mount(2)`` with ``fd=N,allow_other,default_permissions``; we run as
root).  Machines (machine.py) booted *afterwards* see it through their slave mount
namespaces, and our unmount propagates to them: start servers before booting machines.
Shutdown: answer every pending request (EIO), lazily unmount (MNT_DETACH never blocks),
exit (closing /dev/fuse aborts the connection, so files still open anywhere get ENOTCONN
from then on).  The server gets PR_SET_PDEATHSIG=SIGTERM and sees EOF on its control socket
when the test process dies, and cleans up the same way.

(About 500 lines: the wire protocol for the operations above, the request bookkeeping that
lets a stall or a failure be answered later, and the server plumbing; why not a library
is said above. pyfuse3, packaged in Debian 12, was not tried: it brings trio.)
"""

import argparse
import atexit
import ctypes
import errno
import json
import os
import select
import shutil
import signal
import socket
import stat
import struct
import subprocess
import sys
import threading
import uuid

SYS_PYTHON = "/usr/bin/python3"

OP = dict(LOOKUP=1, FORGET=2, GETATTR=3, SETATTR=4, OPEN=14, READ=15, WRITE=16, STATFS=17,
          RELEASE=18, FSYNC=20, FLUSH=25, INIT=26, OPENDIR=27, READDIR=28, RELEASEDIR=29,
          INTERRUPT=36, DESTROY=38, IOCTL=39, BATCH_FORGET=42)
_NO_REPLY = (OP["FORGET"], OP["BATCH_FORGET"], OP["INTERRUPT"])
_EPERM_OPS = (4, 6, 8, 9, 10, 11, 12, 13, 21, 24, 35, 43, 45)   # SETATTR, create, rename...

IN_HDR = struct.Struct("<IIQQIIIHH")
OUT_HDR = struct.Struct("<IiQ")
ATTR = struct.Struct("<QQQQQQIIIIIIIIII")
ENTRY_OUT = struct.Struct("<QQQQII")
ATTR_OUT = struct.Struct("<QII")
INIT_IN = struct.Struct("<IIII")
INIT_OUT = struct.Struct("<IIIIHHIIHHI7I")
OPEN_IN = struct.Struct("<II")
OPEN_OUT = struct.Struct("<QII")
RW_IN = struct.Struct("<QQIIQII")
WRITE_OUT = struct.Struct("<II")
RELEASE_IN = struct.Struct("<QIIQ")
IOCTL_IN = struct.Struct("<QIIQII")
IOCTL_OUT = struct.Struct("<iIII")
INTERRUPT_IN = struct.Struct("<Q")
STATFS_OUT = struct.Struct("<QQQQQIIII6I")
DIRENT = struct.Struct("<QQII")

FUSE_MINOR = 31
FOPEN_DIRECT_IO = 1
# ASYNC_READ BIG_WRITES ASYNC_DIO MAX_PAGES
_INIT_FLAGS = (1 << 0) | (1 << 5) | (1 << 15) | (1 << 22)
MAX_WRITE = 1 << 20
MAX_PAGES = 256
MAX_BACKGROUND = 1024      # async (aio) requests in flight per mount before the kernel queues

MS_NOSUID, MS_NODEV, MS_BIND, MS_SHARED, MNT_DETACH = 2, 4, 4096, 1 << 20, 2
DEFER = object()           # handler's return value: "I will reply() later"

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p] * 3 + [ctypes.c_ulong, ctypes.c_char_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]


def _check(rv, what):
    if rv != 0:
        e = ctypes.get_errno()
        raise OSError(e, "%s: %s" % (what, os.strerror(e)))


def sys_mount(source, target, fstype, flags, data=None):
    def enc(s):
        return s.encode() if isinstance(s, str) else s

    _check(_libc.mount(enc(source), enc(target), enc(fstype), flags, enc(data)),
           "mount %s" % target)


def lazy_unmount(target):
    """umount2(MNT_DETACH); True if something was unmounted."""
    return _libc.umount2(target.encode(), MNT_DETACH) == 0


def mounts_under(path):
    """Mount points at or below path in this mount namespace."""
    path = os.path.realpath(path)
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            point = line.split()[4].replace("\\040", " ")
            if point == path or point.startswith(path + "/"):
                found.append(point)
    return found


class _iovec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]


_libc.process_vm_readv.restype = ctypes.c_ssize_t
_libc.process_vm_readv.argtypes = [ctypes.c_int, ctypes.POINTER(_iovec), ctypes.c_ulong,
                                   ctypes.POINTER(_iovec), ctypes.c_ulong, ctypes.c_ulong]


def read_process_memory(pid, address, size):
    """size bytes at address in process (or thread) pid: process_vm_readv(2)."""
    buf = ctypes.create_string_buffer(size)
    local = _iovec(ctypes.cast(buf, ctypes.c_void_p).value, size)
    remote = _iovec(address, size)
    n = _libc.process_vm_readv(pid, ctypes.byref(local), 1, ctypes.byref(remote), 1, 0)
    if n != size:
        raise OSError(ctypes.get_errno() or errno.EFAULT, "process_vm_readv")
    return buf.raw


def task_dying(pid, tgid=None):
    """True when thread pid (or its process tgid) is gone, exiting, or has SIGKILL
    pending: nobody will consume an answer to its request any more."""
    try:
        with open("/proc/%d/status" % pid) as f:
            status = dict(line.split(":", 1) for line in f if ":" in line)
    except OSError:
        return True
    if any(int(status.get(k, "0").strip(), 16) & (1 << (signal.SIGKILL - 1))
           for k in ("SigPnd", "ShdPnd")):
        return True
    try:
        with open("/proc/%d/stat" % (tgid or pid)) as f:
            data = f.read()
    except OSError:
        return True
    flags = int(data[data.rindex(")") + 2:].split()[6])
    return bool(flags & 0x4)          # PF_EXITING


def task_tgid(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("Tgid:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return pid


class Attr:
    def __init__(self, ino, mode, size=0, uid=0, gid=0, mtime=0.0, nlink=1):
        self.ino, self.mode, self.size, self.uid, self.gid = ino, mode, size, uid, gid
        self.mtime, self.nlink = mtime, nlink

    @classmethod
    def from_stat(cls, ino, st):
        return cls(ino, st.st_mode, st.st_size, st.st_uid, st.st_gid, st.st_mtime, st.st_nlink)

    def pack(self):
        sec = int(self.mtime)
        ns = int((self.mtime - sec) * 1e9)
        return ATTR.pack(self.ino, self.size, (self.size + 511) // 512, sec, sec, sec,
                         ns, ns, ns, self.mode, self.nlink, self.uid, self.gid, 0, 4096, 0)


class Request:
    __slots__ = ("opcode", "unique", "nodeid", "uid", "gid", "pid", "body")

    def __init__(self, data):
        (_, self.opcode, self.unique, self.nodeid, self.uid, self.gid, self.pid,
         _, _) = IN_HDR.unpack_from(data)
        self.body = bytes(data[IN_HDR.size:])


class Filesystem:
    """Override what you need.  Handlers raise OSError(errno) to fail a request."""
    attr_timeout = 1.0

    def lookup(self, parent, name):               # -> Attr
        raise OSError(errno.ENOENT, name)

    def getattr(self, ino):                       # -> Attr
        raise OSError(errno.ENOENT, "ino %d" % ino)

    def readdir(self, ino):                       # -> [(name, Attr)]
        raise OSError(errno.ENOTDIR, "ino %d" % ino)

    def open(self, req, ino, flags):              # -> (fh, open_flags)
        raise OSError(errno.EPERM, "open")

    def read(self, req, fh, offset, size):        # -> bytes or DEFER
        raise OSError(errno.EINVAL, "read")

    def write(self, req, fh, offset, data):       # -> int or DEFER
        raise OSError(errno.EINVAL, "write")

    def flush(self, req, fh):
        pass

    def release(self, req, fh, flags):
        pass

    def ioctl(self, req, fh, cmd, arg, data, out_size):   # -> (result, out bytes)
        raise OSError(errno.ENOTTY, "ioctl")

    def interrupt(self, unique):
        pass

    def shutdown(self):
        """Answer every deferred request: the server is going away."""


class FuseServer:
    """Serves one Filesystem on one mount point with a few reader threads."""

    def __init__(self, fs, mountpoint, name, threads=4):
        self.fs = fs
        self.mountpoint = os.path.realpath(mountpoint)
        self.name = name
        self.threads = threads
        self.fd = None
        self.stopping = False
        self._write_lock = threading.Lock()
        fs.server = self

    def mount(self):
        os.makedirs(self.mountpoint, exist_ok=True)
        sys_mount(self.mountpoint, self.mountpoint, None, MS_BIND)
        sys_mount(None, self.mountpoint, None, MS_SHARED)
        self.fd = os.open("/dev/fuse", os.O_RDWR | os.O_CLOEXEC)
        opts = ("fd=%d,rootmode=40755,user_id=0,group_id=0,allow_other,default_permissions"
                % self.fd)
        sys_mount(self.name, self.mountpoint, "fuse." + self.name, MS_NOSUID | MS_NODEV, opts)
        for i in range(self.threads):
            threading.Thread(target=self._reader, daemon=True, name="fuse-%d" % i).start()

    def unmount(self):
        """Fail what is pending, detach the FUSE mount and our bind mount."""
        self.stopping = True
        try:
            self.fs.shutdown()
        finally:
            while any(p == self.mountpoint for p in mounts_under(self.mountpoint)):
                if not lazy_unmount(self.mountpoint):
                    break

    def reply(self, unique, error=0, *chunks):
        """Answer request `unique`: error is a positive errno (0 = success)."""
        size = OUT_HDR.size + sum(len(c) for c in chunks)
        try:
            with self._write_lock:
                os.writev(self.fd, [OUT_HDR.pack(size, -error, unique)] + list(chunks))
        except OSError as e:
            # ENOENT: the request was aborted meanwhile; ENODEV: connection gone
            if e.errno not in (errno.ENOENT, errno.ENODEV, errno.EBADF):
                raise

    def _reader(self):
        buf = bytearray(MAX_WRITE + 8192)
        view = memoryview(buf)
        while True:
            try:
                n = os.readv(self.fd, [buf])
            except OSError as e:
                if e.errno in (errno.EINTR, errno.EAGAIN, errno.ENOENT):
                    continue
                return                     # ENODEV: unmounted and aborted
            req = Request(view[:n])
            try:
                self._dispatch(req)
            except OSError as e:
                if req.opcode not in _NO_REPLY:
                    self.reply(req.unique, e.errno or errno.EIO)
            except Exception as e:          # a bug: fail the request, keep serving
                print("fuselite: %s on opcode %d: %r" % (type(e).__name__, req.opcode, e),
                      file=sys.stderr, flush=True)
                if req.opcode not in _NO_REPLY:
                    self.reply(req.unique, errno.EIO)

    def _entry(self, attr):
        t = self.fs.attr_timeout
        sec, nsec = int(t), int((t - int(t)) * 1e9)
        return ENTRY_OUT.pack(attr.ino, 0, sec, sec, nsec, nsec) + attr.pack()

    def _dispatch(self, req):
        op, body, fs = req.opcode, req.body, self.fs
        if op == OP["INIT"]:
            major, minor, readahead, flags = INIT_IN.unpack_from(body)
            out = INIT_OUT.pack(7, min(minor, FUSE_MINOR), readahead, flags & _INIT_FLAGS,
                                MAX_BACKGROUND, MAX_BACKGROUND * 3 // 4, MAX_WRITE, 1,
                                MAX_PAGES, 0, 0, *([0] * 7))
            return self.reply(req.unique, 0, out)
        if op in _NO_REPLY:
            if op == OP["INTERRUPT"]:
                fs.interrupt(INTERRUPT_IN.unpack_from(body)[0])
            return None
        if self.stopping and op in (OP["READ"], OP["WRITE"], OP["OPEN"], OP["IOCTL"]):
            raise OSError(errno.EIO, "server stopping")
        if op == OP["LOOKUP"]:
            name = body.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
            return self.reply(req.unique, 0, self._entry(fs.lookup(req.nodeid, name)))
        if op == OP["GETATTR"]:
            t = fs.attr_timeout
            head = ATTR_OUT.pack(int(t), int((t - int(t)) * 1e9), 0)
            return self.reply(req.unique, 0, head, fs.getattr(req.nodeid).pack())
        if op == OP["OPEN"]:
            flags, _ = OPEN_IN.unpack_from(body)
            fh, open_flags = fs.open(req, req.nodeid, flags)
            return self.reply(req.unique, 0, OPEN_OUT.pack(fh, open_flags, 0))
        if op == OP["READ"]:
            fh, offset, size = RW_IN.unpack_from(body)[:3]
            data = fs.read(req, fh, offset, size)
            return None if data is DEFER else self.reply(req.unique, 0, data)
        if op == OP["WRITE"]:
            fh, offset, size = RW_IN.unpack_from(body)[:3]
            n = fs.write(req, fh, offset, body[RW_IN.size:RW_IN.size + size])
            return None if n is DEFER else self.reply(req.unique, 0, WRITE_OUT.pack(n, 0))
        if op == OP["FLUSH"]:
            fs.flush(req, struct.unpack_from("<Q", body)[0])
            return self.reply(req.unique)
        if op == OP["RELEASE"]:
            fh, flags = RELEASE_IN.unpack_from(body)[:2]
            fs.release(req, fh, flags)
            return self.reply(req.unique)
        if op == OP["IOCTL"]:
            fh, _, cmd, arg, in_size, out_size = IOCTL_IN.unpack_from(body)
            data = body[IOCTL_IN.size:IOCTL_IN.size + in_size]
            result, out = fs.ioctl(req, fh, cmd, arg, data, out_size)
            return self.reply(req.unique, 0, IOCTL_OUT.pack(result, 0, 0, 0), out[:out_size])
        if op == OP["OPENDIR"]:
            fs.readdir(req.nodeid)         # ENOTDIR / ENOENT now rather than later
            return self.reply(req.unique, 0, OPEN_OUT.pack(0, 0, 0))
        if op == OP["READDIR"]:
            _, offset, size = RW_IN.unpack_from(body)[:3]
            return self.reply(req.unique, 0, self._dirents(req.nodeid, offset, size))
        if op in (OP["RELEASEDIR"], OP["FSYNC"], OP["DESTROY"]):
            return self.reply(req.unique)
        if op == OP["STATFS"]:
            return self.reply(req.unique, 0, STATFS_OUT.pack(0, 0, 0, 0, 0, 4096, 255, 4096,
                                                             0, *([0] * 6)))
        raise OSError(errno.EPERM if op in _EPERM_OPS else errno.ENOSYS, "opcode %d" % op)

    def _dirents(self, ino, offset, size):
        entries = [(".", Attr(ino, stat.S_IFDIR)), ("..", Attr(1, stat.S_IFDIR))]
        entries += self.fs.readdir(ino)
        out = b""
        for i, (name, attr) in enumerate(entries[offset:], offset + 1):
            raw = name.encode("utf-8", "surrogateescape")
            ent = DIRENT.pack(attr.ino, i, len(raw), stat.S_IFMT(attr.mode) >> 12) + raw
            ent += b"\0" * (-len(ent) % 8)
            if len(out) + len(ent) > size:
                break
            out += ent
        return out


# ---------------------------------------------------------------------- server process side

def serve(fs, mountpoint, name, control_fd, handle):
    """Main of a server process: mount, answer control commands (one JSON object per
    line: {"op": ..., args}) with handle(msg) until "stop", EOF or SIGTERM, clean up."""
    def on_term(signum, frame):
        raise SystemExit(0)
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sock = socket.socket(fileno=control_fd)
    server = FuseServer(fs, mountpoint, name)
    try:
        try:
            server.mount()
        except Exception as e:
            sock.sendall(json.dumps({"ready": False, "error": repr(e)}).encode() + b"\n")
            raise
        sock.sendall(json.dumps({"ready": True, "pid": os.getpid()}).encode() + b"\n")
        for line in sock.makefile("rb"):
            msg = json.loads(line)
            if msg.get("op") == "stop":
                break
            try:
                reply = {"ok": True, "result": handle(msg)}
            except Exception as e:
                reply = {"ok": False, "error": "%s: %s" % (type(e).__name__, e)}
            sock.sendall(json.dumps(reply).encode() + b"\n")
    finally:
        server.unmount()
        try:
            sock.sendall(b'{"ok": true, "result": "stopped"}\n')
        except OSError:
            pass
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)        # reader threads sit in read(/dev/fuse); closing it aborts


# ---------------------------------------------------------------------- test process side

class ServerProcess:
    """A server process (a harness module run with -m) with its control socket."""

    def __init__(self, module, args, mountpoint, log_path):
        self.script = module
        self.args = list(args)
        self.mountpoint = os.path.realpath(mountpoint)
        self.log_path = log_path
        self.popen = None
        self.pid = None
        self._sock = None
        self._file = None
        self._lock = threading.Lock()

    def start(self, timeout=15):
        from .machine import package_env, start_process
        ours, theirs = socket.socketpair()
        try:
            argv = [SYS_PYTHON, "-m", self.script, "--control-fd", str(theirs.fileno())] + self.args
            self.popen = start_process(argv, log_path=self.log_path, env=package_env(),
                                       pdeathsig=signal.SIGTERM, pass_fds=(theirs.fileno(),))
        finally:
            theirs.close()
        self.pid = self.popen.pid
        self._sock = ours
        self._file = ours.makefile("rb")
        try:
            hello = self._read(timeout)
        except Exception:
            self.stop()
            raise
        if not hello.get("ready"):
            self.stop()
            raise RuntimeError("server %s did not start: %s\n%s"
                               % (self.script, hello.get("error"), self.log_tail()))
        return self

    def _read(self, timeout):
        r, _, _ = select.select([self._sock], [], [], timeout)
        line = self._file.readline() if r else b""
        if not line:
            raise RuntimeError("server %s (pid %s) gave no answer; log:\n%s"
                               % (self.script, self.pid, self.log_tail()))
        return json.loads(line)

    def call(self, op, timeout=15, **args):
        with self._lock:
            if self._sock is None:
                raise RuntimeError("server is not running")
            self._sock.sendall(json.dumps(dict(args, op=op)).encode() + b"\n")
            reply = self._read(timeout)
        if not reply.get("ok"):
            raise RuntimeError("%s %s: %s" % (op, args, reply.get("error")))
        return reply["result"]

    def stop(self, timeout=20):
        """Ask the server to clean up and exit; force it (and the unmount) if it does not.
        Returns the mount points that had to be detached by force (normally none)."""
        with self._lock:
            if self._sock is not None:
                try:
                    self._sock.sendall(b'{"op": "stop"}\n')
                except OSError:
                    pass
            if self.popen is not None:
                try:
                    self.popen.wait(timeout)
                except subprocess.TimeoutExpired:
                    self.popen.kill()
                    self.popen.wait(10)
            if self._sock is not None:
                self._file.close()
                self._sock.close()
                self._sock = None
        forced = []
        for point in reversed(mounts_under(self.mountpoint)):
            if lazy_unmount(point):
                forced.append(point)
        return forced

    def log_tail(self, size=3000):
        try:
            with open(self.log_path, "rb") as f:
                f.seek(0, os.SEEK_END)
                f.seek(max(0, f.tell() - size))
                return f.read().decode("utf-8", "replace")
        except OSError as e:
            return "<no log: %s>" % e


class MountedServer:
    """The test side of a FUSE server module (fakewatchdog, storagepath): its work
    directory, its ServerProcess mounted at workdir/mount_dir, and a stop() that is
    idempotent, registered with atexit, and removes the work directory it created
    unless `keep` (or the environment variable keep_env) says to keep it."""

    def __init__(self, kind, mount_dir, workdir=None, keep=None, keep_env=None,
                 work_base="/var/tmp"):
        self.kind = kind
        self.uid = uuid.uuid4().hex[:10]
        self._own_workdir = workdir is None
        self.workdir = os.path.abspath(
            workdir or os.path.join(work_base, "%s-%s" % (kind, self.uid)))
        self.mountpoint = os.path.join(self.workdir, mount_dir)
        self.keep = (os.environ.get(keep_env or "", "") not in ("", "0")) if keep is None \
            else keep
        self.server = None
        self._stopped = False

    def _start_server(self, module, args):
        """Start `python3 -m module --mountpoint M ARGS` and wait until it has mounted."""
        atexit.register(self.stop)
        self.server = ServerProcess(module, ["--mountpoint", self.mountpoint] + list(args),
                                    self.mountpoint, os.path.join(self.workdir, "server.log"))
        try:
            self.server.start()
        except BaseException:
            self.stop()
            raise
        return self

    def _server_stopped(self):
        """Hook: runs once the server has gone, before the work directory is removed."""

    def stop(self):
        """Stop the server (failing whatever it still holds), unmount, remove the work
        directory we created. Idempotent; registered with atexit."""
        if self._stopped:
            return
        self._stopped = True
        atexit.unregister(self.stop)
        forced = self.server.stop() if self.server else []
        self._server_stopped()
        if self._own_workdir and not self.keep and not mounts_under(self.workdir):
            shutil.rmtree(self.workdir, ignore_errors=True)
        if forced:
            raise RuntimeError("%s server left mounts behind: %s" % (self.kind, forced))


def server_main(name, make_fs, option, description):
    """main() of a server module: --control-fd, --mountpoint and `option` (its one
    argument, given to make_fs), then serve() until told to stop."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--control-fd", type=int, required=True)
    parser.add_argument("--mountpoint", required=True)
    parser.add_argument(option, required=True)
    args = parser.parse_args()
    fs = make_fs(getattr(args, option.lstrip("-").replace("-", "_")))
    serve(fs, args.mountpoint, name, args.control_fd, fs.handle)
