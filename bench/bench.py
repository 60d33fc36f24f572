#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""make bench: how soon a fenced host's VMs may restart, what each call costs, how it scales,
and how fast it fails.

Everything runs against real sanlock daemons on simulated machines (harness/simcluster.py):
each host is a machine of its own, hosts that are fenced through the real chain run the
real wdmd on a fake watchdog device of their own (its fire resets the machine) and the
real sanlk-resetd -w 1 with the project's sync service. The script writes results.json
(raw numbers), the tables in README.md and the timeline pictures; nobody types figures.

Sections:
  fence      off against the real chain at io_timeout 3 and 10, interleaved with
             `sanlk-reset reset LS:3` on identical clusters; each pair sends its request
             at the same phase of the proxy's renewal cycle. An observer of the
             storage itself (harness/observe.py: the lockspace file read directly every
             0.05 s, by no host, with the product's record reader) notes when the
             request and the reply reach the storage; the device notes wdmd's close and
             its fire. After an agent's fence, status is polled on the proxy and on
             another host until both say OFF.
  believe    the same for off at io_timeout 1 (a stand-in watchdog: the real chain needs
             io_timeout 3 or more); io_timeout 10 comes from the fence section.
  faults     time from a fault to the agent's failure: the proxy's daemon stopped
             (SIGSTOP), the proxy's storage stalled (both before off and once the request
             is on storage), and a watchdog that never fires.
  concurrency  1, 2, 4, 8 fences at once through one proxy (stand-in watchdogs, io 1).
  overhead   wall time and peak memory of status (by host id and by node name, as
             Pacemaker asks), monitor, list and metadata against the floor: a python
             that only imports fencing and sanlock. Measured inside the proxy's machine.
  scale      list and status against lockspaces with 8..64 live hosts and with host ids
             spread up to 2000.
  failover   scenario 1 (tests/cluster/test_lost_node.py, harness/failover.py) at io_timeout 3 and
             10: three nodes with real corosync and Pacemaker, the writer's node loses its
             network; the downtime the writer sees, split into detection, fence and start.
             One cluster at a time, after the others (corosync's token is timed).

The slow sections (fence, believe, faults, concurrency) run their independent clusters
concurrently (--jobs); overhead and scale run afterwards on an otherwise idle harness.
Pieces: percall.py (overhead and scale), report.py (goals and README.md), timeline.py
(the pictures); the observer and the stand-in watchdog are the harness's (harness/observe.py).
This file keeps the slow sections, each a run on a fresh cluster, and the command line
(about 530 lines: a fence run records a dozen moments and each fault needs its own
staging).

usage: bench.py [--quick] [--sections LIST] [--jobs N] [--runs N] [--io10] [--out DIR]
                [--report-only]
"""

import argparse
import concurrent.futures
import datetime
import json
import os
import platform
import random
import subprocess
import sys
import threading
import time
import traceback

from harness.observe import (LeaseWatch, StandIn, is_reply, is_request, reply_on_disk,
                             request_on_disk)
from harness.simcluster import SimCluster
from sanlock_fencing.core import timing  # (the bounds the agent uses)
from percall import bench_overhead, bench_scale

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

BOUND = timing.watchdog_bound()
POWER_TIMEOUT = 175             # the agent's default (oVirt's 180 s per call)
# io 1 stand-in: power off 55 s after the reply is on storage (the real chain fired 56-57 s
# after it at io 3)
STANDIN_DELAY = 55.0
ALL_SECTIONS = ("fence", "believe", "faults", "concurrency", "overhead", "scale",
                "failover")


def log(text):
    print("[%s] %s" % (time.strftime("%H:%M:%S"), text), flush=True)


def start_target(cluster, host_id, chain):
    """sanlk-resetd on host_id: with its device and the sync service (chain "real"), or
    -w 0 with the lockspace on its command line (a stand-in plays the watchdog)."""
    if chain == "real":
        cluster.start_resetd(host_id)
    else:
        cluster.host(host_id).start_resetd([cluster.lockspace])


# -- helpers ------------------------------------------------------------------------------

def tool_argv(cluster, tool, target, proxy=1, extra=()):
    address = "%s:%d" % (cluster.lockspace, target)
    if tool == "agent":
        return cluster.agent_argv(proxy, ["-o", "off", "-a", address, "-v"] + list(extra))
    return cluster.host(proxy).machine.command_prefix() + ["sanlk-reset", "reset", address]


def status_until_off(cluster, target, host_ids, limit, interval=0.5):
    """Poll `status` of target on each of host_ids until it says OFF (exit 2), at most
    `limit` s; {host id: {"off_at": monotonic time the call that said OFF returned, or None,
    "calls": n, "last_exit": ...}}."""
    address = "%s:%d" % (cluster.lockspace, target)
    started = time.monotonic()
    result = {}

    def poll(host_id):
        calls, code = 0, None
        while True:
            res = cluster.agent(host_id, ["-o", "status", "-a", address], timeout=120)
            returned = time.monotonic()
            calls, code = calls + 1, res.returncode
            if code == 2:
                result[host_id] = {"off_at": returned, "calls": calls, "last_exit": code}
                return
            if returned - started > limit:
                result[host_id] = {"off_at": None, "calls": calls, "last_exit": code,
                                   "last_output": (res.stdout + res.stderr).strip()[-300:]}
                return
            time.sleep(interval)
    threads = [threading.Thread(target=poll, args=(h,)) for h in host_ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return result


def tear_down(run, cluster, threads):
    """Stop the observer threads that were started, then the cluster; a failure to stop
    is the run's error unless it already has one."""
    for thread in threads:
        if thread is not None and thread.is_alive():
            thread.stop()
    try:
        cluster.stop()
    except Exception as err:
        run.setdefault("error", "cluster.stop: %s" % err)


def rel(value, zero):
    return None if value is None else round(value - zero, 3)


def device_record(host, zero):
    """The device's events other than keepalives, relative to zero."""
    return [dict(event=e["event"], t=rel(e["mono"], zero))
            for e in host.device_events() if e["event"] not in ("keepalive", "write")]


# -- fence (and believe) --------------------------------------------------------------------

def fence_run(tool, io, pair, phase, chain="real", status_hosts=(1, 2)):
    """Fence host 3 of a fresh 3-host cluster from host 1 with tool ('agent'/'sanlk-reset').

    chain "real": host 3 runs wdmd on its fake device and sanlk-resetd -w 1 (sync service);
    "standin": no device, sanlk-resetd -w 0, and the bench powers host 3 off STANDIN_DELAY s
    after its reply is on storage. The request is sent `phase` s after a renewal of host 1's
    lease shows on storage (each pair shares its phase). All times in the result are seconds
    after the request (the tool's start)."""
    run = {"tool": tool, "io_timeout": io, "pair": pair, "phase_s": round(phase, 3),
           "chain": chain}
    prefix = "b%s%s%d_%d" % ("a" if tool == "agent" else "s", "r" if chain == "real" else "s",
                             io, pair)
    cluster = SimCluster(hosts=3, io_timeout=io, name_prefix=prefix,
                         watchdog={3: "real"} if chain == "real" else None)
    watch = standin = None
    try:
        began = time.monotonic()
        cluster.start()
        start_target(cluster, 3, chain)
        run["cluster_ready_s"] = round(time.monotonic() - began, 1)
        generation = cluster.host(3).generations[cluster.lockspace]
        watch = LeaseWatch(cluster, [1, 2, 3])
        watch.start()
        # align with the proxy's renewal cycle: its next renewal on storage, then phase s
        now = time.monotonic()
        first_stamp = None
        while first_stamp is None:
            renewals = watch.renewals(1)
            first_stamp = renewals[-1][1] if renewals else None
            time.sleep(0.05)
        renewed = watch.wait(1, lambda c: c.timestamp > first_stamp, now, 4 * io + 10)
        time.sleep(max(0.0, renewed + phase - time.monotonic()))
        target_renewals = [t for t, _ in watch.renewals(3) if t <= time.monotonic()]
        if target_renewals:
            offset = (target_renewals[-1] - renewed) % (2 * io)
            run["target_phase_s"] = round(offset if offset <= io else offset - 2 * io, 3)
        argv = tool_argv(cluster, tool, 3)
        start = time.monotonic()
        if chain != "real":
            standin = StandIn(cluster.host(3), delay=STANDIN_DELAY, watch=watch, after=start)
            standin.start()
        proc = subprocess.Popen(argv, env=cluster.env(1), stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        out, err = proc.communicate(timeout=900)
        end = time.monotonic()
        run.update(exit=proc.returncode, seconds=round(end - start, 3),
                   stdout=out.strip().splitlines()[-3:], stderr=err.strip().splitlines()[-40:])
        if tool == "agent" and proc.returncode == 0 and status_hosts:
            seen = status_until_off(cluster, 3, status_hosts, 2 * io + 5 + 30)
            run["status_off"] = {str(h): dict(v, off_at=rel(v["off_at"], start),
                                              after_success=rel(v["off_at"], end))
                                 for h, v in seen.items()}
        watch.stop()
        run["request_on_disk"] = rel(request_on_disk(watch, 1, start), start)
        run["reply_on_disk"] = rel(reply_on_disk(watch, 3, generation, start), start)
        run["target_renewals"] = [rel(t, start) for t, _ in watch.renewals(3)
                                  if t >= start - 2 * io - 1]
        host = cluster.host(3)
        if chain == "real":
            events = device_record(host, start)
            run["device"] = events
            closes = [e["t"] for e in events if e["event"] == "close" and e["t"] > 0]
            fires = [e["t"] for e in events if e["event"] == "fire" and e["t"] > 0]
            run["wdmd_close"] = closes[0] if closes else None
            run["fire"] = fires[0] if fires else None
        else:
            standin.stop()
            run["wdmd_close"] = None
            run["fire"] = rel(standin.killed_at, start)
        derive(run)
    except Exception:
        run["error"] = traceback.format_exc(limit=6)
    finally:
        tear_down(run, cluster, [standin, watch])
    return run


def derive(run):
    """The comparisons: against the first moment the protocol allows proof (the reply on
    storage + the watchdog bound), against the fire, and the part each tool controls."""
    secs, reply, fire = run.get("seconds"), run.get("reply_on_disk"), run.get("fire")
    ok = run.get("exit") == 0
    run["proof_allowed"] = None if reply is None else round(reply + BOUND, 3)
    run["after_bound"] = None if reply is None or not ok else round(secs - reply - BOUND, 3)
    run["after_fire"] = None if fire is None or not ok else round(secs - fire, 3)
    run["reply_to_exit"] = None if reply is None or not ok else round(secs - reply, 3)
    renewals = [t for t in run.get("target_renewals", []) if fire is None or t <= fire]
    run["last_renewal"] = renewals[-1] if renewals else None
    written = run.get("request_on_disk")
    # 1: the target read the request at the renewal that wrote it to storage (both renew in
    # the same second) and replied at its next one; 2: it read it one renewal later
    run["renewals_to_reply"] = None if reply is None or written is None else \
        int(round((reply - written) / (2 * run["io_timeout"])))


def fence_jobs(runs, io_timeouts):
    jobs = []
    for io in io_timeouts:
        for pair in range(runs):
            phase = random.uniform(0, 2 * io)
            jobs += [("fence", fence_run, ("agent", io, pair, phase)),
                     ("fence", fence_run, ("sanlk-reset", io, pair, phase))]
    return jobs


def believe_jobs(runs):
    return [("believe", fence_run, ("agent", 1, pair, random.uniform(0, 2), "standin"))
            for pair in range(runs)]


# -- faults ----------------------------------------------------------------------------------

FAULTS = {
    "daemon stopped before off": ("daemon", "before"),
    "daemon stopped once the request is on storage": ("daemon", "during"),
    "storage stalled before off": ("storage", "before"),
    "storage stalled once the request is on storage": ("storage", "during"),
    "watchdog never fires": ("watchdog", None),
}


def fault_run(name, io=3):
    kind, when = FAULTS[name]
    run = {"fault": name, "io_timeout": io, "power_timeout": POWER_TIMEOUT}
    cluster = SimCluster(hosts=3, io_timeout=io, name_prefix="bx%s%s" % (kind[:2], when or ""),
                         watchdog={3: "broken" if kind == "watchdog" else "real"})
    watch = None
    try:
        cluster.start()
        cluster.start_resetd(3)
        generation = cluster.host(3).generations[cluster.lockspace]
        watch = LeaseWatch(cluster, [1, 3])
        watch.start()
        proxy = cluster.host(1)

        def inject():
            if kind == "daemon":
                proxy.pause_daemon()
            else:
                proxy.storage(both="stall")
            return time.monotonic()
        fault_at = inject() if when == "before" else None
        start = time.monotonic()
        proc = subprocess.Popen(tool_argv(cluster, "agent", 3), env=cluster.env(1),
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        if when == "during":
            watch.wait(1, is_request, start, 4 * timing.renewal_interval(io) + 10)
            fault_at = inject()
        out, err = proc.communicate(timeout=POWER_TIMEOUT + 120)
        end = time.monotonic()
        if when == "during":
            # the request was on storage: the target is reset all the same (its watchdog
            # was armed); wait for that, so that the table can say so
            reply = watch.wait(3, is_reply(generation), start,
                               6 * timing.renewal_interval(io) + 10)
            deadline = reply + BOUND + 10
            while not cluster.host(3).fires() and time.monotonic() < deadline:
                time.sleep(0.5)
        reply = reply_on_disk(watch, 3, generation, start)
        if kind == "watchdog":
            fault_at = reply          # the arming that did not work
        lines = [line.split("ERROR: ", 1)[-1] for line in err.splitlines()
                 if "ERROR" in line or "Failed" in line]
        run.update(exit=proc.returncode, seconds=round(end - start, 3),
                   fault_at=rel(fault_at, start), reply_on_disk=rel(reply, start),
                   request_on_disk=rel(request_on_disk(watch, 1, start), start),
                   fault_to_exit=rel(end, fault_at) if fault_at else None,
                   error_line=lines[-1] if lines else None,
                   stdout=out.strip().splitlines()[-3:], stderr=err.strip().splitlines()[-30:])
        watch.stop()
        run["device"] = device_record(cluster.host(3), start)
        fires = [e["t"] for e in run["device"] if e["event"] == "fire" and e["t"] > 0]
        run["fire"] = fires[0] if fires else None
        run["goal_s"] = (BOUND + timing.renewal_interval(io) + timing.renewal_lateness(io)
                         if kind == "watchdog" else POWER_TIMEOUT + 5)
    except Exception:
        run["error"] = traceback.format_exc(limit=6)
    finally:
        tear_down(run, cluster, [watch])
    return run


def fault_jobs():
    return [("faults", fault_run, (name,)) for name in FAULTS]


# -- concurrency -----------------------------------------------------------------------------

def failover_run(io):
    """Scenario 1 (harness/failover.py) at io_timeout io: its moments (seconds after the
    cut) and the downtime's parts."""
    from harness.clusterwriter import no_overlap
    from harness.failover import durations, lost_node_scenario, timeline
    try:
        r = lost_node_scenario(io)
    except Exception as e:                  # one failed run is a result, not the end
        return {"io_timeout": io, "error": "%s: %s" % (type(e).__name__, e)}
    moments = timeline(r)
    safe, why = no_overlap(r.records, r.lost, r.survivor, since=r.cut)
    # the goal: corosync's verdict (token 3.65 s + consensus 4.38 s for three nodes), the
    # agent's worst fence at this io_timeout, and 15 s for Pacemaker to schedule and start
    goal = 8 + timing.expected_fence_seconds(io)[1] + 15
    return {"io_timeout": io, "wall_s": round(r.seconds, 1), "goal_s": goal,
            "moments": [[name, None if t is None else round(t - r.cut, 2)]
                        for name, t in moments],
            "durations": durations(moments), "no_overlap": safe, "why": why}


def concurrency_run(count):
    """count fences at once through host 1, each of its own target (stand-in watchdogs
    powering their host off as soon as its reply is on storage), io_timeout 1."""
    run = {"fences": count}
    cluster = SimCluster(hosts=count + 1, io_timeout=1, name_prefix="bc%d" % count)
    watch, standins = None, []
    try:
        cluster.start()
        targets = range(2, count + 2)
        for host_id in targets:
            start_target(cluster, host_id, "standin")
        watch = LeaseWatch(cluster, targets)
        watch.start()
        started = time.monotonic()
        standins = [StandIn(cluster.host(h), delay=0.0, watch=watch, after=started)
                    for h in targets]
        for standin in standins:
            standin.start()
        procs = [subprocess.Popen(cluster.agent_argv(1, ["-o", "off", "-a", "%s:%d" % (
                     cluster.lockspace, host_id)]), env=cluster.env(1),
                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                     stderr=subprocess.DEVNULL) for host_id in range(2, count + 2)]
        ends = []
        for proc in procs:
            proc.wait(timeout=900)
            ends.append(time.monotonic() - started)
        run.update(total_s=round(max(ends), 3), each_s=[round(e, 3) for e in ends],
                   failures=sum(p.returncode != 0 for p in procs))
    except Exception:
        run["error"] = traceback.format_exc(limit=6)
    finally:
        tear_down(run, cluster, standins + [watch])
    return run


def concurrency_jobs(levels):
    return [("concurrency", concurrency_run, (count,)) for count in levels]


# -- the slow pool ------------------------------------------------------------------------------

def run_pool(jobs, workers):
    """Run (section, fn, args) jobs, at most `workers` clusters at once; longest first."""
    results = {}
    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max(1, workers)) as pool:
        futures = {pool.submit(fn, *args): (section, fn.__name__, args)
                   for section, fn, args in jobs}
        for future in concurrent.futures.as_completed(futures):
            section, name, args = futures[future]
            result = future.result()
            results.setdefault(section, []).append(result)
            log("%s %s done after %.0f s%s" % (name, args[:2], time.monotonic() - started,
                                               " (ERROR)" if "error" in result else ""))
    return results


def job_weight(job):
    """Sort key (descending, stable): fences first, io_timeout 10 first; the two runs of a
    pair stay next to each other, so that they start together."""
    section, _fn, args = job
    return (1, args[1]) if section == "fence" else (0, 0)


# -- the machine ------------------------------------------------------------------------------

def machine_info():
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    versions = {}
    for package in ("sanlock", "sanlk-reset", "fence-agents", "python3-matplotlib"):
        res = subprocess.run(["dpkg-query", "-W", "-f=${Version}", package],
                             capture_output=True, text=True)
        versions[package] = res.stdout.strip() or None
    return {"nproc": os.cpu_count(), "kernel": platform.release(), "cpu": cpu,
            "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
                                / 2 ** 30, 1),
            "python": platform.python_version(), "packages": versions}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="development: one run per tool at io_timeout 3 only, fewer "
                             "repeats, 16 hosts; writes to build/bench-quick unless --out")
    parser.add_argument("--io10", action="store_true", help="with --quick: io_timeout 10 too")
    parser.add_argument("--sections", default=",".join(ALL_SECTIONS))
    parser.add_argument("--runs", type=int, help="fence runs per tool and io_timeout (3)")
    parser.add_argument("--jobs", type=int, default=12, help="clusters at once (12)")
    parser.add_argument("--max-hosts", type=int, help="scale: live hosts (64)")
    parser.add_argument("--out", help="where README.md, results.json and the pictures go")
    parser.add_argument("--report-only", action="store_true",
                        help="measure nothing: redraw README.md and the pictures from the "
                             "results.json already in --out")
    args = parser.parse_args()
    sections = [s for s in args.sections.split(",") if s]
    unknown = set(sections) - set(ALL_SECTIONS)
    if unknown:
        parser.error("unknown sections %s (known: %s)" % (sorted(unknown), ",".join(ALL_SECTIONS)))
    out = os.path.abspath(args.out or (os.path.join(ROOT, "build", "bench-quick") if args.quick
                                       else HERE))
    os.makedirs(out, exist_ok=True)
    if args.report_only:
        try:
            with open(os.path.join(out, "results.json")) as handle:
                return finish(json.load(handle), out)
        except (OSError, ValueError) as e:
            parser.error("--report-only needs the results.json of an earlier run in %s: %s"
                         % (out, e))
    runs = args.runs or (1 if args.quick else 3)
    io_timeouts = [3, 10] if (args.io10 or not args.quick) else [3]
    max_hosts = args.max_hosts or (16 if args.quick else 64)
    began = time.monotonic()
    data = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": machine_info(),
            "command": "make bench" + ("" if sys.argv[1:] == [] else
                                       " BENCH_ARGS='%s'" % " ".join(sys.argv[1:])),
            "settings": {"runs": runs, "io_timeouts": io_timeouts, "jobs": args.jobs,
                         "bound_s": BOUND, "power_timeout_s": POWER_TIMEOUT,
                         "renewal_lateness_s": {io: timing.renewal_lateness(io)
                                                for io in io_timeouts},
                         "standin_delay_s": STANDIN_DELAY,
                         "sections": sections},
            "load_at_start": os.getloadavg()}
    jobs = []
    if "fence" in sections:
        jobs += fence_jobs(runs, io_timeouts)
    if "believe" in sections:
        jobs += believe_jobs(runs)
    if "faults" in sections:
        jobs += fault_jobs()
    if "concurrency" in sections:
        jobs += concurrency_jobs([1, 2] if args.quick else [1, 2, 4, 8])
    if jobs:
        # interleaved pairs stay next to each other; io 10 first (the longest)
        jobs.sort(key=job_weight, reverse=True)
        log("%d clusters, %d at once ..." % (len(jobs), args.jobs))
        pool_began = time.monotonic()
        done = run_pool(jobs, args.jobs)
        data["slow_sections_wall_s"] = round(time.monotonic() - pool_began, 1)
        data["load_after_slow_sections"] = os.getloadavg()
        for section in ("fence", "believe", "faults"):
            if section in done:
                data[section] = {"runs": sorted(done[section], key=lambda r: (
                    r.get("io_timeout", 0), r.get("pair", 0), r.get("tool", ""),
                    r.get("fault", "")))}
        if "concurrency" in done:
            data["concurrency"] = {str(r["fences"]): r for r in done["concurrency"]}
    if "overhead" in sections:
        log("per-call overhead ...")
        data["overhead"] = bench_overhead(5 if args.quick else 15)
    if "scale" in sections:
        log("scale ...")
        data["scale"] = bench_scale(max_hosts, 3 if args.quick else 5)
    if "failover" in sections:
        runs = []
        for io in io_timeouts:
            log("failover at io_timeout %d ..." % io)
            runs.append(failover_run(io))
        data["failover"] = {"runs": runs, "date": data["date"], "command": data["command"]}
    data["total_wall_s"] = round(time.monotonic() - began, 1)
    data["load_at_end"] = os.getloadavg()
    # the raw numbers first: a failure while drawing or reporting must not lose the run
    with open(os.path.join(out, "results.json"), "w") as handle:
        json.dump(data, handle, indent=1)
    return finish(data, out)


def finish(data, out):
    """Pictures, goals, results.json and README.md from the measured numbers."""
    import report
    import timeline
    data["pictures"] = timeline.draw(data, out)
    data["goals"] = report.goals(data)
    with open(os.path.join(out, "results.json"), "w") as handle:
        json.dump(data, handle, indent=1)
    report.write(data, os.path.join(out, "README.md"))
    log("wrote %s (%.0f s in all)" % (os.path.join(out, "README.md"), data["total_wall_s"]))
    missed = [g for g in data["goals"] if g["met"] is False]
    for goal in data["goals"]:
        log("%-6s %s: %s" % ("met" if goal["met"] else "MISSED" if goal["met"] is False
                             else "n/a", goal["goal"], goal["value"]))
    errors = [r for s in ("fence", "believe", "faults", "failover")
              for r in data.get(s, {}).get("runs", []) if "error" in r]
    if errors or missed:
        log("%d runs with errors, %d goals missed (see the README)" % (len(errors), len(missed)))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
