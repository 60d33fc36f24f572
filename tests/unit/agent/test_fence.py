# SPDX-License-Identifier: GPL-2.0-or-later
"""The fence loop and status through made-up timelines (seconds), one per known hole.

A scenario file: each timeline runs a whole fence (agent/fence.py) or status
(agent/status.py) through core's evidence, judge and world, and pins what the fence
concludes; it lives with the agent, whose behaviour it pins.

Each world says what is on storage and what this host's daemon reports at every
moment; the virtual clock makes a 100-second fence take milliseconds. The target
(host 3) renews every 2 s (io_timeout 1) from t = -20; its owner clock reads
1000 at t = -20.
"""

import pytest

from harness.fakeworld import (LS, FakeStore, FakeWorld, Timeline, rec, renewals, run_fence as run,
                               T3, view, views_from, world_of)
from sanlock_fencing.core import events, timing
from sanlock_fencing.core.address import Target
from sanlock_fencing.agent.fence import FenceOptions, OwnHostReset, fence
from sanlock_fencing.agent.status import Power, host_status

BOUND = timing.watchdog_bound()
R = events.RESETTING


def healthy(reply_at=4.0, fire_at=None, stop=None, **kw):
    """A target that acknowledges at reply_at (the renewal from then on carries the
    reply) and stops renewing at `stop` (its watchdog fired), or never (None)."""
    return renewals(-20, stop, events_at=[(reply_at, R)] if reply_at is not None else (), **kw)


# ------------------------------------------------------------------ the normal case

def test_reply_then_silence_past_the_bound_is_proven_and_not_before():
    world = world_of(healthy(reply_at=4.0, stop=70.0))
    outcome, message, ended = run(world)
    assert outcome == "proven", message
    assert "acknowledged the reset" in message
    # the reply is first seen at 4; the proof needs the bound after that ...
    assert ended >= 4.0 + BOUND
    # ... and the renewal due after the last one (68) missed: seen at 68, due 70 + slack
    assert ended < 4.0 + BOUND + 3 * 2 + 1


def test_proof_waits_for_the_renewal_a_failed_watchdog_would_write():
    # the host renews until just before the bound: the proof comes only once its next
    # renewal is overdue, whatever the bound says
    world = world_of(healthy(reply_at=4.0, stop=76.5))
    outcome, message, ended = run(world)
    assert outcome == "proven", message
    assert ended >= 74 + 2 + timing.PACE_SLACK


# ------------------------------------------------------------------ hole 1: carried-over reply

def carried_over(renew_after_join):
    """Host 3 was fenced in generation 5 and rebooted; generation 6's join (t = 0)
    carries generation 5's RESETTING; its first renewal, if any, rewrites it."""
    points = [(-20, rec(1000, gen=5, event=R))]
    join = [(0.0, rec(30, gen=6, event=R))]
    later = renewals(2.0, None, ts0=32, gen=6) if renew_after_join else []
    return points + join + later


def test_a_carried_over_reply_in_a_host_that_stopped_after_joining_is_never_off():
    world = world_of(carried_over(renew_after_join=False))
    world.t = 80.0          # the join write is all there is; the lease is DEAD by now
    verdict = host_status(world, [T3])
    assert verdict.power == Power.UNPROVEN
    assert "left from an earlier generation" in verdict.reason
    outcome, message, _ = run(world)
    assert outcome == "failed" and "nothing was sent" in message


def test_an_off_started_on_a_carried_over_reply_needs_the_new_generation_to_answer():
    # generation 6 renews (which clears the old reply) but never acknowledges
    world = world_of(carried_over(renew_after_join=True))
    world.t = 1.0
    outcome, message, ended = run(world)
    assert outcome == "failed", message
    assert "never acknowledged" in message and ended < 30


