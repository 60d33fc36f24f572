# SPDX-License-Identifier: GPL-2.0-or-later
"""The one place that decides: PROVEN, FAILED or WAIT for a host, from its LeaseEvidence.

Pure logic over the facts evidence.py folded. The rules run in a fixed, visible
order: first the signs of life (any of them rules a proof out for good), then the
proofs, then the reasons a proof can no longer come. fence, status and the witness
all ask judge(); status asks judge_observers() to weigh what several observers on
this host kept. Facts behind the rules: ../shared/docs/evidence.md.

Signs of life (the host was not reset, or not this host):
- A renewal with an owner timestamp later than the earliest reply's arming + the
  watchdog bound, in any addressed lease: one machine, one clock, and its armed
  watchdog would have reset it by then.
- A release (timestamp 0): leaving a lockspace cleanly takes a running daemon.
- A newer generation that is not a reboot of the same machine: a higher first
  timestamp (sanlock restarted on the same boot; an armed watchdog may still fire,
  but nothing proves it), or another host name (another machine took the host id,
  which sanlock allows after host_dead_seconds of silence or a release: the silence
  proves nothing about the machine that was asked for).
- A record of the judged generation going back (lower timestamp, other name): not the
  lease observed before (a re-initialised lockspace, another life of the id).
- A reboot seen in one lockspace while another addressed lease of the same machine
  was renewed in its old generation after it: one daemon, one clock, one machine;
  that is a contradiction, not a proof.

Proofs:
- Reboot: a newer generation, the same host name, and a first timestamp lower than
  the last of the judged generation (the owner's monotonic clock restarted), with
  every other addressed lease either rebooted too or read silent since.
- resource_mode: every held lease expired (DEAD for the very renewal the record
  shows, confirmed by a successful read issued after the daemon said DEAD: a daemon
  whose own storage path fails keeps a frozen view) and none is live.
- The watchdog bound: a reply was seen arriving (a RESETTING reply proves the target's
  responder armed its watchdog; one already on disk when observation began may be
  carried over from an earlier generation, or be a failed fence's); every held lease
  was read after the anchor + bound with the same generation and timestamp, and after
  its next renewal was due with all the lateness sanlock allows a healthy renewal.
  Silence does not prove the watchdog worked: a host whose watchdog failed and that
  lost its storage in that window looks the same. No protocol can tell them apart.
"""

import enum
from collections import namedtuple

from . import timing
from .address import shown_name
from .hoststate import HostState

MANUAL = "fence it by other means (power it off, or check it and confirm it down by hand)"


class Outcome(enum.Enum):
    WAIT = "wait"
    PROVEN = "proven"
    FAILED = "failed"


# alive: FAILED because of a sign that the host was not reset (rules out every proof
# of this generation, whoever observed it), not merely because no proof can come here;
# refutes: for a renewal past a reply's bound, that reply's owner timestamp (a later
# reply, to a later request, is not refuted by it); under_way: WAIT because a reply was
# seen and its watchdog is being waited out (the host may still run until it fires)
Verdict = namedtuple("Verdict", "outcome reason alive refutes under_way")
Verdict.__new__.__defaults__ = (False, None, False)


def renewal_due(ev):
    """When the next renewal of ev's last timestamp would show up, at the latest, for a
    host that is alive (observer clock).

    sanlock starts a renewal once 2*io_timeout passed since the last success, checked
    in one-second sleeps, half a second after a failed attempt; its read may take up to
    io_timeout before the timestamp is taken, and its write up to io_timeout after it.
    """
    return (ev.last_ts_seen + timing.renewal_interval(ev.io_timeout)
            + timing.renewal_lateness(ev.io_timeout))


def effective_bound(leases, bound):
    """This host's bound, or the longer one a reply announced (fence-sanlock-vdsm-
    responder puts in its reply's data how long its own watchdog may take): the target
    knows its device, and a longer wait only delays a proof. A shorter announcement is
    never taken."""
    announced = [ev.announced_bound for ev in leases if ev.announced_bound]
    return max([bound] + announced)


def judge(leases, now, bound, resource_mode=False, fencing=True):
    """Verdict for the host behind leases (LeaseEvidence, one per lockspace).

    now: the observer clock; bound: timing.watchdog_bound(); fencing: a request was
    sent (off/reboot) rather than a status look.
    """
    leases = list(leases)
    bound = effective_bound(leases, bound)
    held = [ev for ev in leases if ev.held]
    for rule in (_renewed_past_bound, _released, _newer_not_reboot, _went_back,
                 _reboot_contradicted):
        reason = rule(leases, bound)
        if reason:
            refutes = _earliest_reply(leases) if rule is _renewed_past_bound else None
            return Verdict(Outcome.FAILED, reason, alive=True, refutes=refutes)
    for rule in (_rebooted, _expired_in_resource_mode, _silent_past_bound):
        verdict = rule(leases, held, now, bound, resource_mode)
        if verdict is not None:
            return verdict
    reasons = [_hopeless(ev, now, fencing) for ev in leases]
    if all(reasons):
        return Verdict(Outcome.FAILED, "; ".join(reasons))
    return Verdict(Outcome.WAIT, "waiting for the target's reply" if fencing else
                   "no reset is proven")


