# SPDX-License-Identifier: GPL-2.0-or-later
"""Kept evidence is root's alone (issue 18, cases 3 and 4), against real sanlock daemons.

A process of group sanlock (uid nobody, gid sanlock: what vdsm can do) on host 1 tries to
make host 1's status say OFF for host 3, which is LIVE, by planting a forged evidence
file: a reboot of host 3 that a trusted observer would have seen. With the package's
directory (0755 root:root, created here by systemd-tmpfiles from our own tmpfiles file, in
host 1's private /run/fence-sanlock-vdsm) it cannot write at all. The directory is then
made 2775 root:sanlock as the old package made it, and the process plants the forged file,
links to a root-only file (at the names root's writers used) and a FIFO: status must still
say ON and return, off must send a real request rather than say "Already OFF", and the
linked file must be unchanged after the fence and the witness wrote their evidence.

The forged file is first shown to be a proof when root keeps it (status OFF): without
that, its being ignored would prove nothing. If a change of the evidence model makes that
step fail, update forged_reboot() rather than dropping the step.
"""

import grp
import json
import os
import shutil
import subprocess

import pytest

from harness.callers import PYTHON, require
from harness.machine import ROOT

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True, scope="module")
def needs():
    require(os.geteuid() == 0, "root (it starts sanlock daemons): run the tests as root")
    require(shutil.which("setpriv"), "setpriv (package util-linux): make deps")
    require(shutil.which("systemd-tmpfiles"), "systemd-tmpfiles (package systemd)")
    require(group_exists("sanlock"), "group sanlock, which the sanlock package creates: "
            "make deps")


def group_exists(name):
    try:
        grp.getgrnam(name)
    except KeyError:
        return False
    return True


NOBODY = 65534
EVIDENCE = "/run/fence-sanlock-vdsm/evidence"
VICTIM = "/run/fence-sanlock-vdsm/root-only"
TMPFILES = os.path.join(ROOT, "systemd", "fence-sanlock-vdsm.tmpfiles")

# Run by the forger (uid nobody, gid sanlock) on host 1: argv mode, directory, forged
# evidence (JSON), victim, names of links to plant. It computes the clock it forges for
# itself, from the same boot and time namespace as the agent.
FORGER = r"""
import json, os, sys
mode, directory, evidence, victim = sys.argv[1:5]
links = sys.argv[5:]
boot = open("/proc/sys/kernel/random/boot_id").read().strip()
clock = "%s %s" % (boot, os.readlink("/proc/self/ns/time"))
ev = json.loads(evidence)
name = "%d-%d-forger.json" % (ev["host_id"], ev["generation"])
try:
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, name), "w") as handle:
        json.dump({"clock": clock, "writer": "forger", "saved": 0, "evidence": ev}, handle)
    os.chmod(os.path.join(directory, name), 0o644)
except OSError as err:
    print("denied: %s" % err)
    sys.exit(0)
if mode == "plant":
    for link in links:
        os.symlink(victim, os.path.join(directory, link))
    os.mkfifo(os.path.join(directory, "%d-%d-fifo.json" % (ev["host_id"], ev["generation"])))
print("written")
"""


def forged_reboot(cluster, target):
    """Evidence of `target`'s current generation saying that an observer on host 1 saw it
    come back in a newer generation, same host name, clock restarted: a reboot, so OFF.
    Everything in it is what any member of group sanlock can read (the lease on storage,
    host 1's daemon); fields of both evidence models, each drops what it does not know."""
    leader = cluster.read_leader(target)
    own = cluster.read_leader(1)
    listing = subprocess.run(
        [PYTHON, "-c", "import json, sanlock; print(json.dumps([dict(e, lockspace=e['lockspace']"
         ".decode(), path=e['path'].decode() if isinstance(e['path'], bytes) else e['path']) "
         "for e in sanlock.get_lockspaces()]))"],
        env=cluster.env(1), capture_output=True, text=True, timeout=30, check=True)
    (space,) = [e for e in json.loads(listing.stdout) if e["lockspace"] == cluster.lockspace]
    name = cluster.host(target).name
    generation = leader["owner_generation"]
    return {"lockspace": cluster.lockspace, "host_id": target, "generation": generation,
            "io_timeout": cluster.io_timeout, "host_name": name,
            "storage": "%s@%d" % (space["path"], space.get("offset", 0)),
            "observer_generation": own["owner_generation"], "last_ts": leader["timestamp"],
            "newer_generation": generation + 1, "newer_ts": 1, "newer_name": name,
            "newer_seen_at": 0.0, "rebooted": True}


