"""The fence decision as a function of made-up timelines (seconds from the start)."""

from sanlock_fencing.address import Target
from sanlock_fencing.hoststate import HostState, HostView
from sanlock_fencing.lease import LeaseRecord
from sanlock_fencing.watch import FenceWatch, LeaseWatch, Outcome
from sanlock_fencing import events, timing

T = Target("ls", 3)
T2 = Target("other", 7)
GEN = 5
BOUND = timing.WATCHDOG_FIRE_BOUND


def rec(timestamp, event=0, generation=GEN, host_id=3):
    return LeaseRecord(host_id=host_id, owner_id=host_id, owner_generation=generation,
                       timestamp=timestamp, io_timeout=1, sector_size=512, host_name="h",
                       event=event, event_generation=1, event_data=0)


def view(state, generation=GEN):
    return HostView(3, generation, 0, 1, state)


def new_watch(io=1, earlier=False, resource_mode=False, targets=(T,)):
    leases = [LeaseWatch(target=t, io_timeout=io, request_generation=GEN, earlier_reply=earlier,
                         state=HostState.LIVE, last_timestamp=100) for t in targets]
    watch = FenceWatch(leases, 0.0, resource_mode)
    for t in targets:
        watch.request_sent(t, 0.0, own_timestamp=50)
        watch.own_record(t, rec(52, events.RESET, host_id=1), 2.0, events.RESET)
    return watch


def reply(watch, at, target=T):
    watch.target_record(target, rec(200, events.RESETTING), at)


def test_waits_while_nothing_happened():
    assert new_watch().decide(1.0).outcome == Outcome.WAIT


def test_request_on_disk_needs_a_renewal_after_sending():
    watch = FenceWatch([LeaseWatch(T, 1, GEN)], 0.0)
    watch.request_sent(T, 0.0, own_timestamp=50)
    watch.own_record(T, rec(50, events.RESET, host_id=1), 0.5, events.RESET)
    assert watch.leases[T].request_on_disk_at is None      # a leftover of an earlier request
    watch.own_record(T, rec(52, events.RESET, host_id=1), 2.0, events.RESET)
    assert watch.leases[T].request_on_disk_at == 2.0


def test_proof_1_reply_then_dead():
    watch = new_watch()
    reply(watch, 5.0)
    watch.view(T, view(HostState.DEAD), 60.0)
    decision = watch.decide(60.0)
    assert decision.outcome == Outcome.PROVEN and "expired" in decision.message


def test_proof_2_reply_then_new_generation():
    watch = new_watch()
    reply(watch, 5.0)
    watch.target_record(T, rec(10, 0, generation=GEN + 1), 30.0)
    decision = watch.decide(30.0)
    assert decision.outcome == Outcome.PROVEN and "generation %d" % (GEN + 1) in decision.message


def test_proof_3_watchdog_bound_passes_before_dead():
    watch = new_watch(io=10)
    reply(watch, 40.0)
    watch.target_record(T, rec(210), 60.0)          # renewals before the bound are fine
    deadline = 40.0 + BOUND + timing.watchdog_margin(10)
    assert watch.decide(deadline - 0.1).outcome == Outcome.WAIT
    watch.target_record(T, rec(210), deadline)      # read again: still silent
    decision = watch.decide(deadline)
    assert decision.outcome == Outcome.PROVEN and "watchdog" in decision.message


def test_watchdog_bound_needs_the_lease_read_after_it():
    """Unreadable storage after the bound is no evidence of silence: no proof, wait."""
    watch = new_watch(io=10)
    reply(watch, 40.0)
    deadline = 40.0 + BOUND + timing.watchdog_margin(10)
    assert watch.decide(deadline + 30).outcome == Outcome.WAIT
    watch.target_record(T, rec(200, events.RESETTING), deadline + 31)
    assert watch.decide(deadline + 31).outcome == Outcome.PROVEN


def test_renewal_after_the_bound_means_the_watchdog_failed():
    watch = new_watch()
    reply(watch, 5.0)
    watch.target_record(T, rec(300), 5.0 + BOUND + 3)
    decision = watch.decide(5.0 + BOUND + 3)
    assert decision.outcome == Outcome.FAILED and "did not reset it" in decision.message


def test_no_reply_after_several_renewals_fails_naming_sanlk_resetd():
    watch = new_watch()
    for n in range(timing.NO_REPLY_RENEWALS - 1):
        watch.target_record(T, rec(101 + n), 3.0 + 2 * n)
        assert watch.decide(3.0 + 2 * n).outcome == Outcome.WAIT
    watch.target_record(T, rec(200), 12.0)
    decision = watch.decide(12.0)
    assert decision.outcome == Outcome.FAILED and "sanlk-resetd" in decision.message


