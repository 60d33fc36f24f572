# SPDX-License-Identifier: GPL-2.0-or-later
"""The witness through made-up timelines: it credits a reply it saw arrive, follows the
host, and its record lets status on its host say OFF (or never OFF)."""

from harness.fakeworld import LS, FakeStore, FakeWorld, Timeline, renewals, views_from
from sanlock_fencing.core import events
from sanlock_fencing.core.address import Target
from sanlock_fencing.agent.status import Power, host_status
from sanlock_fencing.host.witness import Witness

R = events.RESETTING
T3 = Target(LS, 3)


def reply_event(at, generation=5):
    return (at, {"from_host_id": 3, "from_generation": generation, "host_id": 2,
                 "generation": 9, "event": R, "data": 0})


def world(points, arrival, start=0.0):
    w = FakeWorld({3: Timeline(points)}, {3: views_from(points)}, store=FakeStore(),
                  incoming=[reply_event(arrival)])
    w.t = start
    return w


def run_witness(w, until, witness=None):
    witness = witness or Witness(w)
    while w.t < until:
        witness.step()
    return witness


def test_a_witnessed_reset_makes_status_off_on_this_host():
    points = renewals(-20, 70.0, events_at=[(30.0, R)])
    w = world(points, arrival=31.0)
    witness = run_witness(w, 30.5)
    assert host_status(w, [T3]).power == Power.ON
    run_witness(w, 100.0, witness)
    assert host_status(w, [T3]).power == Power.ON      # not proven before the bound
    run_witness(w, 150.0, witness)
    verdict = host_status(w, [T3])
    assert verdict.power == Power.OFF, verdict


def test_a_witnessed_watchdog_failure_keeps_status_from_ever_saying_off():
    points = renewals(-20, 140.0, events_at=[(30.0, R)])      # renews 100 s past its reply
    w = world(points, arrival=31.0)
    run_witness(w, 400.0)
    verdict = host_status(w, [T3])
    assert verdict.power == Power.UNPROVEN and "did not reset it" in verdict.reason


def test_a_reply_already_on_disk_when_registering_is_not_credited():
    # the record carries the reply when the witness starts: its arrival, soon after,
    # may be a late delivery of an older reply
    points = renewals(-20, 70.0, events_at=[(-4.0, R)])
    w = world(points, arrival=3.0)
    run_witness(w, 200.0)
    assert host_status(w, [T3]).power == Power.UNPROVEN


def test_a_reply_soon_after_registering_is_credited_when_the_record_was_clean():
    points = renewals(-20, 70.0, events_at=[(2.0, R)])
    w = world(points, arrival=3.0)
    run_witness(w, 200.0)
    assert host_status(w, [T3]).power == Power.OFF
