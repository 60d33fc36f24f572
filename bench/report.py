# SPDX-License-Identifier: GPL-2.0-or-later
"""The goals and bench/README.md, computed from bench.py's results (nothing typed by hand).

(About 480 lines: each section has its goals and its tables, with the prose that says
what was measured, kept beside the code that fills them in.)
"""

import statistics

OVERHEAD_GOAL = 1.3
CONCURRENCY_GOAL = 1.2
FLAT_GOAL = 1.25
FLOOR = "floor (import fencing, sanlock)"
GOAL_CALLS = ("status", "status, node name as port (stdin)", "monitor", "list")


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(value, digits=1):
    return "-" if value is None else "%.*f" % (digits, value + 0.0 if value else 0.0)


def verdict(met):
    return "n/a" if met is None else "met" if met else "**missed**"


def runs_of(data, section, **match):
    return [r for r in data.get(section, {}).get("runs", [])
            if all(r.get(k) == v for k, v in match.items())]


def pairs(data, io):
    """[(agent run, sanlk-reset run)] of one io_timeout, by pair number."""
    agent = {r["pair"]: r for r in runs_of(data, "fence", io_timeout=io, tool="agent")}
    native = {r["pair"]: r for r in runs_of(data, "fence", io_timeout=io, tool="sanlk-reset")}
    return [(agent[p], native[p]) for p in sorted(set(agent) & set(native))]


def fence_ios(data):
    return sorted({r["io_timeout"] for r in runs_of(data, "fence")})


def ok(run):
    return run.get("exit") == 0 and "error" not in run


# -- goals ---------------------------------------------------------------------------------

def goal(section, text, value, met, note=None):
    return {"section": section, "goal": text, "value": value, "met": met, "note": note}


def fence_goals(data, bound):
    out = []
    for io in fence_ios(data):
        agent = runs_of(data, "fence", io_timeout=io, tool="agent")
        good = [r for r in agent if ok(r)]
        after_fire = [r["after_fire"] for r in good]
        early = [r for r in good if r["after_fire"] is None or r["after_fire"] <= 0]
        failed = [r for r in agent if not ok(r)]
        note = None
        if early:
            note = ("UNSAFE: %d success(es) with no fire before the exit (pairs %s)"
                    % (len(early), ", ".join(str(r["pair"]) for r in early)))
        elif failed:
            note = "; ".join("pair %d: %s" % (r["pair"], (r.get("error") or
                             " ".join(r.get("stderr", [])[-1:]))[-300:]) for r in failed)
        out.append(goal("fence", "io_timeout %d: the agent never succeeds before the fire" % io,
                        "%d of %d fences succeeded; exit - fire: min %s s, median %s s"
                        % (len(good), len(agent), fmt(min(after_fire) if after_fire else None),
                           fmt(median(after_fire))),
                        bool(agent) and not early and not failed, note))
        every = pairs(data, io)
        both = [(a, n) for a, n in every if ok(a) and ok(n)]
        # a pair whose sanlk-reset failed while the agent proved the reset is the agent's;
        # a pair whose agent failed is lost whatever sanlk-reset did
        native_failed = [(a, n) for a, n in every if ok(a) and not ok(n)]
        agent_failed = [(a, n) for a, n in every if not ok(a)]
        for key, label in (("reply_to_exit", "from the reply on storage to the exit (the part "
                            "each tool controls)"), ("seconds", "in total, request to exit")):
            won = [(a, n) for a, n in both if a[key] < n[key]] + native_failed
            lost = [(a, n) for a, n in both if a[key] >= n[key]]
            notes = []
            if lost:
                notes += [
                    "pair %d: agent %s s, sanlk-reset %s s; the agent's reply reached the "
                    "storage %s s after its request (%s target renewals after the request was "
                    "on storage), sanlk-reset's after %s s (%s): the hosts renew in the same "
                    "second, so whether the target reads a request at the very renewal that "
                    "writes it is a race that neither tool controls"
                    % (a["pair"], fmt(a[key]), fmt(n[key]), fmt(a["reply_on_disk"]),
                       a.get("renewals_to_reply"), fmt(n["reply_on_disk"]),
                       n.get("renewals_to_reply")) for a, n in lost]
            notes += ["pair %d: sanlk-reset said \"%s\" although the observer saw its reply on "
                      "storage %s s after the request: it counts the target's renewals from "
                      "its own request, before that is on storage, and learns of a reply only "
                      "by its event, one renewal of its own daemon after the reply is on "
                      "storage" % (n["pair"], "; ".join(line.split(" ", 1)[-1] for line in
                                                        n.get("stderr", [])[-3:-2]),
                                   fmt(n.get("reply_on_disk")))
                      for _, n in native_failed]
            notes += ["pair %d: the agent failed (%s)" % (a["pair"], (a.get("error") or " ".join(
                a.get("stderr", [])[-1:]))[-200:]) for a, _ in agent_failed]
            value = "%d of %d pairs" % (len(won), len(every))
            if native_failed:
                value += (" (in %d of them sanlk-reset failed: exit %s after %s s, its reply "
                          "on storage after %s s)"
                          % (len(native_failed), "/".join(str(n.get("exit")) for _, n in
                                                          native_failed),
                             "/".join(fmt(n.get("seconds")) for _, n in native_failed),
                             "/".join(fmt(n.get("reply_on_disk")) for _, n in native_failed)))
            if both:
                value += "; medians where both succeeded: agent %s s, sanlk-reset %s s" % (
                    fmt(median([a[key] for a, _ in both])), fmt(median([n[key] for _, n in both])))
            out.append(goal("fence", "io_timeout %d: ahead of sanlk-reset in every pair, %s"
                            % (io, label), value,
                            bool(every) and len(won) == len(every), "; ".join(notes) or None))
        if io == 10:
            limit = 2 * io + 2
            after = median([r["after_bound"] for r in good])
            note = None
            if after is not None and after > limit:
                lasts = ["%s" % fmt(r["proof_allowed"] and r["last_renewal"] and
                                    r["last_renewal"] - r["proof_allowed"]) for r in good]
                note = ("the last target renewal came %s s after the bound in these runs: the "
                        "proof then waits for the next renewal due at the pace kept"
                        % ", ".join(lasts))
            out.append(goal("fence", "io_timeout 10: median exit within 2*io + 2 = %d s after "
                            "the bound (reply on storage + %.0f s)" % (limit, bound),
                            "median %s s (runs: %s)" % (fmt(after), ", ".join(
                                fmt(r["after_bound"]) for r in good)),
                            None if after is None else after <= limit, note))
    return out


