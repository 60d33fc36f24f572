"""off and reboot: send a sanlk-resetd reset request and watch until it is proven.

The loop reads, every POLL_INTERVAL, everything that can carry evidence: pending
events (all of them, before deciding anything), the target's delta lease on disk
(the reply lands there one daemon renewal before the event reaches us), this
proxy's own lease (to know when the request reached the storage), and the state
the proxy's daemon computes. watch.FenceWatch turns that into a decision.
Anything unexpected ends the fence as a failure: a timeout is never success.
"""

import time
from dataclasses import dataclass

from .errors import FenceError
from .hoststate import HostState
from .lease import LeaseReadError
from .observe import resolve
from .proof import Power, host_verdict, lease_verdict
from .proxy import ProxyError
from .settings import FenceOptions  # noqa: F401  (re-exported for callers)
from .watch import FenceWatch, LeaseWatch, Outcome
from . import events, timing


@dataclass(frozen=True)
class FenceResult:
    already_off: bool
    proof: str


class _Quiet:
    """Progress sink that shows nothing."""

    def phase(self, text):
        pass

    def step(self, elapsed, text):
        pass

    def done(self):
        pass


def _initial_look(proxy, watched, resource_mode):
    """(view, record, verdict) per target before anything is sent.

    Both the target's record and this proxy's own must be readable now: without them
    the reply and the request cannot be seen on storage, and a reset that cannot be
    proven must not be started.
    """
    looks = []
    for item in watched:
        view = proxy.host(item.target.lockspace, item.target.host_id)
        try:
            record = item.reader.read(item.target.host_id)
            item.reader.read(item.own_host_id)
        except LeaseReadError as err:
            raise FenceError("nothing was sent: %s, so a reset of %s could not be proven"
                             % (err, item.target)) from None
        looks.append((item, view, record, lease_verdict(item.target, view, record,
                                                        resource_mode)))
    return looks


def _own_timestamp(item):
    """This proxy's lease timestamp now, to see the next renewal carry the request."""
    try:
        return item.reader.read(item.own_host_id).timestamp
    except LeaseReadError:
        return None


def _send(proxy, item, generation, event, deadline, note):
    """set_event, waiting our turn while another request holds the lockspace's event slot.

    The daemon has one event slot per lockspace: the same value is shared (each
    target's bit stays set), a different value is refused with EBUSY until the
    earlier one has been out for 6 io_timeouts.
    """
    waiting = False
    while True:
        try:
            proxy.send_event(item.target.lockspace, item.target.host_id, generation, event)
            return
        except Exception as err:   # only EBUSY reaches here; proxy raises FenceErrors itself
            if not proxy.is_busy(err):
                raise
            if not waiting:
                note("the event slot of lockspace %s on this host is busy with another kind "
                     "of request; waiting for it" % item.target.lockspace)
                waiting = True
            if deadline is not None and time.monotonic() >= deadline:
                raise FenceError("lockspace %s's event slot on this host stayed busy with "
                                 "another kind of request until the time bound: retry later"
                                 % item.target.lockspace) from None
            time.sleep(timing.POLL_INTERVAL)


