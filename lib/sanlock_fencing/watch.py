"""Watching a fenced host until its reset is proven or cannot be: pure logic.

The fence loop (fence.py) feeds this state machine with what it observes: the
target's delta lease read from disk, the state the proxy's daemon computes, the
proxy's own lease (to see the request reach the storage) and events. decide()
then says whether the reset is proven, has failed, or needs more waiting.
Times are the caller's monotonic clock, so tests drive it with made-up timelines.

Proofs (the first that holds ends the fence):
  1. acknowledged: a RESETTING/REBOOTING reply from the target, written in the
     generation the request was sent to, and its lease is now DEAD;
  2. rebooted: it replied, then rejoined with a higher generation;
  3. watchdog bound: it replied, and WATCHDOG_FIRE_BOUND plus a margin has passed
     since the reply was first seen, without a renewal after the bound (a renewal
     after it means the watchdog failed, which ends the fence as a failure);
  4. resource_mode: the lease is DEAD, reply or not.

A reply counts only if it was written in the generation the request was sent to,
and was not already in the target's lease before the request (a leftover from an
earlier request). A leftover is still evidence that the watchdog was armed before
this request started, so it anchors the watchdog bound at the request's start,
which is later than the real arming and therefore safe; it just proves nothing
faster than that.
"""

import enum
from dataclasses import dataclass, field

from .hoststate import HostState
from . import events, timing


class Outcome(enum.Enum):
    WAIT = "wait"
    PROVEN = "proven"
    FAILED = "failed"


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    message: str = ""


@dataclass
class LeaseWatch:
    """What is known about one target lease since the fence started."""

    target: object                 # address.Target
    io_timeout: int
    request_generation: int        # the target's generation the request was sent to
    earlier_reply: bool = False    # the record already held a reply for that generation
    request_sent_at: float = None
    own_timestamp_at_send: int = None   # this proxy's lease timestamp when the request was set
    request_on_disk_at: float = None
    last_timestamp: int = None
    last_read_at: float = None     # when this lease was last read from disk
    last_renewal_at: float = None  # when a new timestamp (same generation) was first seen
    renewals_after_request: int = 0
    reply_seen_at: float = None
    reply_event: int = 0
    state: HostState = HostState.UNKNOWN
    newer_generation: int = 0
    hopeless: str = None           # why this lease can no longer prove anything
    rejected: list = field(default_factory=list)

    @property
    def replied(self):
        return self.reply_seen_at is not None or self.earlier_reply


