# SPDX-License-Identifier: GPL-2.0-or-later
"""power_timeout and delay: numbers of seconds with an upper bound, whatever the library
lets through (it checks int() today; nan, inf and 1e23 must not mean "no bound" here
either)."""

import pytest

from sanlock_fencing.core import timing
from sanlock_fencing.core.errors import UsageError
from sanlock_fencing.agent.request import MAX_DELAY, MAX_POWER_TIMEOUT, settings


def options(**extra):
    base = {"--ip": "ls:3"}
    base.update(("--" + key.replace("_", "-"), value) for key, value in extra.items())
    return base


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "1e23", "3601", "-1", "soon"])
def test_power_timeout_out_of_bounds_is_refused(value):
    with pytest.raises(UsageError, match="invalid power_timeout .*from 0 \\(no limit\\) "
                                         "to 3600"):
        settings(options(power_timeout=value))


@pytest.mark.parametrize("value", ["nan", "inf", "1e23", "301", "-5", "later"])
def test_delay_out_of_bounds_is_refused(value):
    with pytest.raises(UsageError, match="invalid delay .*from 0 to 300"):
        settings(options(delay=value))


def test_the_bounds_themselves_are_accepted():
    _targets, _node, fence_options = settings(options(power_timeout=str(MAX_POWER_TIMEOUT),
                                                      delay=str(MAX_DELAY)))
    assert fence_options.power_timeout == MAX_POWER_TIMEOUT


def test_no_value_means_what_it_meant():
    for given in (options(), options(power_timeout="", delay="")):
        _targets, _node, fence_options = settings(given)
        assert fence_options.power_timeout == 0


def test_the_power_timeout_bound_leaves_room_for_the_slowest_sane_fence():
    # io_timeout 60 is six times vdsm's and sanlock's default
    assert timing.expected_fence_seconds(60)[1] * 2 < MAX_POWER_TIMEOUT
