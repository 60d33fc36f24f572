# SPDX-License-Identifier: GPL-2.0-or-later
"""watchdog_fire: would this host's watchdog fire within the bound every proxy assumes
(iTCO_wdt fires only after two timeouts), from wdmd's status and sysfs (pure)."""

import os

from sanlock_fencing.core import timing
from sanlock_fencing.host import watchdog_fire
from sanlock_fencing.host.watchdog_fire import Device
from sanlock_fencing.host.wdmd import Status

HEALTHY = Status(test_interval=10, fire_timeout=60, last_keepalive=1000)


def itco(timeout=60, name="watchdog0", dev=(250, 0)):
    return Device(name, "iTCO_wdt", timeout, dev)


def test_itco_under_a_wdmd_that_does_not_compensate_fires_too_late():
    problem = watchdog_fire.late_fire_problem(HEALTHY, [itco(60)], "(in use)", 60)
    assert problem and "132 s" in problem and "two timeouts" in problem
    assert "acc0021a" in problem


def test_itco_under_a_wdmd_that_halves_its_timeout_is_fine():
    assert watchdog_fire.late_fire_problem(HEALTHY, [itco(30)], "(in use)", 60) is None


def test_other_devices_fire_after_one_timeout():
    ipmi = Device("watchdog1", "IPMI", 60, (250, 1))
    assert watchdog_fire.late_fire_problem(HEALTHY, [ipmi], "(in use)", 60) is None
    assert watchdog_fire.needed_bound(HEALTHY, [ipmi]) == timing.watchdog_bound(60)


def test_a_fire_timeout_above_the_configured_one_is_refused():
    late = Status(10, 90, 1000)
    problem = watchdog_fire.late_fire_problem(late, [], "(in use)", 60)
    assert problem and "fire timeout 90" in problem
    assert watchdog_fire.late_fire_problem(Status(5, 30, 1000), [], "(in use)", 60) is None


def test_a_stale_or_missing_keepalive_means_no_device_in_use():
    assert "never petted" in watchdog_fire.keepalive_problem(Status(10, 60, 0), 5000)
    assert "26 s ago" in watchdog_fire.keepalive_problem(HEALTHY, 1026)
    assert watchdog_fire.keepalive_problem(HEALTHY, 1025) is None
    assert "another clock" in watchdog_fire.keepalive_problem(HEALTHY, 990)


def test_the_device_wdmd_has_open_is_found_by_number():
    listed = [itco(60, "watchdog0", (250, 0)), Device("watchdog1", "IPMI", 60, (250, 1))]
    assert watchdog_fire.devices_in_use(listed, {(250, 1)}) == [listed[1]]
    assert watchdog_fire.devices_in_use(listed, {(10, 130)}) == [listed[0]]  # /dev/watchdog
    assert watchdog_fire.devices_in_use(listed, None) == []
    assert watchdog_fire.devices_in_use(listed, {(1, 3)}) == []


def write_sysfs(root, name, identity, timeout, dev):
    base = root / name
    base.mkdir(parents=True)
    (base / "identity").write_text(identity + "\n")
    (base / "timeout").write_text("%s\n" % timeout)
    (base / "dev").write_text(dev + "\n")


def test_assess_reads_sysfs_and_counts_every_device_when_wdmd_s_is_unknown(tmp_path):
    write_sysfs(tmp_path, "watchdog0", "iTCO_wdt", 60, "250:0")
    write_sysfs(tmp_path, "watchdog1", "IPMI", 60, "250:1")
    devices = watchdog_fire.sysfs_devices(str(tmp_path))
    assert [d.identity for d in devices] == ["iTCO_wdt", "IPMI"]
    problem, needed = watchdog_fire.assess(HEALTHY, os.getpid(), str(tmp_path), 60, now=1000,
                                           proc_root=str(tmp_path / "noproc"))
    assert needed == timing.watchdog_bound(120)
    assert "iTCO_wdt" in problem and "cannot be told" in problem
    problem, needed = watchdog_fire.assess(HEALTHY, os.getpid(), str(tmp_path / "none"), 60,
                                           now=1000)
    assert problem is None and needed == timing.watchdog_bound(60)