def test_dead_without_reply_fails():
    watch = new_watch()
    watch.view(T, view(HostState.DEAD), 70.0)
    decision = watch.decide(70.0)
    assert decision.outcome == Outcome.FAILED and "without acknowledging" in decision.message


def test_free_without_reply_fails():
    watch = new_watch()
    watch.view(T, HostView.free(3), 4.0)
    assert watch.decide(4.0).outcome == Outcome.FAILED


def test_resource_mode_dead_is_proof_without_reply():
    watch = new_watch(resource_mode=True)
    watch.view(T, view(HostState.DEAD), 70.0)
    assert watch.decide(70.0).outcome == Outcome.PROVEN


def test_new_generation_without_reply_fails():
    watch = new_watch()
    watch.view(T, view(HostState.LIVE, generation=GEN + 1), 20.0)
    decision = watch.decide(20.0)
    assert decision.outcome == Outcome.FAILED and "before acknowledging" in decision.message


def test_request_never_written_fails():
    watch = FenceWatch([LeaseWatch(T, 1, GEN)], 0.0)
    watch.request_sent(T, 0.0, own_timestamp=50)
    late = timing.request_write_deadline(1) + 0.1
    decision = watch.decide(late)
    assert decision.outcome == Outcome.FAILED and "did not write the request" in decision.message


def test_event_reply_from_the_target_counts():
    watch = new_watch()
    watch.event(T, {"from_host_id": 3, "from_generation": GEN, "event": events.RESETTING,
                    "host_id": 1, "generation": 1, "data": 0}, 6.0)
    assert watch.leases[T].reply_seen_at == 6.0


def test_event_reply_for_another_generation_is_rejected():
    watch = new_watch()
    watch.event(T, {"from_host_id": 3, "from_generation": GEN - 1, "event": events.RESETTING,
                    "host_id": 1, "generation": 1, "data": 0}, 6.0)
    assert watch.leases[T].reply_seen_at is None and watch.leases[T].rejected


def test_event_reply_from_another_host_is_not_ours():
    watch = new_watch()
    watch.event(T, {"from_host_id": 4, "from_generation": GEN, "event": events.RESETTING,
                    "host_id": 1, "generation": 1, "data": 0}, 6.0)
    assert watch.leases[T].reply_seen_at is None and not watch.leases[T].rejected


def test_disk_reply_of_another_generation_is_ignored():
    watch = new_watch()
    watch.target_record(T, rec(200, events.RESETTING, generation=GEN - 1), 6.0)
    assert watch.leases[T].reply_seen_at is None


def test_earlier_reply_is_not_this_reply_but_anchors_at_the_start():
    watch = new_watch(earlier=True)
    watch.target_record(T, rec(200, events.RESETTING), 6.0)
    assert watch.leases[T].reply_seen_at is None
    assert watch.anchor() == 0.0
    # it keeps renewing past the bound counted from the start: its watchdog failed
    watch.target_record(T, rec(300), BOUND + 3)
    assert watch.decide(BOUND + 3).outcome == Outcome.FAILED


def test_earlier_reply_then_dead_is_proof():
    watch = new_watch(earlier=True)
    watch.view(T, view(HostState.DEAD), 65.0)
    assert watch.decide(65.0).outcome == Outcome.PROVEN


def test_two_lockspaces_one_reply_is_enough():
    watch = new_watch(targets=(T, T2))
    watch.target_record(T2, rec(200, events.RESETTING, host_id=7), 5.0)
    watch.view(T2, HostView(7, GEN, 0, 1, HostState.DEAD), 70.0)
    assert watch.decide(70.0).outcome == Outcome.PROVEN


def test_two_lockspaces_renewing_in_the_other_after_the_bound_fails():
    watch = new_watch(targets=(T, T2))
    reply(watch, 5.0)
    watch.target_record(T2, rec(500, host_id=7), 5.0 + BOUND + 3)
    assert watch.decide(5.0 + BOUND + 3).outcome == Outcome.FAILED


def test_two_lockspaces_fail_only_when_both_are_hopeless():
    watch = new_watch(targets=(T, T2))
    watch.view(T, view(HostState.DEAD), 70.0)
    assert watch.decide(70.0).outcome == Outcome.WAIT
    watch.view(T2, HostView.free(7), 71.0)
    assert watch.decide(71.0).outcome == Outcome.FAILED


def test_phase_text_follows_the_fence():
    watch = new_watch()
    assert "request on storage" in watch.phase(3.0)
    reply(watch, 5.0)
    assert "acknowledged by host 3" in watch.phase(40.0)
    assert "35/" in watch.phase(40.0)
