# SPDX-License-Identifier: GPL-2.0-or-later
"""unfence: `on` run by the target itself makes this host fenceable, through sanlk-resetd
(its own lockspace registered, once) or through the project's responder (whose verdict
it reports), and says what to do when neither can answer. Against fakes: this host's
daemon, sanlk-resetd's socket (a real datagram socket) and the target side."""

import pytest

from harness.fakeworld import ITCO_LATE, FakeDaemon, ResetdStub, fake_side
from sanlock_fencing.core.address import Target
from sanlock_fencing.core.errors import FenceError, UsageError
from sanlock_fencing.core.resetd_protocol import ResetdClient
from sanlock_fencing.host import target_side, unfence as unfence_mod, watchdog_fire
from sanlock_fencing.host.resetd_sync import Syncer
from sanlock_fencing.host.sync_state import StateFile


# ------------------------------------------------------------------ through sanlk-resetd

def test_unfence_registers_own_lockspace_and_is_idempotent(resetd, tmp_path):
    proxy = FakeDaemon()
    proxy.join("a", host_id=3)
    proxy.join("b", host_id=3)
    state = StateFile(str(tmp_path / "state.json"))
    targets = [Target("a", 3)]
    assert unfence_mod.addresses_this_host(proxy, targets)
    assert not unfence_mod.addresses_this_host(proxy, [Target("a", 4)])
    text = unfence_mod.unfence(proxy, targets, wait=0, watchdog=None,
                               client=ResetdClient(resetd.path), state_file=state)
    assert "a:3 is watched" in text
    unfence_mod.unfence(proxy, targets, wait=0, watchdog=None,
                        client=ResetdClient(resetd.path), state_file=state)
    assert resetd.drain() == ["reg a"]          # only what was addressed, only once
    # the sync service then adds b without touching a
    Syncer(proxy, ResetdClient(resetd.path), state).step()
    assert resetd.drain() == ["reg b"]


def test_unfence_fails_with_reasons(resetd, tmp_path):
    proxy = FakeDaemon()
    proxy.join("a", host_id=3)
    client = ResetdClient(resetd.path)
    with pytest.raises(UsageError, match="holds host id 3"):
        unfence_mod.unfence(proxy, [Target("a", 4)], wait=0, watchdog=None, client=client,
                            state_file=StateFile(None))
    with pytest.raises(FenceError, match="has not joined lockspace zz"):
        unfence_mod.unfence(proxy, [Target("zz", 3)], wait=0, watchdog=None, client=client,
                            state_file=StateFile(None))
    resetd.stop(unlink=True)
    with pytest.raises(FenceError, match="no sanlk-resetd runs on this host"):
        unfence_mod.unfence(proxy, [Target("a", 3)], wait=0, watchdog=None, client=client,
                            state_file=StateFile(None))


def test_unfence_waits_for_a_lockspace_being_joined(resetd):
    proxy = FakeDaemon()
    proxy.join("a", host_id=3, adding=True)
    clock = [0.0]

    def sleep(seconds):
        clock[0] += seconds
        if clock[0] >= 3:
            proxy.join("a", host_id=3)
    text = unfence_mod.unfence(proxy, [Target("a", 3)], wait=10, watchdog=None,
                               client=ResetdClient(resetd.path), state_file=StateFile(None),
                               sleep=sleep, clock=lambda: clock[0])
    assert "watched" in text and clock[0] == 3


def test_unfence_fails_at_the_limit(resetd):
    proxy = FakeDaemon()
    proxy.join("a", host_id=3)
    with pytest.raises(FenceError, match="at most 0 lockspaces"):
        unfence_mod.unfence(proxy, [Target("a", 3)], wait=0, watchdog=None,
                            client=ResetdClient(resetd.path), state_file=StateFile(None),
                            capacity=0)


# ------------------------------------------------------------------ through the responder

def unfence(side, fenceable=None, resetd=False, wait=0):
    return unfence_mod.unfence(FakeDaemon(a=3), [Target("a", 3)], wait=wait,
                               client=ResetdStub(resetd), state_file=StateFile(None),
                               side=side, fenceable=fenceable, sleep=lambda s: None)


def test_unfence_on_a_responder_host_needs_no_sanlk_resetd():
    """The old unfencing knew only sanlk-resetd: here it failed with 'no sanlk-resetd
    runs on this host' although the responder answers."""
    text = unfence(fake_side("responder"), lambda: (True, "wdmd pets its device every 10 s"))
    assert "fence-sanlock-vdsm-responder (pid 4242) answers reset requests here" in text
    assert "wdmd pets its device" in text and text.startswith("a:3")


@pytest.mark.parametrize("reason", [ITCO_LATE, "wdmd has never petted a watchdog device"])
def test_unfence_on_a_responder_host_that_would_not_answer_truly_says_why(reason):
    with pytest.raises(FenceError) as err:
        unfence(fake_side("responder"), lambda: (False, reason))
    assert "cannot be made fenceable through a:3" in str(err.value)
    assert "answers no reset request" in str(err.value) and reason in str(err.value)


def test_unfence_uses_the_devices_the_responder_checks(monkeypatch):
    seen = []
    monkeypatch.setattr(watchdog_fire, "fenceable",
                        lambda sysfs: seen.append(sysfs) or (True, "ok"))
    unfence(fake_side("responder", sysfs="/the/responder's/sysfs"))
    assert seen == ["/the/responder's/sysfs"]


def test_unfence_with_both_or_neither_says_what_to_do():
    with pytest.raises(FenceError, match="both fence-sanlock-vdsm-responder and "
                                         "sanlk-resetd"):
        unfence(fake_side("both"), lambda: (True, "ok"), resetd=True)
    with pytest.raises(FenceError) as err:
        unfence(fake_side("none"))
    assert "systemctl enable --now fence-sanlock-vdsm-responder" in str(err.value)
    assert "no sanlk-resetd runs on this host" in str(err.value)


def test_unfence_waits_for_a_responder_starting():
    sides = iter(["none", "none", "responder"])
    text = unfence(lambda client: target_side.Side(next(sides), 7, None, None),
                   lambda: (True, "ok"), wait=10)
    assert "answers reset requests here" in text