def believe_runs(data, io):
    """Agent runs of io_timeout io that polled status: the believe section, else fence's."""
    runs = [r for r in runs_of(data, "believe", io_timeout=io)] + \
        [r for r in runs_of(data, "fence", io_timeout=io, tool="agent")]
    return [r for r in runs if "status_off" in r or not ok(r)]


def believe_ios(data):
    return sorted({r["io_timeout"] for r in runs_of(data, "believe")} |
                  {r["io_timeout"] for r in runs_of(data, "fence", tool="agent")})


def believe_goals(data):
    out = []
    for io in believe_ios(data):
        runs = believe_runs(data, io)
        if not runs:
            continue
        for host, label, limit in (("1", "on the proxy that ran off", 5),
                                   ("2", "through another host", 2 * io + 5)):
            values = [r.get("status_off", {}).get(host, {}).get("after_success") for r in runs]
            worst = None if None in values else max(values)
            note = None
            if worst is None:
                note = "status did not say OFF within the %d s polled in %d run(s)" % (
                    limit + 30, values.count(None))
            out.append(goal("believe", "io_timeout %d: status OFF %s within %d s of off's "
                            "success" % (io, label, limit),
                            "worst %s s (runs: %s)" % (fmt(worst),
                                                       ", ".join(fmt(v) for v in values)),
                            worst is not None and worst <= limit, note))
    return out


def overhead_goals(data):
    table = data.get("overhead")
    if not table:
        return []
    out = []
    lib = table.get("floor + import of the agent's library")
    note = None
    if lib:
        note = ("importing the agent's library alone takes %.2fx the floor (%s s more); the "
                "call's own work adds the rest" % (lib["wall_vs_floor"], fmt(
                    lib["median_wall_s"] - table[FLOOR]["median_wall_s"], 3)))
    by_id = table.get("status")
    for name in GOAL_CALLS:
        ratio = table[name]["wall_vs_floor"]
        why = note
        if "node name" in name and by_id:
            why = ("%s s more than status by host id: before the status itself, the name is "
                   "resolved (this host's lockspaces and the lockspace's hosts from its "
                   "sanlock daemon, then one read of the held leases); %s"
                   % (fmt(table[name]["median_wall_s"] - by_id["median_wall_s"], 3), note))
        out.append(goal("overhead", "%s <= %.1fx the import floor" % (name, OVERHEAD_GOAL),
                        "%.2fx (%s s vs %s s)" % (ratio, fmt(table[name]["median_wall_s"], 3),
                                                  fmt(table[FLOOR]["median_wall_s"], 3)),
                        ratio <= OVERHEAD_GOAL, why if ratio > OVERHEAD_GOAL else None))
    return out


