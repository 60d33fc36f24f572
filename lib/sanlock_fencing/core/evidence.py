# SPDX-License-Identifier: GPL-2.0-or-later
"""What is seen of a host's lease over time: observations folded into facts (pure).

No I/O, no clock of its own, and no verdicts: the caller feeds observations of a
host's delta leases (each stamped with when its call was issued and when it returned,
on the observer's CLOCK_MONOTONIC) into one LeaseEvidence per lease and generation,
and judge.py, the one place that decides, turns the facts into PROVEN, FAILED or WAIT.
The rules and why they hold are in judge.py; what each fact means is here.

Whose lease the evidence is about (facts: ../shared/docs/evidence.md, "Whose record
is it"): a record names its owner by host name (one per machine's sanlock daemon)
and carries the owner's own monotonic clock. Nothing on disk says which life of the
lockspace it belongs to, so evidence carries what binds it to one lease as this host
saw it: the lockspace's storage here, the host name in the record, and this host's
own generation in the lockspace (it changes whenever this host rejoins). Kept
evidence is continued only for the very same lease (continues()).

(About 330 lines: every kind of observation folds into the one LeaseEvidence here, so
that what each fact means stands next to the others.)
"""

import copy
from collections import namedtuple

from . import events, timing
from .address import shown_name
from .hoststate import HostState

# Plain namedtuples and a hand-written class rather than dataclasses: importing
# dataclasses (with inspect, ast and dis) cost 20-30 ms, more than the rest of the
# library, on every status and monitor call.

Read = namedtuple("Read", "issued returned record error")
Read.__new__.__defaults__ = (None, None)
Read.__doc__ = "One read of a lease record: the lease.LeaseRecord, or why there is none."

Look = namedtuple("Look", "issued returned view error")
Look.__new__.__defaults__ = (None, None)
Look.__doc__ = "One answer of this host's daemon about a host: a hoststate.HostView, or why not."