def judge_observers(fresh, histories, now, bound, resource_mode=False):
    """Verdict for a status look: fresh (one look now, [LeaseEvidence]) and histories
    (what each observer on this host kept, continued with the same look).

    A sign of life seen by any observer rules the proof out; otherwise any observer's
    proof is enough; a reset acknowledged and being waited out is WAIT.
    """
    verdicts = [judge(leases, now, bound, resource_mode, fencing=False)
                for leases in histories]
    proofs = [(v, _earliest_reply(leases)) for v, leases in zip(verdicts, histories)
              if v.outcome == Outcome.PROVEN]
    for v in verdicts:
        # an observer that saw the host live past an earlier reply's bound does not rule
        # out the proof of a later reply (a new request after a watchdog that did not
        # fire, or after a reply forged on the target); anything else does
        if v.alive and not (proofs and v.refutes is not None and
                            all(reply is not None and reply > v.refutes
                                for _p, reply in proofs)):
            return v
    if proofs:
        return proofs[0][0]
    pending = [v for v, leases in zip(verdicts, histories)
               if v.outcome == Outcome.WAIT and any(ev.credited for ev in leases)]
    if pending:
        return Verdict(Outcome.WAIT, "a reset is under way: %s" % pending[0].reason,
                       under_way=True)
    return judge(fresh, now, bound, resource_mode, fencing=False)


# ---------------------------------------------------------------- signs of life

def _earliest_reply(leases):
    replies = [ev.reply_ts for ev in leases if ev.reply_ts is not None]
    return min(replies) if replies else None


def _renewed_past_bound(leases, bound):
    replies = [ev.reply_ts for ev in leases if ev.reply_ts is not None]
    if not replies:
        return None
    armed = min(replies)
    for ev in leases:
        late = max(ev.last_ts or 0, ev.view_ts or 0)
        if late > armed + 1 + bound:
            return ("%s renewed its lease %d s after the host acknowledged the reset, past "
                    "the %.0f s its watchdog needs to fire: its watchdog did not reset it; %s"
                    % (ev, late - armed, bound, MANUAL))
    return None


def _released(leases, _bound):
    for ev in leases:
        if ev.released:
            return ("%s released its lease (left the lockspace cleanly), which takes a "
                    "running sanlock daemon: nothing proves it was reset; %s" % (ev, MANUAL))
    return None


def _is_reboot(ev):
    """A newer generation of the same machine whose clock restarted."""
    return (ev.newer_generation and ev.last_ts is not None and ev.newer_name is not None
            and ev.newer_name == ev.host_name and 0 < ev.newer_ts < ev.last_ts)


def _newer_not_reboot(leases, _bound):
    for ev in leases:
        if not ev.newer_generation or _is_reboot(ev):
            continue
        if ev.last_ts is None:
            return ("%s holds generation %d, newer than the %d judged: nothing tells whether "
                    "it rebooted; check it, and fence again if it runs VMs"
                    % (ev, ev.newer_generation, ev.generation))
        if ev.newer_ts is not None and ev.newer_ts >= ev.last_ts:
            return ("%s restarted its sanlock daemon (generation %d) without a reboot (its "
                    "clock did not restart: timestamp %d after %d): it is running; fence it "
                    "again if it still runs VMs, or %s"
                    % (ev, ev.newer_generation, ev.newer_ts, ev.last_ts, MANUAL))
        if ev.newer_name is not None and ev.newer_name != ev.host_name:
            return ("host id %d of lockspace %s is now held by another machine (host name "
                    "%s, generation %d; it was %s): its silence before proves nothing about "
                    "%s, which may only have lost this storage; %s"
                    % (ev.host_id, shown_name(ev.lockspace), shown_name(ev.newer_name),
                       ev.newer_generation, shown_name(ev.host_name),
                       shown_name(ev.host_name), MANUAL))
    return None


def _went_back(leases, _bound):
    for ev in leases:
        if ev.went_back is not None:
            return ("%s went back to timestamp %d in generation %d after %d (or changed its "
                    "host name): the lockspace was re-initialised or the host id changed "
                    "hands, so what was seen before is not about this lease; check the host, "
                    "and fence it again" % (ev, ev.went_back, ev.generation, ev.last_ts))
    return None


def _reboot_contradicted(leases, _bound):
    for ev in leases:
        if not _is_reboot(ev):
            continue
        for other in leases:
            if other is ev or _is_reboot(other) or other.newer_generation:
                continue
            if other.renewed_after is not None and other.renewed_after > ev.newer_seen_at:
                return ("%s came back with generation %d as if rebooted, but %s was renewed "
                        "in its old generation after that: one machine has one daemon and "
                        "one clock, so this is not a reboot; %s"
                        % (ev, ev.newer_generation, other, MANUAL))
    return None


