# SPDX-License-Identifier: GPL-2.0-or-later
"""The agent run exactly as oVirt's engine runs it through vdsm (issue: real clients).

vdsm executes /usr/sbin/fence_<agent> with no arguments, as the non-root user `vdsm`
(a member of the `sanlock` group, which owns sanlock's socket), and writes the fixed
keys, the port when one is set and the admin's options string without a final newline
(harness.callers.vdsm_stdin). The Admin Portal only takes a bare name as the address, so the
lockspace (storage-domain UUID) goes in ipaddr and the host id in port.

Here the proxies' sanlock daemons give their socket to group `sanlock` (their -G) and the
lockspace file is root:sanlock 0660, as vdsm's ids volumes are vdsm:kvm 0660; the agent
runs as the test user `fsvtest` (created in group `sanlock` when missing) through setpriv,
inside the chosen host's machine (its /run, its clock), as vdsm runs it on that host.
That user cannot write the evidence store (/run/fence-sanlock-vdsm/evidence is root's
here), so an off keeps no history; status through another host proves the reset through
that host's witness service (fence-sanlock-vdsm-witness, running on every host).

(About 320 lines: the engine's whole sequence, replayed call by call as vdsm makes it.)
"""

import grp
import os
import pwd
import shutil
import subprocess
import tempfile
import time

import pytest

from harness.callers import (AGENT, SANLOCK_GROUP, as_user, assert_one_line_error,
                             ensure_vdsm_like_user, require, vdsm_stdin)
from harness.machine import LIB, ROOT

OUTSIDER = "nobody"               # non-root, not in group sanlock
ENGINE_RPC_TIMEOUT = 180          # the engine's bound on every vdsm call
# the engine's status polling after off/on: 5 s, then up to 19 polls 10 s apart
ENGINE_FIRST_POLL, ENGINE_POLL_INTERVAL, ENGINE_POLLS = 5, 10, 19
OPTIONS = "power_timeout=175"     # the admin's options string (vdsm sends no final newline)


@pytest.fixture(autouse=True, scope="module")
def needs():
    require(os.geteuid() == 0, "root (it creates a test user and starts sanlock daemons): "
            "run the tests as root")
    require(shutil.which("setpriv"), "setpriv (package util-linux): make deps")


# ---------------------------------------------------------------------- users


def _user_can_read(user, *paths):
    check = ["/bin/sh", "-c", 'for f; do test -r "$f" || exit 1; done', "sh"] + list(paths)
    return subprocess.run(as_user(user, check), capture_output=True).returncode == 0


@pytest.fixture(scope="module")
def vdsm_user():
    return ensure_vdsm_like_user()


@pytest.fixture(scope="module")
def outsider():
    try:
        entry = pwd.getpwnam(OUTSIDER)
    except KeyError:
        require(False, "user %s, a user outside group %s (Debian's base system has it)"
                % (OUTSIDER, SANLOCK_GROUP))
    groups = os.getgrouplist(OUTSIDER, entry.pw_gid)
    assert grp.getgrnam(SANLOCK_GROUP).gr_gid not in groups
    return OUTSIDER


