# SPDX-License-Identifier: GPL-2.0-or-later
"""off and reboot: send a sanlk-resetd reset request and watch until it is proven.

Every POLL_INTERVAL the loop reads what can carry evidence: pending events, the
target's delta lease on storage (the reply lands there one renewal before its
event reaches us), this proxy's own lease until the request is on storage, and the
state this proxy's daemon computes. judge() turns that into a verdict.
Anything unexpected ends the fence as a failure: a timeout is never success.

The loop takes a World (world.py): its clock, daemon and storage reads are
parameters, so unit tests run it through made-up timelines. (About 290 lines: one
fence, first look to verdict, reads top to bottom in the Fence class; the mutual-fence
rules are in mutual.py.)
"""

import copy
from collections import namedtuple

from . import mutual
from ..core import evidence, events, timing
from ..core.errors import FenceError
from ..core.hoststate import HostState
from ..core.judge import Outcome, Verdict, judge, phase, unreadable_too_long
from .mutual import OwnHostReset
from ..core.proxy import EventSlotBusy, ProxyError
from ..core.world import place_targets

# resource_mode: an expired lease alone proves the host off
# sysrq_reboot:  also request REBOOT (sanlk-resetd -b 1)
# power_timeout: overall bound in seconds; 0: none (Pacemaker bounds the agent itself)
# fire_timeout:  the watchdog fire timeout the bound assumes (sanlock.conf)
# mutual_guard:  wait before fencing a host with a lower host id, watching for its own
#                request for this host (two nodes fencing each other: one survives)
FenceOptions = namedtuple("FenceOptions", "resource_mode sysrq_reboot power_timeout "
                                          "fire_timeout mutual_guard")
# defaults set this way rather than namedtuple(defaults=): Python 3.6 (EL8) has no such
FenceOptions.__new__.__defaults__ = (False, False, 0, timing.DEFAULT_FIRE_TIMEOUT, False)

FenceResult = namedtuple("FenceResult", "already_off proof")


class Quiet:
    """Progress sink that shows nothing."""

    def phase(self, text):
        pass

    def step(self, elapsed, text):
        pass

    def done(self):
        pass


