# SPDX-License-Identifier: GPL-2.0-or-later
"""status and list: what the evidence says about hosts now, through judge.

A status look is a short history: what observers on this host kept (an earlier
fence, the witness service; evidence_store), continued with one look now when it is
about the very same lease (evidence.continues), weighed by judge.judge_observers.
OFF needs a proof: an observer here saw the reply arrive and the silence after the
watchdog bound, and the lease still shows the renewal it saw last; or resource_mode
with every lease expired. A lease that expired carrying a reply is not enough by
itself (the reply may be carried over from an earlier generation, or belong to a
fence whose watchdog failed): that is "cannot tell", exit 1.
"""

import enum
from collections import namedtuple

from ..core import evidence, timing
from ..core.address import Target
from ..core.evidence import Look
from ..core.judge import Outcome, judge_observers
from ..core.hoststate import HostState
from .nodes import held_leases, listed_nodes
from ..core.world import not_joined_error, place_targets


class Power(enum.Enum):
    ON = "on"              # running, or may be running
    OFF = "off"            # proven reset
    UNPROVEN = "unproven"  # not running as far as sanlock knows, but nothing proves it stopped


StatusVerdict = namedtuple("StatusVerdict", "power reason")

MAY_RUN = (HostState.LIVE, HostState.FAIL, HostState.UNKNOWN)

# One look at one lease: the target, its lockspace as joined here, the daemon's answer,
# one read of the record, and this host's own generation in the lockspace.
Observation = namedtuple("Observation", "target space look read own_generation")


def _look_once(world, placed):
    """One Observation per placed target."""
    looks = []
    own = {}
    for target, space in placed:
        if space.name not in own:
            own[space.name] = world.look(space.name, space.host_id).view.generation
        look = world.look(target.lockspace, target.host_id)
        read = world.read(space, target.host_id, wait=2.0)
        looks.append(Observation(target, space, look, read, own[space.name]))
    return looks


def _kept_histories(store, fresh, looks):
    """[[LeaseEvidence per lease]] per observer that kept the very same leases, each
    continued with this look."""
    histories = {}
    if store is None:
        return []
    for ev, obs in zip(fresh, looks):
        for writer, kept in sorted(store.load(ev.lockspace, ev.host_id,
                                              ev.generation).items()):
            continued = evidence.continues(kept, ev)
            if continued is None:
                continue
            evidence.observe_record(continued, obs.read)
            evidence.observe_view(continued, obs.look)
            histories.setdefault(writer, {})[ev.lockspace] = continued
    return [[kept.get(ev.lockspace, ev) for ev in fresh] for kept in histories.values()]


def judge_looks(looks, store, bound, resource_mode=False):
    """StatusVerdict from one Observation per lease and what store kept (None: nothing)."""
    fresh = [evidence.begin(o.space, o.target.host_id, o.look, o.read, o.own_generation)[0]
             for o in looks]
    histories = _kept_histories(store, fresh, looks)
    now = max(o.look.returned for o in looks)
    verdict = judge_observers(fresh, histories, now, bound, resource_mode)
    if verdict.outcome == Outcome.PROVEN:
        return StatusVerdict(Power.OFF, verdict.reason)
    if verdict.under_way:
        # acknowledged, and an observer here is waiting out its watchdog: it may still
        # run, whatever its lease looks like now
        return StatusVerdict(Power.ON, verdict.reason)
    may_run = any(ev.state in MAY_RUN or ev.view_state in MAY_RUN for ev in fresh)
    if may_run:
        return StatusVerdict(Power.ON, verdict.reason if verdict.alive else _on_reason(fresh))
    return StatusVerdict(Power.UNPROVEN, verdict.reason)


def _on_reason(leases):
    parts = []
    for ev in leases:
        state = HostState(ev.view_state)
        if state == HostState.LIVE:
            parts.append("%s is live (generation %d)" % (ev, ev.generation))
        elif state == HostState.FAIL:
            parts.append("%s has stopped renewing its lease but may still be running (its "
                         "lease is not expired yet)" % ev)
        elif state == HostState.UNKNOWN:
            parts.append("%s is not judged yet by this host's sanlock daemon; it may be "
                         "running" % ev)
    return "; ".join(parts)


def host_status(world, targets, resource_mode=False, fire_timeout=timing.DEFAULT_FIRE_TIMEOUT,
                wait_unknown=True, log=None):
    """StatusVerdict for the host behind targets, as this host sees it now.

    A lease the daemon has not judged yet (UNKNOWN) is given a short while to get a
    state rather than guessed; if it stays UNKNOWN the host counts as ON.
    """
    bound = timing.watchdog_bound(fire_timeout)
    placed, missing = place_targets(world.joined(), targets)
    if missing and log:
        log("not joined here, not looked at: %s" % ", ".join(str(t) for t in missing))
    looks = _look_once(world, placed)
    if wait_unknown:
        io = max(o.look.view.io_timeout or 1 for o in looks)
        deadline = world.clock() + timing.unknown_wait(io)
        while any(o.look.view.state == HostState.UNKNOWN for o in looks) and \
                world.clock() < deadline:
            world.sleep(0.5)
            looks = _look_once(world, placed)
    for o in looks:
        if o.read.error and log:
            log("%s: its lease record could not be read: %s" % (o.target, o.read.error))
    verdict = judge_looks(looks, world.store, bound, resource_mode)
    if log:
        log(verdict.reason)
    return verdict


def list_hosts(world, lockspaces, resource_mode=False,
               fire_timeout=timing.DEFAULT_FIRE_TIMEOUT, warn=None, addressed=None):
    """{node name: ("", ON/OFF/UNKNOWN)}: one entry per host holding a lease in any of
    lockspaces, named as Pacemaker names nodes (nodes.node_name), so that the fencer's
    dynamic-list finds them. addressed: {lockspace: host id} where the address names a
    host: only that host of the lockspace is listed (a device made for one node is
    picked for that node alone). A name that could pick the wrong machine is left out,
    and warn() is told why (nodes.listed_nodes)."""
    bound = timing.watchdog_bound(fire_timeout)
    joined = world.joined()
    absent = [name for name in lockspaces if name not in joined]
    if len(absent) == len(lockspaces):
        raise not_joined_error(absent, joined, "this host cannot list its hosts")
    if absent and warn:
        warn("not joined here, not listed: %s" % ", ".join(absent))
    leases = {}
    for name in lockspaces:
        if name in absent:
            continue
        space = joined[name]
        for view, read in held_leases(world, space):
            if (addressed or {}).get(name, view.host_id) == view.host_id:
                leases[(name, view.host_id)] = (space, view, read)
    named = listed_nodes([(name, host_id, read.record.host_name) for (name, host_id),
                          (_space, _view, read) in sorted(leases.items())],
                         warn or (lambda _text: None))
    found = {}
    for node, places in named.items():
        for name, host_id in places:
            space, view, read = leases[(name, host_id)]
            if view.host_id == space.host_id:
                power = Power.ON      # this host itself
            else:
                now = world.clock()
                own = world.look(name, space.host_id).view.generation
                power = judge_looks([Observation(Target(name, view.host_id), space,
                                                 Look(now, now, view), read, own)],
                                    world.store, bound, resource_mode).power
            found.setdefault(node.lower(), (node, []))[1].append(power)
    outlets = {}
    for node, powers in found.values():
        if any(p == Power.ON for p in powers):
            text = "ON"
        elif all(p == Power.OFF for p in powers):
            text = "OFF"
        else:
            text = "UNKNOWN"
        outlets[node] = ("", text)
    return outlets
