# SPDX-License-Identifier: GPL-2.0-or-later
"""The witness: every host records the reset replies it receives, and follows the hosts
that sent them until their reset is proven or ruled out.

sanlk-resetd sends its RESETTING reply to every host of the lockspace. A host that
keeps the moment the reply arrived, and the target's renewals after it, holds the
history that a single look at storage lacks (evidence.py): with it, status on this
host says OFF soon after the reset is proven, through whichever host oVirt asks,
and a second fence of the same host can use the reply's arrival. The witness is
the same judge as the fence loop, fed by events instead of a request of its own.

Limits, stated plainly:
- A reply is credited only when it cannot be older than this host's registration
  (a reply set earlier may be delivered late, its bits stay set for 6 io_timeouts,
  and its arrival would then say too little about when it was set): the host's
  record read right after registering showed no reply in that generation, or an
  older generation; otherwise only when it arrived registered_for() seconds after
  registering.
- The arrival time bounds the arming from above; the target's timestamp at the
  arrival bounds it too, exactly when this host's daemon processed the renewal that
  carried the reply (it does, unless a renewal of this host's daemon was delayed
  past one of the target's).
- It costs one event registration per lockspace on this host's daemon and, only
  while a replied host is watched (a couple of minutes per reset), one read of that
  host's record per interval.
"""

import logging
import select
import sys

from . import service
from ..core import evidence, events, timing
from ..core.address import escaped, shown_name
from ..core.errors import FenceError
from ..core.evidence_store import EvidenceStore
from ..core.proxy import Proxy
from ..core.world import HostWorld
from ..core.judge import Outcome, Verdict, judge

log = logging.getLogger("witness")

WRITER = "witness"
INTERVAL = 1.0
GIVE_UP_AFTER = 900.0     # a watched host that is neither proven nor failed by then


def registered_for(io_timeout):
    """Registration age from which a reply's first arrival is its first write."""
    return 8 * io_timeout + 5


class Followed:
    """One replied host being watched."""

    def __init__(self, ev, space, started, reply):
        self.ev = ev
        self.space = space
        self.started = started
        self.reply = reply           # (event, data) of the reply that started it
        self.done = False


