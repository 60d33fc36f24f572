# SPDX-License-Identifier: GPL-2.0-or-later
"""target_side: which of the two target sides a host runs, the project's responder (told
by its lock) or sanlk-resetd (pure: a lock file in a temporary directory, a stub client
of sanlk-resetd). What unfencing and monitor make of it: host/test_unfence.py,
agent/test_health.py."""

import os

import pytest

from harness.fakeworld import ResetdStub
from sanlock_fencing.host import target_side


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
        side = target_side.which(ResetdStub(resetd), lock, owner_uid=os.getuid())
        assert side.kind == kind
        if responder:
            assert (side.pid, side.sysfs) == (os.getpid(), "/sys/x")
    finally:
        if fd is not None:
            os.close(fd)
