# SPDX-License-Identifier: GPL-2.0-or-later
"""timing: the time bounds a fence is expected to keep, against what oVirt's engine and
the measured watchdog chain allow."""

from sanlock_fencing.core import timing


def test_expected_fence_time_fits_ovirt_at_io_timeout_10():
    typical, worst = timing.expected_fence_seconds(10)
    # typical within the default power_timeout (175 s); the worst case (every renewal of
    # both hosts late by all sanlock allows) reaches it, and stays under the engine's
    # 180 s RPC timeout: there the fence fails at power_timeout, it never succeeds early
    assert typical < 175 <= worst < 180
    assert timing.pacemaker_timeout(10) > worst


def test_the_watchdog_bound_covers_the_measured_chain():
    # measured with real wdmd: reply set -> device fire 70.00-70.12 s
    assert 70.12 < timing.watchdog_bound() <= 72
    # a shorter fire timeout shortens wdmd's test interval too; a longer one lengthens
    assert timing.watchdog_bound(30) < timing.watchdog_bound() < timing.watchdog_bound(90)
