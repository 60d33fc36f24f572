# SPDX-License-Identifier: GPL-2.0-or-later
"""The agent as a process, without any sanlock daemon: input handling, docs, metadata."""

import difflib
import os
import subprocess

import pytest

from harness.callers import (AGENT, assert_one_line_error, assert_usage_error, pacemaker_stdin,
                             run_agent, vdsm_stdin)
from harness.machine import ROOT

RNG = "/usr/share/cluster/relaxng/metadata.rng"
XSL = "/usr/share/cluster/relaxng/fence2man.xsl"

BAD_COMMAND_LINES = [
    (["-o", "status"], "fence address"),
    (["-o", "status", "-a", "ls"], "names no host id"),
    (["-o", "status", "-a", "ls:0"], "invalid host id '0'"),
    (["-o", "status", "-a", "ls:2001"], "invalid host id '2001'"),
    (["-o", "status", "-a", "ls:abc"], "invalid host id 'abc'"),
    (["-o", "status", "-a", ":4"], "empty lockspace name"),
    (["-o", "status", "-a", "a:b:4"], "may not contain ':'"),
    (["-o", "status", "-a", "x" * 49 + ":4"], "at most 48"),
    (["-o", "status", "-a", "ls:4", "-n", "5"], "contradicts"),
    (["-o", "status", "-a", "ls:4", "--resource-mode=maybe"], "invalid resource_mode 'maybe'"),
    (["-o", "off", "-a", "ls:4", "--sysrq-reboot=2"], "invalid sysrq_reboot '2'"),
    (["-o", "off", "-a", "ls:4", "--power-timeout=soon"], "power-timeout"),
    (["-o", "off", "-a", "ls:4", "--delay=later"], "delay"),
    (["-o", "explode", "-a", "ls:4"], "Unrecognised action 'explode'"),
    (["-o", "off", "-a", "ls:4", "--method=twice"], "method"),
    (["--no-such-option"], "no-such-option"),
    (["-o", "off", "-a", "a:1,,b:2"], "empty item"),
    # bounds (the library itself refuses what int() cannot read: 1e23, nan, inf)
    (["-o", "off", "-a", "ls:4", "--power-timeout=3601"],
     "invalid power_timeout '3601': expected seconds from 0 (no limit) to 3600"),
    (["-o", "off", "-a", "ls:4", "--power-timeout=99999999999999999999999"],
     "invalid power_timeout"),
    (["-o", "off", "-a", "ls:4", "--power-timeout=-1"], "invalid power_timeout '-1'"),
    (["-o", "off", "-a", "ls:4", "--power-timeout=1e23"], "power-timeout"),
    (["-o", "off", "-a", "ls:4", "--power-timeout=nan"], "power-timeout"),
    (["-o", "off", "-a", "ls:4", "--delay=301"],
     "invalid delay '301': expected seconds from 0 to 300"),
    (["-o", "reboot", "-a", "ls:4", "--delay=99999999999999999999999"], "invalid delay"),
    (["-o", "off", "-a", "ls:4", "--delay=-5"], "invalid delay '-5'"),
    (["-o", "off", "-a", "ls:4", "--delay=inf"], "delay"),
    # no password script: the library would run it through a shell
    (["-o", "status", "-a", "ls:4", "-S", "/bin/true"], "option -S not recognized"),
    (["-o", "status", "-a", "ls:4", "--password-script=/bin/true"],
     "option --password-script not recognized"),
]


@pytest.mark.parametrize("args, fragment", BAD_COMMAND_LINES)
def test_bad_command_line_is_a_short_error_and_exit_1(args, fragment, no_daemon_env):
    result = run_agent(args, env=no_daemon_env)
    assert fragment in assert_usage_error(result)
    assert result.stdout == ""


@pytest.mark.parametrize("stdin, fragment", [
    (vdsm_stdin("ls:abc", "off"), "invalid host id 'abc'"),
    (vdsm_stdin("ls", "status", options="resource_mode=perhaps"), "names no host id"),
    (vdsm_stdin("ls", "status", port="9999"), "invalid port (host id) '9999'"),
    (vdsm_stdin("ls", "status", port="3", options="resource_mode=perhaps"),
     "invalid resource_mode 'perhaps'"),
    (pacemaker_stdin("ls:3", "reboot", port="4"), "contradicts"),
])
def test_bad_stdin_is_one_line_and_exit_1(stdin, fragment, no_daemon_env):
    line = assert_one_line_error(run_agent(stdin=stdin, env=no_daemon_env))
    assert fragment in line


@pytest.mark.parametrize("args", [["-o", "status", "-a", "ls:3"], ["-o", "off", "-a", "ls:3"],
                                  ["-o", "list", "-a", "ls"]])
