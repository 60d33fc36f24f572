# SPDX-License-Identifier: GPL-2.0-or-later
"""monitor: is this host able to fence through the addressed lockspaces?

With host ids in the address it also says, per target, what can be known without
sending anything: whether the target holds a live lease here, its io_timeout and the
time a fence of it should take. A target that is not live does not fail monitor: the
device (this host and its lockspaces) is healthy; fencing that target is what would fail.

It also says whether this host itself could be fenced, by the target side it runs
(target_side.py): the responder's own verdict (watchdog_fire.fenceable) where it runs,
what is wrong where both or neither run. That is a warning, never a failure: monitor
is the health of this host as a fencing device for others, which a target side that
would not answer does not change.
"""

import logging

from ..core import bounded
from ..host import target_side
from ..core.address import escaped, shown_name
from ..core.errors import FenceError
from ..core.hoststate import HostState
from ..core.lease import LeaseReader, LeaseReadError
from ..core.resetd_protocol import ResetdClient
from ..core.timing import expected_fence_seconds, pacemaker_timeout
from ..core.world import not_joined_error


def monitor(proxy, lockspaces, targets=(), side=target_side.which, fenceable=None):
    """Raise FenceError unless the daemon answers and has joined every lockspace.

    targets: address.Target list (may be empty: then only the lockspaces are checked).
    side, fenceable: how this host's own target side is found and judged (tests pass
    fakes). Returns a list of one-line descriptions of what was checked.
    """
    joined = proxy.joined()
    problems, lines = [], []
    for name in lockspaces:
        space = joined.get(name)
        if space is None:
            problems.append(name)
            continue
        if space.adding:
            raise FenceError("this host's sanlock daemon is still joining lockspace %s: retry "
                             "in a few seconds" % shown_name(name))
        if space.removing:
            raise FenceError("this host's sanlock daemon is leaving lockspace %s"
                             % shown_name(name))
        _check_storage_readable(space)
        lines.append("lockspace %s joined as host id %d (%s:%d)"
                     % (shown_name(name), space.host_id, shown_path(space.path),
                        space.offset))
    if problems:
        raise not_joined_error(problems, joined, "this host cannot fence through it")
    for target in targets:
        space = joined.get(target.lockspace)
        if space is not None:
            lines.append(describe_target(proxy, target, space.host_id))
    lines.append(own_target_side(side, fenceable))
    return lines


def own_target_side(side=target_side.which, fenceable=None):
    """One line: can this host be fenced, by the target side it runs? Problems are also
    logged as warnings, so that they show without -v."""
    client = ResetdClient()
    found = side(client)
    if found.kind == "sanlk-resetd":
        # the sanlk-resetd path keeps its own checks: fence-sanlock-vdsm-resetd-sync
        # registers only where wdmd has sanlk-resetd as a client
        return ("this host's target side is sanlk-resetd (%s), which "
                "fence-sanlock-vdsm-resetd-sync keeps watching the joined lockspaces"
                % client.path)
    if found.kind == "responder":
        ok, text = target_side.responder_verdict(found, fenceable)
    elif found.kind == "both":
        ok, text = False, "this host cannot be fenced reliably: %s" % \
            target_side.both_problem(client)
    elif found.kind == "unknown":
        ok, text = False, target_side.none_problem(client, found)
    else:
        ok, text = False, "this host cannot be fenced: %s" % \
            target_side.none_problem(client, found)
    if not ok:
        logging.warning("%s", text)
    return text


STORAGE_CHECK_SECONDS = 10.0    # a stalled path fails monitor, inside Pacemaker's 20 s
SANLK_PATH_LEN = 1024           # sanlock's limit of a lockspace path: shown whole


def shown_path(path):
    """A lockspace path from this host's daemon (whoever added the lockspace chose it)."""
    return shown_name(path, limit=SANLK_PATH_LEN)


def _check_storage_readable(space):
    """Fencing reads leases from storage: a proxy that cannot is not healthy."""
    reader = LeaseReader(space.name, space.path, space.offset)
    try:
        bounded.call(reader.check_readable, STORAGE_CHECK_SECONDS,
                     "a read of lockspace %s at %s" % (shown_name(space.name),
                                                       shown_path(space.path)))
    except (LeaseReadError, bounded.CallTimeout) as err:
        raise FenceError("this host cannot read lockspace %s's leases, so it cannot prove a "
                         "fence: %s" % (shown_name(space.name), escaped(err))) from None


def describe_target(proxy, target, own_host_id):
    """One line: the target's lease as this host sees it, and the fence time to expect."""
    if target.host_id == own_host_id:
        return "%s is this host itself: it cannot fence itself" % target
    try:
        view = proxy.host(target.lockspace, target.host_id, retry_seconds=2.0)
    except FenceError as err:
        return "%s: cannot tell: %s" % (target, err)
    if view.state == HostState.FREE:
        return "%s holds no lease (FREE): nothing to fence through this lockspace" % target
    if view.state == HostState.LIVE:
        typical, worst = expected_fence_seconds(view.io_timeout)
        return ("%s is LIVE (generation %d, io_timeout %d s): a fence should take about "
                "%d s, at most about %d s, if its sanlk-resetd watches %s; under Pacemaker "
                "pcmk_off_timeout, pcmk_reboot_timeout and stonith-timeout must be at least "
                "%d (plain seconds)"
                % (target, view.generation, view.io_timeout, typical, worst,
                   target.lockspace, pacemaker_timeout(view.io_timeout)))
    return ("%s is %s (generation %d, io_timeout %d s): it is not renewing its lease; "
            "status tells whether a reset is proven"
            % (target, view.state.name, view.generation, view.io_timeout))
