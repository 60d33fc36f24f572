# SPDX-License-Identifier: GPL-2.0-or-later
"""Fake Linux watchdog devices served by FUSE: the "hardware" of simulated hosts, driven by
the real wdmd (``wdmd -w MOUNT/DEVICE``).

Why FUSE: this kernel has neither softdog nor CUSE, and wdmd only stat()s its device path
(no character-device check), opens it O_WRONLY, and uses write() and ioctl().  A regular
file on a FUSE mount gets all of that: the kernel forwards correctly encoded ioctls (the
WDIOC_* are _IOR/_IOWR) of an ordinary FUSE file to the server, with the size taken from
the encoding.  One quirk: WDIOC_SETOPTIONS is _IOR although it *reads* an int, so the
kernel passes no input; the server reads it from the caller's memory (fuselite.py).

Semantics follow the kernel's watchdog core (drivers/watchdog/watchdog_dev.c):
* open starts the timer (ping now); one opener at a time, EBUSY otherwise;
* WDIOC_KEEPALIVE and any non-empty write ping; a write containing 'V' arms the magic
  close, a later write without 'V' disarms it again;
* release after 'V' stops the timer ("magic_close"); release without it is one last ping
  and the timer keeps running ("close") - how wdmd's unclean close, or a SIGKILLed wdmd,
  still leads to a reset;
* SETTIMEOUT (1..65535, pings, answers the new value), GETTIMEOUT, GETTIMELEFT,
  GETSUPPORT (SETTIMEOUT|MAGICCLOSE|KEEPALIVEPING), GETSTATUS, GETBOOTSTATUS
  (CARDRESET after a fire), SETOPTIONS (DISABLECARD stops, ENABLECARD starts);
  other ioctls ENOTTY, pretimeout EOPNOTSUPP.
Firing = not pinged for `timeout` seconds while running.  Mode "normal": write "1" to the
host's cgroup.kill (machine.py: every process of that simulated host dies at once) and
record "fire"; the device is then idle, as after the reset: closed, timeout back to its
default, and requests on the old open file are refused (the kernel would never deliver
them: their process is gone).  Mode "broken": never fires, records "would_fire" once per
expiry.  Every device keeps an event log (JSON lines, server CLOCK_MONOTONIC "mono" and
CLOCK_REALTIME "real", requester "pid" - 0 for a release, which the kernel sends on its
own): added, open, busy (EBUSY open), keepalive, write, settimeout, setoptions,
magic_close, close, fire, would_fire, mode, stale (request on a pre-fire file),
server_stop.

Limits: timing is by the server's clock and a timer thread (fires land within ~10 ms);
no WDIOF_NOWAYOUT, no pretimeout; the kernel watchdog's "hw_running" keep-alive worker
has no equivalent (a fake device never runs before its first open).

(About 440 lines: the device's ioctls and timer, its event record, the client tests use
and the server's command line; each is small, and they share the device state.)
"""

import errno
import json
import os
import stat
import struct
import threading
import time

from . import fuselite

WDIOF_SETTIMEOUT, WDIOF_MAGICCLOSE, WDIOF_KEEPALIVEPING = 0x80, 0x100, 0x8000
WDIOF_CARDRESET = 0x20
WDIOS_DISABLECARD, WDIOS_ENABLECARD = 1, 2


def _ioc(direction, nr, size):
    return (direction << 30) | (size << 16) | (ord("W") << 8) | nr


_R, _RW = 2, 3
WDIOC_GETSUPPORT = _ioc(_R, 0, 40)
WDIOC_GETSTATUS = _ioc(_R, 1, 4)
WDIOC_GETBOOTSTATUS = _ioc(_R, 2, 4)
WDIOC_GETTEMP = _ioc(_R, 3, 4)
WDIOC_SETOPTIONS = _ioc(_R, 4, 4)
WDIOC_KEEPALIVE = _ioc(_R, 5, 4)
WDIOC_SETTIMEOUT = _ioc(_RW, 6, 4)
WDIOC_GETTIMEOUT = _ioc(_R, 7, 4)
WDIOC_SETPRETIMEOUT = _ioc(_RW, 8, 4)
WDIOC_GETPRETIMEOUT = _ioc(_R, 9, 4)
WDIOC_GETTIMELEFT = _ioc(_R, 10, 4)