def test_no_daemon_is_a_clear_failure(args, no_daemon_env):
    line = assert_one_line_error(run_agent(args, env=no_daemon_env))
    assert "sanlock daemon is not running" in line


def test_monitor_without_daemon_fails_with_the_reason(no_daemon_env):
    line = assert_one_line_error(run_agent(["-o", "monitor", "-a", "ls"], env=no_daemon_env))
    assert "not running" in line and "sanlock.sock" in line


def test_monitor_with_a_socket_we_may_not_open_fails_with_permission_denied(tmp_path):
    sock = tmp_path / "sanlock.sock"
    import socket
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(sock))
    os.chmod(sock, 0o600)
    os.chmod(tmp_path, 0o755)
    env = dict(os.environ, SANLOCK_RUN_DIR=str(tmp_path))
    result = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                             "/usr/bin/python3", AGENT, "-o", "monitor", "-a", "ls"],
                            capture_output=True, text=True, env=env, timeout=60)
    server.close()
    line = assert_one_line_error(result)
    assert "permission denied" in line and "sanlock group" in line


def test_validate_all_accepts_good_input_without_a_daemon(no_daemon_env):
    result = run_agent(stdin=vdsm_stdin("ls", "validate-all", port="3"), env=no_daemon_env)
    assert result.returncode == 0, result.stderr


def test_validate_all_rejects_bad_input(no_daemon_env):
    result = run_agent(["-o", "validate-all", "-a", "ls:0"], env=no_daemon_env)
    assert "invalid host id '0'" in assert_one_line_error(result)