def test_an_off_started_on_a_carried_over_reply_is_proven_by_the_new_reply():
    points = [(-20, rec(1000, gen=5, event=R)), (0.0, rec(30, gen=6, event=R))]
    points += renewals(2.0, 80.0, ts0=32, gen=6, events_at=[(6.0, R)])
    world = world_of(points)
    world.t = 1.0
    outcome, message, ended = run(world)
    assert outcome == "proven", message
    assert ended >= 6.0 + BOUND


# ------------------------------------------------------------------ hole 2: a failed fence's reply

def test_a_watchdog_that_did_not_fire_fails_and_its_reply_proves_nothing_later():
    store = FakeStore()
    points = healthy(reply_at=4.0, stop=120.0)      # renews 46 s past the bound, then
    world = world_of(points, store=store)           # loses its storage, still running
    outcome, message, ended = run(world)
    assert outcome == "failed" and "did not reset it" in message
    assert ended < 4.0 + BOUND + 4

    world.t = 300.0                                 # DEAD, carrying its reply
    assert world.look(LS, 3).view.state.name == "DEAD"
    verdict = host_status(world, [T3])
    assert verdict.power == Power.UNPROVEN and "did not reset it" in verdict.reason
    outcome, message, _ = run(world)
    assert outcome == "failed" and "nothing was sent" in message

    # and on a host that kept no history at all: cannot tell, never OFF
    world.store = None
    assert host_status(world, [T3]).power == Power.UNPROVEN


# ------------------------------------------------------------------ hole 3: restart is not reboot

def test_a_daemon_restart_after_the_reply_is_a_sign_of_life():
    points = healthy(reply_at=4.0, stop=10.0)
    points += renewals(12.0, None, ts0=1032, gen=6)       # same boot: the clock goes on
    outcome, message, ended = run(world_of(points))
    assert outcome == "failed" and "without a reboot" in message
    assert ended < 20


def test_a_reboot_after_the_reply_is_proven_by_the_restarted_clock():
    points = healthy(reply_at=4.0, stop=10.0)
    points += renewals(40.0, None, ts0=35, gen=6)         # booted again: the clock restarted
    outcome, message, ended = run(world_of(points))
    assert outcome == "proven" and "rebooted" in message
    assert ended < 45


# ---------------------------------------------------------- hole 4: state and record together

def test_a_dead_state_about_an_older_renewal_than_the_disk_proves_nothing():
    points = [(-100, rec(900, gen=5))]
    world = FakeWorld({3: Timeline(points + [(0.0, rec(1005, gen=5))])},
                      {3: Timeline([(-100, view("DEAD", 900, 5))])})
    verdict = host_status(world, [T3], resource_mode=True)
    assert verdict.power != Power.OFF


# ------------------------------------------------------------------ hole 5: live anywhere

def test_resource_mode_with_a_live_lease_elsewhere_is_not_off():
    dead = [(-200, rec(800, gen=5))]
    live = renewals(-20, None, ts0=1000, gen=2)
    world = FakeWorld({(LS, 3): Timeline(dead), ("ls2", 3): Timeline(live)},
                      {(LS, 3): views_from(dead), ("ls2", 3): views_from(live)},
                      lockspaces=(LS, "ls2"))
    both = [T3, Target("ls2", 3)]
    assert host_status(world, both, resource_mode=True).power == Power.ON
    outcome, message, _ = run(world, targets=both, resource_mode=True, power_timeout=20)
    assert outcome == "failed"


# ------------------------------------------------------------------ hole 6: REBOOTING alone

def test_rebooting_without_resetting_is_not_an_acknowledgement():
    points = renewals(-20, None, events_at=[(4.0, events.REBOOTING)])
    outcome, message, _ = run(world_of(points))
    assert outcome == "failed" and "never acknowledged" in message


# ------------------------------------------------------------------ hole 7: signs of life

def test_a_release_after_the_reply_is_a_sign_of_life():
    points = healthy(reply_at=4.0, stop=50.0) + [(52.0, rec(0, gen=5))]
    outcome, message, _ = run(world_of(points))
    assert outcome == "failed" and "released its lease" in message


