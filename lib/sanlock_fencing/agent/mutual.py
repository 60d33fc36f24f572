# SPDX-License-Identifier: GPL-2.0-or-later
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

from ..core import events, timing
from ..core.address import shown_name
from ..core.errors import FenceError
from ..core.proxy import ProxyError

# How long the look for a pending request waits for a lockspace's records when the
# fence gives no deadline (the same as the first look's reads). One read per 64 KiB of
# the lockspace (world.read_all), all under this one wait: 2000 hosts on a stalled path
# cost this wait, not 2000 of them.
CHECK_WAIT = timing.POLL_INTERVAL * 8


class OwnHostReset(FenceError):
    """A reset request addressed to this proxy arrived while it was fencing."""


def own_reset_message(sender, event, lockspace, target, how):
    """What is known when a request for this host is seen: who sent it where, that its
    effect depends on a responder here, and why the fence stops."""
    return ("a %s request for this host %s from host %d in lockspace %s; it resets this "
            "host only if a responder (sanlk-resetd) watches lockspace %s here. The fence "
            "of %s stops: of two nodes fencing each other only one may proceed"
            % (events.name(event), how, sender, shown_name(lockspace),
               shown_name(lockspace), shown_name(target)))


def raise_if_request(target, event):
    if event.get("event", 0) & events.REQUEST_BITS:
        raise OwnHostReset(own_reset_message(event.get("from_host_id", 0), event["event"],
                                             target.lockspace, target, "arrived"))


def check_not_being_reset(world, placed, own_generation, wait=CHECK_WAIT, deadline=None):
    """Raise OwnHostReset when another host's record carries a reset request for this
    host's generation, FenceError when that cannot be ruled out.

    All records of a lockspace are read together, and all lockspaces within one `wait`
    (seconds), never past `deadline` (world.clock() time; the fence's, None: none).

    A record that cannot be read, stalled or in error, is not evidence that no request
    is pending: it may carry one that this host's daemon reads a moment later, and then
    both nodes of a pair fencing each other would be reset. So the fence stops there,
    before anything is sent. That costs nothing a fence could have had: a fence from a
    host that cannot read its lockspace could not see the reply or the silence either
    (the first look needs readable records, and the loop gives up on unreadable ones).
    Its limit: a record of a third host that stays unreadable blocks every fence from
    this host in that lockspace, with a message naming that host.
    """
    until = world.clock() + wait
    if deadline is not None:
        until = min(until, deadline)
    for target, space in placed:
        others = [view.host_id for view in world.hosts(space.name)
                  if view.host_id != space.host_id]
        if not others:
            continue
        left = until - world.clock()
        if left <= 0:
            raise FenceError("nothing was sent: the fence's time (power_timeout) ran out "
                             "before the records of lockspace %s could be checked for a "
                             "request resetting this host; raise power_timeout"
                             % shown_name(space.name))
        reads = world.read_all(space, others, wait=left)
        for host_id in sorted(reads):
            _check_record(host_id, reads[host_id], space, own_generation.get(space.name),
                          target)


def _check_record(host_id, read, space, mine, target):
    if read.record is None:
        raise FenceError("nothing was sent: the record of host %d in lockspace %s could "
                         "not be read (%s), so a reset request for this host there cannot "
                         "be ruled out, and a fence from a host that cannot read its "
                         "lockspace could not be proven either; check this host's storage "
                         "path" % (host_id, shown_name(space.name), read.error))
    record = read.record
    if record.event & events.RESET and record.addresses(space.host_id) and \
            record.event_generation == mine:
        raise OwnHostReset(own_reset_message(host_id, record.event, space.name, target,
                                             "is on storage"))


def guard(world, placed, own_generation, handles, io_timeout, progress, deadline=None):
    """Wait timing.mutual_guard_wait(), watching for a request for this host.

    deadline (world.clock() time, None: none): the fence's; a guard that would end after
    it stops before waiting, nothing sent, since a request sent after the deadline
    could still reset the host after the fence said it failed.
    """
    wait = timing.mutual_guard_wait(io_timeout)
    until = world.clock() + wait
    if deadline is not None and until > deadline:
        raise FenceError("nothing was sent: the mutual guard waits %d s before fencing a "
                         "host with a lower host id, and only %d s of power_timeout are left; "
                         "raise power_timeout or set mutual_guard off"
                         % (wait, max(0, deadline - world.clock())))
    while world.clock() < until:
        progress.phase("mutual guard: %d s before sending" % (until - world.clock()))
        for target, handle in handles:
            for event in world.read_events(handle):
                raise_if_request(target, event)
        check_not_being_reset(world, placed, own_generation, deadline=deadline)
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
