# SPDX-License-Identifier: GPL-2.0-or-later
"""Whose evidence is it: the fence loop and status through made-up timelines in which the
evidence belongs to another life of the lockspace, another machine, another lockspace
of the same machine, a bound the daemons do not apply, a merely slow renewal, or a
frozen view (issue "Whose proof is it", cases 5-10). Each failed on the code before it.
A scenario file: whole fences and status (agent/fence.py, agent/status.py) over core's
evidence and judge.

The target (host 3) renews every 2 s (io_timeout 1) from t = -20; its owner clock reads
1000 at t = -20 unless a test says otherwise.
"""

import pytest

from harness.fakeworld import (LS, FakeStore, FakeWorld, Timeline, rec, renewals, run_fence as run,
                               T3, view, views_from, world_of)
from sanlock_fencing.core import events, timing
from sanlock_fencing.core.address import Target
from sanlock_fencing.agent.status import Power, host_status

BOUND = timing.watchdog_bound()
R = events.RESETTING


# ------------------------------------------------------------ case 5: an earlier life

def proven_in_an_earlier_life(store):
    """A fence on this host proved host 3's reset in generation 1 of the lockspace's
    first life, and kept that."""
    first = world_of(renewals(-20, 70.0, gen=1, events_at=[(4.0, R)]), store=store)
    outcome, message, _ = run(first)
    assert outcome == "proven", message
    return first


def test_a_proof_kept_for_an_earlier_life_of_the_lease_says_nothing_about_this_one():
    store = FakeStore()
    proven_in_an_earlier_life(store)
    # the lockspace is re-initialised under the same name; host 3 (rebooted since) joins
    # it again and reaches generation 1 again, with lower timestamps: it runs
    second = renewals(-20, None, gen=1, ts0=200)
    world = world_of(second, store=store)
    world.t = 300.0
    verdict = host_status(world, [T3])
    assert verdict.power == Power.ON, verdict


@pytest.mark.parametrize("last_renewal, fence_at, power_timeout", [
    # host 3 joined the new life, then lost this storage without a reply: it may run;
    # off must not say "already off" from the earlier life's proof
    (290.0, 291.0, 120),
    # host 3 is live in the new life when the fence starts, never replies, and then
    # loses this storage: the earlier life's reply must not be credited
    (300.0, 290.0, 150),
], ids=["already-off-from-an-earlier-life", "a-reply-of-an-earlier-life"])
def test_a_fence_needs_a_reply_in_this_life(last_renewal, fence_at, power_timeout):
    store = FakeStore()
    proven_in_an_earlier_life(store)
    second = renewals(280.0, last_renewal, gen=1, ts0=200)
    world = world_of(second, store=store)
    world.t = fence_at
    outcome, message, _ = run(world, power_timeout=power_timeout)
    assert outcome == "failed", message


def test_kept_evidence_of_another_observer_life_is_not_continued():
    # the same lease generation and storage, but this host rejoined the lockspace since
    # (its own generation changed): what it kept belongs to its earlier membership
    store = FakeStore()
    proven_in_an_earlier_life(store)
    later = renewals(-20, 70.0, gen=1, events_at=[(4.0, R)])
    world = world_of(later, store=store, own_generation=3)
    world.t = 200.0
    assert host_status(world, [T3]).power != Power.OFF


# ------------------------------------------------------------ case 6: another machine

def test_another_machine_taking_the_host_id_is_not_a_reboot():
    # host 3 ("host3") stops renewing at 2 without replying; another machine, "hostX",
    # takes host id 3 (after host_dead_seconds, or a release nobody here saw) with a
    # clock of its own that reads lower
    points = renewals(-20, 3.0)
    points += renewals(4.0, None, ts0=50, gen=6)
    points = [(t, r._replace(host_name="hostX") if r.owner_generation == 6 else r)
              for t, r in points]
    outcome, message, _ = run(world_of(points), power_timeout=120)
    assert outcome == "failed", message
    assert "another machine" in message and "hostX" in message