MODES = ("normal", "broken")
MAX_TIMEOUT = 65535
WORK_BASE = "/var/tmp"


class Device:
    def __init__(self, name, ino, cgroup, mode, default_timeout, log_path):
        self.name, self.ino, self.cgroup, self.mode = name, ino, cgroup, mode
        self.default_timeout = self.timeout = default_timeout
        self.log = open(log_path, "a", buffering=1)
        self.fh = None             # the open file, if any
        self.active = False        # timer running
        self.expired = False       # broken mode: would_fire recorded for this expiry
        self.magic = False         # last write had a 'V'
        self.last_ping = None
        self.bootstatus = 0
        self.fires = 0

    def event(self, what, pid=None, **details):
        rec = dict(event=what, device=self.name, mono=time.monotonic(), real=time.time(),
                   pid=pid, **details)
        if not self.log.closed:
            self.log.write(json.dumps(rec) + "\n")
        return rec

    def ping(self, now=None):
        if self.active:
            self.last_ping = time.monotonic() if now is None else now
            self.expired = False

    def start(self):
        self.active = True
        self.ping()

    def deadline(self):
        return self.last_ping + self.timeout if self.active and not self.expired else None


class WatchdogFS(fuselite.Filesystem):
    attr_timeout = 1.0

    def __init__(self, state_dir):
        self.state_dir = state_dir
        self.devices = {}          # name -> Device
        self.by_ino = {}
        self.lock = threading.Condition()
        self.next_fh = 1
        self.closing = False
        threading.Thread(target=self._timer, daemon=True, name="watchdog-timer").start()

    # ---------------------------------------------------------------- control commands

    def handle(self, msg):
        op = msg["op"]
        with self.lock:
            if op == "add_device":
                name = msg["name"]
                if name in self.devices or "/" in name or name.startswith("."):
                    raise ValueError("bad or duplicate device name %r" % name)
                dev = Device(name, len(self.devices) + 2, msg.get("cgroup"),
                             self._mode(msg.get("mode", "normal")),
                             self._timeout(msg.get("timeout", 60)),
                             os.path.join(self.state_dir, name + ".events"))
                self.devices[name] = dev
                self.by_ino[dev.ino] = dev
                dev.event("added", cgroup=dev.cgroup, mode=dev.mode, timeout=dev.timeout)
                return name
            dev = self.devices[msg["name"]]
            if op == "set_mode":
                dev.mode = self._mode(msg["mode"])
                dev.event("mode", mode=dev.mode)
            elif op == "set_cgroup":
                dev.cgroup = msg["cgroup"]
            elif op != "state":
                raise ValueError("unknown op %r" % op)
            self.lock.notify_all()
            return dict(name=dev.name, mode=dev.mode, open=dev.fh is not None,
                        active=dev.active, timeout=dev.timeout, last_ping=dev.last_ping,
                        deadline=dev.deadline(), fires=dev.fires, cgroup=dev.cgroup)

    @staticmethod
    def _mode(mode):
        if mode not in MODES:
            raise ValueError("mode must be one of %s" % (MODES,))
        return mode

    @staticmethod
    def _timeout(value):
        value = int(value)
        if not 1 <= value <= MAX_TIMEOUT:
            raise ValueError("timeout must be 1..%d" % MAX_TIMEOUT)
        return value

    # ---------------------------------------------------------------- the timer

    def _timer(self):
        with self.lock:
            while not self.closing:
                now = time.monotonic()
                due = [(d.deadline(), d) for d in self.devices.values() if d.deadline()]
                for deadline, dev in due:
                    if deadline <= now:
                        self._expire(dev, now)
                wait = min([d for d, _ in due if d > now] + [now + 1.0]) - now
                self.lock.wait(max(wait, 0.001))

    def _expire(self, dev, now):
        info = dict(last_ping=dev.last_ping, timeout=dev.timeout, late=now - dev.deadline(),
                    cgroup=dev.cgroup)
        if dev.mode == "broken":
            dev.expired = True
            dev.event("would_fire", **info)
            return
        try:
            if not dev.cgroup:
                raise OSError(errno.ENOENT, "no cgroup configured")
            with open(os.path.join(dev.cgroup, "cgroup.kill"), "w") as f:
                f.write("1")
            info["killed"] = True
        except OSError as e:
            info["killed"] = False
            info["error"] = str(e)
        dev.fires += 1
        dev.event("fire", **info)
        # the host was reset: the device is idle and closed, the old open file is dead
        dev.active = dev.magic = dev.expired = False
        dev.fh = None
        dev.timeout = dev.default_timeout
        dev.bootstatus = WDIOF_CARDRESET

    def shutdown(self):
        with self.lock:
            self.closing = True
            for dev in self.devices.values():
                dev.event("server_stop", active=dev.active)
                dev.log.close()
            self.lock.notify_all()

    # ---------------------------------------------------------------- FUSE operations

    def _dev(self, ino):
        dev = self.by_ino.get(ino)
        if dev is None:
            raise OSError(errno.ENOENT, "ino %d" % ino)
        return dev

    def _attr(self, dev):
        return fuselite.Attr(dev.ino, stat.S_IFREG | 0o600)

    def lookup(self, parent, name):
        with self.lock:
            dev = self.devices.get(name) if parent == 1 else None
            if dev is None:
                raise OSError(errno.ENOENT, name)
            return self._attr(dev)

    def getattr(self, ino):
        if ino == 1:
            return fuselite.Attr(1, stat.S_IFDIR | 0o755, nlink=2)
        with self.lock:
            return self._attr(self._dev(ino))

    def readdir(self, ino):
        if ino != 1:
            raise OSError(errno.ENOTDIR, "not a directory")
        with self.lock:
            return [(d.name, self._attr(d)) for d in self.devices.values()]

    def _opened(self, req, fh):
        """The device of open file fh; fails requests on a file from before a fire."""
        dev = self.by_ino.get(req.nodeid)
        if dev is None or dev.fh != fh:
            if dev is not None:
                dev.event("stale", req.pid, opcode=req.opcode)
            raise OSError(errno.EIO, "stale open file")
        return dev

    def open(self, req, ino, flags):
        with self.lock:
            dev = self._dev(ino)
            if dev.fh is not None:
                dev.event("busy", req.pid)
                raise OSError(errno.EBUSY, "watchdog already open")
            dev.fh = self.next_fh
            self.next_fh += 1
            dev.magic = False
            dev.start()
            dev.event("open", req.pid, timeout=dev.timeout)
            self.lock.notify_all()
            return dev.fh, fuselite.FOPEN_DIRECT_IO

    def write(self, req, fh, offset, data):
        with self.lock:
            dev = self._opened(req, fh)
            if data:
                dev.magic = b"V" in data
                dev.ping()
                dev.event("write", req.pid, size=len(data), magic=dev.magic)
                self.lock.notify_all()
            return len(data)

    def release(self, req, fh, flags):
        with self.lock:
            dev = self.by_ino.get(req.nodeid)
            if dev is None or dev.fh != fh:
                return                    # the file of a host that has been reset
            dev.fh = None
            if not dev.active:
                dev.event("close", req.pid, active=False)
            elif dev.magic:
                dev.active = False
                dev.event("magic_close", req.pid)
            else:                         # "watchdog did not stop!": one last ping
                dev.ping()
                dev.event("close", req.pid, active=True, deadline=dev.deadline())
            dev.magic = False
            self.lock.notify_all()

    def ioctl(self, req, fh, cmd, arg, data, out_size):
        with self.lock:
            dev = self._opened(req, fh)

            def out(value):
                return 0, struct.pack("<i", value)

            if cmd == WDIOC_KEEPALIVE:
                dev.ping()
                dev.event("keepalive", req.pid)
                self.lock.notify_all()
                return 0, b""
            if cmd == WDIOC_GETTIMEOUT:
                return out(dev.timeout)
            if cmd == WDIOC_SETTIMEOUT:
                value = struct.unpack("<i", data[:4])[0]
                if not 1 <= value <= MAX_TIMEOUT:
                    raise OSError(errno.EINVAL, "timeout %d" % value)
                dev.timeout = value
                dev.ping()
                dev.event("settimeout", req.pid, timeout=value)
                self.lock.notify_all()
                return out(value)
            if cmd == WDIOC_GETTIMELEFT:
                left = dev.deadline()
                return out(max(0, int(left - time.monotonic())) if left else 0)
            if cmd == WDIOC_GETSUPPORT:
                ident = ("fake " + dev.name).encode()[:31]
                return 0, struct.pack("<II32s", WDIOF_SETTIMEOUT | WDIOF_MAGICCLOSE |
                                      WDIOF_KEEPALIVEPING, 0, ident)
            if cmd == WDIOC_GETSTATUS:
                return out(0)
            if cmd == WDIOC_GETBOOTSTATUS:
                return out(dev.bootstatus)
            if cmd == WDIOC_SETOPTIONS:       # _IOR: the int is in the caller's memory
                value = struct.unpack("<i", fuselite.read_process_memory(req.pid, arg, 4))[0]
                if value & WDIOS_DISABLECARD:
                    dev.active = False
                if value & WDIOS_ENABLECARD:
                    dev.start()
                dev.event("setoptions", req.pid, options=value, active=dev.active)
                self.lock.notify_all()
                return 0, b""
            if cmd in (WDIOC_SETPRETIMEOUT, WDIOC_GETPRETIMEOUT):
                raise OSError(errno.EOPNOTSUPP, "no pretimeout")
            raise OSError(errno.ENOTTY, "ioctl 0x%x" % cmd)


