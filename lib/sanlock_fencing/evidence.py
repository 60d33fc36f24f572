"""What proves that a host was reset: one model of the evidence, for fence and status.

Pure logic: no I/O, no clock of its own. The caller feeds observations of a host's
delta leases (each stamped with when its call was issued and when it returned, on
the observer's CLOCK_MONOTONIC) into one LeaseEvidence per lease, and judge.py says
PROVEN, FAILED or WAIT, with the reason. The fence loop feeds minutes of
observations; status feeds one look on top of what this host's observers (an
earlier fence, the witness service) recorded (evidence_store).

Why the rules are what they are (facts: ../shared/docs/evidence.md):

- A RESETTING reply proves that the target's sanlk-resetd armed its watchdog
  (REBOOTING alone is sent when arming failed). It proves it only for a reply
  whose arrival was *seen*: a reply already in the record when observation began
  may be carried over from an earlier generation (sanlock's join keeps the event
  fields), or be the reply to an earlier fence whose watchdog failed, or be of
  unknown age. Such a leftover proves nothing; a renewal shows which it was (the
  first renewal of a new generation rewrites the event fields).
- The arming happened no later than the moment the reply was seen (the anchor)
  and no later than the owner timestamp of the renewal that carried it, plus one
  second. An armed, working watchdog fires within timing.watchdog_bound() of the
  arming; a renewal with an owner timestamp later than that is a sign that the
  watchdog failed, and rules out a proof for good.
- Proof by the bound: a reply was seen; every addressed lease was read, after the
  anchor plus the bound, with the same generation and timestamp as before, and
  after the time its next renewal was due at the pace it kept (a host whose
  watchdog failed would have written that renewal). Silence itself does not prove
  that the watchdog worked: a host whose watchdog failed and that lost its
  storage within that window looks the same. No protocol can tell them apart.
- Proof by reboot: a newer generation whose first timestamp is lower than the
  last of the judged generation (the owner's monotonic clock restarted, so the
  machine booted again). A newer generation with a higher timestamp is a sanlock
  daemon restart on the same boot: a sign of life, never a proof.
- resource_mode: every addressed lease expired (DEAD, for the very renewal the
  record shows) and none is live. Only safe where every shared resource has a
  sanlock resource lease and the targets' sanlock uses its watchdog.
- A release (timestamp 0) needs a running daemon: a sign of life.
- A state from the daemon is combined with a record only when both describe the
  same renewal (same generation and timestamp); get_hosts can lag the disk.
- Anchors use the time a read returned; deadlines are checked against the time
  a read was issued, so a read that blocked for a minute proves nothing early.

(About 300 lines, a third of them this rationale: every kind of observation folds into
the one LeaseEvidence here, so that each rule stands next to the others.)
"""

from collections import namedtuple

from . import events, timing
from .hoststate import HostState

MANUAL = "fence it by other means (power it off, or check it and confirm it down by hand)"

# Plain namedtuples and a hand-written class rather than dataclasses: importing
# dataclasses (with inspect, ast and dis) cost 20-30 ms, more than the rest of the
# library, on every status and monitor call.

Read = namedtuple("Read", "issued returned record error", defaults=(None, None))
Read.__doc__ = "One read of a lease record: the lease.LeaseRecord, or why there is none."

Look = namedtuple("Look", "issued returned view error", defaults=(None, None))
Look.__doc__ = "One answer of this host's daemon about a host: a hoststate.HostView, or why not."

# LeaseEvidence's fields after lockspace, host_id and generation, with their defaults.
_EVIDENCE_FIELDS = (
    ("io_timeout", timing.DEFAULT_IO_TIMEOUT),
    ("started_at", None),         # when the first record of this generation returned
    ("leftover", False),          # a reply was in the record before anyone saw it arrive
    ("leftover_settled", False),  # a renewal since then showed whose it was
    ("reply_anchor", None),       # latest possible arming time (observer clock)
    ("reply_ts", None),           # owner timestamp: arming <= reply_ts + 1
    ("reply_event", 0),
    ("reply_source", ""),
    ("last_ts", None),            # latest owner timestamp of this generation on disk
    ("view_ts", None),            # latest owner timestamp the daemon reported
    ("last_ts_seen", None),       # when a read first showed last_ts (returned)
    ("renewals", 0),              # timestamp changes seen in this generation
    ("pace_excess", 0.0),         # how much later than its own spacing a renewal showed up
    ("confirmed_at", None),       # issue time of the latest read still showing last_ts
    ("state", HostState.UNKNOWN),       # the daemon's state, when it describes last_ts
    ("view_state", HostState.UNKNOWN),  # the daemon's state as it said it last
    ("view_seen", False),
    ("request_sent_at", None),
    ("own_ts_at_send", None),
    ("request_on_disk_at", None),
    ("renewals_after_request", 0),
    ("newer_generation", 0),
    ("rebooted", False),
    ("failure", None),            # a sign of life: no proof can come any more
    ("unreadable_since", None),
    ("last_error", None),
)
_EVIDENCE_NAMES = ("lockspace", "host_id", "generation") + tuple(n for n, _ in _EVIDENCE_FIELDS)