def test_someone_elses_record_is_not_silence():
    points = healthy(reply_at=4.0, stop=60.0)
    points += [(70.0, "the delta lease read for host 3 is owned by host 9 (test)")]
    outcome, message, _ = run(world_of(points), power_timeout=200)
    assert outcome == "failed"
    assert "not proven within power_timeout" in message or "could not be read" in message


# ------------------------------------------------------------------ hole 8: blocking reads

def test_a_read_that_blocked_past_the_bound_does_not_confirm_silence():
    # the watchdog failed: the host renews on; the read issued at 70 (before the bound
    # ends at 76) returns only at 85, with what was on disk at 70
    points = healthy(reply_at=4.0, stop=None)
    world = world_of(points, latency={3: lambda t: 15.0 if 70 <= t < 70.3 else 0.0})
    outcome, message, _ = run(world)
    assert outcome == "failed" and "did not reset it" in message


def test_the_anchor_is_when_the_read_that_showed_the_reply_returned():
    # the read issued at 4.0 blocks for 15 s and shows the reply that was on disk when it
    # returned: the arming may have happened as late as 19, so no proof before 19 + bound
    points = healthy(reply_at=4.0, stop=70.0)
    world = world_of(points, snapshot="returned",
                     latency={3: lambda t: 15.0 if 4.0 <= t < 4.3 else 0.0})
    outcome, message, ended = run(world)
    assert outcome == "proven", message
    assert ended >= 19.0 + BOUND


# ------------------------------------------------------------------ reliability

def test_a_dead_proxy_daemon_ends_the_fence_naming_it():
    world = world_of(healthy(reply_at=4.0, stop=70.0), daemon_dies_at=20.0)
    outcome, message, ended = run(world)
    assert outcome == "failed" and "sanlock daemon" in message and "closed" in message
    assert ended < 21


def test_stalled_proxy_storage_ends_within_power_timeout():
    world = world_of(healthy(reply_at=4.0, stop=70.0),
                     latency={3: lambda t: None if t >= 5 else 0.0,
                              1: lambda t: None if t >= 5 else 0.0})
    outcome, message, ended = run(world, power_timeout=20)
    assert outcome == "failed" and ended <= 20 + 1


def test_storage_unreadable_for_good_ends_without_power_timeout():
    world = world_of(healthy(reply_at=4.0, stop=70.0),
                     latency={3: lambda t: None if t >= 5 else 0.0})
    outcome, message, ended = run(world, power_timeout=0)
    assert outcome == "failed" and "could not be read" in message
    assert ended < 5 + timing.storage_silence_limit(1) + 2


def test_a_busy_event_slot_is_waited_out():
    world = world_of(healthy(reply_at=6.0, stop=74.0), busy_until=2.0)
    outcome, message, _ = run(world)
    assert outcome == "proven", message
    assert world.sent[0][0] >= 2.0


def test_no_reply_after_four_renewals_fails_fast():
    outcome, message, ended = run(world_of(renewals(-20, None)))
    assert outcome == "failed" and "never acknowledged" in message and ended < 15


def test_a_request_this_host_never_writes_fails():
    world = world_of(renewals(-20, None), own_request_written_after=None)
    outcome, message, _ = run(world)
    assert outcome == "failed" and "did not write the request" in message


def test_a_reset_request_for_this_host_ends_its_fence_at_once():
    world = world_of(healthy(reply_at=4.0, stop=70.0),
                     incoming=[(10.0, {"from_host_id": 3, "from_generation": 5,
                                       "host_id": 1, "generation": 2, "event": events.RESET,
                                       "data": 0})])
    with pytest.raises(OwnHostReset):
        fence(world, [T3], FenceOptions())
    assert world.t < 11


# ------------------------------------------------------------------ history kept on this host

def test_a_killed_fence_is_proven_by_its_retry_from_the_kept_arrival():
    store = FakeStore()
    points = healthy(reply_at=4.0, stop=70.0)
    first = world_of(points, store=store)
    run(first, power_timeout=10)                  # killed, in effect, at 10 s
    retry = world_of(points, store=store)
    retry.t = 20.0
    outcome, message, ended = run(retry)
    assert outcome == "proven", message
    assert ended >= 4.0 + BOUND