def fence(proxy, targets, options, progress=None):
    """Reset the host behind targets and return a FenceResult once it is proven.

    Raises FenceError (the fence failed or cannot be proven) otherwise.
    """
    progress = progress or _Quiet()
    started = time.monotonic()
    deadline = started + options.power_timeout if options.power_timeout else None
    watched, missing = resolve(proxy, targets)
    for target in missing:
        progress.step(0, "%s: this host has not joined lockspace %s; not sent there"
                      % (target, target.lockspace))

    looks = _initial_look(proxy, watched, options.resource_mode)
    verdict = host_verdict([v for (_, _, _, v) in looks])
    if verdict.power == Power.OFF:
        return FenceResult(True, verdict.reason)
    if verdict.power == Power.UNPROVEN:
        raise FenceError("nothing was sent: " + verdict.reason)

    request = events.request_value(options.sysrq_reboot)
    leases = []
    for item, view, record, _ in looks:
        earlier = record is not None and record.carries_reply(view.generation)
        leases.append(LeaseWatch(target=item.target, io_timeout=view.io_timeout or
                                 (record.io_timeout if record else timing.DEFAULT_IO_TIMEOUT),
                                 request_generation=view.generation, earlier_reply=earlier,
                                 state=view.state,
                                 last_timestamp=record.timestamp if record else None))
    watch = FenceWatch(leases, started, options.resource_mode)
    for lease in leases:
        if lease.earlier_reply:
            watch.note(started, "%s already holds a reset reply from an earlier request; it is "
                       "not taken as a reply to this one" % lease.target)

    fds = []
    try:
        # register before sending, and drop what was pending: only replies that
        # arrive after the request can answer it
        for item in watched:
            fd = proxy.register_events(item.target.lockspace)
            fds.append((item, fd))
            proxy.read_events(fd)
        for item, lease in zip(watched, leases):
            progress.phase("sending the reset request to %s" % item.target)
            own = _own_timestamp(item)
            _send(proxy, item, lease.request_generation, request, deadline,
                  lambda text: progress.step(time.monotonic() - started, text))
            watch.request_sent(item.target, time.monotonic(), own)
        return FenceResult(False, _watch_loop(proxy, watched, fds, watch, request, deadline,
                                              options, progress, started))
    except ProxyError as err:
        raise FenceError("this host's sanlock daemon failed during the fence, so the reset is "
                         "not proven: %s" % err) from None
    finally:
        for item, fd in fds:
            proxy.end_events(fd, item.target.lockspace)
        progress.done()


def _watch_loop(proxy, watched, fds, watch, request, deadline, options, progress, started):
    shown = 0
    while True:
        now = time.monotonic()
        for item, fd in fds:
            for event in proxy.read_events(fd):
                watch.event(item.target, event, now)
        for item in watched:
            target = item.target
            try:
                if watch.awaits_request_on_disk(target):
                    watch.own_record(target, item.reader.read(item.own_host_id), now, request)
                watch.target_record(target, item.reader.read(target.host_id), now)
            except LeaseReadError as err:
                watch.note(now, "could not read a lease of %s this time: %s" % (target, err))
            # raises ProxyError when this host's daemon is gone or left the lockspace
            view = proxy.host(target.lockspace, target.host_id)
            watch.view(target, view, now)

        decision = watch.decide(now)
        for when, text in watch.timeline[shown:]:
            progress.step(when - started, text)
        shown = len(watch.timeline)
        if decision.outcome == Outcome.PROVEN:
            progress.step(now - started, "proven: " + decision.message)
            progress.phase("proven: " + decision.message)
            return decision.message
        if decision.outcome == Outcome.FAILED:
            raise FenceError(decision.message)
        if deadline is not None and now >= deadline:
            raise FenceError("the reset was not proven within power_timeout (%d s): %s; the "
                             "host may still be running. Raise power_timeout (expected fence "
                             "time at this io_timeout: about %d s) or fence it by other means"
                             % (options.power_timeout, watch.phase(now),
                                timing.expected_fence_seconds(watch.io_timeout())[1]))
        progress.phase(watch.phase(now))
        time.sleep(timing.POLL_INTERVAL)


def wait_until_on(proxy, targets, power_timeout, progress=None):
    """on: send nothing; wait for a reset host to come back by itself (LIVE again)."""
    progress = progress or _Quiet()
    started = time.monotonic()
    watched, _ = resolve(proxy, targets)
    try:
        while True:
            for item in watched:
                view = proxy.host(item.target.lockspace, item.target.host_id)
                if view.state == HostState.LIVE:
                    return "%s is live again (generation %d)" % (item.target, view.generation)
            elapsed = time.monotonic() - started
            if power_timeout and elapsed >= power_timeout:
                raise FenceError("the host has not rejoined its lockspace within %d s: sanlock "
                                 "cannot power a host on; a reset host boots by itself, so check "
                                 "its console if it does not come back" % power_timeout)
            progress.phase("waiting for the host to boot and rejoin %d s" % elapsed)
            time.sleep(1.0)
    finally:
        progress.done()