class LeaseEvidence:
    """Everything seen of one lease of the host, for one generation of it."""

    __slots__ = _EVIDENCE_NAMES

    def __init__(self, lockspace, host_id, generation, **values):
        unknown = set(values) - set(_EVIDENCE_NAMES)
        if unknown:
            raise TypeError("LeaseEvidence: unknown fields %s" % sorted(unknown))
        self.lockspace = lockspace
        self.host_id = host_id
        self.generation = generation    # the generation judged (the one a request went to)
        for name, default in _EVIDENCE_FIELDS:
            setattr(self, name, values.get(name, default))

    def __eq__(self, other):
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self.to_json() == other.to_json()

    __hash__ = None     # mutable

    def __repr__(self):
        return "LeaseEvidence(%s)" % ", ".join("%s=%r" % (n, getattr(self, n))
                                                for n in _EVIDENCE_NAMES)

    def __str__(self):
        return "%s:%d" % (self.lockspace, self.host_id)

    def to_json(self):
        return {name: getattr(self, name) for name in _EVIDENCE_NAMES}

    @classmethod
    def from_json(cls, data):
        """From to_json's dict; fields this version does not know are dropped."""
        known = {k: v for k, v in data.items() if k in _EVIDENCE_NAMES}
        return cls(known.pop("lockspace"), known.pop("host_id"), known.pop("generation"),
                   **known)

    @property
    def credited(self):
        return self.reply_anchor is not None


# ---------------------------------------------------------------- folding observations

def _has_reply(record):
    """A RESETTING reply: the only event that says the watchdog was armed."""
    return bool(record.event & events.RESETTING)


def observe_record(ev, read, bound):
    """Fold one read of the lease into ev; return a line for the timeline, or None."""
    if read.error is not None or read.record is None:
        if ev.unreadable_since is None:
            ev.unreadable_since = read.issued
        changed = read.error != ev.last_error
        ev.last_error = read.error
        return "could not read %s: %s" % (ev, read.error) if changed else None
    ev.unreadable_since = None
    ev.last_error = None
    record = read.record
    if record.io_timeout:
        ev.io_timeout = record.io_timeout
    if record.owner_generation > ev.generation:
        return _newer_generation(ev, record.owner_generation, record.timestamp)
    if record.owner_generation < ev.generation:
        return None     # an older record than one already seen: a stale read, no evidence
    if record.timestamp == 0:
        return _released(ev)
    if ev.started_at is None:
        ev.started_at = read.returned
        ev.last_ts, ev.last_ts_seen, ev.confirmed_at = record.timestamp, read.returned, \
            read.issued
        if _has_reply(record):
            ev.leftover = True
            return ("%s already carries a reset reply (%s) that nobody here saw arrive: it "
                    "proves nothing by itself" % (ev, events.name(record.event)))
        return None
    note = None
    if record.timestamp > ev.last_ts:
        note = _renewal(ev, record.timestamp, read.returned, bound)
        if _has_reply(record):
            if ev.leftover and not ev.leftover_settled:
                ev.leftover_settled = True
                note = _join(note, "%s renewed and still carries its reply: it acknowledged "
                             "an earlier request of this generation" % ev)
            elif not ev.leftover and not ev.credited:
                ev.reply_anchor, ev.reply_ts = read.returned, record.timestamp
                ev.reply_event, ev.reply_source = record.event, "seen arriving on storage"
                note = _join(note, "%s acknowledged: %s (in its lease on storage)"
                             % (ev, events.name(record.event)))
        elif ev.leftover and not ev.leftover_settled:
            ev.leftover, ev.leftover_settled = False, True
            note = _join(note, "%s renewed without the old reply: it was left from an "
                         "earlier generation" % ev)
    if record.timestamp == ev.last_ts:
        ev.confirmed_at = max(ev.confirmed_at or read.issued, read.issued)
    return note


