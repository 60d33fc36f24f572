# SPDX-License-Identifier: GPL-2.0-or-later
"""The resetd sync logic and unfencing, against fakes: a fake sanlock daemon (proxy) and a
real datagram socket standing in for sanlk-resetd's update socket."""

import logging
import os
import socket
import threading
import time

import pytest

from sanlock_fencing.core.timing import expected_fence_seconds, pacemaker_timeout

from sanlock_fencing.host import resetd_sync, unfence as unfence_mod
from sanlock_fencing.core.address import Target
from sanlock_fencing.core.errors import FenceError, UsageError
from sanlock_fencing.agent.health import monitor
from sanlock_fencing.core.hoststate import HostState, HostView
from sanlock_fencing.core.proxy import JoinedLockspace, ProxyError
from sanlock_fencing.core.resetd_protocol import UPDATE_SIZE, ResetdClient, encode_update
from sanlock_fencing.host.resetd_sync import Syncer
from sanlock_fencing.host.sync_plan import plan
from sanlock_fencing.host.sync_state import StateFile


class FakeProxy:
    def __init__(self):
        self.spaces = {}        # name -> JoinedLockspace
        self.generation = {}    # name -> our generation
        self.down = False
        self.others = {}        # (name, host_id) -> HostView

    def join(self, name, host_id=1, generation=1, adding=False, removing=False):
        self.spaces[name] = JoinedLockspace(name, host_id, "/dev/%s" % name, 0, adding,
                                            removing)
        self.generation[name] = generation

    def leave(self, name):
        self.spaces.pop(name, None)

    def joined(self):
        if self.down:
            raise ProxyError("this host's sanlock daemon is not running")
        return dict(self.spaces)

    def host(self, name, host_id, retry_seconds=5.0):
        if (name, host_id) in self.others:
            return self.others[(name, host_id)]
        return HostView(host_id, self.generation[name], 100, 10, HostState.LIVE)


class FakeResetd:
    """A bound datagram socket at `path` with a reader thread, like sanlk-resetd's."""

    def __init__(self, path):
        self.path = path
        self.sock = None
        self.thread = None
        self.lock = threading.Lock()
        self.received = []
        self.start()

    def start(self):
        if os.path.exists(self.path):
            os.unlink(self.path)     # as sanlk-resetd does before bind
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.05)
        self.running = True
        self.thread = threading.Thread(target=self._read, args=(self.sock,), daemon=True)
        self.thread.start()

    def _read(self, sock):
        while self.running:
            try:
                data = sock.recv(1024)
            except socket.timeout:
                continue
            except OSError:
                return
            assert len(data) == UPDATE_SIZE
            with self.lock:
                self.received.append(data.rstrip(b"\0").decode())

    def stop(self, unlink=False):
        self.running = False
        self.thread.join()
        self.sock.close()
        if unlink:
            os.unlink(self.path)

    def drain(self):
        time.sleep(0.1)
        with self.lock:
            got, self.received = self.received, []
        return got


@pytest.fixture
def resetd(tmp_path):
    fake = FakeResetd(str(tmp_path / "resetd.sock"))
    yield fake
    if fake.running:
        fake.stop()


def syncer(proxy, resetd, state=None, **kwargs):
    return Syncer(proxy, ResetdClient(resetd.path), StateFile(state), **kwargs)


# ------------------------------------------------------------------ plan (pure)

def test_plan_registers_new_and_ends_left():
    key = (1, "/p", 0, 1)
    todo = plan({"gone": key, "kept": key}, {"kept": key, "new": key})
    assert (todo.end, todo.reg, todo.waiting) == (["gone"], ["new"], [])


def test_plan_rejoined_lockspace_is_registered_again_and_unsure_is_kept():
    todo = plan({"a": (1, "/p", 0, 1), "b": (1, "/p", 0, 1)}, {"a": (1, "/p", 0, 2)},
                unsure={"b"})
    assert (todo.end, todo.reg) == ([], ["a"])


def test_plan_respects_the_capacity_and_the_filter():
    key = (1, "/p", 0, 1)
    stable = {"ls%02d" % i: key for i in range(5)}
    todo = plan({"ls00": key}, stable, capacity=3)
    assert todo.reg == ["ls01", "ls02"] and todo.waiting == ["ls03", "ls04"]
    todo = plan({}, stable, wanted={"ls03", "other"})
    assert todo.reg == ["ls03"] and not todo.waiting