def concurrency_goals(data):
    table = data.get("concurrency")
    if not table or "1" not in table or "error" in table["1"]:
        return []
    one = table["1"]["total_s"]
    top = max(table, key=int)
    entry = table[top]
    if "error" in entry:
        return [goal("concurrency", "%s fences at once <= %.1fx one" % (top, CONCURRENCY_GOAL),
                     "error", False, entry["error"][-300:])]
    ratio = entry["total_s"] / one
    return [goal("concurrency", "%s fences at once <= %.1fx one" % (top, CONCURRENCY_GOAL),
                 "%.2fx (%s s vs %s s), %d failures" % (ratio, fmt(entry["total_s"]), fmt(one),
                                                        entry["failures"]),
                 ratio <= CONCURRENCY_GOAL and entry["failures"] == 0)]


def scale_goals(data):
    scale = data.get("scale")
    if not scale:
        return []
    by = scale["by_host_count"]
    counts = sorted(by, key=int)
    out = []
    for call in ("list", "status", "status by node name"):
        base = by[counts[0]][call]
        worst = max([by[c][call] for c in counts] + [scale["spread_to_2000"][call]])
        out.append(goal("scale", "%s flat from %s to %s live hosts and 2000 ids (<= %.2fx the "
                        "%s-host time)" % (call, counts[0], counts[-1], FLAT_GOAL, counts[0]),
                        "%.2fx (%s s at %s hosts, worst %s s)" % (
                            worst / base, fmt(base, 3), counts[0], fmt(worst, 3)),
                        worst / base <= FLAT_GOAL))
    return out


def fault_goals(data, bound):
    out = []
    for r in runs_of(data, "faults"):
        if "error" in r:
            out.append(goal("faults", r["fault"], "error", False, r["error"][-300:]))
            continue
        kind = "watchdog" in r["fault"]
        text = ("%s: the agent fails within the bound + the renewal margin (%.1f s) of the "
                "reply" % (r["fault"], r["goal_s"]) if kind else
                "%s: the agent fails within power_timeout + 5 s (%d s) of the fault"
                % (r["fault"], r["goal_s"]))
        elapsed = r.get("fault_to_exit")
        met = r["exit"] == 1 and elapsed is not None and elapsed <= r["goal_s"]
        note = None
        if r["exit"] != 1:
            note = "the agent exited %d: %s" % (r["exit"], " ".join(r.get("stdout", [])))
        out.append(goal("faults", text, "exit %d, %s s after the fault" % (
            r["exit"], fmt(elapsed)), met, note))
    return out


def failover_goals(data):
    out = []
    for r in runs_of(data, "failover"):
        io = r["io_timeout"]
        if "error" in r:
            out.append(goal("failover", "io_timeout %d: failover after a network cut" % io,
                            "error", False, r["error"][-300:]))
            continue
        outage = r["durations"].get("outage (cut -> survivor's first write)")
        out.append(goal("failover", "io_timeout %d: never two writers after a network cut "
                        "(no record of the fenced node later than the survivor's first)" % io,
                        "the fenced node's last write %s s before the survivor's first" % fmt(
                            r["durations"].get("writer gap (lost node's last write -> "
                                               "survivor's first write)")),
                        r["no_overlap"], None if r["no_overlap"] else r["why"]))
        out.append(goal("failover", "io_timeout %d: the writer writes again within %d s of "
                        "the cut (corosync's verdict + the agent's worst fence + 15 s)"
                        % (io, r["goal_s"]), "%s s" % fmt(outage),
                        outage is not None and outage <= r["goal_s"]))
    return out


