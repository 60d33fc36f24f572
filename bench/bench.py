#!/usr/bin/python3
"""make bench: how fast fence_sanlock_vdsm fences, what its calls cost, how it scales.

Everything runs against real sanlock daemons (tests/simcluster.py) on this machine.
The script writes bench/results.json (raw numbers) and the tables in bench/README.md;
nobody types figures by hand. Sections:

  fence        agent `off` versus sanlock's own `sanlk-reset reset LS:ID`, interleaved
               on identical clusters, with an independent observer (bench/observer.py)
               timing when the evidence first proves the reset
  overhead     wall time and peak memory of status/monitor/list/metadata versus the
               floor: a python that only imports fencing and sanlock
  concurrency  1, 2, 4, 8 simultaneous fences through one proxy
  scale        list and status against lockspaces with many live hosts, and with host
               ids spread up to 2000

usage: bench.py [--quick] [--sections fence,overhead,concurrency,scale] [--io10]
"""

import argparse
import concurrent.futures
import datetime
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests"))

from simcluster import SimCluster  # noqa: E402

PYTHON = "/usr/bin/python3"
AGENT = os.path.join(ROOT, "agents", "sanlock_vdsm", "fence_sanlock_vdsm.py")
OBSERVER = os.path.join(HERE, "observer.py")
FLOOR = 'import sys; sys.path.append("/usr/share/fence"); import fencing, sanlock'


