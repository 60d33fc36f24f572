"""The status rules as functions of observed states."""

import pytest

from sanlock_fencing.address import Target
from sanlock_fencing.hoststate import HostState, HostView
from sanlock_fencing.lease import LeaseRecord
from sanlock_fencing.proof import Power, Verdict, host_verdict, lease_verdict
from sanlock_fencing import events

T = Target("ls", 3)


def view(state, io=1, generation=5):
    return HostView(3, generation, 100, io, state)


def record(event=0, generation=5):
    return LeaseRecord(host_id=3, owner_id=3, owner_generation=generation, timestamp=100,
                       io_timeout=1, sector_size=512, host_name="h3", event=event,
                       event_generation=1, event_data=0)


@pytest.mark.parametrize("state", [HostState.LIVE, HostState.FAIL, HostState.UNKNOWN])
def test_running_or_maybe_running_is_on(state):
    assert lease_verdict(T, view(state), record(events.RESETTING)).power == Power.ON


def test_dead_with_reply_is_off():
    assert lease_verdict(T, view(HostState.DEAD), record(events.RESETTING)).power == Power.OFF


def test_dead_with_rebooting_reply_is_off():
    assert lease_verdict(T, view(HostState.DEAD), record(events.REBOOTING)).power == Power.OFF


def test_dead_without_reply_is_unproven_with_the_reason():
    verdict = lease_verdict(T, view(HostState.DEAD), record(0))
    assert verdict.power == Power.UNPROVEN
    assert "without acknowledging a reset" in verdict.reason
    assert "fence it by other means" in verdict.reason


def test_dead_with_only_our_request_is_unproven():
    assert lease_verdict(T, view(HostState.DEAD), record(events.RESET)).power == Power.UNPROVEN


def test_reply_of_another_generation_proves_nothing():
    verdict = lease_verdict(T, view(HostState.DEAD, generation=6), record(events.RESETTING, 5))
    assert verdict.power == Power.UNPROVEN


def test_dead_without_record_is_unproven():
    assert lease_verdict(T, view(HostState.DEAD), None).power == Power.UNPROVEN


def test_resource_mode_makes_dead_enough():
    verdict = lease_verdict(T, view(HostState.DEAD), record(0), resource_mode=True)
    assert verdict.power == Power.OFF


def test_resource_mode_does_not_make_fail_enough():
    verdict = lease_verdict(T, view(HostState.FAIL), record(0), resource_mode=True)
    assert verdict.power == Power.ON


def test_free_is_unproven_never_off():
    verdict = lease_verdict(T, HostView.free(3), None, resource_mode=True)
    assert verdict.power == Power.UNPROVEN
    assert "holds no lease" in verdict.reason


def test_fail_with_reply_proves_reset_at_production_io_timeout():
    # FAIL at io 10 means > 80 s without renewal: longer than the 70 s watchdog bound
    assert lease_verdict(T, view(HostState.FAIL, io=10),
                         record(events.RESETTING)).power == Power.OFF


def test_fail_with_reply_is_not_enough_at_short_io_timeout():
    assert lease_verdict(T, view(HostState.FAIL, io=8),
                         record(events.RESETTING)).power == Power.ON


def test_fail_without_reply_is_on_at_any_io_timeout():
    assert lease_verdict(T, view(HostState.FAIL, io=10), record(0)).power == Power.ON


ON, OFF, NO = (Verdict(Power.ON, "on"), Verdict(Power.OFF, "off"),
               Verdict(Power.UNPROVEN, "no"))


@pytest.mark.parametrize("verdicts, expected", [
    ([ON], Power.ON), ([OFF], Power.OFF), ([NO], Power.UNPROVEN),
    ([OFF, ON], Power.ON),          # live in any lockspace is ON
    ([NO, ON], Power.ON),
    ([NO, OFF], Power.OFF),         # one proof is enough
    ([NO, NO], Power.UNPROVEN),
])
def test_host_verdict_combines_lockspaces(verdicts, expected):
    assert host_verdict(verdicts).power == expected