# LeaseEvidence's fields after lockspace, host_id and generation, with their defaults.
_EVIDENCE_FIELDS = (
    ("io_timeout", timing.DEFAULT_IO_TIMEOUT),
    # whose lease: see the module comment and continues()
    ("host_name", None),          # the owner's host name in the record of this generation
    ("storage", None),            # the lockspace's path@offset on this host
    ("observer_generation", None),  # this host's own generation in the lockspace
    ("started_at", None),         # when the first record of this generation returned
    ("leftover", False),          # a reply was in the record before anyone saw it arrive
    ("leftover_settled", False),  # a renewal since then showed whose it was
    ("reply_fields", None),       # [event, event generation, data] of the reply on record
    ("reply_anchor", None),       # latest possible arming time (observer clock)
    ("reply_ts", None),           # owner timestamp: arming <= reply_ts + 1
    ("reply_event", 0),
    ("reply_source", ""),
    ("announced_bound", None),    # the watchdog bound the reply's data announced (ours)
    ("last_ts", None),            # latest owner timestamp of this generation on disk
    ("view_ts", None),            # latest owner timestamp the daemon reported
    ("last_ts_seen", None),       # when a read first showed last_ts (returned)
    ("renewals", 0),              # timestamp changes seen in this generation
    ("confirmed_at", None),       # issue time of the latest read still showing last_ts
    ("renewed_after", None),      # the last renewal seen was written after this moment
    ("went_back", None),          # a timestamp of this generation lower than last_ts
    ("state", HostState.UNKNOWN),       # the daemon's state, when it describes last_ts
    ("view_state", HostState.UNKNOWN),  # the daemon's state as it said it last
    ("view_seen", False),
    ("dead_seen_at", None),       # issue time of the first look saying DEAD for last_ts
    ("request_sent_at", None),
    ("own_ts_at_send", None),
    ("own_io_timeout", None),     # this proxy's io_timeout: its daemon writes the request
    ("request_on_disk_at", None),
    ("renewals_after_request", 0),
    ("newer_generation", 0),      # a newer generation of the host id: who, and which clock
    ("newer_ts", None),
    ("newer_name", None),
    ("newer_seen_at", None),      # when it was first seen (returned)
    ("released", False),          # timestamp 0 after the lease was seen held
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
        # the lockspace name may come from the daemon (the witness): shown escaped
        return "%s:%d" % (shown_name(self.lockspace), self.host_id)

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

    @property
    def held(self):
        """Whether the host was ever seen holding this lease (FREE from the first look
        says nothing either way)."""
        return not (self.state == HostState.FREE and self.started_at is None)


def storage_of(space):
    """Where a joined lockspace (proxy.JoinedLockspace) lives, as evidence names it."""
    return "%s@%d" % (space.path, space.offset)


def begin(space, host_id, look, read, observer_generation):
    """The first LeaseEvidence of a lease, from one look and one read of it.

    The generation judged is the newest one either shows (the daemon can lag the disk,
    or a slow read the daemon). Every observer (fence, status, witness) starts here.
    """
    view = look.view if look is not None and look.error is None else None
    record = read.record if read is not None else None
    generation = max(view.generation if view is not None else 0,
                     record.owner_generation if record is not None else 0)
    io = (record.io_timeout if record is not None else 0) or \
        (view.io_timeout if view is not None else 0) or timing.DEFAULT_IO_TIMEOUT
    ev = LeaseEvidence(space.name, host_id, generation, io_timeout=io,
                       storage=storage_of(space), observer_generation=observer_generation)
    notes = [observe_record(ev, read)] if read is not None else []
    if look is not None:
        notes.append(observe_view(ev, look))
    return ev, _join_all(notes)


def continues(kept, fresh):
    """kept (what an observer here saw earlier), continued with fresh's observations when
    both are about the very same lease; None otherwise.

    The same lease: the same storage here, the same owner name, this host still in the
    lockspace life it was in (same own generation), and no timestamp of that generation
    lower than the one kept (the lockspace was re-initialised, or another machine holds
    the id in another life). fresh must come from a successful read: without one,
    nothing tells the lease is still the one kept.
    """
    if fresh.started_at is None or fresh.went_back is not None:
        return None
    same = ((kept.lockspace, kept.host_id, kept.generation, kept.storage, kept.host_name,
             kept.observer_generation) ==
            (fresh.lockspace, fresh.host_id, fresh.generation, fresh.storage,
             fresh.host_name, fresh.observer_generation))
    if not same or kept.host_name is None or kept.last_ts is None or \
            fresh.last_ts < kept.last_ts or kept.went_back is not None:
        return None
    return copy.deepcopy(kept)


# ---------------------------------------------------------------- folding observations

def _has_reply(record):
    """A RESETTING reply: the only event that says the watchdog was armed."""
    return bool(record.event & events.RESETTING)


def observe_record(ev, read):
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
        return _newer_generation(ev, record.owner_generation, record.timestamp,
                                 record.host_name, read.returned)
    if record.owner_generation < ev.generation:
        return None     # an older record than one already seen: a stale read, no evidence
    if record.timestamp == 0:
        return _released(ev)
    if ev.started_at is None:
        ev.started_at = read.returned
        ev.host_name = record.host_name
        ev.last_ts, ev.last_ts_seen, ev.confirmed_at = record.timestamp, read.returned, \
            read.issued
        if _has_reply(record):
            ev.leftover = True
            ev.reply_fields = _reply_fields(record)
            return ("%s already carries a reset reply (%s) that nobody here saw arrive: it "
                    "proves nothing by itself" % (ev, events.name(record.event)))
        return None
    if record.timestamp < ev.last_ts or record.host_name != ev.host_name:
        return _went_back(ev, record)
    note = None
    if record.timestamp > ev.last_ts:
        note = _renewal(ev, record.timestamp, read.returned)
        if _has_reply(record):
            note = _join(note, _reply_on_record(ev, record, read))
        else:
            ev.reply_fields = None      # this renewal carries no reply: the next one is new
        if not _has_reply(record) and ev.leftover and not ev.leftover_settled:
            ev.leftover, ev.leftover_settled = False, True
            note = _join(note, "%s renewed without the old reply: it was left from an "
                         "earlier generation" % ev)
    if record.timestamp == ev.last_ts:
        ev.confirmed_at = max(ev.confirmed_at or read.issued, read.issued)
    return note


def _reply_on_record(ev, record, read):
    """A renewal carrying a RESETTING reply: the one seen before, or one set anew since
    the last renewal (its event, requester generation or data changed; our responder
    numbers its replies so that each shows, sanlk-resetd's are all alike)."""
    fields = _reply_fields(record)
    new = fields != ev.reply_fields
    ev.reply_fields = fields
    if not new:
        if ev.leftover and not ev.leftover_settled:
            ev.leftover_settled = True
            return ("%s renewed and still carries its reply: it acknowledged an earlier "
                    "request of this generation" % ev)
        return None
    # a new arming after one credited replaces it: the watchdog is judged from the new
    # one (a reset an earlier reply did not bring, or a reply forged on the target, does
    # not make this one fail; the later anchor only delays a proof)
    replacing = ev.leftover or ev.credited
    ev.leftover = False
    ev.reply_anchor, ev.reply_ts = read.returned, record.timestamp
    ev.reply_event, ev.reply_source = record.event, "seen arriving on storage"
    ev.announced_bound = events.decode_reply_bound(record.event_data)
    return ("%s acknowledged: %s (in its lease on storage%s)"
            % (ev, events.name(record.event),
               ", replacing the reply there before" if replacing else ""))


def _reply_fields(record):
    """What tells one reply from another on storage (a list: it is kept as JSON)."""
    return [record.event, record.event_generation, record.event_data]


def observe_view(ev, look):
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
        # the daemon does not report names: the record read tells whose it is
        return _newer_generation(ev, view.generation, view.timestamp, None, look.returned)
    if view.generation < ev.generation:
        return None
    if ev.view_ts is None or view.timestamp > ev.view_ts:
        ev.view_ts = view.timestamp
    if ev.last_ts is None or view.timestamp == ev.last_ts:
        ev.state = int(view.state)     # describes the renewal the record shows
        if view.state == HostState.DEAD and ev.dead_seen_at is None:
            ev.dead_seen_at = look.issued
    else:
        ev.state = HostState.UNKNOWN   # the disk is ahead of the daemon: no state for it
    old, ev.view_state = ev.view_state, int(view.state)
    ev.view_seen = True
    if ev.view_state != old:
        return "%s is %s (this host's sanlock daemon)" % (ev, HostState(ev.view_state).name)
    return None


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


def request_sent(ev, at, own_record):
    """The request went to this host's daemon at `at`; own_record: this proxy's lease
    read just before (its timestamp tells the renewal that carries the request, its
    io_timeout how long this daemon may take to write it)."""
    ev.request_sent_at = at
    if own_record is not None:
        ev.own_ts_at_send = own_record.timestamp
        ev.own_io_timeout = own_record.io_timeout or None
    return "reset request sent to %s (generation %d)" % (ev, ev.generation)


def credit_reply(ev, anchor, reply_ts, event, source, announced_bound=None):
    """A reply known by other means (an event received, or an observer's record);
    announced_bound: what the reply's data announced (events.decode_reply_bound)."""
    if not event & events.RESETTING or ev.credited and ev.reply_anchor <= anchor:
        return None
    ev.reply_anchor, ev.reply_event, ev.reply_source = anchor, event, source
    if announced_bound is not None:
        ev.announced_bound = max(ev.announced_bound or 0, announced_bound)
    ev.reply_ts = reply_ts if ev.reply_ts is None else min(ev.reply_ts, reply_ts)
    ev.leftover = False
    return "%s acknowledged: %s (%s)" % (ev, events.name(event), source)


def _renewal(ev, timestamp, returned):
    ev.renewals += 1
    if ev.request_on_disk_at is not None:
        ev.renewals_after_request += 1
    # the read before this one (issued at confirmed_at) still showed the old timestamp,
    # so the new one was written after that moment
    ev.renewed_after = ev.confirmed_at
    ev.last_ts, ev.last_ts_seen = timestamp, returned
    ev.confirmed_at = None
    ev.dead_seen_at = None
    return None


def _went_back(ev, record):
    """A record of the judged generation that is not a later renewal of the one seen:
    a lower timestamp, or another owner name."""
    if ev.went_back is not None:
        return None
    ev.went_back = record.timestamp
    return ("%s shows generation %d with timestamp %d (host name %s) after timestamp %d "
            "(host name %s): not the lease seen before"
            % (ev, record.owner_generation, record.timestamp, shown_name(record.host_name),
               ev.last_ts, shown_name(ev.host_name)))


def _newer_generation(ev, generation, timestamp, name, seen):
    """Facts about the first newer generation seen; a record later fills in its name."""
    if ev.newer_generation and not (ev.newer_name is None and name is not None and
                                    generation >= ev.newer_generation):
        return None
    first = not ev.newer_generation
    ev.newer_generation, ev.newer_ts, ev.newer_name = generation, timestamp, name
    if first:
        ev.newer_seen_at = seen
        return "%s now holds generation %d (timestamp %d)" % (ev, generation, timestamp)
    return None


def _released(ev):
    ev.state = HostState.FREE
    ev.view_seen = True
    if ev.started_at is not None and not ev.released:
        ev.released = True
        return "%s released its lease" % ev
    return None


def _join(first, second):
    return second if first is None else "%s; %s" % (first, second)


def _join_all(notes):
    notes = [n for n in notes if n]
    return "; ".join(notes) if notes else None