def test_the_same_machine_rebooting_is_still_proven():
    points = renewals(-20, 10.0, events_at=[(4.0, R)]) + renewals(40.0, None, ts0=35, gen=6)
    outcome, message, _ = run(world_of(points))
    assert outcome == "proven" and "rebooted" in message and "host3" in message


# ------------------------------------------------------------ case 7: one machine, one clock

def test_a_reboot_in_one_lockspace_while_another_renews_is_a_contradiction():
    ls1 = renewals(-20, 3.0) + renewals(4.0, None, ts0=35, gen=6)     # looks rebooted
    ls2 = renewals(-21, None, ts0=999, gen=2)                          # renews on
    world = FakeWorld({(LS, 3): Timeline(ls1), ("ls2", 3): Timeline(ls2)},
                      {(LS, 3): views_from(ls1), ("ls2", 3): views_from(ls2)},
                      lockspaces=(LS, "ls2"))
    outcome, message, _ = run(world, targets=[T3, Target("ls2", 3)], power_timeout=60)
    assert outcome == "failed", message


def test_a_reboot_seen_in_one_lockspace_waits_for_the_other_to_fall_silent():
    ls1 = renewals(-20, 3.0) + renewals(4.0, None, ts0=35, gen=6)
    ls2 = renewals(-21, 3.0, ts0=999, gen=2)             # the same machine went down at 3
    world = FakeWorld({(LS, 3): Timeline(ls1), ("ls2", 3): Timeline(ls2)},
                      {(LS, 3): views_from(ls1), ("ls2", 3): views_from(ls2)},
                      lockspaces=(LS, "ls2"))
    outcome, message, ended = run(world, targets=[T3, Target("ls2", 3)], power_timeout=60)
    assert outcome == "proven" and "rebooted" in message, message
    # ls2's next renewal was due by its last one (at 1) + 2 + the lateness sanlock allows
    assert ended >= 1 + 2 + timing.renewal_lateness(1)


# ------------------------------------------------------------ case 8: a bound nobody applies

def test_a_smaller_fire_timeout_in_sanlock_conf_never_shortens_the_bound(tmp_path):
    conf = tmp_path / "sanlock.conf"
    conf.write_text("watchdog_fire_timeout = 30\n")
    # sanlock and wdmd 3.8.5 ignore that key: the device still fires 60 s after wdmd stops
    assert timing.configured_fire_timeout(str(conf)) == 60
    fire_timeout = timing.configured_fire_timeout(str(conf))
    # the host acknowledges at 4, its watchdog fires ~70 s later; one renewal is late by
    # 8 s at ~40, which a 37 s bound would read as the fire
    points = [p for p in renewals(-20, 74.0, events_at=[(4.0, R)]) if not 38 <= p[0] < 46]
    outcome, message, ended = run(world_of(points), fire_timeout=fire_timeout)
    assert outcome == "proven", message
    assert ended >= 4.0 + BOUND


# ------------------------------------------------------------ case 9: a slow renewal

def test_a_renewal_late_by_a_slow_read_and_write_is_not_silence():
    # the watchdog failed: the host acknowledged at 4 and runs on; after the bound one of
    # its renewals is slow (its read and its write each take most of io_timeout), and it
    # goes on renewing after that
    points = renewals(-20, 78.0, events_at=[(4.0, R)])          # last regular one at 76
    points.append((82.0, rec(1100, event=R)))                   # ts at 80, written by 82
    points += [(t + 6.0, r) for t, r in renewals(78.0, None, ts0=1102, events_at=[(0, R)])]
    outcome, message, _ = run(world_of(points))
    assert outcome == "failed" and "did not reset it" in message, message


def test_the_renewal_lateness_is_what_sanlock_allows():
    # start up to 1.5 s late (+1 s noise), read and write up to io_timeout each
    assert timing.renewal_lateness(10) == timing.PACE_SLACK + 20
    assert timing.renewal_lateness(1) == timing.PACE_SLACK + 2