class FakeWatchdog(fuselite.MountedServer):
    """Test-side API: one server process and FUSE mount serving many devices.

    ``wd = FakeWatchdog().start(); path = wd.add_device("h1", machine.cgroup)``, run
    ``wdmd -w path`` on the machine, then ``wd.events("h1")`` / ``wd.fires("h1")``.
    start() it before booting the machines that use it (fuselite.py: mount propagation);
    devices added later appear in running machines at once."""

    def __init__(self, workdir=None, keep=None):
        super().__init__("fakewatchdog", "dev", workdir, keep, "FAKEWATCHDOG_KEEP",
                         WORK_BASE)
        self.state_dir = os.path.join(self.workdir, "state")
        self._events = {}            # cached logs, once the workdir is gone

    def start(self):
        os.makedirs(self.state_dir, exist_ok=True)
        return self._start_server(__name__, ["--state-dir", self.state_dir])

    def add_device(self, name, cgroup=None, mode="normal", timeout=60):
        """A new device MOUNT/name whose fire kills `cgroup` (a machine's cgroup
        directory, machine.py); timeout: its default (power-on) timeout.  Returns its path."""
        self.server.call("add_device", name=name, cgroup=cgroup, mode=mode, timeout=timeout)
        return self.path(name)

    def path(self, name):
        return os.path.join(self.mountpoint, name)

    def set_mode(self, name, mode):
        """"normal" or "broken" (never fires, logs would_fire)."""
        return self.server.call("set_mode", name=name, mode=mode)

    def set_cgroup(self, name, cgroup):
        return self.server.call("set_cgroup", name=name, cgroup=cgroup)

    def state(self, name):
        """{mode, open, active, timeout, last_ping, deadline, fires, cgroup} now."""
        return self.server.call("state", name=name)

    def events(self, name, kinds=None):
        """The device's event log, oldest first; kinds: only these event names."""
        if name in self._events:
            recs = self._events[name]
        else:
            try:
                with open(os.path.join(self.state_dir, name + ".events")) as f:
                    recs = [json.loads(line) for line in f if line.endswith("\n")]
            except FileNotFoundError:
                recs = []
        return [r for r in recs if kinds is None or r["event"] in kinds]

    def fires(self, name):
        return self.events(name, ("fire",))

    def _server_stopped(self):
        """Keep the devices' events readable once the work directory is gone."""
        try:
            for fn in os.listdir(self.state_dir):
                if fn.endswith(".events"):
                    self._events[fn[:-7]] = self.events(fn[:-7])
        except FileNotFoundError:
            pass


def main():
    fuselite.server_main("fakewatchdog", WatchdogFS, "--state-dir",
                         "fake watchdog FUSE server (see docstring)")


if __name__ == "__main__":
    main()
