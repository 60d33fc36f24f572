# SPDX-License-Identifier: GPL-2.0-or-later
"""responder: which events are requests for this host, and the responder's order of
things against fakes: the watchdog is armed, and wdmd has confirmed it, before any reply
is set; no reply where the host cannot be fenced. Whether the watchdog would fire in
time: host/test_watchdog_fire.py."""

from sanlock_fencing.core import events
from sanlock_fencing.core.hoststate import HostState, HostView
from sanlock_fencing.core.proxy import JoinedLockspace
from sanlock_fencing.host import responder
from sanlock_fencing.host.watchdog_fire import Verdict
from sanlock_fencing.host.wdmd import Status, WdmdDown

HEALTHY = Status(test_interval=10, fire_timeout=60, last_keepalive=1000)


def request(event=events.RESET, host_id=3, generation=7, from_host=1, from_gen=2):
    return {"event": event, "host_id": host_id, "generation": generation,
            "from_host_id": from_host, "from_generation": from_gen, "data": 0}


# -- which events are requests for this host --------------------------------------------

def test_a_reset_for_this_host_and_its_generation_is_answered():
    assert responder.classify(request(), 3, 7, False) == (True, False, None)


def test_generation_zero_means_the_current_one_as_sanlk_reset_sends_it():
    assert responder.classify(request(generation=0), 3, 7, False)[0]


def test_a_reset_for_an_earlier_generation_is_stale():
    act, _, note = responder.classify(request(generation=6), 3, 7, False)
    assert not act and "generation 6" in note and "stale" in note


def test_a_reset_for_another_host_id_is_ignored():
    act, _, note = responder.classify(request(host_id=4), 3, 7, False)
    assert not act and "host id 4" in note


def test_replies_and_foreign_events_are_no_requests():
    for value in (events.RESETTING, events.RESETTING | events.REBOOTING, 0x100, 0):
        assert responder.classify(request(event=value), 3, 7, True) == (False, False, None)


def test_reboot_only_when_enabled():
    both = request(event=events.RESET | events.REBOOT)
    assert responder.classify(both, 3, 7, False) == (True, False, None)
    assert responder.classify(both, 3, 7, True) == (True, True, None)
    act, _, note = responder.classify(request(event=events.REBOOT), 3, 7, False)
    assert not act and "--sysrq-reboot" in note
    assert responder.classify(request(event=events.REBOOT), 3, 7, True) == (True, True, None)


# -- the order of things -------------------------------------------------------------------

class FakeProxy:
    def __init__(self, generation=7):
        self.generation = generation
        self.calls = []
        self.space = JoinedLockspace("ls", 3, "/dev/ls", 0, False, False)

    def host(self, lockspace, host_id, retry_seconds=5.0):
        return HostView(host_id, self.generation, 100, 3, HostState.LIVE)

    def send_reply(self, lockspace, host_id, generation, event, data=0):
        self.calls.append(("reply", lockspace, host_id, generation, event, data))


class FakeArmer:
    def __init__(self, calls, fail=None):
        self.calls = calls
        self.fail = fail
        self.armed_at = None
        self.confirmed = False

    def ensure(self):
        return False

    def arm(self):
        self.calls.append(("arm",))
        self.armed_at = 1.0
        if self.fail:
            raise self.fail
        self.confirmed = True
        return HEALTHY


def make(verdict=Verdict(None, 72.0, "fine"), fail=None, sysrq=False):
    proxy = FakeProxy()
    armer = FakeArmer(proxy.calls, fail)
    clock = [100.0]
    r = responder.Responder(proxy, armer, lambda: verdict, sysrq_reboot=sysrq,
                            sysrq_delay=25, sysrq_trigger="/nonexistent/sysrq",
                            clock=lambda: clock[0])
    return r, proxy, clock


def test_armed_and_confirmed_before_the_reply_which_goes_to_the_requester():
    r, proxy, _ = make()
    r.on_event(proxy.space, request())
    assert proxy.calls[0] == ("arm",)
    kind, ls, host_id, generation, event, data = proxy.calls[1]
    assert (kind, ls, host_id, generation, event) == ("reply", "ls", 1, 2, events.RESETTING)
    assert events.decode_reply_bound(data) == 72
    r.on_event(proxy.space, request())          # the same request again: no second reply
    assert len(proxy.calls) == 2


def test_no_reply_when_the_arming_is_not_confirmed():
    r, proxy, _ = make(fail=WdmdDown("wdmd closed the connection"))
    r.on_event(proxy.space, request())
    assert proxy.calls == [("arm",)]
    r.on_event(proxy.space, request(from_host=2))   # a later request retries the arming
    assert proxy.calls == [("arm",), ("arm",)]


def test_no_arming_and_no_reply_where_the_host_cannot_be_fenced():
    r, proxy, _ = make(verdict=Verdict("the device fires late", 132.0, ""))
    r.on_event(proxy.space, request())
    assert proxy.calls == []


def test_a_stale_request_arms_nothing():
    r, proxy, _ = make()
    r.on_event(proxy.space, request(generation=6))
    assert proxy.calls == []


def test_sysrq_follows_the_reply_after_the_delay(tmp_path):
    r, proxy, clock = make(sysrq=True)
    r.sysrq_trigger = str(tmp_path / "sysrq")
    r.on_event(proxy.space, request(event=events.RESET | events.REBOOT))
    assert proxy.calls[1][4] == events.RESETTING | events.REBOOTING
    r.maybe_sysrq()
    assert not (tmp_path / "sysrq").exists()
    clock[0] += 25
    r.maybe_sysrq()
    assert (tmp_path / "sysrq").read_bytes() == b"b"