class Witness:
    def __init__(self, world, fire_timeout=timing.DEFAULT_FIRE_TIMEOUT):
        self.world = world
        self.bound = timing.watchdog_bound(fire_timeout)
        self.registrations = {}     # lockspace -> (handle, registered at, JoinedLockspace)
        self.followed = {}           # (lockspace, host id, generation) -> Followed
        self.clean = {}             # lockspace -> {host id: generation without a reply}

    # -- registrations -------------------------------------------------------------------

    def sync_registrations(self):
        joined = {name: space for name, space in self.world.joined().items()
                  if not space.adding and not space.removing}
        for name in sorted(set(self.registrations) - set(joined)):
            handle, _, _ = self.registrations.pop(name)
            self.world.end_events(handle, name)
            self._forget_lockspace(name)
            log.info("stopped witnessing lockspace %s: this host left it", shown_name(name))
        for name in sorted(set(joined) - set(self.registrations)):
            try:
                handle = self.world.register_events(name)
            except FenceError as err:
                log.warning("cannot witness lockspace %s yet: %s", shown_name(name), escaped(err))
                continue
            self.registrations[name] = (handle, self.world.clock(), joined[name])
            self._forget_lockspace(name)
            self.clean[name] = self._clean_records(joined[name])
            log.info("witnessing lockspace %s (this host is host id %d)", shown_name(name),
                     joined[name].host_id)

    def _forget_lockspace(self, name):
        """Drop what this host kept and follows in lockspace name: it belonged to this
        host's earlier life in it (left, joined again, or a registration lost with a
        daemon restart). A witness restart drops it too: status then waits for new
        evidence, it never says OFF on less."""
        for key in [key for key in self.followed if key[0] == name]:
            del self.followed[key]
        if self.world.store is not None:
            self.world.store.forget(name)

    def _clean_records(self, space):
        """{host id: generation} of hosts whose record shows no reply now (read after
        registering: a reply that arrives later for them was set after this moment)."""
        clean = {}
        try:
            views = self.world.hosts(space.name)
        except FenceError as err:
            log.warning("cannot list the hosts of lockspace %s: %s", shown_name(space.name),
                        escaped(err))
            return clean
        for view in views:
            if view.host_id == space.host_id:
                continue
            read = self.world.read(space, view.host_id, wait=2.0)
            if read.record is not None and not read.record.event & events.RESETTING:
                clean[view.host_id] = read.record.owner_generation
        return clean

    # -- events ----------------------------------------------------------------------------

    def take_events(self, name):
        handle, registered, space = self.registrations[name]
        try:
            batch = self.world.read_events(handle)
        except FenceError as err:
            log.warning("lost the event registration of lockspace %s: %s", shown_name(name),
                        escaped(err))
            self.registrations.pop(name, None)
            return
        for event in batch:
            if event.get("event", 0) & events.RESETTING:
                self.reply_arrived(space, registered, event)

    def reply_arrived(self, space, registered, event):
        now = self.world.clock()
        host_id, generation = event["from_host_id"], event["from_generation"]
        key = (space.name, host_id, generation)
        reply = (event.get("event", 0), event.get("data", 0))
        if key in self.followed and self.followed[key].reply == reply:
            return                       # the same reply again (it is repeated while set)
        # a new reply of the same generation (our responder numbers its replies) replaces
        # what was followed: a request after a reset that did not happen, or after a reply
        # set on that host by something else, is judged by its own reply
        own = self.world.look(space.name, space.host_id).view.generation
        look = self.world.look(space.name, host_id)
        read = self.world.read(space, host_id, wait=2.0)
        ev, _note = evidence.begin(space, host_id, look, read, own)
        io = ev.io_timeout
        item = Followed(ev, space, now, reply)
        self.followed[key] = item
        clean_generation = self.clean.get(space.name, {}).get(host_id)
        fresh = clean_generation is not None and clean_generation <= generation
        if not fresh and now - registered < registered_for(io):
            log.info("%s replied %s, but this host registered %.0f s ago: its arrival may be "
                     "late, not credited", shown_name(ev), events.name(event["event"]),
                     now - registered)
            item.done = True
            return
        stamps = [t for t in (look.view.timestamp if look.view.generation == generation
                              else None,
                              read.record.timestamp if read.record is not None and
                              read.record.owner_generation == generation else None) if t]
        if not stamps or ev.generation != generation:
            log.info("%s replied but its lease does not show generation %d: not credited",
                     shown_name(ev), generation)
            item.done = True
            return
        note = evidence.credit_reply(ev, now, min(stamps), event["event"], "received by "
                                     "the witness on this host",
                                     events.decode_reply_bound(event.get("data", 0)))
        log.info("%s", escaped(note))
        self.world.store.save(ev, WRITER)

    # -- watching --------------------------------------------------------------------------

    def follow(self, item):
        ev = item.ev
        before = ev.to_json()
        read = self.world.read(item.space, ev.host_id, wait=timing.POLL_INTERVAL)
        look = self.world.look(ev.lockspace, ev.host_id)
        for note in (evidence.observe_record(ev, read), evidence.observe_view(ev, look)):
            if note:
                log.info("%s", escaped(note))
        verdict = judge([ev], self.world.clock(), self.bound, fencing=False)
        if verdict.outcome == Outcome.WAIT and \
                self.world.clock() - item.started > GIVE_UP_AFTER:
            verdict = Verdict(Outcome.FAILED, "neither proven nor ruled out")
        if verdict.outcome != Outcome.WAIT:
            log.info("%s: %s: %s", shown_name(ev), verdict.outcome.value,
                     escaped(verdict.reason))
            item.done = True
        if ev.to_json() != before:
            self.world.store.save(ev, WRITER)

    def step(self, wait=INTERVAL):
        """One round: registrations, events (waiting up to `wait` for one), followed."""
        self.sync_registrations()
        handles = {handle: name for name, (handle, _, _) in self.registrations.items()}
        ready = self._wait_readable(list(handles), wait)
        for handle in ready:
            self.take_events(handles[handle])
        for key, item in list(self.followed.items()):
            if not item.done:
                try:
                    self.follow(item)
                except FenceError as err:
                    log.warning("cannot follow %s now: %s", shown_name(item.ev), escaped(err))
            elif self.world.clock() - item.started > GIVE_UP_AFTER:
                del self.followed[key]

    def _wait_readable(self, handles, wait):
        if not handles:
            self.world.sleep(wait)
            return []
        poller = getattr(self.world, "poll_events", None)
        if poller is not None:
            return poller(handles, wait)
        p = select.poll()
        for fd in handles:
            p.register(fd, select.POLLIN)
        return [fd for fd, _mask in p.poll(wait * 1000)]


def main(argv=None, world_factory=None):
    """fence-sanlock-vdsm-witness: run the witness until SIGTERM."""
    args = service.parse(service.parser(
        "fence-sanlock-vdsm-witness",
        "Record the reset replies this host receives in every lockspace its sanlock daemon "
        "has joined, and follow the hosts that sent them, so that fence_sanlock_vdsm's status "
        "on this host can prove their reset.", INTERVAL), argv)
    world_factory = world_factory or (lambda: HostWorld(Proxy(), EvidenceStore()))
    try:
        world = world_factory()
    except FenceError as err:
        log.error("%s", escaped(err))
        return 1
    witness = Witness(world, timing.configured_fire_timeout())

    def step():
        try:
            witness.step(args.interval)     # waits for events itself, up to the interval
        except FenceError as err:           # this host's daemon is down: look again later
            log.warning("%s; retrying", escaped(err))
            world.sleep(args.interval)
    return service.run_until_signalled(step, 0.01, "witnessing reset replies in every "
                                       "joined lockspace")


if __name__ == "__main__":
    sys.exit(main())
