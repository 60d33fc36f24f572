# SPDX-License-Identifier: GPL-2.0-or-later
"""Per-call overhead and scale: whole agent processes, timed inside a simulated machine.

Every call is a fork+exec done by a small wrapper inside the proxy's machine, so the
harness's way into the machine is not counted; floor is a python that only imports
fencing and sanlock.
"""

import os
import subprocess
import time

from report import median
from harness.simcluster import SimCluster

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PYTHON = "/usr/bin/python3"
FLOOR = 'import sys; sys.path.append("/usr/share/fence"); import fencing, sanlock'
FLOOR_NAME = "floor (import fencing, sanlock)"
LIBRARY_NAME = "floor + import of the agent's library"

# Runs inside a machine: fork+exec argv, stdout/stderr to /dev/null, stdin passed on;
# print wall seconds, peak RSS (KiB) and exit status of the child alone. The child is
# forked from this small python, so its pre-exec copy (~9 MiB) is below any floor.
WRAPPER = r"""
import os, sys, time
argv = sys.argv[1:]
started = time.monotonic()
pid = os.fork()
if pid == 0:
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1); os.dup2(null, 2)
    os.execv(argv[0], argv)
_, status, usage = os.wait4(pid, 0)
print(time.monotonic() - started, usage.ru_maxrss, os.waitstatus_to_exitcode(status))
"""


# -- overhead ----------------------------------------------------------------------------------

def compiled_env(cluster, host_id):
    """The host's environment with byte-compiled modules, as an installed package has them
    (dh_python3 compiles the library at install; fence-agents ships fencing's .pyc): the
    .pyc files go to a cache of the cluster's own (PYTHONPYCACHEPREFIX), written by the
    first call, where a source tree run with PYTHONDONTWRITEBYTECODE compiles the whole
    library at every call."""
    env = cluster.env(host_id)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = os.path.join(cluster.workdir, "pycache")
    return env


def timed_in_machine(cluster, host_id, argv, stdin=None, env=None):
    """(wall s, peak RSS MiB, exit) of argv run inside the machine, timed there."""
    prefix = cluster.host(host_id).machine.command_prefix()
    res = subprocess.run(prefix + [PYTHON, "-c", WRAPPER] + argv, input=stdin or "",
                         capture_output=True, text=True, timeout=120,
                         env=env or compiled_env(cluster, host_id))
    wall, rss, code = res.stdout.split()
    return float(wall), int(rss) / 1024.0, int(code)


def node_stdin(action, node, lockspace):
    """What Pacemaker's fencer writes for a device without pcmk_host_map: the node name as
    port and nodename."""
    return "action=%s\nnodename=%s\nport=%s\nipaddr=%s\n" % (action, node, node, lockspace)


def agent_calls(cluster, lockspace, target):
    agent = [PYTHON, os.path.join(ROOT, "agents", "sanlock_vdsm", "fence_sanlock_vdsm.py")]
    node = cluster.host(target).name
    return {
        FLOOR_NAME: ([PYTHON, "-c", FLOOR], None),
        LIBRARY_NAME: ([PYTHON, "-c", FLOOR + "; import sanlock_fencing.agent.glue"], None),
        "status": (agent + ["-o", "status", "-a", "%s:%d" % (lockspace, target)], None),
        "status, node name as port (stdin)": (agent, node_stdin("status", node, lockspace)),
        "monitor": (agent + ["-o", "monitor", "-a", lockspace], None),
        "list": (agent + ["-o", "list", "-a", lockspace], None),
        "metadata": (agent + ["-o", "metadata"], None),
    }


def bench_overhead(repeats):
    cluster = SimCluster(hosts=3, io_timeout=1, name_prefix="bo")
    try:
        cluster.start()
        calls = agent_calls(cluster, cluster.lockspace, 2)
        compiled, plain = compiled_env(cluster, 1), cluster.env(1)
        plain["PYTHONDONTWRITEBYTECODE"] = "1"
        runs = {name: (argv, stdin, compiled) for name, (argv, stdin) in calls.items()}
        # for comparison: the floor and status from a source tree that is never compiled
        runs["floor, without the cache"] = calls[FLOOR_NAME] + (plain,)
        runs["status, library not byte-compiled"] = calls["status"] + (plain,)
        for argv, stdin, env in runs.values():     # warm-up: the first call fills the cache
            timed_in_machine(cluster, 1, argv, stdin, env)
        samples = {name: [] for name in runs}
        for _ in range(repeats):            # interleaved, so drift hits all alike
            for name, (argv, stdin, env) in runs.items():
                wall, rss, code = timed_in_machine(cluster, 1, argv, stdin, env)
                if code != 0:
                    raise RuntimeError("%s exited %d" % (name, code))
                samples[name].append((wall, rss))
        floor = samples[FLOOR_NAME]
        floor_wall, floor_rss = median([w for w, _ in floor]), median([r for _, r in floor])
        table = {}
        for name, values in samples.items():
            wall, rss = median([w for w, _ in values]), median([r for _, r in values])
            table[name] = {"median_wall_s": wall, "median_peak_rss_mib": rss,
                           "wall_vs_floor": wall / floor_wall, "rss_vs_floor": rss / floor_rss,
                           "samples_wall_s": [round(w, 4) for w, _ in values]}
        return table
    finally:
        cluster.stop()


# -- scale --------------------------------------------------------------------------------------

def scale_calls(cluster, lockspace, target, repeats):
    calls = agent_calls(cluster, lockspace, target)
    for argv, stdin in calls.values():        # warm-up: fills the .pyc cache
        timed_in_machine(cluster, 1, argv, stdin)
    walls = {"list": [], "status": [], "status by node name": []}
    names = {"list": "list", "status": "status",
             "status by node name": "status, node name as port (stdin)"}
    for _ in range(repeats):
        for key, name in names.items():
            argv, stdin = calls[name]
            wall, _rss, code = timed_in_machine(cluster, 1, argv, stdin)
            if code != 0:
                raise RuntimeError("%s in %s exited %d" % (name, lockspace, code))
            walls[key].append(wall)
    return {key: median(values) for key, values in walls.items()}


def bench_scale(max_hosts, repeats):
    """One cluster of max_hosts machines (witness services off: they would share this
    machine's cores); lockspaces joined by growing subsets of them."""
    results = {"by_host_count": {}, "spread_to_2000": None, "max_hosts": max_hosts}
    cluster = SimCluster(hosts=max_hosts, io_timeout=1, name_prefix="bs", witness=False)
    try:
        began = time.monotonic()
        cluster.start()
        counts = [n for n in (8, 16, 32) if n < max_hosts] + [max_hosts]
        spaces = {max_hosts: cluster.lockspace}
        for n in counts:
            if n not in spaces:
                spaces[n] = cluster.add_lockspace(host_ids=range(1, n + 1))
        results["cluster_ready_s"] = round(time.monotonic() - began, 1)
        for n in counts:
            results["by_host_count"][str(n)] = scale_calls(cluster, spaces[n], n, repeats)
    finally:
        cluster.stop()
    spread = [1, 2, 500, 1000, 1500, 1999, 2000]
    cluster = SimCluster(hosts=spread, io_timeout=1, name_prefix="bw", witness=False)
    try:
        cluster.start()
        results["spread_to_2000"] = dict(scale_calls(cluster, cluster.lockspace, 2000, repeats),
                                         host_ids=spread)
    finally:
        cluster.stop()
    return results