def goals(data):
    bound = data["settings"]["bound_s"]
    return (fence_goals(data, bound) + believe_goals(data) + overhead_goals(data)
            + concurrency_goals(data) + scale_goals(data) + fault_goals(data, bound)
            + failover_goals(data))


# -- README ----------------------------------------------------------------------------------

def table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return lines + [""]


def fence_section(data, bound):
    lines = ["## 1. Fence through the real watchdog chain, beside sanlk-reset", "",
             "Each run: a fresh 3-host cluster; host 3 runs the real wdmd on its own fake "
             "watchdog device (its fire kills every process of host 3's machine), sanlock "
             "-w 1, and the real sanlk-resetd -w 1 registered by the sync service. Host 1 "
             "fences host 3, with `fence_sanlock_vdsm -o off -a LS:3` (default power_timeout "
             "%d s) or `sanlk-reset reset LS:3`. Each pair (the agent and sanlk-reset on two "
             "identical clusters, run at the same time) sends its request at the same phase: "
             "the same delay after a renewal of host 1's lease shows on storage (the hosts of "
             "a cluster join together and renew in step: `target phase` is host 3's renewal "
             "minus host 1's)." % data["settings"]["power_timeout_s"], "",
             "Times are seconds after the request, on this machine's CLOCK_MONOTONIC: "
             "`on storage` / `reply` when the independent observer (the lockspace file read "
             "directly every 0.05 s) first saw the request in host 1's lease / the RESETTING "
             "reply in host 3's; `close` / `fire` from the device's own record (wdmd closing "
             "it without the magic character, then its fire 60 s later). `bound` is the first "
             "moment the protocol allows a proof: the reply on storage + the watchdog bound "
             "(%.0f s, lib/sanlock_fencing/core/timing.py)." % bound, ""]
    rows = []
    for io in fence_ios(data):
        for tool in ("agent", "sanlk-reset"):
            runs = runs_of(data, "fence", io_timeout=io, tool=tool)
            good = [r for r in runs if ok(r)]
            rows.append([io, tool, "%d/%d" % (len(good), len(runs)),
                         fmt(median([r["seconds"] for r in good])),
                         fmt(median([r["reply_on_disk"] for r in good])),
                         fmt(median([r["reply_to_exit"] for r in good])),
                         fmt(median([r["after_bound"] for r in good])),
                         fmt(min([r["after_fire"] for r in good]) if good else None)])
    lines += table(["io_timeout", "tool", "succeeded", "median request -> exit s",
                    "median request -> reply on storage s", "median reply -> exit s",
                    "median exit - bound s", "min exit - fire s"], rows)
    pictures = data.get("pictures") or []
    if pictures:
        lines += ["Timelines (one fence per io_timeout, the median agent run and its "
                  "sanlk-reset pair):", ""]
        lines += ["![%s](%s)" % (p["title"], p["file"]) for p in pictures] + [""]
    lines += ["Every run:", ""]
    rows = []
    for io in fence_ios(data):
        for a, n in pairs(data, io):
            for r in (a, n):
                rows.append([io, r["pair"], r["tool"], fmt(r["phase_s"]),
                             fmt(r.get("target_phase_s")), r.get("exit", "-"),
                             fmt(r.get("request_on_disk")), r.get("renewals_to_reply", "-"),
                             fmt(r.get("reply_on_disk")),
                             fmt(r.get("wdmd_close")), fmt(r.get("fire")),
                             fmt(r.get("last_renewal")), fmt(r.get("seconds")),
                             fmt(r.get("after_bound")), fmt(r.get("after_fire")),
                             fmt(r.get("reply_to_exit"))])
    lines += table(["io", "pair", "tool", "phase s", "target phase s", "exit", "on storage",
                    "renewals to reply", "reply", "wdmd close", "fire", "last renewal",
                    "exit at", "exit - bound", "exit - fire", "reply -> exit"], rows)
    errors = [r for r in runs_of(data, "fence") if "error" in r]
    for r in errors:
        lines += ["Error in %s io %d pair %d: `%s`" % (r["tool"], r["io_timeout"], r["pair"],
                                                       r["error"].strip().splitlines()[-1]), ""]
    return lines


