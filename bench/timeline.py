# SPDX-License-Identifier: GPL-2.0-or-later
"""One fence per io_timeout as a timeline picture (matplotlib, Agg backend): the median agent
run of bench.py's fence section and the sanlk-reset run of its pair."""

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import report  # noqa: E402

COLORS = {"request": "#444444", "storage": "#1f77b4", "watchdog": "#d62728",
          "proof": "#2ca02c", "status": "#9467bd"}


def pick(data, io):
    """(agent run, its sanlk-reset pair or None): the successful agent run with the median
    total time."""
    good = [(a, n) for a, n in report.pairs(data, io) if report.ok(a) and
            a.get("reply_on_disk") is not None and a.get("fire") is not None]
    if not good:
        return None, None
    good.sort(key=lambda an: an[0]["seconds"])
    agent, native = good[(len(good) - 1) // 2]
    return agent, native if report.ok(native) else None


LEVELS = 4
LEVEL_STEP = 0.55
LANE_STEP = 0.6 + LEVELS * LEVEL_STEP


def levels(times, span, gap=0.1):
    """A label height (0..LEVELS-1) per event time, so that labels on one height are at
    least gap * span apart (or as far apart as the heights allow)."""
    last = [None] * LEVELS
    out = []
    for t in times:
        room = [float("inf") if x is None else t - x for x in last]
        fits = [k for k in range(LEVELS) if room[k] >= gap * span]
        level = fits[0] if fits else max(range(LEVELS), key=lambda k: room[k])
        last[level] = t
        out.append(level)
    return out


def lane_events(run, bound, agent):
    events = [("request", 0.0, "request"),
              ("request on storage", run.get("request_on_disk"), "storage"),
              ("reply on storage", run.get("reply_on_disk"), "storage"),
              ("wdmd gives up\n(closes the device)", run.get("wdmd_close"), "watchdog"),
              ("device fires\n(host reset)", run.get("fire"), "watchdog")]
    if agent:
        events += [("proof allowed\n(reply + bound)", run.get("proof_allowed"), "proof"),
                   ("agent exits:\nproven", run.get("seconds"), "proof")]
        status = run.get("status_off", {})
        events += [("status OFF\non the proxy", status.get("1", {}).get("off_at"), "status"),
                   ("status OFF\nthrough host 2", status.get("2", {}).get("off_at"), "status")]
    else:
        events += [("sanlk-reset\nexits", run.get("seconds"), "proof")]
    return [e for e in events if e[1] is not None]


def draw_one(data, io, agent, native, path):
    bound = data["settings"]["bound_s"]
    lanes = [("fence_sanlock_vdsm", agent, True)]
    if native is not None:
        lanes.append(("sanlk-reset", native, False))
    fig, ax = plt.subplots(figsize=(13, 1.4 + 2.9 * len(lanes)))
    end = max(max(e[1] for e in lane_events(run, bound, is_agent)) for _, run, is_agent in lanes)
    for index, (name, run, is_agent) in enumerate(lanes):
        y = (len(lanes) - 1 - index) * LANE_STEP
        ax.plot([0, run["seconds"]], [y, y], color="#bbbbbb", lw=2, zorder=1)
        renewals = [t for t in run.get("target_renewals", []) if t >= 0]
        ax.scatter(renewals, [y] * len(renewals), marker="|", s=120, color="#888888",
                   zorder=2, label="host 3 renews its lease" if index == 0 else None)
        reply = run.get("reply_on_disk")
        if reply is not None:
            ax.plot([reply + bound] * 2, [y - 0.25, y + 0.25], color=COLORS["proof"], lw=1,
                    ls="--", zorder=1)
            ax.barh(y, bound, left=reply, height=0.3, color=COLORS["proof"], alpha=0.15,
                    zorder=0, label="watchdog bound (%.0f s)" % bound if index == 0 else None)
        events = sorted(lane_events(run, bound, is_agent), key=lambda e: e[1])
        for (label, t, kind), level in zip(events, levels([e[1] for e in events], end)):
            ax.scatter([t], [y], s=60, color=COLORS[kind], zorder=3)
            level = 0.35 + LEVEL_STEP * level
            ax.annotate("%s\n%.1f s" % (label, t), (t, y), xytext=(t, y + level),
                        fontsize=7.5, ha="center", va="bottom", color=COLORS[kind],
                        arrowprops=dict(arrowstyle="-", color=COLORS[kind], lw=0.6))
        ax.text(-0.01 * end, y, name + "  \n(total %.1f s)  " % run["seconds"], ha="right",
                va="center", fontsize=9)
    ax.set_ylim(-0.5, (len(lanes) - 1) * LANE_STEP + LANE_STEP - 0.2)
    ax.set_xlim(-0.02 * end, end * 1.04)
    ax.set_yticks([])
    ax.set_xlabel("seconds after the request (io_timeout %d)" % io)
    ax.set_title("Fencing host 3 through the real watchdog chain, io_timeout %d (pair %d of %s)"
                 % (io, agent["pair"], data["date"]), fontsize=10)
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    ax.legend(loc="lower right", fontsize=8, frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def draw(data, out):
    pictures = []
    for io in report.fence_ios(data):
        agent, native = pick(data, io)
        if agent is None:
            continue
        name = "timeline-io%d.png" % io
        draw_one(data, io, agent, native, os.path.join(out, name))
        pictures.append({"io_timeout": io, "file": name, "pair": agent["pair"],
                         "title": "fence timeline at io_timeout %d" % io})
    return pictures