# ------------------------------------------------------------ case 10: a frozen view

def test_resource_mode_needs_a_fresh_read_not_a_frozen_dead_view():
    # (a guard: the fence loop was already kept from this by the storage silence limit;
    # the status test below is the hole)
    # this host's own storage path fails at 5: its daemon's view of host 3 freezes on the
    # renewal it saw last and turns FAIL, then DEAD, while host 3 renews on
    points = renewals(-20, None)
    frozen = Timeline([(-20, view("LIVE", 1000)), (4.0, view("LIVE", 1024)),
                       (5.0 + 8, view("FAIL", 1024)), (5.0 + 68, view("DEAD", 1024))])
    world = FakeWorld({3: Timeline(points)}, {3: frozen},
                      latency={3: lambda t: None if t >= 5 else 0.0,
                               1: lambda t: None if t >= 5 else 0.0})
    outcome, message, _ = run(world, resource_mode=True)
    assert outcome == "failed", message


def test_resource_mode_status_with_an_unreadable_lease_is_never_off():
    # a fence here failed at ~8 s (no responder on host 3) and kept what it saw; then this
    # host's own storage path fails: its daemon's view freezes on the renewal it saw last
    # and turns DEAD, while host 3 renews on, unseen
    store = FakeStore()
    points = renewals(-20, None)
    frozen = Timeline([(-20, view("LIVE", 1000)), (9.0, view("LIVE", 1028)),
                       (9.0 + 8, view("FAIL", 1028)), (9.0 + 68, view("DEAD", 1028))])
    world = FakeWorld({3: Timeline(points)}, {3: frozen}, store=store)
    outcome, message, _ = run(world)
    assert outcome == "failed" and store.kept, message
    world.latency = {3: lambda t: None, 1: lambda t: None}
    world.t = 200.0
    assert world.look(LS, 3).view.state.name == "DEAD"
    assert host_status(world, [T3], resource_mode=True).power != Power.OFF


def test_resource_mode_with_a_fresh_read_of_an_expired_lease_is_off():
    points = renewals(-20, 2.0)
    world = world_of(points)
    world.t = 200.0
    verdict = host_status(world, [T3], resource_mode=True)
    assert verdict.power == Power.OFF, verdict


# ------------------------------------------------------------ failures after a request

def test_a_failure_after_the_request_reached_the_storage_says_it_may_still_reset():
    outcome, message, _ = run(world_of(renewals(-20, None)))
    assert outcome == "failed" and "never acknowledged" in message
    assert "may still reset" in message


def test_a_request_not_on_storage_yet_is_withdrawn_on_failure():
    world = world_of(renewals(-20, None), own_request_written_after=None)
    outcome, message, _ = run(world)
    assert outcome == "failed" and "withdrawn" in message
    assert world.withdrawn


def test_the_request_write_deadline_is_this_hosts_own_io_timeout():
    # the target runs at io_timeout 10, this proxy at 1: this host's daemon writes the
    # request within its own renewals, so a target-sized wait would hide its failure
    points = [(t, r._replace(io_timeout=10)) for t, r in renewals(-200, None, io=10)]
    world = FakeWorld({3: Timeline(points)}, {3: views_from(points, io=10)},
                      own_request_written_after=None)
    outcome, message, ended = run(world)
    assert outcome == "failed" and "did not write the request" in message
    assert ended < timing.request_write_deadline(1) + 3


# ------------------------------------------------------------ a reply forged on the target

def forged_then_answered(answer_at, stop, forged_at=-10.0):
    """Host 3's record carries a RESETTING that a local process set through its daemon
    at forged_at (no arming); from answer_at its responder's own reply, numbered in its
    data, replaces it; its watchdog fires and it stops renewing at `stop`."""
    points = renewals(-20, stop, events_at=[(forged_at, R)])
    data = events.encode_reply_bound(72, number=7)
    return [(t, r._replace(event_data=data) if t >= answer_at else r) for t, r in points]


