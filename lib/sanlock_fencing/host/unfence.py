# SPDX-License-Identifier: GPL-2.0-or-later
"""on, run by the target itself (Pacemaker's on_target unfencing): make this host fenceable.

Pacemaker runs an on_target "on" on the node that joins the cluster, before it starts
resources. For this agent a node is fenceable through a lockspace when its sanlock
daemon has joined that lockspace with the addressed host id and a target side answers
reset requests there truly. Which target side runs is told by target_side.which():
- fence-sanlock-vdsm-responder (the default): it answers in every joined lockspace by
  itself; what is checked is that it runs and that its answer would be true
  (watchdog_fire.fenceable: wdmd petting a device that fires within the proxies' bound;
  the iTCO_wdt case and no watchdog in use are refused with the reason);
- sanlk-resetd (EL8, Debian with sanlk-reset): the lockspace is registered with it
  (through the same state file as fence-sanlock-vdsm-resetd-sync, so it is never
  registered twice), where wdmd has sanlk-resetd as a client (watchdog_check).
Both running, or neither, fails with what to do. It fails with the reason when the
node cannot be made fenceable, so that Pacemaker keeps it from running resources.
"""

import time

from ..core.address import shown_name
from ..core.errors import FenceError, UsageError
from . import target_side
from ..core import watchdog_check
from ..core.resetd_protocol import RESETD_MAX_LOCKSPACES, ResetdClient
from .resetd_sync import register
from .sync_state import StateFile

# waiting for a lockspace being joined or sanlk-resetd starting; below Pacemaker's default
# 60 s action timeout
DEFAULT_WAIT = 40.0
REASON_LIMIT = 1000   # sanlk-resetd's and resetd_sync's reasons: escaped, cut only if absurd


def addresses_this_host(proxy, targets):
    """True when some target is this host's own host id in a lockspace it has joined.

    Host ids are unique in a lockspace, so such an address names this very host: an
    "on" for it is an unfencing run on the target (Pacemaker's on_target).
    """
    joined = proxy.joined()
    for target in targets:
        space = joined.get(target.lockspace)
        if space is not None and not space.removing and space.host_id == target.host_id:
            return True
    return False


class _Check:
    """One look: (done {target: text}, waiting {target: reason}); raises on hopeless cases."""

    def __init__(self, proxy, targets, client, state_file, capacity, watchdog, side,
                 fenceable):
        self.watchdog = watchdog
        self.proxy = proxy
        self.targets = targets
        self.client = client
        self.state_file = state_file
        self.capacity = capacity
        self.side = side
        self.fenceable = fenceable

    def __call__(self):
        done, waiting = {}, {}
        try:
            joined = self.proxy.joined()
        except FenceError as err:
            return done, {t: str(err) for t in self.targets}
        ready = []
        for target in self.targets:
            space = joined.get(target.lockspace)
            if space is None or space.removing:
                waiting[target] = ("this host's sanlock daemon has not joined lockspace %s: "
                                   "join it before the cluster starts (the storage must be "
                                   "reachable)" % shown_name(target.lockspace))
            elif space.host_id != target.host_id:
                raise UsageError("the address names host id %d in lockspace %s, but this "
                                 "host holds host id %d there: check the address (or "
                                 "pcmk_host_map) for this node"
                                 % (target.host_id, shown_name(target.lockspace),
                                    space.host_id))
            elif space.adding:
                waiting[target] = ("this host's sanlock daemon is still joining lockspace %s"
                                   % shown_name(target.lockspace))
            else:
                ready.append(target)
        if not ready:
            return done, waiting
        side = self.side(self.client)
        if side.kind != "sanlk-resetd":
            self._check_responder(side, ready, done, waiting)
            return done, waiting
        result = register(self.proxy, {t.lockspace for t in ready}, self.client,
                          self.state_file, self.capacity, self.watchdog)
        for target in ready:
            if target.lockspace in result.registered:
                done[target] = ("%s is watched by sanlk-resetd: this host can be fenced "
                                "through it" % shown_name(target))
                continue
            reason = shown_name(result.pending.get(target.lockspace) or result.problem or
                                "not registered", limit=REASON_LIMIT)
            if target.lockspace in result.over_limit:
                raise FenceError("%s cannot be watched: sanlk-resetd watches at most %d "
                                 "lockspaces and that many are registered already; this "
                                 "host could not be fenced through it"
                                 % (shown_name(target), self.capacity))
            waiting[target] = reason
        return done, waiting

    def _check_responder(self, side, ready, done, waiting):
        """The responder answers in every joined lockspace by itself: nothing to
        register, only whether it runs and whether its answer would be true."""
        if side.kind == "both":
            reason = target_side.both_problem(self.client)
        elif side.kind in ("none", "unknown"):
            reason = target_side.none_problem(self.client, side)
        else:
            ok, text = target_side.responder_verdict(side, self.fenceable)
            if ok:
                done.update((t, "%s: %s" % (shown_name(t), text)) for t in ready)
                return
            reason = shown_name(text, limit=REASON_LIMIT)
        waiting.update((t, reason) for t in ready)


def unfence(proxy, targets, wait=DEFAULT_WAIT, client=None, state_file=None,
            capacity=RESETD_MAX_LOCKSPACES, sleep=time.sleep, clock=time.monotonic,
            watchdog=watchdog_check.check, side=target_side.which, fenceable=None):
    """Make this host fenceable through every target; return one line saying so.

    Waits up to `wait` seconds for a lockspace still being joined or a target side
    still starting; raises FenceError with the reason(s) otherwise. side(client): which
    target side runs (target_side.which); fenceable: the responder's watchdog verdict
    (None: watchdog_fire.fenceable on the devices the responder checks); watchdog: the
    check before registering with sanlk-resetd.
    """
    check = _Check(proxy, targets, client or ResetdClient(),
                   state_file if state_file is not None else StateFile(), capacity, watchdog,
                   side, fenceable)
    deadline = clock() + wait
    while True:
        done, waiting = check()
        if not waiting:
            return "; ".join(done[t] for t in targets)
        if clock() >= deadline:
            reasons = []
            for reason in waiting.values():
                if reason not in reasons:
                    reasons.append(reason)
            names = ",".join(shown_name(t) for t in targets if t in waiting)
            raise FenceError("this host cannot be made fenceable through %s: %s"
                             % (names, "; ".join(reasons)))
        sleep(1.0)
