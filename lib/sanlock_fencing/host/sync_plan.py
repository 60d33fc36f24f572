# SPDX-License-Identifier: GPL-2.0-or-later
"""What to tell sanlk-resetd: the daemon's lockspaces against what it watches (pure)."""

from ..core.errors import FenceError
from ..core.resetd_protocol import RESETD_MAX_LOCKSPACES, name_problem


class LocalLockspaces:
    """One look at the local sanlock daemon: stable lockspaces and those in transition.

    stable: {name: key}, key = (host id, path, offset, generation): the generation
    changes at every join, so a lockspace left and joined again between two looks is
    still seen as new. transition: {name: "being added" | "being removed" | reason}.
    unsure: names joined whose generation could not be read this time (left as they are).
    """

    def __init__(self, stable, transition, unsure=()):
        self.stable = stable
        self.transition = transition
        self.unsure = set(unsure)


def look_at_daemon(proxy):
    """LocalLockspaces from a proxy.Proxy; raises FenceError when the daemon does not answer."""
    stable, transition, unsure = {}, {}, set()
    for name, space in proxy.joined().items():
        if space.adding:
            transition[name] = "being added"
            continue
        if space.removing:
            transition[name] = "being removed"
            continue
        try:
            view = proxy.host(name, space.host_id, retry_seconds=0)
        except FenceError as err:
            transition[name] = str(err)
            unsure.add(name)
            continue
        stable[name] = (space.host_id, space.path, space.offset, view.generation)
    return LocalLockspaces(stable, transition, unsure)


# ------------------------------------------------------------------ the decision (pure)

class Plan:
    def __init__(self, end, reg, waiting, unusable):
        self.end = end              # [name] to end: no longer joined as registered
        self.reg = reg              # [name] to register, in this order
        self.waiting = waiting      # [name] wanted but held back by the limit
        self.unusable = unusable    # {name: reason} that can never be registered


def plan(registered, stable, wanted=None, capacity=RESETD_MAX_LOCKSPACES, unsure=()):
    """Decide what to send.

    registered: {name: key} sanlk-resetd was told; stable: {name: key} joined now;
    wanted: None (every joined lockspace) or a set of names (a configured subset).

    A registration whose lockspace is no longer joined with the same key is ended (a
    changed key means left and joined again: "reg" alone redoes it). Registrations of
    joined lockspaces outside `wanted` are left alone: someone registered them on
    purpose (the unfence action). New registrations are capped at `capacity` in all.
    Registrations of `unsure` lockspaces (joined, but not readable this time) are kept.
    """
    end, reg, waiting, unusable = [], [], [], {}
    kept = 0
    for name in sorted(registered):
        key = stable.get(name)
        if name in unsure:
            kept += 1
        elif key is None:
            end.append(name)
        elif key != registered[name]:
            reg.append(name)        # re-joined: its old registration is gone
            kept += 1
        else:
            kept += 1
    room = capacity - kept
    for name in sorted(stable):
        if name in registered or (wanted is not None and name not in wanted):
            continue
        problem = name_problem(name)
        if problem:
            unusable[name] = problem
        elif room > 0:
            reg.append(name)
            room -= 1
        else:
            waiting.append(name)
    return Plan(end, reg, waiting, unusable)