def as_root_on(cluster, host_id, script):
    result = cluster.host(host_id).machine.run(["sh", "-ec", script], capture_output=True,
                                               text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    return result.stdout


def forge(cluster, mode, directory, evidence, links=(), as_root=False):
    """The forger's attempt, as uid nobody and gid sanlock only, on host 1 (as_root: the
    same file written by root, as a trusted observer would keep it)."""
    gid = grp.getgrnam("sanlock").gr_gid
    who = [] if as_root else ["setpriv", "--reuid=%d" % NOBODY, "--regid=%d" % gid,
                              "--clear-groups", "--"]
    result = cluster.host(1).machine.run(
        ["sh", "-c", 'umask 022; exec "$@"', "forge"] + who +
        [PYTHON, "-c", FORGER, mode, directory, json.dumps(evidence), VICTIM] + list(links),
        capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def status(cluster):
    return cluster.agent(1, ["-o", "status", "-a", "%s:3" % cluster.lockspace], timeout=60)


def last_line(result):
    lines = result.stdout.strip().splitlines()
    return lines[-1] if lines else ""


def wait_witness_registered(cluster, host_id):
    """The witness drops what was kept for a lockspace when it registers for it: plant
    nothing before that."""
    from harness.simcluster import wait_for
    log = cluster.host(host_id).log("witness")
    wait_for(lambda: "witnessing lockspace %s" % cluster.lockspace in open(log).read(), 30,
             0.2, "host %d's witness to register" % host_id)


def test_group_sanlock_cannot_make_status_say_off_nor_redirect_roots_writes(make_cluster):
    cluster = make_cluster(hosts=3)
    assert cluster.lockspace.replace("_", "").isalnum()   # its directory is its name
    wait_witness_registered(cluster, 1)
    machine = cluster.host(1).machine
    subprocess.run(machine.command_prefix() + ["systemd-tmpfiles", "--create", TMPFILES],
                   check=True, capture_output=True, timeout=30)
    as_root_on(cluster, 1, "umask 077; echo precious > %s" % VICTIM)
    assert as_root_on(cluster, 1, "stat -c '%%a %%U:%%G' %s" % EVIDENCE).strip() == \
        "755 root:root"
    directory = os.path.join(EVIDENCE, cluster.lockspace)
    forged = forged_reboot(cluster, 3)

    # the package's directory: the forger cannot write at all
    assert forge(cluster, "try", directory, forged).startswith("denied"), \
        "a member of group sanlock could write the evidence directory"

    # the forged file is a proof when root keeps it: status says OFF for the live host
    assert forge(cluster, "try", directory, forged, as_root=True) == "written"
    calibration = status(cluster)
    assert (calibration.returncode, last_line(calibration)) == (2, "Status: OFF"), \
        ("the forged reboot is no proof even when root keeps it, so ignoring it proves "
         "nothing: update forged_reboot() to the evidence model\n%s" % calibration.stderr)
    as_root_on(cluster, 1, "rm -r %s" % directory)

    # the old package's directory: the forger writes its file, links and a FIFO
    as_root_on(cluster, 1, "chgrp sanlock %s; chmod 2775 %s" % (EVIDENCE, EVIDENCE))
    generation = forged["generation"]
    witness_pid = cluster.host(1).procs["witness"].pid
    links = ["3-%d-witness.json" % generation,
             ".3-%d-witness.json.%d" % (generation, witness_pid)]   # the old temporary name
    assert forge(cluster, "plant", directory, forged, links) == "written"

    on = status(cluster)
    assert (on.returncode, last_line(on)) == (0, "Status: ON"), on.stdout + on.stderr
    assert "chown root:root" in on.stderr            # one warning saying what to fix

    # off sends a real request (host 3's stand-in watchdog resets it once it replied);
    # the fence and the witness write their evidence as root meanwhile
    cluster.start_resetd(3, watchdog_delay=0)
    off = cluster.agent(1, ["-o", "off", "-a", "%s:3" % cluster.lockspace], timeout=300)
    assert "Already OFF" not in off.stdout, off.stdout
    assert off.returncode == 0, off.stdout + off.stderr
    assert cluster.host(3).standin.killed_at is not None
    assert as_root_on(cluster, 1, "cat %s; stat -c '%%a %%U' %s" % (VICTIM, VICTIM)) == \
        "precious\n600 root\n"
    # root wrote nothing in the directory the forger controls
    assert as_root_on(cluster, 1, "find %s -mindepth 1 -user root" % directory) == ""
