"""Hosts by name: what a lease says about who holds it, as Pacemaker names nodes.

sanlock's host name is one per daemon, the same in every lockspace it joins, and is
written into each of its delta leases: `-e NAME` or our_host_name in sanlock.conf, else
a random UUID, a dot and the uname nodename cut to 47 bytes on disk (so only about
10 characters of the node name). vdsm sets our_host_name to the host's UUID.

Pacemaker's fencer splits `list` output on whitespace, ',' and ';' and cuts every
entry at the first character outside [a-zA-Z0-9_.-]; it then compares node names
case-insensitively. So a target name is listed only when the fencer keeps it whole.
"""

import re

from .address import Target, shown
from .errors import FenceError, UsageError
from .world import not_joined_error

_DEFAULT_NAME = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.(.+)$",
                           re.I)
_KEPT_WHOLE = re.compile(r"^[A-Za-z0-9_.-]+$")


def node_name(host_name):
    """The node name a lease's host name stands for: the part after sanlock's default
    "UUID." prefix, or the whole name (our_host_name set, or vdsm's host UUID)."""
    match = _DEFAULT_NAME.match(host_name)
    return match.group(1) if match else host_name


def listable(name):
    """Whether Pacemaker's fencer keeps this name whole as a list target."""
    return bool(_KEPT_WHOLE.match(name)) and name.lower() not in ("on", "off")


def held_leases(world, space):
    """[(HostView, Read)] of every host holding a lease in a joined lockspace: its record
    was read (all of them together, within 2 s) and is not released. A record that could
    not be read leaves its host out."""
    views = world.hosts(space.name)
    reads = world.read_all(space, [view.host_id for view in views], wait=2.0)
    held = []
    for view in views:
        read = reads[view.host_id]
        if read.record is not None and read.record.timestamp:
            held.append((view, read))
    return held


def held_names(world, space):
    """[(host id, host name)] of every host holding a lease in a joined lockspace."""
    return [(view.host_id, read.record.host_name) for view, read in held_leases(world, space)]


def resolve(world, lockspaces, node):
    """Targets of the host Pacemaker calls `node`, in every addressed lockspace where it
    holds a lease. The match is the whole host name or its node-name part, case-
    insensitive, and must be unique in each lockspace."""
    joined = world.joined()
    absent = [name for name in lockspaces if name not in joined]
    if len(absent) == len(lockspaces):
        raise not_joined_error(absent, joined, "run the agent on a host that uses that "
                               "storage, or check the address")
    wanted = node.strip().lower()
    targets, seen = [], []
    for name in lockspaces:
        if name in absent:
            continue
        held = held_names(world, joined[name])
        seen += ["%s:%d %s" % (name, host_id, host) for host_id, host in held]
        matches = [host_id for host_id, host in held
                   if wanted in (host.lower(), node_name(host).lower())]
        if len(matches) > 1:
            raise UsageError("node name %s matches several hosts in lockspace %s (host ids "
                             "%s): give each host its own sanlock host name (our_host_name), "
                             "or map the node with pcmk_host_map=%s:HOST_ID"
                             % (shown(node), name, ", ".join(map(str, matches)), node))
        if matches:
            targets.append(Target(name, matches[0]))
    if not targets:
        raise FenceError("node name %s matches no host holding a lease in %s (they hold: "
                         "%s): set our_host_name to the node name in /etc/sanlock/sanlock.conf "
                         "on that host (sanlock's default name keeps only about 10 characters "
                         "of it), or map it with pcmk_host_map=%s:HOST_ID"
                         % (shown(node), ", ".join(lockspaces), "; ".join(seen) or "nobody",
                            node))
    return targets