# ---------------------------------------------------------------- proofs

def _rebooted(leases, held, now, _bound, _resource_mode):
    rebooted = [ev for ev in leases if _is_reboot(ev)]
    if not rebooted:
        return None
    first = rebooted[0]
    since = min(ev.newer_seen_at for ev in rebooted)
    waiting = [ev for ev in held if ev not in rebooted and not _silent_since(ev, since)]
    if waiting:
        return Verdict(Outcome.WAIT, "%s rebooted; waiting to see %s silent since"
                       % (first, ", ".join(str(ev) for ev in waiting)))
    return Verdict(Outcome.PROVEN, "%s rebooted: it came back with generation %d, the same "
                   "host name (%s) and its clock restarted"
                   % (first, first.newer_generation, shown_name(first.host_name)))


def _expired(ev):
    """DEAD for the very renewal the record shows, and a successful read issued after the
    daemon said so still showed that renewal."""
    return (ev.state == HostState.DEAD and ev.last_ts is not None and ev.view_ts == ev.last_ts
            and ev.dead_seen_at is not None and ev.confirmed_at is not None
            and ev.confirmed_at >= ev.dead_seen_at)


def _expired_in_resource_mode(_leases, held, _now, _bound, resource_mode):
    if resource_mode and held and all(_expired(ev) for ev in held):
        return Verdict(Outcome.PROVEN, "%s lease has expired and resource_mode says every "
                       "shared resource is protected by a sanlock lease"
                       % ", ".join(str(ev) for ev in held))
    return None


def _silent_since(ev, deadline):
    """A read issued after deadline and after the next renewal was due still showed the
    last timestamp, and the daemon has not seen a newer one."""
    return (ev.confirmed_at is not None and ev.last_ts_seen is not None
            and ev.confirmed_at >= deadline and ev.confirmed_at >= renewal_due(ev)
            and (ev.view_ts is None or ev.view_ts <= ev.last_ts))


def _silent_past_bound(leases, held, now, bound, _resource_mode):
    anchors = [ev.reply_anchor for ev in leases if ev.credited]
    if not anchors:
        return None
    anchor = min(anchors)
    who = ", ".join(str(ev) for ev in leases if ev.credited)
    if all(_silent_since(ev, anchor + bound) for ev in held):
        return Verdict(Outcome.PROVEN, "%s acknowledged the reset %.0f s ago and has not "
                       "renewed its lease since its watchdog had to fire (%.0f s bound)"
                       % (who, now - anchor, bound))
    return Verdict(Outcome.WAIT, "acknowledged by %s; waiting for its watchdog" % who)


# ---------------------------------------------------------------- no proof can come

def _hopeless(ev, now, fencing):
    """Why this lease can no longer bring a proof, or None while it still may."""
    if ev.leftover and ev.leftover_settled and (
            not fencing or ev.renewals_after_request >= timing.NO_REPLY_RENEWALS):
        # a fence waits for a new reply first: our responder numbers its replies, so a
        # reply to this request shows even over an earlier one; sanlk-resetd's does not
        return ("%s carries a reset reply of generation %d that no observer on this host saw "
                "arrive (an earlier request's, or one set on that host by something else), "
                "and no new reply replaced it: when its watchdog was armed, if ever, is "
                "unknown, so its silence proves nothing; %s" % (ev, ev.generation, MANUAL))
    if ev.state == HostState.DEAD:
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
                "acknowledged it: no responder (fence-sanlock-vdsm-responder or sanlk-resetd) "
                "watches lockspace %s on that host, or it refuses because the host's watchdog "
                "is not in use; see its log there, or %s"
                % (ev, ev.renewals_after_request, shown_name(ev.lockspace), MANUAL))
    own_io = ev.own_io_timeout or ev.io_timeout
    if ev.request_sent_at is not None and ev.request_on_disk_at is None and \
            now - ev.request_sent_at > timing.request_write_deadline(own_io):
        return ("this host's sanlock daemon did not write the request for %s to the storage "
                "within %d s (its io_timeout is %d s): is this host's own storage access "
                "failing?" % (ev, timing.request_write_deadline(own_io), own_io))
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
    bound = effective_bound(leases, bound)
    if anchors:
        who = ", ".join("host %d" % ev.host_id for ev in leases if ev.credited)
        total = bound + max(timing.renewal_interval(ev.io_timeout) +
                            timing.renewal_lateness(ev.io_timeout) for ev in leases)
        return ("acknowledged by %s; waiting for its watchdog %d/%d s"
                % (who, min(now - min(anchors), total), total))
    if any(ev.request_on_disk_at is not None for ev in leases):
        return "request on storage; waiting for the target's reply"
    if any(ev.request_sent_at is not None for ev in leases):
        return "requested; waiting for this host's daemon to write it"
    return "starting"