class Fence:
    """One fence of one host through the lockspaces this proxy shares with it."""

    def __init__(self, world, targets, options, progress=None, writer=None):
        self.world = world
        self.options = options
        self.progress = progress or Quiet()
        self.writer = writer
        self.bound = timing.watchdog_bound(options.fire_timeout)
        self.started = world.clock()
        self.deadline = self.started + options.power_timeout if options.power_timeout \
            else None
        if self.deadline is not None:
            world.bound_calls(self.deadline)
        self.placed, missing = place_targets(world.joined(), targets)
        for target in missing:
            self.step("%s: this host has not joined lockspace %s; not sent there"
                      % (target, target.lockspace))
        self.leases = []
        self.own_generation = {}        # lockspace -> this proxy's generation there
        self.handles = []
        self.request = events.request_value(options.sysrq_reboot)

    # -- output ------------------------------------------------------------------------

    def step(self, text):
        if text:
            self.progress.step(self.world.clock() - self.started, text)

    def save(self):
        if self.world.store is not None and self.writer:
            for ev in self.leases:
                self.world.store.save(ev, self.writer)

    # -- the steps -----------------------------------------------------------------------

    def first_look(self):
        """LeaseEvidence per target before anything is sent, with what observers here kept.

        The target's record and this proxy's own must be readable now: without them
        neither the request nor the reply can be seen on storage, and a reset that
        cannot be proven must not be started.
        """
        for target, space in self.placed:
            look = self.world.look(target.lockspace, target.host_id)
            read = self.world.read(space, target.host_id, wait=timing.POLL_INTERVAL * 8)
            own = self.world.read(space, space.host_id, wait=timing.POLL_INTERVAL * 8)
            for what in (read, own):
                if what.error is not None:
                    raise FenceError("nothing was sent: %s, so a reset of %s could not be "
                                     "proven" % (what.error, target))
            self.own_generation[space.name] = own.record.owner_generation
            ev, note = evidence.begin(space, target.host_id, look, read,
                                      own.record.owner_generation)
            self.step(note)
            self._import_kept(ev)
            self.leases.append(ev)
        return judge(self.leases, self.world.clock(), self.bound,
                     self.options.resource_mode, fencing=False)

    def _import_kept(self, ev):
        """The reply an earlier fence or the witness on this host saw arrive, when what it
        kept is about the very same lease (evidence.continues). A kept reply followed by
        renewals past its bound makes judge() fail, as it did for that observer."""
        if self.world.store is None:
            return
        for writer, kept in sorted(self.world.store.load(ev.lockspace, ev.host_id,
                                                         ev.generation).items()):
            if evidence.continues(kept, ev) is None:
                self.step("what %s kept of %s is about another lease or life of it: not used"
                          % (writer, ev))
                continue
            if not kept.credited:
                continue
            trial = copy.deepcopy(ev)
            evidence.credit_reply(trial, kept.reply_anchor, kept.reply_ts, kept.reply_event,
                                  "seen by %s" % writer, kept.announced_bound)
            if judge([trial], self.world.clock(), self.bound, fencing=False).alive:
                # the host lived on past that reply's bound: its watchdog did not fire, or
                # the reply was set on the target by something else; a new request may
                # still reset it, and its own reply is what will count
                self.step("%s saw %s acknowledge a reset that did not happen: sending a new "
                          "request" % (writer, ev))
                continue
            self.step(evidence.credit_reply(ev, kept.reply_anchor, kept.reply_ts,
                                            kept.reply_event, "seen by %s" % writer,
                                            kept.announced_bound))

    def send(self):
        # register before sending: replies to this request must not be missed
        for target, _ in self.placed:
            handle = self.world.register_events(target.lockspace)
            self.handles.append((target, handle))
            self.world.read_events(handle)
        self.check_not_being_reset()
        if self.options.mutual_guard and any(space.host_id > target.host_id
                                             for target, space in self.placed):
            self.guard()
        for (target, space), ev in zip(self.placed, self.leases):
            self.progress.phase("sending the reset request to %s" % target)
            own = self.world.read(space, space.host_id, wait=timing.POLL_INTERVAL * 8)
            self._send_one(target, ev)
            self.step(evidence.request_sent(ev, self.world.clock(), own.record))

    def _send_one(self, target, ev):
        """set_event, waiting our turn while the lockspace's event slot holds another value.

        The daemon has one event slot per lockspace: the same value is shared (each
        target's bit stays set), a different one is refused with EBUSY until the
        earlier one has been out for 6 io_timeouts.
        """
        waiting = False
        while True:
            try:
                self.world.send_event(target.lockspace, target.host_id, ev.generation,
                                      self.request)
                return
            except EventSlotBusy:
                if not waiting:
                    self.step("the event slot of lockspace %s on this host is busy with "
                              "another kind of request; waiting for it" % target.lockspace)
                    waiting = True
                if self.deadline is not None and self.world.clock() >= self.deadline:
                    raise FenceError("lockspace %s's event slot on this host stayed busy "
                                     "with another kind of request until power_timeout: "
                                     "retry later" % target.lockspace) from None
                self.world.sleep(timing.POLL_INTERVAL)

    def check_not_being_reset(self):
        mutual.check_not_being_reset(self.world, self.placed, self.own_generation,
                                     deadline=self.deadline)

    def guard(self):
        io = max(ev.io_timeout for ev in self.leases)
        self.step("mutual_guard: waiting %d s before fencing a host with a lower host id, in "
                  "case it is fencing this one" % timing.mutual_guard_wait(io))
        mutual.guard(self.world, self.placed, self.own_generation, self.handles, io,
                     self.progress, deadline=self.deadline)

    def withdraw(self):
        for note in mutual.withdraw(self.world, self.placed, self.leases):
            self.step(note)

    def where_requests_stand(self):
        """After a failure: take back the requests not on storage yet, and say what the
        others may still do (a request on storage is read by the target's responder at
        its next renewals, whatever this agent does now)."""
        parts = []
        for (target, _space), ev in zip(self.placed, self.leases):
            if ev.request_sent_at is None:
                continue
            if ev.credited:
                parts.append("%s acknowledged the request: its watchdog may still reset it"
                             % target)
            elif ev.request_on_disk_at is not None:
                parts.append("the request for %s is on storage: its responder may still "
                             "reset the host" % target)
            else:
                try:
                    self.world.withdraw_event(target.lockspace, target.host_id,
                                              ev.generation)
                    parts.append("the request for %s was withdrawn before it reached the "
                                 "storage" % target)
                except FenceError:
                    parts.append("the request for %s could not be withdrawn: it may still "
                                 "reach the host and reset it" % target)
        return "; ".join(parts)

    def observe(self):
        """One round of observations."""
        for target, handle in self.handles:
            for event in self.world.read_events(handle):
                self.step(self._event_note(target, event))
        for (target, space), ev in zip(self.placed, self.leases):
            if ev.request_sent_at is not None and ev.request_on_disk_at is None:
                own = self.world.read(space, space.host_id, wait=timing.POLL_INTERVAL)
                self.step(evidence.observe_own_record(ev, own, self.request))
            read = self.world.read(space, target.host_id, wait=timing.POLL_INTERVAL)
            was_credited = ev.credited
            self.step(evidence.observe_record(ev, read))
            self.step(evidence.observe_view(ev, self.world.look(target.lockspace,
                                                                target.host_id)))
            if ev.credited and not was_credited:
                self.save()     # a retry of a killed fence starts from here

    def _event_note(self, target, event):
        mutual.raise_if_request(target, event)     # someone is resetting this very host
        if event.get("from_host_id") == target.host_id and event.get("event", 0) & \
                events.REPLY_BITS:
            return ("event: %s from %s generation %d"
                    % (events.name(event["event"]), target, event.get("from_generation", 0)))
        return None

    def loop(self):
        while True:
            self.observe()
            now = self.world.clock()
            verdict = judge(self.leases, now, self.bound, self.options.resource_mode,
                            fencing=True)
            if verdict.outcome == Outcome.WAIT:
                stuck = unreadable_too_long(self.leases, now)
                if stuck:
                    verdict = Verdict(Outcome.FAILED, stuck)
            if verdict.outcome == Outcome.PROVEN:
                self.save()
                self.step("proven: " + verdict.reason)
                self.progress.phase("proven: " + verdict.reason)
                return verdict.reason
            if verdict.outcome == Outcome.FAILED:
                self.save()
                raise FenceError(verdict.reason)
            if self.deadline is not None and now >= self.deadline:
                raise FenceError(
                    "the reset was not proven within power_timeout (%d s): %s; the host may "
                    "still be running. Raise power_timeout (a fence at this io_timeout takes "
                    "up to about %d s) or fence it by other means"
                    % (self.options.power_timeout,
                       phase(self.leases, now, self.bound),
                       timing.expected_fence_seconds(max(ev.io_timeout for ev in self.leases),
                                                     self.options.fire_timeout)[1]))
            self.progress.phase(phase(self.leases, now, self.bound))
            self.world.sleep(timing.POLL_INTERVAL)

    def close(self):
        for target, handle in self.handles:
            self.world.end_events(handle, target.lockspace)
        self.progress.done()


