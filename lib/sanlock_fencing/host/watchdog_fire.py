# SPDX-License-Identifier: GPL-2.0-or-later
"""Would this host's watchdog, armed now, reset it within the bound every proxy assumes?

A RESETTING reply is a promise that the host is reset within timing.watchdog_bound()
(72 s for the default fire timeout of 60) of the arming. fenceable() checks what the
host exposes, without parsing `wdmd --dump` (any local process can register a wdmd
client whose name holds a newline and so add lines to that dump):

- wdmd answers its status call (libwdmd) and petted a device within the last two
  test intervals plus 5 s: otherwise no device is in use (newer wdmd opens one only
  when sanlock -w 1 asks), or it is already letting it fire, and arming does nothing
  this host can count on;
- the device fires no later than the bound: the device's own timeout (sysfs), times
  two for iTCO_wdt (the Intel chipset watchdog fires only after two timeouts; wdmd
  compensates, by setting half the timeout, only since upstream commit acc0021a of
  January 2024, which Debian 12's and EL9's wdmd lack), or wdmd's fire timeout,
  whichever is later, plus wdmd's test interval.

Which device wdmd uses is read from wdmd's open files (/proc/PID/fd, root only; PID
from SO_PEERCRED on the connection, not from a pid file) and matched by device number
with /sys/class/watchdog/watchdogN/dev (the legacy /dev/watchdog, 10:130, is
watchdog0). When that cannot be told (not root, a device that is not in sysfs, or
wdmd between a close and a reopen), every device sysfs lists must pass the rule.

Limits: a driver other than iTCO_wdt with the same two-stage behaviour is not known
here; sysfs gives no identity on kernels older than 4.x (then only wdmd's values
count); the host's clock for last_keepalive is CLOCK_MONOTONIC, as wdmd's.
"""

import math
import os
import stat
from collections import namedtuple

from . import wdmd
from ..core import bounded, timing
from ..core.errors import FenceError

SYSFS_WATCHDOG = "/sys/class/watchdog"
LEGACY_DEVICE = (10, 130)          # /dev/watchdog, the misc device of watchdog0
KEEPALIVE_SLACK = 5
TWO_STAGE_DRIVERS = ("iTCO_wdt",)  # fire after two timeouts
DEVICE_LOOKUP_DEADLINE = 5.0

# name: watchdogN; identity: the driver's name; timeout: seconds (None when unreadable);
# dev: (major, minor) or None
Device = namedtuple("Device", "name identity timeout dev")


def _read(path):
    try:
        with open(path) as handle:
            return handle.read().strip()
    except (OSError, UnicodeDecodeError):
        return None


def sysfs_devices(root=SYSFS_WATCHDOG):
    """Every watchdog device sysfs lists under root, by name."""
    try:
        names = sorted(os.listdir(root))
    except OSError:
        return []
    devices = []
    for name in names:
        base = os.path.join(root, name)
        timeout, dev = _read(os.path.join(base, "timeout")), _read(os.path.join(base, "dev"))
        try:
            timeout = int(timeout) if timeout is not None else None
        except ValueError:
            timeout = None
        try:
            dev = tuple(int(x) for x in dev.split(":")) if dev else None
        except ValueError:
            dev = None
        devices.append(Device(name, _read(os.path.join(base, "identity")) or "", timeout,
                              dev if dev and len(dev) == 2 else None))
    return devices


def open_char_devices(pid, proc_root="/proc"):
    """(major, minor) of every character device process pid has open; None when its open
    files cannot be read (not root, or it is gone)."""
    base = os.path.join(proc_root, str(pid), "fd")
    try:
        fds = os.listdir(base)
    except OSError:
        return None
    found = set()
    for fd in fds:
        try:
            st = os.stat(os.path.join(base, fd))
        except OSError:
            continue
        if stat.S_ISCHR(st.st_mode):
            found.add((os.major(st.st_rdev), os.minor(st.st_rdev)))
    return found


def devices_in_use(devices, open_devices):
    """The sysfs devices among a process's open character devices (pure)."""
    if not open_devices:
        return []
    used = []
    for device in devices:
        legacy = device.name == "watchdog0" and LEGACY_DEVICE in open_devices
        if device.dev in open_devices or legacy:
            used.append(device)
    return used


def device_fire_seconds(device):
    """Seconds from a device's last ping to its fire, from what sysfs says (None: unknown)."""
    if device.timeout is None:
        return None
    two_stage = any(device.identity.startswith(name) for name in TWO_STAGE_DRIVERS)
    return device.timeout * (2 if two_stage else 1)