def test_plan_leaves_registrations_outside_the_filter_alone():
    key = (1, "/p", 0, 1)
    todo = plan({"mine": key, "other": key}, {"mine": key, "other": key}, wanted={"mine"})
    assert (todo.end, todo.reg) == ([], [])


def test_names_the_protocol_cannot_carry_are_reported():
    todo = plan({}, {"has space": (1, "/p", 0, 1)})
    assert "has space" in todo.unusable and not todo.reg


def test_update_datagram_is_256_bytes_nul_padded():
    data = encode_update("reg", "ls1")
    assert len(data) == 256 and data.startswith(b"reg ls1\0")


# ------------------------------------------------------------------ Syncer

def test_registers_once_ends_on_leave_and_re_registers_on_resetd_restart(resetd, caplog):
    caplog.set_level(logging.INFO)
    proxy = FakeProxy()
    proxy.join("a")
    proxy.join("b", adding=True)
    s = syncer(proxy, resetd)
    result = s.step()
    assert resetd.drain() == ["reg a"]
    assert result.pending == {"b": "being added"} and not result.in_sync
    proxy.join("b")
    assert s.step().in_sync and resetd.drain() == ["reg b"]
    assert s.step().in_sync and resetd.drain() == []          # nothing needlessly
    proxy.leave("a")
    s.step()
    assert resetd.drain() == ["end a"]
    assert any("stopped watching lockspace a" in r.message for r in caplog.records)
    resetd.stop()
    resetd.start()                                            # new inode: a new sanlk-resetd
    s.step()
    assert resetd.drain() == ["reg b"]
    assert any("restarted" in r.message for r in caplog.records)


def test_rejoin_between_polls_registers_again(resetd):
    proxy = FakeProxy()
    proxy.join("a", generation=1)
    s = syncer(proxy, resetd)
    s.step()
    proxy.join("a", generation=2)
    s.step()
    assert resetd.drain() == ["reg a", "reg a"]


def test_resetd_down_is_reported_once_and_recovered(resetd, caplog):
    caplog.set_level(logging.INFO)
    proxy = FakeProxy()
    proxy.join("a")
    resetd.stop(unlink=False)             # a stale socket file: nothing listens
    s = syncer(proxy, resetd)
    for _ in range(3):
        result = s.step()
        assert not result.in_sync and "not running" in result.problem
    warnings = [r for r in caplog.records if "not running" in r.message]
    assert len(warnings) == 1
    resetd.start()
    assert s.step().in_sync and resetd.drain() == ["reg a"]


def test_daemon_down_forgets_registrations(resetd):
    proxy = FakeProxy()
    proxy.join("a")
    s = syncer(proxy, resetd)
    s.step()
    proxy.down = True
    assert "not running" in s.step().problem
    proxy.down = False
    s.step()
    assert resetd.drain() == ["reg a", "reg a"]


def test_state_file_survives_a_restart_of_the_service(resetd, tmp_path):
    state = str(tmp_path / "run" / "state.json")
    proxy = FakeProxy()
    proxy.join("a")
    syncer(proxy, resetd, state).step()
    assert syncer(proxy, resetd, state).step().in_sync
    assert resetd.drain() == ["reg a"]                       # the second run sent nothing


def test_limit_is_logged_once_and_room_is_used_when_it_appears(resetd, caplog):
    caplog.set_level(logging.INFO)
    proxy = FakeProxy()
    for i in range(65):
        proxy.join("ls%02d" % i)
    s = syncer(proxy, resetd)
    for _ in range(3):
        result = s.step()
    assert len(resetd.drain()) == 64
    assert list(result.pending) == ["ls64"] and "limit" in result.pending["ls64"]
    limit_lines = [r for r in caplog.records if "limit of 64" in r.message]
    assert len(limit_lines) == 1 and "ls64" in limit_lines[0].message
    proxy.leave("ls00")
    assert s.step().in_sync
    assert resetd.drain() == ["end ls00", "reg ls64"]
    assert any("watched again" in r.message for r in caplog.records)


def test_once_exit_status(resetd, tmp_path):
    proxy = FakeProxy()
    proxy.join("a")
    argv = ["--once", "--state-file", "none", "--resetd-socket", resetd.path,
            "--no-watchdog-check"]
    assert resetd_sync.main(argv, proxy_factory=lambda: proxy) == 0
    resetd.stop(unlink=True)
    assert resetd_sync.main(argv, proxy_factory=lambda: proxy) == 1


