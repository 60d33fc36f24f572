# SPDX-License-Identifier: GPL-2.0-or-later
"""The agent as its callers run it: what vdsm and Pacemaker write on stdin, the agent
as a subprocess, and what a one-line error looks like; require(), which fails a test
whose machine lacks what it needs."""

import fcntl
import grp
import pwd
import subprocess

from .machine import AGENT

PYTHON = "/usr/bin/python3"


def require(present, what_to_do):
    """Fail the calling test, never skip it, when this machine lacks what the test needs:
    a skip reads as a pass in the very run where the feature it guards is missing.
    what_to_do says what is missing and how to get it ("make deps", run as root)."""
    if not present:
        import pytest       # here: the demo and the bench import this module without it
        pytest.fail("this test needs %s" % what_to_do, pytrace=False)


def vdsm_stdin(ipaddr, action, port=None, options="", login="admin", passwd="secret"):
    """Exactly what vdsm writes: fixed keys, optional port, options without a final newline."""
    text = "agent=fence_sanlock_vdsm\nipaddr=%s\nlogin=%s\naction=%s\npasswd=%s\n" % (
        ipaddr, login, action, passwd)
    if port is not None:
        text += "port=%s\n" % port
    return text + options


def pacemaker_stdin(ipaddr, action, port, nodename="node", **params):
    """What pacemaker-fenced writes: action, nodename, port from pcmk_host_map, device params."""
    lines = ["action=%s" % action, "nodename=%s" % nodename, "port=%s" % port,
             "ipaddr=%s" % ipaddr]
    lines += ["%s=%s" % item for item in params.items()]
    return "\n".join(lines) + "\n"


def run_agent(args=(), stdin=None, env=None, timeout=400, agent=AGENT):
    """Run the agent as a subprocess; stdin is only used when there are no arguments."""
    return subprocess.run([PYTHON, agent] + list(args), input=stdin or "",
                          capture_output=True, text=True, env=env, timeout=timeout)


def assert_usage_error(result):
    """A usage error as the fence-agents library reports it: exit 1, no traceback, at
    most three lines on stderr (the reason, then the library's hint to see -h)."""
    assert result.returncode == 1, result
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert 1 <= len(lines) <= 3, result.stderr
    return result.stderr


def assert_one_line_error(result):
    assert result.returncode == 1, result
    assert "Traceback" not in result.stderr, result.stderr
    # the agent's last resort for an exception it did not expect ("... report it") is a
    # bug, never a named cause
    assert "report it" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines()
              if "ERROR" in line or "Failed" in line]
    assert len(errors) == 1, result.stderr
    return errors[0]


def cluster_agent(cluster, host_id, args=(), stdin=None, **kwargs):
    """The agent run on a simulated host (its namespaces), as its callers run it."""
    return cluster.agent(host_id, args, stdin=stdin, **kwargs)


def states(cluster, observer, lockspace=None):
    """{host_id: state name} as observer's daemon sees them."""
    return cluster.host_states(observer, lockspace)


def wait_state(cluster, observer, host_id, wanted, timeout, lockspace=None):
    from .simcluster import wait_for     # here: the unit layer imports this module too
    wait_for(lambda: states(cluster, observer, lockspace).get(host_id) == wanted, timeout,
             interval=1.0, what="host %d %s as seen from host %d" % (host_id, wanted, observer))


# ---------------------------------------------------------------------- as vdsm

VDSM_LIKE_USER = "fsvtest"        # stands for vdsm: non-root, member of group sanlock
SANLOCK_GROUP = "sanlock"


def ensure_vdsm_like_user():
    """fsvtest exists and is a member of group sanlock (idempotent, safe under xdist)."""
    try:
        grp.getgrnam(SANLOCK_GROUP)
    except KeyError:
        require(False, "group %s, which the sanlock package creates: make deps"
                % SANLOCK_GROUP)
    with open("/run/lock/fence-sanlock-vdsm-testuser.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            pwd.getpwnam(VDSM_LIKE_USER)
        except KeyError:
            subprocess.run(["useradd", "--system", "--no-create-home", "--home-dir",
                            "/nonexistent", "--shell", "/usr/sbin/nologin", "--groups",
                            SANLOCK_GROUP, VDSM_LIKE_USER], check=True, capture_output=True)
        if VDSM_LIKE_USER not in grp.getgrnam(SANLOCK_GROUP).gr_mem:
            subprocess.run(["usermod", "--append", "--groups", SANLOCK_GROUP,
                            VDSM_LIKE_USER], check=True, capture_output=True)
    return VDSM_LIKE_USER


def as_user(user, argv):
    """argv run as `user` with its primary group and exactly its supplementary groups."""
    entry = pwd.getpwnam(user)
    return ["setpriv", "--reuid=%d" % entry.pw_uid, "--regid=%d" % entry.pw_gid,
            "--init-groups", "--"] + list(argv)