def needed_bound(status, devices):
    """Seconds after an arming by which this host's watchdog fires (pure): wdmd's next
    test, then the latest of wdmd's fire timeout and the devices' own."""
    fire = status.fire_timeout
    for device in devices:
        seconds = device_fire_seconds(device)
        if seconds is not None:
            fire = max(fire, seconds)
    interval = max(status.test_interval, timing.wdmd_test_interval(status.fire_timeout))
    return interval + timing.WDMD_TEST_SPACING_EXCESS + fire + timing.BOUND_SLACK


def late_fire_problem(status, devices, which, expected_fire_timeout):
    """Why an arming now would not reset the host within the proxies' bound, or None (pure).

    which: how the devices were found ("in use by wdmd" or "listed in sysfs")."""
    allowed = timing.watchdog_bound(expected_fire_timeout)
    needed = needed_bound(status, devices)
    if needed <= allowed:
        return None
    late = [d for d in devices if (device_fire_seconds(d) or 0) > status.fire_timeout]
    if late:
        cause = ", ".join("%s (%s, timeout %d s%s)" % (
            d.name, d.identity or "unknown driver", d.timeout,
            ": it fires only after two timeouts" if device_fire_seconds(d) != d.timeout
            else "") for d in late)
        fix = ("use a wdmd that compensates for iTCO_wdt (sanlock upstream commit "
               "acc0021a, January 2024), or another watchdog device")
    else:
        cause = "wdmd's fire timeout %d s" % status.fire_timeout
        fix = "make watchdog_fire_timeout in sanlock.conf and wdmd's device agree"
    return ("this host's watchdog would fire up to %.0f s after an arming, later than the "
            "%.0f s every fencing proxy assumes: %s %s; %s"
            % (needed, allowed, cause, which, fix))


def keepalive_problem(status, now):
    """Why wdmd's last pet says no device is in use, or None (pure)."""
    if status.last_keepalive == 0:
        return ("wdmd has never petted a watchdog device (newer wdmd opens one only when "
                "sanlock runs with -w 1)")
    age = now - status.last_keepalive
    if age < -2:
        return ("wdmd's last pet is %d s in this process's future: it runs on another "
                "clock (another time namespace?)" % -age)
    if age > 2 * status.test_interval + KEEPALIVE_SLACK:
        return ("wdmd last petted its watchdog device %d s ago (it tests every %d s): it "
                "has no device open, or it is already letting it fire"
                % (age, status.test_interval))
    return None


def assess(status, wdmd_pid, sysfs_root=SYSFS_WATCHDOG, expected_fire_timeout=None,
           now=None, proc_root="/proc"):
    """(problem, needed): problem None when an arming now keeps the promise, otherwise
    the reason; needed: seconds after an arming by which the watchdog fires."""
    if expected_fire_timeout is None:
        expected_fire_timeout = timing.configured_fire_timeout()
    listed = sysfs_devices(sysfs_root)
    try:
        opened = bounded.call(lambda: open_char_devices(wdmd_pid, proc_root),
                              DEVICE_LOOKUP_DEADLINE, "reading wdmd's open files")
    except bounded.CallTimeout:
        opened = None
    used = devices_in_use(listed, opened)
    devices = used or listed
    needed = needed_bound(status, devices)
    problem = keepalive_problem(status, wdmd.monotonic_seconds() if now is None else now)
    if problem is None and used:
        problem = late_fire_problem(status, used, "(the device wdmd uses)",
                                    expected_fire_timeout)
    elif problem is None:
        problem = late_fire_problem(status, listed, "(which device wdmd uses cannot be "
                                    "told, so every device in %s counts)" % sysfs_root,
                                    expected_fire_timeout)
    return problem, needed


def fenceable(sysfs_root=SYSFS_WATCHDOG, expected_fire_timeout=None, lib=None):
    """(True, summary) when this host's watchdog, armed now, resets it within the bound
    every proxy assumes; (False, reason) otherwise. Bounded: a few seconds at most."""
    verdict = check(sysfs_root, expected_fire_timeout, lib)
    return verdict.problem is None, verdict.problem or verdict.summary


# problem: None or why not; needed: seconds from an arming to the fire (None: unknown)
Verdict = namedtuple("Verdict", "problem needed summary")


def check(sysfs_root=SYSFS_WATCHDOG, expected_fire_timeout=None, lib=None):
    """fenceable() with the needed bound, for the responder's reply."""
    try:
        status, pid = wdmd.status(lib)
    except wdmd.WdmdMissing as err:
        return Verdict(str(err), None, "")
    except FenceError as err:
        return Verdict("wdmd cannot be asked: %s" % err, None, "")
    problem, needed = assess(status, pid, sysfs_root, expected_fire_timeout)
    return Verdict(problem, needed,
                   "wdmd pets its watchdog device every %d s; armed, it resets this host "
                   "within %d s" % (status.test_interval, math.ceil(needed)))