def believe_section(data):
    lines = ["## 2. Until the cluster believes it", "",
             "From off's request until `status` says OFF (exit 2) on the proxy that ran off "
             "(host 1) and through a different host (host 2, which only its witness service "
             "informs), polled every 0.5 s from off's success. io_timeout 1 uses a stand-in "
             "watchdog (sanlk-resetd -w 0; the bench powers host 3 off %.0f s after its reply "
             "is on storage: the real chain needs io_timeout 3 or more); io_timeout 3 and 10 "
             "are the agent runs of section 1 (real chain)." % data["settings"]["standin_delay_s"],
             ""]
    rows = []
    for io in believe_ios(data):
        for r in believe_runs(data, io):
            so = r.get("status_off", {})
            rows.append([io, r["chain"], r["pair"], r.get("exit", "-"), fmt(r.get("seconds")),
                         fmt(so.get("1", {}).get("off_at")),
                         fmt(so.get("1", {}).get("after_success")),
                         fmt(so.get("2", {}).get("off_at")),
                         fmt(so.get("2", {}).get("after_success"))])
    lines += table(["io", "watchdog", "run", "off exit", "off's success s",
                    "OFF on the proxy s", "after off's success s", "OFF through host 2 s",
                    "after off's success s"], rows)
    return lines


def overhead_section(data):
    t = data["overhead"]
    lines = ["## 3. Per-call overhead, concurrency and scale", "",
             "Whole process, timed inside the proxy's machine (fork + exec + wait4 there: the "
             "harness's way into the machine is not counted), median of %d interleaved runs. "
             "The floor is a python that only imports fencing and sanlock. Modules are "
             "byte-compiled, as in the installed package (fence-agents ships fencing's .pyc; "
             "dh_python3 compiles this library at install); the last two rows show a source "
             "tree run with PYTHONDONTWRITEBYTECODE=1, which compiles the library at every "
             "call." % len(t[FLOOR]["samples_wall_s"]), ""]
    rows = []
    for name, s in t.items():
        goal_text = " (%s)" % verdict(s["wall_vs_floor"] <= OVERHEAD_GOAL) \
            if name in GOAL_CALLS else ""
        rows.append([name, fmt(s["median_wall_s"], 3), fmt(s["wall_vs_floor"], 2) + goal_text,
                     fmt(s["median_peak_rss_mib"]), fmt(s["rss_vs_floor"], 2)])
    return lines + table(["call", "median wall s", "x floor (goal <= %.1f)" % OVERHEAD_GOAL,
                          "median peak RSS MiB", "x floor"], rows)


def concurrency_section(data):
    t = data["concurrency"]
    lines = ["Concurrent fences through one proxy (host 1), each of its own target, io_timeout "
             "1, stand-in watchdogs powering a target off as soon as its reply is on storage; "
             "all levels ran at the same time, each on its own cluster:", ""]
    one = t.get("1", {}).get("total_s")
    rows = []
    for count in sorted(t, key=int):
        s = t[count]
        if "error" in s:
            rows.append([count, "error", "-", "-", "-"])
            continue
        ratio = s["total_s"] / one if one else None
        mark = " (%s)" % verdict(ratio <= CONCURRENCY_GOAL) if count == max(t, key=int) and \
            ratio is not None else ""
        rows.append([count, fmt(s["total_s"]), fmt(ratio, 2) + mark,
                     " ".join(fmt(e) for e in s["each_s"]), s["failures"]])
    return lines + table(["fences at once", "all done s", "x one (goal <= %.1f)"
                          % CONCURRENCY_GOAL, "each s", "failures"], rows)


def scale_section(data):
    s = data["scale"]
    lines = ["list and status (by host id, and by node name on stdin) on host 1, against "
             "lockspaces joined by 8 to %d live hosts (one machine each; witness services "
             "off here, %d machines share this computer's cores), and against a lockspace "
             "whose host ids reach 2000; median of the runs, seconds:"
             % (s["max_hosts"], s["max_hosts"]), ""]
    rows = [[c, fmt(v["list"], 3), fmt(v["status"], 3), fmt(v["status by node name"], 3)]
            for c, v in sorted(s["by_host_count"].items(), key=lambda kv: int(kv[0]))]
    spread = s["spread_to_2000"]
    rows.append(["ids %s" % ",".join(map(str, spread["host_ids"])), fmt(spread["list"], 3),
                 fmt(spread["status"], 3), fmt(spread["status by node name"], 3)])
    return lines + table(["live hosts", "list s", "status s", "status by node name s"], rows)