def observe_view(ev, look, bound):
    """Fold one answer of the daemon into ev; return a line for the timeline, or None."""
    if look.error is not None or look.view is None:
        return None
    view = look.view
    if view.io_timeout:
        ev.io_timeout = view.io_timeout
    if view.state == HostState.FREE:
        # get_hosts reports FREE for a lease with timestamp 0 (or never joined)
        ev.view_state = HostState.FREE
        if ev.started_at is not None:
            return _released(ev)
        ev.state = HostState.FREE
        ev.view_seen = True
        return None
    if view.generation > ev.generation:
        return _newer_generation(ev, view.generation, view.timestamp)
    if view.generation < ev.generation:
        return None
    note = None
    if ev.view_ts is None or view.timestamp > ev.view_ts:
        ev.view_ts = view.timestamp
        note = _late_renewal(ev, view.timestamp, bound)
    if ev.last_ts is None or view.timestamp == ev.last_ts:
        ev.state = int(view.state)     # describes the renewal the record shows
    else:
        ev.state = HostState.UNKNOWN   # the disk is ahead of the daemon: no state for it
    old, ev.view_state = ev.view_state, int(view.state)
    ev.view_seen = True
    if ev.view_state != old:
        note = _join(note, "%s is %s (this host's sanlock daemon)"
                     % (ev, HostState(ev.view_state).name))
    return note


def observe_own_record(ev, read, request_event):
    """This proxy's own lease: the request is on storage once a renewal after sending
    carries our event (an earlier request may have left the same value)."""
    if ev.request_sent_at is None or ev.request_on_disk_at is not None or read.record is None:
        return None
    record = read.record
    if record.timestamp == ev.own_ts_at_send:
        return None
    if record.event & request_event == request_event and \
            record.event_generation == ev.generation:
        ev.request_on_disk_at = read.returned
        return "request for %s written to shared storage" % ev
    return None


def request_sent(ev, at, own_ts):
    ev.request_sent_at, ev.own_ts_at_send = at, own_ts
    return "reset request sent to %s (generation %d)" % (ev, ev.generation)


def credit_reply(ev, anchor, reply_ts, event, source):
    """A reply known by other means (an event received, or an observer's record)."""
    if not event & events.RESETTING or ev.credited and ev.reply_anchor <= anchor:
        return None
    ev.reply_anchor, ev.reply_event, ev.reply_source = anchor, event, source
    ev.reply_ts = reply_ts if ev.reply_ts is None else min(ev.reply_ts, reply_ts)
    ev.leftover = False
    return "%s acknowledged: %s (%s)" % (ev, events.name(event), source)


def _renewal(ev, timestamp, returned, bound):
    if ev.last_ts_seen is not None:
        # lateness of this renewal against the owner's own spacing: what a renewal
        # due later may be late by as well
        excess = (returned - ev.last_ts_seen) - (timestamp - ev.last_ts)
        ev.pace_excess = max(ev.pace_excess, min(excess, float(ev.io_timeout)))
    ev.renewals += 1
    if ev.request_on_disk_at is not None:
        ev.renewals_after_request += 1
    ev.last_ts, ev.last_ts_seen = timestamp, returned
    ev.confirmed_at = None
    return _late_renewal(ev, timestamp, bound)


def _late_renewal(ev, timestamp, bound):
    """A renewal (owner timestamp) later than an armed watchdog allows: sticky failure."""
    if ev.reply_ts is not None and ev.failure is None and \
            timestamp > ev.reply_ts + 1 + bound:
        ev.failure = ("%s acknowledged the reset but renewed its lease %d s later, past the "
                      "%.0f s its watchdog needs to fire: its watchdog did not reset it; %s"
                      % (ev, timestamp - ev.reply_ts, bound, MANUAL))
        return ev.failure
    return None


def _newer_generation(ev, generation, timestamp):
    if ev.newer_generation:
        return None
    ev.newer_generation = generation
    if ev.last_ts is not None and 0 < timestamp < ev.last_ts:
        ev.rebooted = True
        return ("%s rejoined with generation %d and its clock restarted (timestamp %d, was "
                "%d): the host rebooted" % (ev, generation, timestamp, ev.last_ts))
    if ev.failure is None:
        if ev.last_ts is None:
            ev.failure = ("%s holds generation %d, newer than the %d judged: nothing tells "
                          "whether it rebooted; check it, and fence again if it runs VMs"
                          % (ev, generation, ev.generation))
        else:
            ev.failure = ("%s restarted its sanlock daemon (generation %d) without a reboot "
                          "(its clock did not restart: timestamp %d after %d): it is running; "
                          "fence it again if it still runs VMs, or %s"
                          % (ev, generation, timestamp, ev.last_ts, MANUAL))
    return ev.failure


def _released(ev):
    ev.state = HostState.FREE
    ev.view_seen = True
    if ev.failure is None and ev.started_at is not None:
        ev.failure = ("%s released its lease (left the lockspace cleanly), which takes a "
                      "running sanlock daemon: nothing proves it was reset; %s" % (ev, MANUAL))
        return ev.failure
    return None


def _join(first, second):
    return second if first is None else "%s; %s" % (first, second)