def fence(world, targets, options, progress=None, writer=None):
    """Reset the host behind targets; FenceResult once proven, FenceError otherwise.

    writer: the name under which this fence keeps its evidence in world.store.
    """
    job = None
    try:
        job = Fence(world, targets, options, progress, writer)
        verdict = job.first_look()
        if verdict.outcome == Outcome.PROVEN:
            return FenceResult(True, verdict.reason)
        if verdict.outcome == Outcome.FAILED:
            raise FenceError("nothing was sent: " + verdict.reason)
        job.send()
        return FenceResult(False, job.loop())
    except OwnHostReset:
        if job is not None:
            job.withdraw()
        raise
    except FenceError as err:
        message = str(err)
        if isinstance(err, ProxyError):
            message = ("this host's sanlock daemon failed during the fence, so the reset is "
                       "not proven: %s" % err)
        after = job.where_requests_stand() if job is not None else ""
        raise FenceError("%s (%s)" % (message, after) if after else message) from None
    finally:
        if job is not None:
            job.close()


def wait_until_on(world, targets, power_timeout, progress=None):
    """on: send nothing; wait for a reset host to come back by itself (LIVE again)."""
    progress = progress or Quiet()
    started = world.clock()
    placed, _ = place_targets(world.joined(), targets)
    try:
        while True:
            for target, _space in placed:
                view = world.look(target.lockspace, target.host_id).view
                if view.state == HostState.LIVE:
                    return "%s is live again (generation %d)" % (target, view.generation)
            elapsed = world.clock() - started
            if power_timeout and elapsed >= power_timeout:
                raise FenceError("the host has not rejoined its lockspace within %d s: sanlock "
                                 "cannot power a host on; a reset host boots by itself, so "
                                 "check its console if it does not come back" % power_timeout)
            progress.phase("waiting for the host to boot and rejoin %d s" % elapsed)
            world.sleep(1.0)
    finally:
        progress.done()