def test_metadata_validates_against_the_relaxng_schema(tmp_path):
    result = run_agent(["-o", "metadata"])
    assert result.returncode == 0
    path = tmp_path / "metadata.xml"
    path.write_text(result.stdout)
    check = subprocess.run(["xmllint", "--noout", "--relaxng", RNG, str(path)],
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    for word in ('name="fence_sanlock_vdsm"', 'name="resource_mode"', 'name="port"',
                 '<action name="reboot"', '<action name="list"', '<action name="monitor"'):
        assert word in result.stdout


def test_checked_in_man_page_matches_the_metadata(tmp_path):
    result = run_agent(["-o", "manpage"])
    xml = tmp_path / "agent.xml"
    xml.write_text(result.stdout)
    generated = subprocess.run(["xsltproc", XSL, str(xml)], capture_output=True, text=True,
                               check=True).stdout
    with open(os.path.join(ROOT, "man", "details.8.in")) as handle:
        generated += handle.read()
    with open(os.path.join(ROOT, "man", "fence_sanlock_vdsm.8")) as handle:
        assert handle.read() == generated, "man page is stale: run 'make man'"


def test_metadata_matches_the_committed_reference():
    # Upstream fence-agents' xml-check: the metadata is what Pacemaker, pcs and oVirt read
    # of the agent, so a change to it shows as a reviewed diff of this file. The reference
    # is what this machine's fencing.py prints (Debian 12's fence-agents 4.12.1).
    reference = os.path.join(ROOT, "tests", "data", "metadata", "fence_sanlock_vdsm.xml")
    result = run_agent(["-o", "metadata"])
    assert result.returncode == 0, result.stderr
    with open(reference) as handle:
        committed = handle.read()
    diff = "".join(difflib.unified_diff(committed.splitlines(True),
                                        result.stdout.splitlines(True),
                                        "committed", "fence_sanlock_vdsm -o metadata"))
    assert not diff, ("the agent's metadata differs from %s; if the options changed on "
                      "purpose, run 'make metadata-ref' (and 'make man') and commit both:\n%s"
                      % (os.path.relpath(reference, ROOT), diff))


def test_help_explains_the_address_forms():
    result = run_agent(["-h"])
    assert result.returncode == 0
    assert "LOCKSPACE:HOST_ID" in result.stdout and "--plug=[id|name]" in result.stdout


def test_bad_input_fails_before_the_delay(no_daemon_env):
    """Validate before delay: bad input never sleeps first (the delay itself is measured
    with real daemons in test_fence.py)."""
    import time
    started = time.monotonic()
    result = run_agent(stdin=pacemaker_stdin("ls", "off", 3, delay=300, resource_mode=""),
                       env=no_daemon_env)
    assert time.monotonic() - started < 10
    assert "resource_mode" in assert_usage_error(result)


def test_an_unreachable_daemon_honours_the_delay_then_fails(no_daemon_env):
    """Upstream fence-agents' delay-check: delay=N with no daemon takes at least N s. A
    daemon that does not answer is not bad input: the checks run again after the delay,
    and the failure names the daemon."""
    import time
    started = time.monotonic()
    result = run_agent(stdin=pacemaker_stdin("ls", "off", 3, delay=3, unknown_key="x"),
                       env=no_daemon_env)
    assert time.monotonic() - started >= 3
    assert "not running" in assert_one_line_error(result)


def test_pacemaker_validate_with_only_a_node_name_as_port(no_daemon_env):
    """stonith_admin --validate sends a made-up node name as port (pcmk_host_map supplies
    the host id at fence time): a bare lockspace is then valid."""
    stdin = "action=validate-all\nnodename=node1\nport=node1\nipaddr=myls\n"
    result = run_agent(stdin=stdin, env=no_daemon_env)
    assert result.returncode == 0, result.stderr


def test_pacemaker_node_name_as_port_with_a_full_address_is_checked_through_the_daemon(
        no_daemon_env):
    """The node name must agree with the addressed lease's host name (test_nodes.py):
    valid input, so the failure is the missing daemon."""
    stdin = "action=status\nnodename=node2\nport=node2\nipaddr=myls:2\n"
    line = assert_one_line_error(run_agent(stdin=stdin, env=no_daemon_env))
    assert "not running" in line      # got past validation to the daemon


def test_a_node_name_as_port_is_looked_up_through_the_daemon(no_daemon_env):
    """Pacemaker passes an unmapped node's name as port; finding its host id needs the
    leases, so without a daemon the failure says that (test_nodes.py resolves names)."""
    stdin = "action=reboot\nnodename=node2\nport=node2\nipaddr=myls\n"
    line = assert_one_line_error(run_agent(stdin=stdin, env=no_daemon_env))
    assert "sanlock daemon is not running" in line


def test_a_control_character_in_the_address_is_shown(no_daemon_env):
    line = assert_one_line_error(run_agent(stdin=vdsm_stdin("my\x01ls", "status", port="3"),
                                           env=no_daemon_env))
    assert "my\\x01ls" in line


@pytest.mark.parametrize("stdin", [
    "action=off\nipaddr=ls:3\ndelay=301\n",
    pacemaker_stdin("ls:3", "reboot", 3, delay="100000000000000000000"),
    vdsm_stdin("ls", "off", port="3", options="power_timeout=86400"),
])
def test_an_out_of_bounds_number_on_stdin_fails_at_once(stdin, no_daemon_env):
    """Checked before the delay: a refused value never waits first."""
    import time
    started = time.monotonic()
    line = assert_one_line_error(run_agent(stdin=stdin, env=no_daemon_env))
    assert time.monotonic() - started < 10
    assert "invalid delay" in line or "invalid power_timeout" in line


def test_the_upper_bounds_are_accepted(no_daemon_env):
    result = run_agent(stdin=vdsm_stdin("ls", "validate-all", port="3",
                                        options="power_timeout=3600\ndelay=300"),
                       env=no_daemon_env)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("key", ["passwd_script", "password_script", "password-script"])
def test_a_password_script_on_stdin_is_never_run(key, tmp_path, no_daemon_env):
    """vdsm's stdin (login and passwd included) is accepted as before; a password script
    beside it is ignored without running it (the library would run it through a shell,
    as vdsm or root, before any action)."""
    proof = tmp_path / "script-ran"
    stdin = vdsm_stdin("ls", "status", port="3",
                       options="%s=touch %s" % (key, proof))
    line = assert_one_line_error(run_agent(stdin=stdin, env=no_daemon_env))
    assert "sanlock daemon is not running" in line     # it went on, past the options
    assert not proof.exists()


@pytest.mark.parametrize("flag", ["-S", "--password-script"])
def test_a_password_script_on_the_command_line_is_refused_without_running_it(
        flag, tmp_path, no_daemon_env):
    proof = tmp_path / "script-ran"
    result = run_agent(["-o", "status", "-a", "ls:3", flag, "touch %s" % proof],
                       env=no_daemon_env)
    assert "not recognized" in assert_usage_error(result)
    assert not proof.exists()


def test_vdsm_login_and_password_are_accepted_and_ignored(no_daemon_env):
    result = run_agent(stdin=vdsm_stdin("ls", "validate-all", port="3", login="vdsm-user",
                                        passwd="anything"), env=no_daemon_env)
    assert result.returncode == 0, result.stderr
    assert "Ignoring" not in result.stderr


@pytest.mark.parametrize("flag", ["--version", "-V"])
def test_version_is_the_projects_not_the_librarys(flag):
    from sanlock_fencing import __version__
    result = run_agent([flag])
    assert (result.returncode, result.stdout.strip()) == (0, __version__), result