def test_a_reply_forged_before_the_fence_does_not_make_the_host_unfenceable():
    outcome, message, ended = run(world_of(forged_then_answered(answer_at=6.0, stop=76.0)))
    assert outcome == "proven", message
    assert ended >= 6.0 + BOUND


def test_a_forged_reply_that_nothing_replaces_still_proves_nothing():
    # sanlk-resetd's replies are all alike, or no responder answers: the fence fails
    outcome, message, _ = run(world_of(renewals(-20, None, events_at=[(-10.0, R)])))
    assert outcome == "failed" and "no new reply replaced it" in message, message


def witnessed_forged_reply(answer_at, stop, until):
    """(world, store): host 3's forged reply lands at 30 and this host's witness
    (registered long before) follows it until `until`; the responder's real reply comes
    at answer_at, and the host renews until stop."""
    from sanlock_fencing.host.witness import Witness
    store = FakeStore()
    points = forged_then_answered(answer_at=answer_at, stop=stop, forged_at=30.0)
    forged = {"from_host_id": 3, "from_generation": 5, "host_id": 1, "generation": 9,
              "event": R, "data": 0}
    world = FakeWorld({3: Timeline(points)}, {3: views_from(points)}, store=store,
                      incoming=[(31.0, forged)])
    world.t = -15.0
    witness = Witness(world)
    while world.t < until:
        witness.step()
    return world, store


def test_a_forged_reply_the_witness_followed_does_not_block_a_later_fence():
    # the host runs on past the forged reply's bound
    world, _store = witnessed_forged_reply(answer_at=306.0, stop=376.0, until=300.0)
    verdict = host_status(world, [T3])
    assert verdict.power == Power.ON and "did not reset it" in verdict.reason
    # a fence now sends a new request; the responder's own reply (from 306) counts
    outcome, message, ended = run(world)
    assert outcome == "proven", message
    assert ended >= 306.0 + BOUND
    assert host_status(world, [T3]).power == Power.OFF


def test_a_host_name_from_storage_reaches_the_message_escaped():
    # another machine takes the id with a name that would move a terminal's cursor
    points = renewals(-20, 3.0)
    points += [(t, r._replace(host_name="evil\x1b[2J\x07")) for t, r in
               renewals(4.0, None, ts0=50, gen=6)]
    outcome, message, _ = run(world_of(points), power_timeout=120)
    assert outcome == "failed" and "another machine" in message
    assert "\x1b" not in message and "\x07" not in message and "evil\\x1b[2J\\x07" in message


def test_status_is_on_while_an_acknowledged_reset_is_waited_out_even_if_expired():
    # the host stopped renewing right after its reply (a quick reset, or lost storage);
    # its lease is DEAD here before the witness's bound has passed: "reset under way", ON
    from sanlock_fencing.host.witness import Witness
    points = renewals(-20, 6.0, events_at=[(4.0, R)])
    w = FakeWorld({3: Timeline(points)}, {3: views_from(points, lag=1.0)}, store=FakeStore(),
                  incoming=[(5.0, {"from_host_id": 3, "from_generation": 5, "host_id": 1,
                                   "generation": 9, "event": R, "data": 0})])
    w.t = -15.0
    witness = Witness(w)
    while w.t < 76.0:
        witness.step()
    assert w.look(LS, 3).view.state.name == "DEAD"
    verdict = host_status(w, [T3])
    assert verdict.power == Power.ON and "under way" in verdict.reason, verdict


def test_a_forged_reply_credited_before_the_fence_gives_way_to_the_real_one():
    # the witness credited a forged reply at 30 (no arming); a fence at 40 imports it, and
    # the responder's real reply (numbered) lands at 46; the host renews past the forged
    # reply's bound and is reset ~70 s after the real arming: proven, from the real reply
    world, store = witnessed_forged_reply(answer_at=46.0, stop=116.0, until=40.0)
    assert store.kept                                   # the forged reply, credited
    outcome, message, ended = run(world)
    assert outcome == "proven", message
    assert ended >= 46.0 + BOUND
