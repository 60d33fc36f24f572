# SPDX-License-Identifier: GPL-2.0-or-later
"""Which target side a host runs (target_side.py), and what monitor and on-target
unfencing say for a host running the project's responder (pure: a lock file in a
temporary directory, fake daemons and verdicts)."""

import logging
import os

import pytest

from sanlock_fencing.agent import health

from sanlock_fencing.host import target_side, unfence as unfence_mod, watchdog_fire
from sanlock_fencing.core.address import Target
from sanlock_fencing.core.errors import FenceError
from sanlock_fencing.core.proxy import JoinedLockspace
from sanlock_fencing.core.resetd_protocol import ResetdClient
from sanlock_fencing.host.sync_state import StateFile

ITCO = ("this host's watchdog would fire up to 132 s after an arming, later than the 72 s "
        "every fencing proxy assumes: watchdog0 (iTCO_wdt, timeout 60 s: it fires only "
        "after two timeouts)")


class FakeProxy:
    def __init__(self, **spaces):
        self.spaces = {name: JoinedLockspace(name, host_id, "/dev/" + name, 0, False, False)
                       for name, host_id in spaces.items()}

    def joined(self):
        return dict(self.spaces)


class FakeResetd(ResetdClient):
    def __init__(self, running):
        super().__init__("/nonexistent/sanlk-resetd.sock")
        self.answers = running

    def running(self):
        return self.answers


def side_of(kind, sysfs=None, note=None):
    return lambda client: target_side.Side(kind, 4242, sysfs, note)


# ------------------------------------------------------------------ the responder's lock

@pytest.fixture
def lock(tmp_path):
    return str(tmp_path / "run" / "responder.lock")


def presence(path):
    return target_side.responder_presence(path, owner_uid=os.getuid())


def test_the_lock_tells_while_the_responder_holds_it(lock):
    assert presence(lock) == (False, {}, None)          # never started
    fd = target_side.hold_responder_lock("/sys/x", lock)
    try:
        running, details, note = presence(lock)
        assert (running, note) == (True, None)
        assert details == {"pid": os.getpid(), "watchdog_sysfs": "/sys/x"}
        assert os.stat(lock).st_mode & 0o777 == 0o600
    finally:
        os.close(fd)
    assert presence(lock) == (False, {}, None)          # ended: the kernel dropped it


def test_a_second_responder_is_refused_naming_the_first(lock):
    fd = target_side.hold_responder_lock("/sys/x", lock)
    try:
        with pytest.raises(target_side.OtherResponder, match="pid %d" % os.getpid()):
            target_side.hold_responder_lock("/sys/y", lock, wait=0.3)
    finally:
        os.close(fd)


@pytest.mark.parametrize("mode", [0o644, 0o660])
def test_a_lock_file_others_can_open_proves_nothing(lock, mode):
    """Anyone who can open the file can hold an flock on it and pose as the responder."""
    fd = target_side.hold_responder_lock("/sys/x", lock)
    try:
        os.chmod(lock, mode)
        running, _, note = presence(lock)
        assert running is None and "proves nothing" in note
    finally:
        os.close(fd)


def test_a_link_in_place_of_the_lock_file_proves_nothing(lock, tmp_path):
    other = str(tmp_path / "other")
    fd = target_side.hold_responder_lock("/sys/x", other)
    try:
        os.makedirs(os.path.dirname(lock))
        os.symlink(other, lock)
        running, _, note = presence(lock)
        assert running is None and "symbolic link" in note
    finally:
        os.close(fd)


@pytest.mark.parametrize("responder,resetd,kind", [
    (True, False, "responder"), (False, True, "sanlk-resetd"), (True, True, "both"),
    (False, False, "none")])
def test_which_side(lock, responder, resetd, kind):
    fd = target_side.hold_responder_lock("/sys/x", lock) if responder else None
    try:
        side = target_side.which(FakeResetd(resetd), lock, owner_uid=os.getuid())
        assert side.kind == kind
        if responder:
            assert (side.pid, side.sysfs) == (os.getpid(), "/sys/x")
    finally:
        if fd is not None:
            os.close(fd)