@pytest.fixture(scope="module")
def agent_for_users(vdsm_user):
    """The source tree's agent, or a world-readable copy of it when a parent directory
    of the checkout is closed to other users (the agent finds ../../lib either way)."""
    if _user_can_read(vdsm_user, AGENT, os.path.join(LIB, "sanlock_fencing", "agent", "glue.py")):
        yield AGENT
        return
    top = tempfile.mkdtemp(prefix="fsv-agent-", dir="/var/tmp")
    try:
        os.chmod(top, 0o755)
        shutil.copytree(os.path.join(ROOT, "agents"), os.path.join(top, "agents"),
                        ignore=shutil.ignore_patterns("__pycache__"))
        shutil.copytree(LIB, os.path.join(top, "lib"),
                        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        for base, dirs, files in os.walk(top):
            for name in dirs:
                os.chmod(os.path.join(base, name), 0o755)
            for name in files:
                os.chmod(os.path.join(base, name), 0o755 if name.endswith(
                    "fence_sanlock_vdsm.py") else 0o644)
        yield os.path.join(top, "agents", "sanlock_vdsm", "fence_sanlock_vdsm.py")
    finally:
        shutil.rmtree(top, ignore_errors=True)


# ---------------------------------------------------------------------- vdsm


class Vdsm:
    """Runs the agent the way vdsm's fenceNode does, on a chosen simulated host (inside
    its machine: its /run, its clock), and keeps a transcript of every call (printed, so
    `pytest -s` shows what the engine got)."""

    def __init__(self, cluster, user, agent):
        self.cluster = cluster
        self.user = user
        self.agent = agent
        self.transcript = []
        self.t0 = time.monotonic()

    def env(self, host_id):
        # vdsm's own environment has no SANLOCK_RUN_DIR: its sanlock is at /run/sanlock;
        # a simulated host's daemon is found through it
        return {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8",
                "SANLOCK_RUN_DIR": self.cluster.host(host_id).run_dir}

    def argv(self, host_id):
        # vdsm execs the agent itself (its #! line) as its own user, on that host
        machine = self.cluster.host(host_id).machine
        return machine.command_prefix() + as_user(self.user, [self.agent])

    def start(self, host_id, action, ipaddr, port, options=OPTIONS):
        stdin = vdsm_stdin(ipaddr, action, port=port, options=options)
        assert not stdin.endswith("\n")
        proc = subprocess.Popen(self.argv(host_id), stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=self.env(host_id), cwd="/")
        proc.stdin.write(stdin)      # all of it at once, then EOF, as vdsm does
        proc.stdin.close()
        proc.stdin = None            # so that communicate() only reads
        return _Call(self, host_id, action, stdin, proc)

    def call(self, host_id, action, ipaddr, port, options=OPTIONS):
        return self.start(host_id, action, ipaddr, port, options).finish()

    def note(self, text):
        line = "[%6.1f s] %s" % (time.monotonic() - self.t0, text)
        self.transcript.append(line)
        print(line, flush=True)


class _Call:
    def __init__(self, vdsm, host_id, action, stdin, proc):
        self.vdsm, self.host_id, self.action, self.stdin, self.proc = (
            vdsm, host_id, action, stdin, proc)
        self.started = time.monotonic()
        vdsm.note("engine -> vdsm on host %d: fenceNode action=%s (agent runs as %s)"
                  % (host_id, action, vdsm.user))

    def running(self):
        return self.proc.poll() is None

    def finish(self, timeout=ENGINE_RPC_TIMEOUT + 60):
        out, err = self.proc.communicate(timeout=timeout)
        self.seconds = time.monotonic() - self.started
        result = subprocess.CompletedProcess(self.proc.args, self.proc.returncode, out, err)
        result.seconds = self.seconds
        text = ["    stdin:  " + line for line in self.stdin.split("\n")]
        text += ["    stdout: " + line for line in out.splitlines()]
        text += ["    stderr: " + line for line in err.splitlines()]
        text.append("    exit %d after %.1f s" % (result.returncode, self.seconds))
        self.vdsm.note("host %d: fence_sanlock_vdsm %s\n%s"
                       % (self.host_id, self.action, "\n".join(text)))
        assert "Traceback" not in err, err
        return result


def engine_poll_status(vdsm, host_id, ipaddr, port, wanted_exit):
    """The engine's wait after off/on: status 5 s later, then every 10 s, 19 times at most.
    Every answer must be a valid one (0 on, 2 off); returns the answers."""
    answers = []
    time.sleep(ENGINE_FIRST_POLL)
    for poll in range(ENGINE_POLLS):
        result = vdsm.call(host_id, "status", ipaddr, port)
        assert result.returncode in (0, 2), result
        answers.append(result)
        if result.returncode == wanted_exit:
            return answers
        time.sleep(ENGINE_POLL_INTERVAL)
    pytest.fail("status never reached exit %d in the engine's %d polls"
                % (wanted_exit, ENGINE_POLLS))


def vdsm_cluster(make_cluster, hosts=3, **kwargs):
    return make_cluster(hosts=hosts, socket_group=SANLOCK_GROUP, lease_group=SANLOCK_GROUP,
                        name_prefix="vdsm", **kwargs)


# ---------------------------------------------------------------------- tests


def test_simulated_hosts_look_like_a_vdsm_host(make_cluster):
    """The daemon's -G gives its run dir and its 0660 socket to group sanlock, and the
    lockspace file is group-readable, like vdsm's ids volumes."""
    cluster = vdsm_cluster(make_cluster, hosts=1)
    gid = grp.getgrnam(SANLOCK_GROUP).gr_gid
    sock = os.stat(os.path.join(cluster.host(1).run_dir, "sanlock.sock"))
    assert (sock.st_gid, sock.st_mode & 0o777) == (gid, 0o660)
    run_dir = os.stat(cluster.host(1).run_dir)
    assert run_dir.st_gid == gid and run_dir.st_mode & 0o010
    ls = cluster.lockspace_info()
    for path in (ls.backing, cluster.host(1).lease_path(ls)):     # the file and the view
        lease = os.stat(path)
        assert (lease.st_gid, lease.st_mode & 0o777) == (gid, 0o660), path


def test_status_as_a_sanlock_group_member_with_the_portal_address(
        make_cluster, vdsm_user, agent_for_users):
    cluster = vdsm_cluster(make_cluster)
    ls = cluster.lockspace
    vdsm = Vdsm(cluster, vdsm_user, agent_for_users)
    for proxy in (1, 2):
        result = vdsm.call(proxy, "status", ls, "3")
        assert (result.returncode, result.stdout.strip()) == (0, "Status: ON"), result
    # on for a running host succeeds at once and sends nothing
    before = cluster.read_leader(1)
    on = vdsm.call(1, "on", ls, "3")
    assert (on.returncode, on.stdout.strip()) == (0, "Success: Already ON"), on
    assert on.seconds < 10
    after = cluster.read_leader(1)
    assert (after["extra1"], after["extra2"]) == (before["extra1"], before["extra2"])


def test_a_user_outside_the_sanlock_group_gets_one_clear_line(
        make_cluster, outsider, agent_for_users):
    cluster = vdsm_cluster(make_cluster, hosts=2)
    vdsm = Vdsm(cluster, outsider, agent_for_users)
    for action in ("status", "off", "on"):
        result = vdsm.call(1, action, cluster.lockspace, "2")
        line = assert_one_line_error(result)
        assert "permission denied" in line and "sanlock group" in line, line
    # nothing was sent: host 1's lease carries no request
    assert cluster.read_leader(1)["extra2"] == 0


def test_off_from_a_user_who_cannot_read_the_lockspace_sends_nothing(
        make_cluster, vdsm_user, agent_for_users):
    """The socket is open to the user but the lockspace file is not (say root:root 0600
    instead of vdsm's ids file): the agent cannot watch the target's lease, so it must
    refuse before sending anything, with the permission problem as its one line."""
    cluster = make_cluster(hosts=3, socket_group=SANLOCK_GROUP, name_prefix="vdsm")
    cluster.start_resetd(3, watchdog_delay=None)
    os.chmod(cluster.lockspace_info().backing, 0o600)
    vdsm = Vdsm(cluster, vdsm_user, agent_for_users)
    result = vdsm.call(1, "off", cluster.lockspace, "3")
    line = assert_one_line_error(result)
    time.sleep(3)     # a request would be in host 1's lease after its next renewal
    assert cluster.read_leader(1)["extra2"] == 0, "a reset request was sent"
    assert cluster.host(3).standin.reply_seen_at is None, "host 3 acknowledged a reset"
    assert "permission denied" in line, line


@pytest.mark.slow
def test_engine_restart_sequence_as_vdsm(make_cluster, vdsm_user, agent_for_users):
    """status; off; status until off; on (the host boots and rejoins meanwhile); status
    until on. Each call through a different proxy host, as the engine may do."""
    cluster = vdsm_cluster(make_cluster)
    ls = cluster.lockspace
    cluster.start_resetd(3, watchdog_delay=0.0)
    vdsm = Vdsm(cluster, vdsm_user, agent_for_users)
    vdsm.note("lockspace (storage domain) %s; hosts 1, 2, 3 live; host 3 runs sanlk-resetd"
              % ls)

    status = vdsm.call(2, "status", ls, "3")
    assert (status.returncode, status.stdout.strip()) == (0, "Status: ON"), status

    off = vdsm.call(1, "off", ls, "3")
    assert off.returncode == 0, off
    lines = off.stdout.splitlines()
    assert lines[-1] == "Success: Powered OFF", off
    assert any(line.startswith("Proof: ") for line in lines), off
    assert off.seconds < ENGINE_RPC_TIMEOUT - 5, "off must end within the engine's RPC timeout"
    assert cluster.host(3).standin.killed_at is not None

    answers = engine_poll_status(vdsm, 2, ls, "3", wanted_exit=2)
    assert answers[-1].stdout.splitlines()[-1] == "Status: OFF", answers[-1]

    # on: sends nothing and waits for the reset host to boot and rejoin by itself
    generation = cluster.host(3).generations[ls]
    on = vdsm.start(1, "on", ls, "3")
    time.sleep(5)
    assert on.running(), "on returned before the host came back"
    vdsm.note("host 3 boots and its sanlock rejoins the lockspace (while on waits)")
    cluster.boot(3, rejoin=True)
    assert cluster.host(3).generations[ls] > generation
    vdsm.note("host 3 is back with generation %d (was %d)"
              % (cluster.host(3).generations[ls], generation))
    on_result = on.finish()
    assert (on_result.returncode, on_result.stdout.strip()) == (0, "Success: Powered ON"), \
        on_result
    assert 5 < on_result.seconds < ENGINE_RPC_TIMEOUT - 5

    answers = engine_poll_status(vdsm, 2, ls, "3", wanted_exit=0)
    assert answers[-1].stdout.strip() == "Status: ON", answers[-1]
