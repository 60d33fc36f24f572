"""The verdict on a host from its LeaseEvidence: PROVEN, FAILED or WAIT, with the reason.

Pure logic over what evidence.py folded (the rules and why are in its opening
comment). status and fence both ask judge(); a status look is one observation on top
of what observers on this host kept.
"""

import enum
from collections import namedtuple

from . import timing
from .evidence import MANUAL
from .hoststate import HostState


class Outcome(enum.Enum):
    WAIT = "wait"
    PROVEN = "proven"
    FAILED = "failed"


Verdict = namedtuple("Verdict", "outcome reason")



def renewal_due(ev):
    """When the next renewal of ev's last timestamp would show up (observer clock)."""
    slack = timing.PACE_SLACK + ev.pace_excess
    if ev.renewals < 2:
        slack += ev.io_timeout      # no pace seen yet: allow one slow write
    return ev.last_ts_seen + timing.renewal_interval(ev.io_timeout) + slack


def judge(leases, now, bound, resource_mode=False, fencing=True):
    """Verdict for the host behind leases (LeaseEvidence, one per lockspace).

    now: the observer clock; bound: timing.watchdog_bound(); fencing: a request was
    sent (off/reboot) rather than a status look.
    """
    leases = list(leases)
    for ev in leases:
        if ev.rebooted:
            return Verdict(Outcome.PROVEN, "%s rebooted: it came back with generation %d and "
                           "its clock restarted" % (ev, ev.newer_generation))
    failures = [ev.failure for ev in leases if ev.failure]
    if failures:
        return Verdict(Outcome.FAILED, failures[0])
    # one machine, one clock: a renewal in any lockspace after the earliest reply's
    # bound means the watchdog did not fire
    reply_ts = [ev.reply_ts for ev in leases if ev.reply_ts is not None]
    for ev in leases:
        late = max(ev.last_ts or 0, ev.view_ts or 0)
        if reply_ts and late > min(reply_ts) + 1 + bound:
            return Verdict(Outcome.FAILED,
                           "%s renewed its lease %d s after the host acknowledged the reset, "
                           "past the %.0f s its watchdog needs to fire: its watchdog did not "
                           "reset it; %s" % (ev, late - min(reply_ts), bound, MANUAL))
    # leases the host never held here (FREE from the first look) say nothing either way
    held = [ev for ev in leases if not (ev.state == HostState.FREE and ev.started_at is None)]
    if resource_mode and held and all(_expired(ev) for ev in held):
        return Verdict(Outcome.PROVEN, "%s lease has expired and resource_mode says every "
                       "shared resource is protected by a sanlock lease"
                       % ", ".join(str(ev) for ev in held))

    anchors = [ev.reply_anchor for ev in leases if ev.credited]
    if anchors:
        anchor = min(anchors)
        deadline = anchor + bound
        who = ", ".join(str(ev) for ev in leases if ev.credited)
        if all(_silent_since(ev, deadline) for ev in held):
            return Verdict(Outcome.PROVEN,
                           "%s acknowledged the reset %.0f s ago and has not renewed its "
                           "lease since its watchdog had to fire (%.0f s bound)"
                           % (who, now - anchor, bound))
        return Verdict(Outcome.WAIT, "acknowledged by %s; waiting for its watchdog" % who)

    reasons = [_hopeless(ev, now, fencing) for ev in leases]
    if all(reasons):
        return Verdict(Outcome.FAILED, "; ".join(reasons))
    return Verdict(Outcome.WAIT, "waiting for the target's reply" if fencing else
                   "no reset is proven")


def _expired(ev):
    """DEAD, for the very renewal the record shows."""
    return ev.state == HostState.DEAD and ev.last_ts is not None and ev.view_ts == ev.last_ts


def _silent_since(ev, deadline):
    """A read issued after deadline and after the next renewal was due still showed the
    last timestamp, and the daemon has not seen a newer one."""
    return (ev.confirmed_at is not None and ev.confirmed_at >= deadline
            and ev.confirmed_at >= renewal_due(ev)
            and (ev.view_ts is None or ev.view_ts <= ev.last_ts))


def _hopeless(ev, now, fencing):
    """Why this lease can no longer bring a proof, or None while it still may."""
    if ev.leftover and ev.leftover_settled:
        return ("%s already acknowledged an earlier reset request in generation %d that no "
                "observer on this host saw arrive: when its watchdog was armed is unknown, so "
                "its silence proves nothing, and its sanlk-resetd does not answer twice; %s"
                % (ev, ev.generation, MANUAL))
    if _expired(ev) or ev.state == HostState.DEAD and ev.last_ts is None:
        extra = (" (the reset reply in its lease was not seen arriving by any observer on "
                 "this host: it may be left from an earlier generation, or from a fence whose "
                 "watchdog did not fire)" if ev.leftover else "")
        return ("%s lease expired without acknowledging a reset%s: the host may have lost "
                "storage access while still running; %s" % (ev, extra, MANUAL))
    if ev.state == HostState.FREE:
        return ("%s holds no lease (it never joined the lockspace or left it cleanly): nothing "
                "proves it stopped; check the address, or %s" % (ev, MANUAL))
    if not fencing:
        return None
    if ev.renewals_after_request >= timing.NO_REPLY_RENEWALS:
        return ("%s renewed its lease %d times after the request reached the storage but never "
                "acknowledged it: no sanlk-resetd watches lockspace %s on that host, or it "
                "refuses because the host's watchdog is not in use (run sanlk-resetd and "
                "fence-sanlock-vdsm-resetd-sync there; or %s)"
                % (ev, ev.renewals_after_request, ev.lockspace, MANUAL))
    if ev.request_sent_at is not None and ev.request_on_disk_at is None and \
            now - ev.request_sent_at > timing.request_write_deadline(ev.io_timeout):
        return ("this host's sanlock daemon did not write the request for %s to the storage "
                "within %d s: is this host's own storage access failing?"
                % (ev, timing.request_write_deadline(ev.io_timeout)))
    return None


def unreadable_too_long(leases, now):
    """The reason to give up when the leases stayed unreadable too long, or None."""
    for ev in leases:
        if ev.unreadable_since is not None and \
                now - ev.unreadable_since > timing.storage_silence_limit(ev.io_timeout):
            return ("the lease of %s could not be read for %.0f s (%s): a reset cannot be "
                    "proven through storage this host cannot read"
                    % (ev, now - ev.unreadable_since, ev.last_error))
    return None


def phase(leases, now, bound):
    """A short text of where a fence stands, for the live progress line."""
    anchors = [ev.reply_anchor for ev in leases if ev.credited]
    if anchors:
        who = ", ".join("host %d" % ev.host_id for ev in leases if ev.credited)
        total = bound + max(timing.renewal_interval(ev.io_timeout) for ev in leases) + \
            timing.PACE_SLACK
        return ("acknowledged by %s; waiting for its watchdog %d/%d s"
                % (who, min(now - min(anchors), total), total))
    if any(ev.request_on_disk_at is not None for ev in leases):
        return "request on storage; waiting for the target's reply"
    if any(ev.request_sent_at is not None for ev in leases):
        return "requested; waiting for this host's daemon to write it"
    return "starting"