def failover_section(data):
    lines = ["## 5. Failover after a network cut (real corosync and Pacemaker)", "",
             "Scenario 1 (tests/cluster/test_lost_node.py, harness/failover.py): three "
             "nodes, each a simulated machine with its own network namespace, corosync, "
             "Pacemaker, sanlock daemon, wdmd on a fake watchdog device and the responder; "
             "fencing configured with the README's pcs commands; the test's writer "
             "(O_DIRECT|O_DSYNC records on the shared storage) on node 3, whose link then "
             "goes down. no-quorum-policy is freeze, so node 3 keeps writing until its "
             "watchdog resets it. Seconds after the cut; each moment from the place that "
             "knows it (corosync's and Pacemaker's logs, the responder's log, the device, the "
             "writer's records)."]
    if data["failover"].get("date") and data["failover"]["date"] != data["date"]:
        lines += ["", "Measured %s by `%s` (a run of this section alone, merged into the "
                  "full run's results.json)."
                  % (data["failover"]["date"], data["failover"]["command"])]
    lines += [""]
    runs = [r for r in runs_of(data, "failover") if "error" not in r]
    if not runs:
        return lines + ["No run succeeded.", ""]
    names = [name for name, _t in runs[0]["moments"]]
    rows = [[name] + [fmt(dict(r["moments"]).get(name)) for r in runs] for name in names]
    lines += table(["moment"] + ["io_timeout %d" % r["io_timeout"] for r in runs], rows)
    parts = list(runs[0]["durations"])
    rows = [[part] + [fmt(r["durations"].get(part)) for r in runs] for part in parts]
    lines += table(["downtime, s"] + ["io_timeout %d" % r["io_timeout"] for r in runs], rows)
    return lines + [
        "The outage a client sees starts at the cut; the writer's own gap is shorter here "
        "because the lost node, frozen, kept writing until its reset (with Pacemaker's "
        "default no-quorum-policy=stop it stops a few seconds after the cut, and its gap "
        "is the outage). The fence part is the agent's (request -> proof) and matches the "
        "pure fence of section 1; detection is corosync's token and consensus "
        "(3.65 + 4.38 s for three nodes at its defaults).", ""]


def faults_section(data, bound):
    lines = ["## 4. Under faults", "",
             "io_timeout 3, real chain on host 3 (a device that never fires for the broken "
             "watchdog), default power_timeout %d s. A fault \"once the request is on "
             "storage\" is injected as soon as the observer sees the request in host 1's "
             "lease; for the broken watchdog the fault's moment is the reply on storage (the "
             "arming that did not work). Goal: a failure (exit 1) within power_timeout + 5 s "
             "of the fault; for the broken watchdog within the bound + one renewal interval + "
             "the lateness sanlock allows a healthy renewal (%.0f + 2*io + %s s) of the reply."
             % (data["settings"]["power_timeout_s"], bound, _lateness(data)),
             ""]
    rows = []
    for r in runs_of(data, "faults"):
        if "error" in r:
            rows.append([r["fault"], "error", "-", "-", "-", "-", "-"])
            continue
        rows.append([r["fault"], r["exit"], fmt(r.get("request_on_disk")),
                     fmt(r.get("reply_on_disk")), fmt(r["fault_at"]), fmt(r["seconds"]),
                     fmt(r["fault_to_exit"]), fmt(r.get("fire")) if r.get("fire") else "no",
                     (r.get("error_line") or "").replace("|", "/")])
    return lines + table(["fault", "exit", "request on storage s", "reply on storage s",
                          "fault at s", "exit at s", "fault -> exit s", "target reset at s",
                          "the agent's message"], rows) + [
        "A request that reached the storage resets the target whatever happens to the proxy "
        "afterwards (its watchdog is armed): the agent then fails because it cannot prove "
        "it, and the host is reset all the same; the bench waits for that fire to show it.",
        ""]