# ------------------------------------------------------------------ unfence

def test_unfence_registers_own_lockspace_and_is_idempotent(resetd, tmp_path):
    proxy = FakeProxy()
    proxy.join("a", host_id=3)
    proxy.join("b", host_id=3)
    state = StateFile(str(tmp_path / "state.json"))
    targets = [Target("a", 3)]
    assert unfence_mod.addresses_this_host(proxy, targets)
    assert not unfence_mod.addresses_this_host(proxy, [Target("a", 4)])
    text = unfence_mod.unfence(proxy, targets, wait=0, watchdog=None, client=ResetdClient(resetd.path),
                               state_file=state)
    assert "a:3 is watched" in text
    unfence_mod.unfence(proxy, targets, wait=0, watchdog=None, client=ResetdClient(resetd.path),
                        state_file=state)
    assert resetd.drain() == ["reg a"]          # only what was addressed, only once
    # the sync service then adds b without touching a
    Syncer(proxy, ResetdClient(resetd.path), state).step()
    assert resetd.drain() == ["reg b"]


def test_unfence_fails_with_reasons(resetd, tmp_path):
    proxy = FakeProxy()
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
    proxy = FakeProxy()
    proxy.join("a", host_id=3, adding=True)
    clock = [0.0]

    def sleep(seconds):
        clock[0] += seconds
        if clock[0] >= 3:
            proxy.join("a", host_id=3)
    text = unfence_mod.unfence(proxy, [Target("a", 3)], wait=10, watchdog=None, client=ResetdClient(resetd.path),
                               state_file=StateFile(None), sleep=sleep, clock=lambda: clock[0])
    assert "watched" in text and clock[0] == 3


def test_unfence_fails_at_the_limit(resetd):
    proxy = FakeProxy()
    proxy.join("a", host_id=3)
    with pytest.raises(FenceError, match="at most 0 lockspaces"):
        unfence_mod.unfence(proxy, [Target("a", 3)], wait=0, watchdog=None, client=ResetdClient(resetd.path),
                            state_file=StateFile(None), capacity=0)


# ------------------------------------------------------------------ monitor

def test_monitor_fails_when_this_host_cannot_read_the_leases():
    proxy = FakeProxy()
    proxy.join("a", host_id=1)          # its path does not exist here
    with pytest.raises(FenceError, match="cannot read lockspace a's leases"):
        monitor(proxy, ["a"])


def test_monitor_describes_each_target(monkeypatch):
    import sanlock_fencing.agent.health as health
    monkeypatch.setattr(health, "_check_storage_readable", lambda space: None)
    proxy = FakeProxy()
    proxy.join("a", host_id=1)
    proxy.others[("a", 2)] = HostView(2, 4, 100, 10, HostState.LIVE)
    proxy.others[("a", 3)] = HostView(3, 1, 100, 1, HostState.FAIL)
    proxy.others[("a", 4)] = HostView.free(4)
    lines = monitor(proxy, ["a"], [Target("a", h) for h in (1, 2, 3, 4)])
    assert lines[0].startswith("lockspace a joined as host id 1")
    assert "this host itself" in lines[1]
    typical, worst = expected_fence_seconds(10)
    assert "a:2 is LIVE (generation 4, io_timeout 10 s): a fence should take about %d s, " \
           "at most about %d s" % (typical, worst) in lines[2]
    assert "at least %d" % pacemaker_timeout(10) in lines[2]
    assert "a:3 is FAIL" in lines[3]
    assert "FREE" in lines[4]
    with pytest.raises(FenceError, match="has not joined lockspace b"):
        monitor(proxy, ["b"], [Target("b", 2)])


# ------------------------------------------------------------------ the watchdog check

def test_nothing_is_registered_while_no_watchdog_is_petted(resetd):
    proxy = FakeProxy()
    proxy.join("a")
    syncer = resetd_sync.Syncer(proxy, ResetdClient(resetd.path),
                                watchdog=lambda: "wdmd is not petting a watchdog device")
    result = syncer.step()
    assert not result.registered and "not petting" in result.pending["a"]
    assert resetd.drain() == []
    syncer.watchdog = lambda: None
    assert syncer.step().registered.keys() == {"a"}
    assert resetd.drain() == ["reg a"]
    syncer.watchdog = lambda: "wdmd is not running"
    result = syncer.step()
    assert not result.registered
    assert resetd.drain() == ["end a"]