# ------------------------------------------------------------------ on-target unfencing

def unfence(side, fenceable=None, resetd=False, wait=0):
    return unfence_mod.unfence(FakeProxy(a=3), [Target("a", 3)], wait=wait,
                               client=FakeResetd(resetd), state_file=StateFile(None),
                               side=side, fenceable=fenceable, sleep=lambda s: None)


def test_unfence_on_a_responder_host_needs_no_sanlk_resetd():
    """The old unfencing knew only sanlk-resetd: here it failed with 'no sanlk-resetd
    runs on this host' although the responder answers."""
    text = unfence(side_of("responder"), lambda: (True, "wdmd pets its device every 10 s"))
    assert "fence-sanlock-vdsm-responder (pid 4242) answers reset requests here" in text
    assert "wdmd pets its device" in text and text.startswith("a:3")


@pytest.mark.parametrize("reason", [ITCO, "wdmd has never petted a watchdog device"])
def test_unfence_on_a_responder_host_that_would_not_answer_truly_says_why(reason):
    with pytest.raises(FenceError) as err:
        unfence(side_of("responder"), lambda: (False, reason))
    assert "cannot be made fenceable through a:3" in str(err.value)
    assert "answers no reset request" in str(err.value) and reason in str(err.value)


def test_unfence_uses_the_devices_the_responder_checks(monkeypatch):
    seen = []
    monkeypatch.setattr(watchdog_fire, "fenceable",
                        lambda sysfs: seen.append(sysfs) or (True, "ok"))
    unfence(side_of("responder", sysfs="/the/responder's/sysfs"))
    assert seen == ["/the/responder's/sysfs"]


def test_unfence_with_both_or_neither_says_what_to_do():
    with pytest.raises(FenceError, match="both fence-sanlock-vdsm-responder and "
                                         "sanlk-resetd"):
        unfence(side_of("both"), lambda: (True, "ok"), resetd=True)
    with pytest.raises(FenceError) as err:
        unfence(side_of("none"))
    assert "systemctl enable --now fence-sanlock-vdsm-responder" in str(err.value)
    assert "no sanlk-resetd runs on this host" in str(err.value)


def test_unfence_waits_for_a_responder_starting():
    sides = iter(["none", "none", "responder"])
    text = unfence(lambda client: target_side.Side(next(sides), 7, None, None),
                   lambda: (True, "ok"), wait=10)
    assert "answers reset requests here" in text


# ------------------------------------------------------------------ monitor

def test_monitor_says_whether_this_host_could_be_fenced(monkeypatch, caplog):
    monkeypatch.setattr(health, "_check_storage_readable", lambda space: None)
    lines = health.monitor(FakeProxy(a=3), ["a"], side=side_of("responder"),
                           fenceable=lambda: (True, "armed, it resets this host within 72 s"))
    assert "answers reset requests here: armed" in lines[-1]
    assert not caplog.records
    with caplog.at_level(logging.WARNING):
        lines = health.monitor(FakeProxy(a=3), ["a"], side=side_of("responder"),
                               fenceable=lambda: (False, ITCO))
    assert "this host cannot be fenced: " + ITCO in lines[-1]
    assert [r.getMessage() for r in caplog.records] == [lines[-1]]     # shown without -v


def test_monitor_on_a_sanlk_resetd_host_keeps_that_path(monkeypatch):
    monkeypatch.setattr(health, "_check_storage_readable", lambda space: None)

    def never(*_):
        raise AssertionError("the responder's verdict is not sanlk-resetd's")
    lines = health.monitor(FakeProxy(a=3), ["a"], side=side_of("sanlk-resetd"),
                           fenceable=never)
    assert "target side is sanlk-resetd" in lines[-1]


def test_monitor_as_a_user_who_cannot_tell(monkeypatch):
    monkeypatch.setattr(health, "_check_storage_readable", lambda space: None)
    lines = health.monitor(FakeProxy(a=3), ["a"], side=side_of(
        "unknown", note="whether fence-sanlock-vdsm-responder runs cannot be told without "
                        "root"))
    assert "cannot be told" in lines[-1] and "cannot be fenced" not in lines[-1]