def test_a_reply_nobody_here_saw_arrive_is_not_trusted_by_a_second_fence():
    points = healthy(reply_at=4.0, stop=200.0)     # renews on: its watchdog failed
    world = world_of(points)
    world.t = 30.0
    outcome, message, _ = run(world)
    assert outcome == "failed", message


def test_status_says_off_as_soon_as_a_fence_here_proved_it():
    store = FakeStore()
    points = healthy(reply_at=4.0, stop=70.0)
    world = world_of(points, store=store)
    outcome, _, ended = run(world)
    assert outcome == "proven"
    # at io_timeout 10 the lease would still be LIVE here; the kept proof is enough
    assert world.look(LS, 3).view.state.name in ("LIVE", "FAIL")
    verdict = host_status(world, [T3])
    assert verdict.power == Power.OFF, verdict
    # a renewal after the proof means the proof was wrong: never OFF then
    world.records[3] = Timeline(points + [(ended + 5, rec(1200, gen=5, event=R))])
    world.t = ended + 6
    assert host_status(world, [T3]).power != Power.OFF


def test_status_with_no_history_of_a_live_host_is_on():
    world = world_of(renewals(-20, None))
    assert host_status(world, [T3]).power == Power.ON


def test_multiple_lockspaces_a_renewal_elsewhere_past_the_bound_fails():
    ls1 = healthy(reply_at=4.0, stop=70.0)
    ls2 = renewals(-20, None, ts0=1000, gen=2)    # the same host renews on in ls2
    world = FakeWorld({(LS, 3): Timeline(ls1), ("ls2", 3): Timeline(ls2)},
                      {(LS, 3): views_from(ls1), ("ls2", 3): views_from(ls2)},
                      lockspaces=(LS, "ls2"))
    outcome, message, _ = run(world, targets=[T3, Target("ls2", 3)])
    assert outcome == "failed" and "did not reset it" in message


def test_the_bound_follows_the_configured_fire_timeout(tmp_path):
    conf = tmp_path / "sanlock.conf"
    conf.write_text("# test\nwatchdog_fire_timeout = 90\nio_timeout = 10\n")
    assert timing.configured_fire_timeout(str(conf)) == 90
    assert timing.watchdog_bound(90) > 90 + 10
    assert timing.configured_fire_timeout(str(tmp_path / "missing")) == 60
    conf.write_text("watchdog_fire_timeout = 0\n")
    assert timing.configured_fire_timeout(str(conf)) == 60


def test_a_host_that_left_cleanly_is_cannot_tell_not_on():
    points = [(-50, rec(0, gen=5))]
    world = FakeWorld({3: Timeline(points)}, {3: Timeline([(-50, view("FREE", 0, 5))])})
    verdict = host_status(world, [T3])
    assert verdict.power == Power.UNPROVEN and "holds no lease" in verdict.reason


# ------------------------------------------------------------------ a bound the target announces

def announcing(points, seconds):
    """The same records, each reply's data announcing a watchdog bound (our responder)."""
    data = events.encode_reply_bound(seconds)
    return [(t, r._replace(event_data=data) if r.event & R else r) for t, r in points]


def test_a_longer_bound_announced_by_the_reply_is_waited_out():
    # the target's responder says its device fires up to 130 s after the arming (a
    # chipset watchdog that counts twice): no proof before that, whatever this host thinks
    points = announcing(healthy(reply_at=4.0, stop=130.0), 130)
    outcome, message, ended = run(world_of(points))
    assert outcome == "proven", message
    assert ended >= 4.0 + 130


def test_a_shorter_bound_announced_by_the_reply_is_not_taken():
    points = announcing(healthy(reply_at=4.0, stop=70.0), 30)
    outcome, message, ended = run(world_of(points))
    assert outcome == "proven", message
    assert ended >= 4.0 + BOUND