def write(data, path):
    bound = data["settings"]["bound_s"]
    m = data["machine"]
    lines = ["# Benchmarks", "",
             "Written by `bench/bench.py` (`make bench`; `make bench BENCH_ARGS=--quick` for a "
             "short development run into build/bench-quick/); raw numbers in "
             "[results.json](results.json). Every figure below comes from %s." % (
                 "a quick development run" if "--quick" in data["command"]
                 else "the last full run"),
             "", "- date: %s" % data["date"],
             "- machine: %d CPUs (nproc), %s, %.0f GiB, kernel %s, python %s; sanlock %s, "
             "sanlk-reset %s, fence-agents %s" % (
                 m["nproc"], m["cpu"], m["memory_gib"], m["kernel"], m["python"],
                 m["packages"]["sanlock"], m["packages"]["sanlk-reset"],
                 m["packages"]["fence-agents"]),
             "- command: `%s`" % data["command"],
             "- wall time: %.1f min in all (the cluster sections %.1f min, %d clusters at "
             "once); load average at the start %.2f, after the cluster sections %.2f" % (
                 data["total_wall_s"] / 60, data.get("slow_sections_wall_s", 0) / 60,
                 data["settings"]["jobs"], data["load_at_start"][0],
                 data.get("load_after_slow_sections", data["load_at_end"])[0]), ""]
    lines += ["## Goals", ""]
    lines += table(["", "goal", "measured"],
                   [[verdict(g["met"]), g["goal"], g["value"]] for g in data["goals"]])
    if "fence" in data:
        lines += fence_section(data, bound)
    if "believe" in data or "fence" in data:
        lines += believe_section(data)
    if "overhead" in data:
        lines += overhead_section(data)
    if "concurrency" in data:
        lines += concurrency_section(data)
    if "scale" in data:
        lines += scale_section(data)
    if "faults" in data:
        lines += faults_section(data, bound)
    if "failover" in data:
        lines += failover_section(data)
    missed = [g for g in data["goals"] if g["met"] is False]
    lines += ["## Notes on misses", ""]
    if not missed:
        lines += ["Every goal was met in this run.", ""]
    for g in missed:
        lines += ["- **%s** (%s): %s" % (g["goal"], g["value"],
                                         g["note"] or "see the tables above")]
    remarks = ["- %s: the agent failed in time but with an internal error instead of its own "
               "message: `%s`" % (r["fault"], r["error_line"]) for r in runs_of(data, "faults")
               if "unexpected" in (r.get("error_line") or "")]
    remarks += ["- **%s** (%s): %s" % (g["goal"], g["value"], g["note"])
                for g in data["goals"] if g["met"] and g["note"]]
    if remarks:
        lines += ["", "Remarks (goals met, but worth a look):", ""] + remarks
    lines += [""] + explanation(data)
    with open(path, "w") as handle:
        handle.write("\n".join(lines))


def _lateness(data):
    """The renewal lateness the runs allowed (older results recorded the pace slack)."""
    settings = data["settings"]
    if "renewal_lateness_s" in settings:
        return "/".join("%.1f" % v
                        for _io, v in sorted(settings["renewal_lateness_s"].items(),
                                             key=lambda kv: int(kv[0])))
    return "%.1f" % settings["pace_slack_s"]


def explanation(data):
    """What the numbers mean, written once here so that the text follows the data."""
    return ["## How to read it", "",
            "- The agent proves a reset by the watchdog bound: the reply it saw arrive, then "
            "the bound, then the renewal the target would have written, late by all that "
            "sanlock allows a healthy renewal, had its watchdog failed "
            "(lib/sanlock_fencing/core/judge.py, `renewal_due`). Its exit therefore comes "
            "shortly after `bound`, and always well after the fire, which lands about 70 s "
            "after resetd armed the watchdog, itself one renewal before the reply reached the "
            "storage.",
            "- sanlk-reset at io_timeout 3 waits for the lease to go DEAD (8 io + 60 s after "
            "its last renewal, as its daemon sees it); at io_timeout 10 it uses its \"native "
            "timeout\" (90 s after it received the reply event, which reaches the proxy one of "
            "its renewals after the reply is on storage).",
            "- Request to reply is the delivery, which neither tool controls: a proxy "
            "renewal writes the request, a renewal of the target reads it (sanlk-resetd arms "
            "the watchdog then, and wdmd closes the device at its next 10 s test), and the "
            "target's next renewal writes the reply. The hosts of a cluster renew in the same "
            "second, so whether the target reads the request at the very renewal that wrote "
            "it (`renewals to reply` 1) or one renewal later (2) is a race; it alone makes "
            "the totals of a pair differ by one renewal interval (2 io).",
            "- `make bench BENCH_ARGS='--sections fence --runs 5'` and `--jobs N` change what "
            "runs; the quick mode writes to build/bench-quick/ and leaves this file alone.", ""]
