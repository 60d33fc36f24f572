"""status and list: what the evidence says about hosts now, through judge().

A status look is a short history: the history observers on this host kept (an
earlier fence, the witness service; evidence_store) plus one look now. OFF needs a
proof: an observer here saw the reply arrive and the silence after the watchdog
bound, and the lease still shows the renewal it saw last; or resource_mode with
every lease expired. A lease that expired carrying a reply is not enough by
itself (the reply may be carried over from an earlier generation, or belong to a
fence whose watchdog failed): that is "cannot tell", exit 1.
"""

import copy
import enum
from collections import namedtuple

from .address import Target
from . import evidence, timing
from .evidence import LeaseEvidence, Look
from .judge import Outcome, judge
from .hoststate import HostState
from .nodes import held_leases, listed_nodes
from .world import not_joined_error, place_targets


class Power(enum.Enum):
    ON = "on"              # running, or may be running
    OFF = "off"            # proven reset
    UNPROVEN = "unproven"  # not running as far as sanlock knows, but nothing proves it stopped


StatusVerdict = namedtuple("StatusVerdict", "power reason")

MAY_RUN = (HostState.LIVE, HostState.FAIL, HostState.UNKNOWN)


def _look_once(world, placed):
    """(look, read) per placed target."""
    looks = []
    for target, space in placed:
        look = world.look(target.lockspace, target.host_id)
        read = world.read(space, target.host_id, wait=2.0)
        looks.append((target, look, read))
    return looks


def _fresh(target, look, read, bound):
    generation = look.view.generation
    if read.record is not None:
        generation = max(generation, read.record.owner_generation)
    ev = LeaseEvidence(target.lockspace, target.host_id, generation,
                       io_timeout=look.view.io_timeout or timing.DEFAULT_IO_TIMEOUT)
    evidence.observe_record(ev, read, bound)
    evidence.observe_view(ev, look, bound)
    return ev


def _continued(kept, look, read, bound):
    ev = copy.deepcopy(kept)
    evidence.observe_record(ev, read, bound)
    evidence.observe_view(ev, look, bound)
    return ev


def judge_looks(looks, store, bound, resource_mode=False):
    """StatusVerdict from one look per lease and what store kept (None: nothing kept)."""
    fresh = [_fresh(t, look, read, bound) for t, look, read in looks]
    histories = {}
    if store is not None:
        for ev, (_t, look, read) in zip(fresh, looks):
            for writer, kept in store.load(ev.lockspace, ev.host_id, ev.generation).items():
                histories.setdefault(writer, {})[ev.lockspace] = \
                    _continued(kept, look, read, bound)
    candidates = [[h.get(ev.lockspace, ev) for ev in fresh] for h in histories.values()]
    may_run = any(ev.state in MAY_RUN or ev.view_state in MAY_RUN for ev in fresh)
    now = max(look.returned for _t, look, _r in looks)

    verdicts = [judge(c, now, bound, resource_mode, fencing=False)
                for c in candidates]
    signs_of_life = [c for c in candidates if any(ev.failure for ev in c)]
    if signs_of_life:
        reason = next(ev.failure for ev in signs_of_life[0] if ev.failure)
        if not any(ev.rebooted for c in candidates for ev in c):
            return StatusVerdict(Power.ON if may_run else Power.UNPROVEN, reason)
    proofs = [v for v in verdicts if v.outcome == Outcome.PROVEN]
    if proofs:
        return StatusVerdict(Power.OFF, proofs[0].reason)
    pending = [v for v, c in zip(verdicts, candidates)
               if v.outcome == Outcome.WAIT and any(ev.credited for ev in c)]
    if pending:
        # acknowledged, and an observer here is waiting out its watchdog: it may still run
        return StatusVerdict(Power.ON, "a reset is under way: %s" % pending[0].reason)
    verdict = judge(fresh, now, bound, resource_mode, fencing=False)
    if verdict.outcome == Outcome.PROVEN:
        return StatusVerdict(Power.OFF, verdict.reason)
    if may_run:
        return StatusVerdict(Power.ON, _on_reason(fresh))
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
        io = max(look.view.io_timeout or 1 for _t, look, _r in looks)
        deadline = world.clock() + timing.unknown_wait(io)
        while any(look.view.state == HostState.UNKNOWN for _t, look, _r in looks) and \
                world.clock() < deadline:
            world.sleep(0.5)
            looks = _look_once(world, placed)
    for target, _look, read in looks:
        if read.error and log:
            log("%s: its lease record could not be read: %s" % (target, read.error))
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
                power = judge_looks([(Target(name, view.host_id), Look(now, now, view),
                                      read)], world.store, bound, resource_mode).power
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