def timed_child(argv, env, stdin=None):
    """(wall seconds, peak RSS in MiB, exit status) of one child process."""
    started = time.monotonic()
    proc = subprocess.Popen(argv, env=env, stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if stdin:
        proc.stdin.write(stdin.encode())
        proc.stdin.close()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return time.monotonic() - started, usage.ru_maxrss / 1024.0, proc.returncode


# -- 1. time to fence -----------------------------------------------------------------

def one_fence(tool, io_timeout, index, offset):
    """Fence host 3 of a fresh 3-host cluster with tool ('agent' or 'sanlk-reset').

    offset (seconds, within one renewal interval) shifts the request against the
    daemons' renewal cycle: delivery takes one or two renewals depending on that
    phase alone, so each pair shares a random phase and the pairs cover many.
    """
    cluster = SimCluster(hosts=3, io_timeout=io_timeout, name_prefix="b%s%d" % (tool[0], index))
    try:
        cluster.start()
        ls = cluster.lockspace
        cluster.start_resetd(3, watchdog_delay=0)
        observer = subprocess.Popen([PYTHON, OBSERVER, ls, "3", cluster.lockspace_path(), "0"],
                                    env=cluster.env(1), stdout=subprocess.PIPE, text=True)
        assert observer.stdout.readline().strip() == "ready"
        time.sleep(offset)
        if tool == "agent":
            argv = [PYTHON, AGENT, "-o", "off", "-a", "%s:3" % ls, "--power-timeout=0"]
        else:
            argv = ["sanlk-reset", "reset", "%s:3" % ls]
        started = time.monotonic()
        result = subprocess.run(argv, env=cluster.env(1), capture_output=True, text=True,
                                timeout=900)
        ended = time.monotonic()
        try:
            out, _ = observer.communicate(timeout=max(5, 400 - (ended - started)))
        except subprocess.TimeoutExpired:
            observer.terminate()
            out, _ = observer.communicate(timeout=10)
        seen = json.loads(out.strip().splitlines()[-1])
        host = cluster.host(3)
        return {
            "tool": tool, "io_timeout": io_timeout, "index": index, "phase_offset": offset,
            "exit": result.returncode, "seconds": ended - started,
            "reply_after": (seen["reply"] - started) if seen["reply"] else None,
            "proven_after": (seen["proven"] - started) if seen["proven"] else None,
            "proof_rule": seen["rule"],
            "lag": (ended - seen["proven"]) if seen["proven"] else None,
            "killed_after": (host.killed_at - started) if host.killed_at else None,
        }
    finally:
        cluster.stop()


def bench_fence(runs, io_timeouts):
    import random
    jobs = []
    for io in io_timeouts:
        for index in range(runs if io == 1 else max(2, runs // 2)):
            # interleaved: each pair runs side by side, on identical clusters, with the
            # same random phase against the renewal cycle
            offset = random.uniform(0, 2 * io)
            jobs += [("agent", io, index, offset), ("sanlk-reset", io, index, offset)]
    with concurrent.futures.ThreadPoolExecutor(len(jobs)) as pool:
        results = list(pool.map(lambda job: one_fence(*job), jobs))
    summary = {}
    for io in io_timeouts:
        agent = [r for r in results if r["io_timeout"] == io and r["tool"] == "agent"]
        native = [r for r in results if r["io_timeout"] == io and r["tool"] == "sanlk-reset"]
        ratios = [a["seconds"] / n["seconds"] for a, n in
                  zip(sorted(agent, key=lambda r: r["index"]),
                      sorted(native, key=lambda r: r["index"]))
                  if a["exit"] == 0 and n["exit"] == 0]
        lags = [a["lag"] for a in agent if a["lag"] is not None and a["exit"] == 0]
        native_lags = [n["lag"] for n in native if n["lag"] is not None and n["exit"] == 0]
        summary[str(io)] = {
            "agent_median_s": median([a["seconds"] for a in agent if a["exit"] == 0]),
            "sanlk_reset_median_s": median([n["seconds"] for n in native if n["exit"] == 0]),
            "paired_ratio_median": median(ratios),
            "agent_lag_median_s": median(lags),
            "sanlk_reset_lag_median_s": median(native_lags),
            "agent_failures": sum(a["exit"] != 0 for a in agent),
            "sanlk_reset_failures": sum(n["exit"] != 0 for n in native),
        }
    return {"runs": results, "summary": summary}


def median(values):
    return statistics.median(values) if values else None


# -- 2. per-call overhead -----------------------------------------------------------

def bench_overhead(repeats):
    cluster = SimCluster(hosts=3, io_timeout=1, name_prefix="bo")
    try:
        cluster.start()
        ls, env = cluster.lockspace, cluster.env(1)
        calls = {
            "floor (import fencing, sanlock)": [PYTHON, "-c", FLOOR],
            "status": [PYTHON, AGENT, "-o", "status", "-a", "%s:2" % ls],
            "monitor": [PYTHON, AGENT, "-o", "monitor", "-a", ls],
            "list": [PYTHON, AGENT, "-o", "list", "-a", ls],
            "metadata": [PYTHON, AGENT, "-o", "metadata"],
        }
        samples = {name: [] for name in calls}
        for _ in range(repeats):            # interleaved, so drift hits all alike
            for name, argv in calls.items():
                wall, rss, code = timed_child(argv, env)
                if code not in (0,):
                    raise RuntimeError("%s exited %d" % (name, code))
                samples[name].append((wall, rss))
        floor_wall = median([w for w, _ in samples["floor (import fencing, sanlock)"]])
        floor_rss = median([r for _, r in samples["floor (import fencing, sanlock)"]])
        table = {}
        for name, values in samples.items():
            wall = median([w for w, _ in values])
            rss = median([r for _, r in values])
            table[name] = {"median_wall_s": wall, "median_peak_rss_mib": rss,
                           "wall_vs_floor": wall / floor_wall, "rss_vs_floor": rss / floor_rss,
                           "samples_wall_s": [w for w, _ in values]}
        return table
    finally:
        cluster.stop()


# -- 3. concurrency -----------------------------------------------------------------

def bench_concurrency(levels):
    results = {}
    for count in levels:
        cluster = SimCluster(hosts=count + 1, io_timeout=1, name_prefix="bc%d" % count)
        try:
            cluster.start()
            for host_id in range(2, count + 2):
                cluster.start_resetd(host_id, watchdog_delay=0)
            started = time.monotonic()
            procs = [subprocess.Popen([PYTHON, AGENT, "-o", "off", "-a",
                                       "%s:%d" % (cluster.lockspace, host_id)],
                                      env=cluster.env(1), stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL)
                     for host_id in range(2, count + 2)]
            codes = [p.wait(timeout=900) for p in procs]
            total = time.monotonic() - started
            results[str(count)] = {"total_s": total, "failures": sum(c != 0 for c in codes)}
        finally:
            cluster.stop()
    one = results[str(levels[0])]["total_s"]
    for entry in results.values():
        entry["vs_one"] = entry["total_s"] / one
    return results


# -- 4. scale -----------------------------------------------------------------------

def bench_scale(max_hosts, repeats):
    """One cluster of max_hosts daemons; lockspaces joined by growing subsets of them."""
    results = {"by_host_count": {}, "spread_to_2000": None}
    cluster = SimCluster(hosts=max_hosts, io_timeout=1, name_prefix="bs")
    try:
        cluster.start()
        counts = [n for n in (8, 16, 32, 64, 128, 250) if n < max_hosts] + [max_hosts]
        spaces = {max_hosts: cluster.lockspace}
        for n in counts:
            if n not in spaces:
                spaces[n] = cluster.add_lockspace(host_ids=range(1, n + 1))
        env = cluster.env(1)
        for n in counts:
            ls = spaces[n]
            walls = {"list": [], "status": []}
            for _ in range(repeats):
                walls["list"].append(timed_child([PYTHON, AGENT, "-o", "list", "-a", ls], env)[0])
                walls["status"].append(timed_child([PYTHON, AGENT, "-o", "status", "-a",
                                                    "%s:%d" % (ls, n)], env)[0])
            results["by_host_count"][str(n)] = {k: median(v) for k, v in walls.items()}
    finally:
        cluster.stop()
    # host ids spread over the whole range a 512-byte/1M lockspace allows
    spread = [1, 2, 500, 1000, 1500, 1999, 2000]
    cluster = SimCluster(hosts=spread, io_timeout=1, name_prefix="bw")
    try:
        cluster.start()
        env = cluster.env(1)
        walls = {"list": [], "status": []}
        for _ in range(repeats):
            walls["list"].append(timed_child([PYTHON, AGENT, "-o", "list", "-a",
                                              cluster.lockspace], env)[0])
            walls["status"].append(timed_child([PYTHON, AGENT, "-o", "status", "-a",
                                                "%s:2000" % cluster.lockspace], env)[0])
        results["spread_to_2000"] = {"host_ids": spread, "list": median(walls["list"]),
                                     "status": median(walls["status"])}
    finally:
        cluster.stop()
    return results


# -- report -------------------------------------------------------------------------

def fmt(value, digits=2):
    return "-" if value is None else ("%.*f" % (digits, value))


def verdict(ok):
    return "met" if ok else "**missed**"


def write_report(data, path):
    lines = ["# Benchmarks", "",
             "Written by `bench/bench.py` (`make bench`); raw numbers in `bench/results.json`.",
             "", "- date: %s" % data["date"], "- machine: %s" % data["machine"],
             "- command: `%s`" % data["command"], ""]
    fence = data.get("fence")
    if fence:
        lines += ["## Time to fence (off, stand-in watchdog firing at the reply)", "",
                  "| io_timeout | agent median s | sanlk-reset median s | paired ratio agent/sanlk-reset (goal <= 1.0) | agent lag after proof, median s (goal <= 0.5) | sanlk-reset lag median s | failures agent / sanlk-reset |",
                  "|---|---|---|---|---|---|---|"]
        for io, s in sorted(fence["summary"].items(), key=lambda kv: int(kv[0])):
            ratio, lag = s["paired_ratio_median"], s["agent_lag_median_s"]
            lines.append("| %s | %s | %s | %s (%s) | %s (%s) | %s | %d / %d |" % (
                io, fmt(s["agent_median_s"], 1), fmt(s["sanlk_reset_median_s"], 1),
                fmt(ratio, 3), verdict(ratio is not None and ratio <= 1.0),
                fmt(lag), verdict(lag is not None and lag <= 0.5),
                fmt(s["sanlk_reset_lag_median_s"]), s["agent_failures"],
                s["sanlk_reset_failures"]))
        lines += ["", "Both tools send the same request; how soon the target replies depends "
                  "only on where the request falls in the daemons' renewal cycle (one or two "
                  "renewals of each side), so each pair shares a random phase offset. The lag "
                  "is the tool's exit minus the moment the independent observer (bench/"
                  "observer.py, polling every 0.1 s) first had proof; a failed run has no "
                  "lag and is left out of the medians and ratios.", "",
                  "Each run: tool, exit, seconds, reply seen after, proven after "
                  "(observer), proof rule, lag:", "", "| tool | io | exit | s | reply s | proven s | rule | lag s |",
                  "|---|---|---|---|---|---|---|---|"]
        for r in fence["runs"]:
            lines.append("| %s | %d | %d | %s | %s | %s | %s | %s |" % (
                r["tool"], r["io_timeout"], r["exit"], fmt(r["seconds"], 1),
                fmt(r["reply_after"], 1), fmt(r["proven_after"], 1), r["proof_rule"] or "-",
                fmt(r["lag"])))
        lines.append("")
    overhead = data.get("overhead")
    if overhead:
        lines += ["## Per-call overhead (whole process)", "",
                  "| call | median wall s | x floor (goal <= 1.3 for status, monitor) | median peak RSS MiB | x floor |",
                  "|---|---|---|---|---|"]
        for name, s in overhead.items():
            goal = ""
            if name in ("status", "monitor"):
                goal = " (%s)" % verdict(s["wall_vs_floor"] <= 1.3)
            lines.append("| %s | %s | %s%s | %s | %s |" % (
                name, fmt(s["median_wall_s"], 3), fmt(s["wall_vs_floor"]), goal,
                fmt(s["median_peak_rss_mib"], 1), fmt(s["rss_vs_floor"])))
        lines.append("")
    concurrency = data.get("concurrency")
    if concurrency:
        lines += ["## Concurrent fences through one proxy", "",
                  "| fences at once | total s | x one fence (goal for 8: <= 1.2) | failures |",
                  "|---|---|---|---|"]
        for count, s in sorted(concurrency.items(), key=lambda kv: int(kv[0])):
            goal = " (%s)" % verdict(s["vs_one"] <= 1.2) if count == "8" else ""
            lines.append("| %s | %s | %s%s | %d |" % (count, fmt(s["total_s"], 1),
                                                     fmt(s["vs_one"]), goal, s["failures"]))
        lines.append("")
    scale = data.get("scale")
    if scale:
        lines += ["## Scale: list and status against many live hosts", "",
                  "| live hosts in the lockspace | list s | status s |", "|---|---|---|"]
        for count, s in sorted(scale["by_host_count"].items(), key=lambda kv: int(kv[0])):
            lines.append("| %s | %s | %s |" % (count, fmt(s["list"], 3), fmt(s["status"], 3)))
        spread = scale.get("spread_to_2000")
        if spread:
            lines.append("| ids %s (lockspace for 2000 ids) | %s | %s |" % (
                ",".join(map(str, spread["host_ids"])), fmt(spread["list"], 3),
                fmt(spread["status"], 3)))
        lines.append("")
    with open(path, "w") as handle:
        handle.write("\n".join(lines))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs")
    parser.add_argument("--io10", action="store_true", help="also time fences at io_timeout 10")
    parser.add_argument("--sections", default="fence,overhead,concurrency,scale")
    parser.add_argument("--max-hosts", type=int, default=64)
    args = parser.parse_args()
    sections = args.sections.split(",")
    data = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": "%s, %d cores, %.0f GiB, %s" % (
                platform.node(), os.cpu_count(),
                os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2 ** 30,
                platform.platform()),
            "command": "make bench" + ("" if sys.argv[1:] == [] else
                                       " BENCH_ARGS='%s'" % " ".join(sys.argv[1:]))}
    runs = 2 if args.quick else 6
    if "fence" in sections:
        print("time to fence ...", flush=True)
        data["fence"] = bench_fence(runs, [1, 10] if args.io10 else [1])
    if "overhead" in sections:
        print("per-call overhead ...", flush=True)
        data["overhead"] = bench_overhead(5 if args.quick else 15)
    if "concurrency" in sections:
        print("concurrency ...", flush=True)
        data["concurrency"] = bench_concurrency([1, 2, 4, 8])
    if "scale" in sections:
        print("scale ...", flush=True)
        data["scale"] = bench_scale(args.max_hosts, 3 if args.quick else 5)
    with open(os.path.join(HERE, "results.json"), "w") as handle:
        json.dump(data, handle, indent=1)
    write_report(data, os.path.join(HERE, "README.md"))
    print(open(os.path.join(HERE, "README.md")).read())


if __name__ == "__main__":
    main()
