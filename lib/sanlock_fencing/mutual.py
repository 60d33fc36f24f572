"""Two nodes fencing each other: at most one of them may be reset.

Two nodes that lose their network but not their storage fence each other at about the
same moment, and each request would arm the other's watchdog. So:
- a fence stops at once when a request for its own host arrives (by event: this host's
  daemon hands it one only when the sender set this host's bit) or is pending on
  storage (a lease whose event is a RESET for this host's generation, its bit still
  set: sent within the last 6 io_timeouts, maybe before this fence registered);
- with the guard on, a proxy with a higher host id than its target waits, watching for
  the target's own request, before sending: if it comes, this host is the one reset;
- a request of this host's that has not reached the storage yet is withdrawn when this
  host turns out to be the one being reset.
"""

from . import events, timing
from .errors import FenceError
from .proxy import ProxyError


class OwnHostReset(FenceError):
    """A reset request addressed to this proxy arrived while it was fencing."""


def raise_if_request(target, event):
    if event.get("event", 0) & events.REQUEST_BITS:
        raise OwnHostReset(
            "this host is being reset: host %d sent it a %s request in lockspace %s; its "
            "fence of %s cannot complete (of two nodes fencing each other, only one may "
            "survive)" % (event.get("from_host_id", 0), events.name(event["event"]),
                          target.lockspace, target))


def check_not_being_reset(world, placed, own_generation):
    for target, space in placed:
        mine = own_generation.get(space.name)
        for view in world.hosts(space.name):
            if view.host_id == space.host_id:
                continue
            record = world.read(space, view.host_id, wait=timing.POLL_INTERVAL).record
            if record is not None and record.event & events.RESET and \
                    record.addresses(space.host_id) and record.event_generation == mine:
                raise OwnHostReset(
                    "this host is being reset: host %d asked for it in lockspace %s; its "
                    "fence of %s cannot complete" % (view.host_id, space.name, target))


def guard(world, placed, own_generation, handles, io_timeout, progress):
    """Wait timing.mutual_guard_wait(), watching for a request for this host."""
    until = world.clock() + timing.mutual_guard_wait(io_timeout)
    while world.clock() < until:
        progress.phase("mutual guard: %d s before sending" % (until - world.clock()))
        for target, handle in handles:
            for event in world.read_events(handle):
                raise_if_request(target, event)
        check_not_being_reset(world, placed, own_generation)
        world.sleep(1.0)


def withdraw(world, placed, leases):
    """Take back requests not on storage yet; yields a line for the timeline per lease."""
    for (target, _space), ev in zip(placed, leases):
        if ev.request_sent_at is not None and ev.request_on_disk_at is None:
            try:
                world.withdraw_event(target.lockspace, target.host_id, ev.generation)
                yield "withdrew the request for %s before it reached the storage" % target
            except ProxyError as err:
                yield "could not withdraw the request for %s: %s" % (target, err)