class FenceWatch:
    """Decides, from observations, when the fence of one host is proven or failed."""

    def __init__(self, leases, started_at, resource_mode=False):
        self.leases = {lease.target: lease for lease in leases}
        self.started_at = started_at
        self.resource_mode = resource_mode
        self.timeline = []             # [(time, text)] of every change, for -v and progress

    # -- recording -----------------------------------------------------------------

    def note(self, now, text):
        self.timeline.append((now, text))

    def request_sent(self, target, now, own_timestamp=None):
        lease = self.leases[target]
        if lease.request_sent_at is None:
            lease.request_sent_at = now
            lease.own_timestamp_at_send = own_timestamp
            self.note(now, "reset request sent to %s (generation %d)"
                      % (target, lease.request_generation))

    def awaits_request_on_disk(self, target):
        """Whether this proxy's own lease still has to show the request."""
        lease = self.leases[target]
        return lease.request_sent_at is not None and lease.request_on_disk_at is None

    def own_record(self, target, record, now, request_event):
        """This proxy's own lease: the request is on storage once a renewal after the
        request carries our event (an earlier request may have left the same value)."""
        lease = self.leases[target]
        if lease.request_sent_at is None or lease.request_on_disk_at is not None:
            return
        if record.timestamp == lease.own_timestamp_at_send:
            return
        if record.event & request_event == request_event:
            lease.request_on_disk_at = now
            self.note(now, "request for %s written to shared storage" % target)

    def target_record(self, target, record, now):
        lease = self.leases[target]
        lease.last_read_at = now
        if record.owner_generation > lease.request_generation:
            if not lease.newer_generation:
                self.note(now, "%s rejoined with generation %d" % (target,
                                                                  record.owner_generation))
            lease.newer_generation = record.owner_generation
            return
        if record.owner_generation != lease.request_generation:
            return
        if record.timestamp != lease.last_timestamp:
            if lease.last_timestamp is not None and record.timestamp:
                lease.last_renewal_at = now
                if lease.request_on_disk_at is not None:
                    lease.renewals_after_request += 1
            lease.last_timestamp = record.timestamp
        if (events.is_reply(record.event) and not lease.earlier_reply
                and lease.reply_seen_at is None):
            self._reply(lease, now, record.event, "in its lease on disk")

    def view(self, target, view, now):
        lease = self.leases[target]
        if view.state != lease.state:
            self.note(now, "%s is %s" % (target, view.state.name))
            lease.state = view.state
        if view.generation > lease.request_generation and view.state != HostState.FREE:
            if not lease.newer_generation:
                self.note(now, "%s rejoined with generation %d" % (target, view.generation))
            lease.newer_generation = max(lease.newer_generation, view.generation)

    def event(self, target, event, now):
        """An event from the proxy's daemon; only replies from this target count."""
        lease = self.leases[target]
        if event["from_host_id"] != target.host_id or not events.is_reply(event["event"]):
            return
        if event["from_generation"] != lease.request_generation:
            lease.rejected.append(event)
            self.note(now, "ignored a %s from %s generation %d: the request went to "
                      "generation %d" % (events.name(event["event"]), target,
                                         event["from_generation"], lease.request_generation))
            return
        if lease.earlier_reply or lease.reply_seen_at is not None:
            return
        self._reply(lease, now, event["event"], "by event")

    def _reply(self, lease, now, event, how):
        lease.reply_seen_at = now
        lease.reply_event = event
        self.note(now, "%s acknowledged: %s (%s)" % (lease.target, events.name(event), how))

    # -- deciding ------------------------------------------------------------------

    def anchor(self):
        """Latest possible time the target armed its watchdog, or None before a reply."""
        times = [l.reply_seen_at for l in self.leases.values() if l.reply_seen_at is not None]
        if any(l.earlier_reply for l in self.leases.values()):
            times.append(self.started_at)
        return min(times) if times else None

    def io_timeout(self):
        return max(l.io_timeout for l in self.leases.values())

    def watchdog_deadline(self):
        """When the watchdog bound plus margin has passed (None before a reply)."""
        anchor = self.anchor()
        if anchor is None:
            return None
        return anchor + timing.WATCHDOG_FIRE_BOUND + timing.watchdog_margin(self.io_timeout())

    def decide(self, now):
        anchor = self.anchor()
        leases = list(self.leases.values())

        if anchor is not None:
            bound = anchor + timing.WATCHDOG_FIRE_BOUND
            for lease in leases:
                late = lease.last_renewal_at
                if (late is not None and not lease.newer_generation
                        and late > bound + timing.renewal_slack(lease.io_timeout)):
                    return Decision(Outcome.FAILED,
                                    "%s acknowledged the reset but renewed its lease %.0f s "
                                    "later, past the %d s its watchdog needs to fire: its "
                                    "watchdog did not reset it; fence it by other means"
                                    % (lease.target, late - anchor,
                                       timing.WATCHDOG_FIRE_BOUND))

        for lease in leases:
            if lease.replied and lease.newer_generation:
                return Decision(Outcome.PROVEN, "%s acknowledged the reset and came back with "
                                "generation %d" % (lease.target, lease.newer_generation))
            if lease.replied and lease.state == HostState.DEAD:
                return Decision(Outcome.PROVEN, "%s acknowledged the reset and its lease has "
                                "expired" % lease.target)
            if self.resource_mode and lease.state == HostState.DEAD:
                return Decision(Outcome.PROVEN, "%s lease has expired (resource_mode)"
                                % lease.target)

        if anchor is not None:
            deadline = self.watchdog_deadline()
            # the silence after the bound must have been seen on disk: a lease that could
            # not be read since then proves nothing, so keep waiting (power_timeout ends it)
            seen = all(l.newer_generation or (l.last_read_at is not None
                                              and l.last_read_at >= deadline)
                       for l in leases)
            if now >= deadline and seen:
                who = ", ".join(str(l.target) for l in leases if l.replied)
                return Decision(Outcome.PROVEN,
                                "%s acknowledged the reset %.0f s ago and has not renewed its "
                                "lease since its watchdog had to fire (%d s bound)"
                                % (who, now - anchor, timing.WATCHDOG_FIRE_BOUND))
            return Decision(Outcome.WAIT)

        for lease in leases:
            if lease.hopeless is None:
                lease.hopeless = self._hopeless(lease, now)
        reasons = [lease.hopeless for lease in leases]
        if all(reasons):
            return Decision(Outcome.FAILED, "; ".join(reasons))
        return Decision(Outcome.WAIT)

    def _hopeless(self, lease, now):
        """Why this lease can no longer bring a reply, or None while it still may."""
        if lease.state == HostState.DEAD:
            return ("%s lease expired without acknowledging the reset: the host may have lost "
                    "storage access while still running; fence it by other means"
                    % lease.target)
        if lease.state == HostState.FREE:
            return ("%s left the lockspace without acknowledging the reset: nothing proves it "
                    "stopped; fence it by other means" % lease.target)
        if lease.newer_generation:
            return ("%s restarted (generation %d) before acknowledging the reset: it may not "
                    "have rebooted; check it, and fence again if it still runs VMs"
                    % (lease.target, lease.newer_generation))
        if lease.renewals_after_request >= timing.NO_REPLY_RENEWALS:
            return ("%s renewed its lease %d times after the request reached the storage "
                    "but never acknowledged it: no sanlk-resetd watches lockspace %s on that "
                    "host (run sanlk-resetd and fence-sanlock-vdsm-resetd-sync there, or "
                    "'sanlk-reset reg %s'; or fence it by other means)"
                    % (lease.target, lease.renewals_after_request, lease.target.lockspace,
                       lease.target.lockspace))
        if (lease.request_sent_at is not None and lease.request_on_disk_at is None
                and now - lease.request_sent_at > timing.request_write_deadline(lease.io_timeout)):
            return ("this host's sanlock daemon did not write the request for %s to the storage "
                    "within %d s: is this host's own storage access failing?"
                    % (lease.target, timing.request_write_deadline(lease.io_timeout)))
        return None

    def phase(self, now):
        """A short text of where the fence stands, for the live progress line."""
        anchor = self.anchor()
        if anchor is not None:
            total = timing.WATCHDOG_FIRE_BOUND + timing.watchdog_margin(self.io_timeout())
            who = ", ".join("host %d" % l.target.host_id for l in self.leases.values()
                            if l.replied)
            return ("acknowledged by %s; waiting for its watchdog %d/%d s"
                    % (who, min(now - anchor, total), total))
        if any(l.request_on_disk_at is not None for l in self.leases.values()):
            return "request on storage; waiting for the target's reply"
        if any(l.request_sent_at is not None for l in self.leases.values()):
            return "requested; waiting for this host's daemon to write it"
        return "starting"