RESETD_CLIENT = ("client 3 name sanlk-resetd pid 30421 fd 9 dead 0 ref 1 now 500 renewal 0 "
                 "expire 0\n")


@pytest.mark.parametrize("dump, expected", [
    ("wdmd 12 socket_gid 0 high_priority 1 now 500 last_keepalive 495 last_closeunclean 0 "
     "allow_scripts 0 kill_script_sec 5 fire_timeout 60\n" + RESETD_CLIENT, None),
    ("wdmd 12 socket_gid 0 high_priority 1 now 500 last_keepalive 0 last_closeunclean 0 "
     "allow_scripts 0 kill_script_sec 5 fire_timeout 60\n", "not petting"),
    ("wdmd 12 socket_gid 0 high_priority 1 now 500 last_keepalive 400 last_closeunclean 0 "
     "allow_scripts 0 kill_script_sec 5 fire_timeout 60\n", "100 s ago"),
    ("wdmd 12 socket_gid 0 high_priority 1 now 500 last_keepalive 498 last_closeunclean 0 "
     "allow_scripts 0 kill_script_sec 5 fire_timeout 90\n" + RESETD_CLIENT, "fires 90 s"),
    ("wdmd 12 socket_gid 0 high_priority 0 now 500 last_keepalive 495 last_closeunclean 0 "
     "allow_scripts 0 kill_script_sec 0\nclient 0 name signal pid 0 fd 5\n" + RESETD_CLIENT, None),
    ("wdmd 12 socket_gid 0 high_priority 0 now 500 last_keepalive 495 last_closeunclean 0 "
     "allow_scripts 0 kill_script_sec 0\nclient 0 name signal pid 0 fd 5\n", "-w 0"),
    ("wdmd 12 socket_gid 0 high_priority 0 now 500 last_keepalive 420 last_closeunclean 425 "
     "allow_scripts 0 kill_script_sec 0\n", None),    # firing: armed by a reset request
    ("", "not running"),
])
def test_the_watchdog_check_reads_wdmd_dump(dump, expected):
    import subprocess
    from sanlock_fencing.core import watchdog_check

    def run(argv, **kwargs):
        return subprocess.CompletedProcess(argv, 0 if dump else 1, dump, "")
    reason = watchdog_check.check(60, run=run)
    if expected is None:
        assert reason is None
    else:
        assert expected in reason


@pytest.mark.parametrize("dump, rc, uses", [
    ("wdmd 12 socket_gid 0 now 5 last_keepalive 4\nclient 2 name sanlock_ls:3 pid 9 fd 8 "
     "dead 0 ref 1 now 5 renewal 4 expire 28\n", 0, True),
    ("wdmd 12 socket_gid 0 now 5 last_keepalive 4\nclient 3 name sanlk-resetd pid 30421 fd 9 "
     "dead 0 ref 1 now 5 renewal 0 expire 0\n", 0, False),
    ("", 1, None)])
def test_whether_sanlock_uses_its_watchdog(dump, rc, uses):
    import subprocess
    from sanlock_fencing.core import watchdog_check
    result = watchdog_check.sanlock_uses_watchdog(
        run=lambda argv, **kw: subprocess.CompletedProcess(argv, rc, dump, ""))
    assert result is uses


def test_the_wdmd_dump_runs_for_real_under_this_python(tmp_path, monkeypatch):
    # The fakes above accept any keyword; this one is a real `wdmd --dump` (a script on
    # PATH) through subprocess.run, so an argument this interpreter lacks (capture_output=
    # and text= are Python 3.7+; EL8's is 3.6) fails here under `make unit-pythons`.
    from sanlock_fencing.core import watchdog_check
    wdmd = tmp_path / "wdmd"
    wdmd.write_text("#!/bin/sh\necho 'wdmd 12 socket_gid 0 now 5 last_keepalive 4'\n"
                    "echo 'client 2 name sanlock_ls:3 pid 9 fd 8 dead 0 ref 1'\n")
    wdmd.chmod(0o755)
    monkeypatch.setenv("PATH", "%s:%s" % (tmp_path, os.environ.get("PATH", "")))
    assert watchdog_check.sanlock_uses_watchdog() is True
    assert "no sanlk-resetd is connected" in watchdog_check.check(60)
