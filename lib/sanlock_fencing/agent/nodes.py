# SPDX-License-Identifier: GPL-2.0-or-later
"""Hosts by name: what a lease says about who holds it, as Pacemaker names nodes.

sanlock's host name is one per daemon, the same in every lockspace it joins, and is
written into each of its delta leases: `-e NAME` or our_host_name in sanlock.conf, else
a random UUID, a dot and the uname nodename, of which 47 bytes reach the disk (so only
10 characters of the node name). vdsm sets our_host_name to the host's UUID.

A node name (Pacemaker's port or nodename) picks or checks a lease only through a name
that is whole: a default name that fills the 47 bytes may have been cut (cluster-n10,
cluster-n1.example.com and cluster-n1 all show as "UUID.cluster-n1"), so it is never
matched and never listed. One machine has one host name in every lockspace: leases
with different host names are different machines, whatever their node-name parts say.

Pacemaker's fencer splits `list` output on whitespace, ',' and ';' and cuts every
entry at the first character outside [a-zA-Z0-9_.-]; it then compares node names
case-insensitively. So a target name is listed only when the fencer keeps it whole.
"""

import re

from ..core.address import Target, shown_name
from ..core.errors import FenceError, UsageError
from ..core.world import not_joined_error, place_targets

_DEFAULT_NAME = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.(.+)$",
                           re.I)
_KEPT_WHOLE = re.compile(r"^[A-Za-z0-9_.-]+$")

# sanlock writes its host name into the 48-byte field of the record with snprintf: 47
# bytes and a NUL (evidence.md, "Whose record is it")
NAME_BYTES_ON_DISK = 47
SANLOCK_CONF = "/etc/sanlock/sanlock.conf"


def quoted(name):
    """A name quoted for a message: escaped and, when over-long, cut (address.shown_name)."""
    return "'%s'" % shown_name(name)


def node_name(host_name):
    """The node name a lease's host name stands for: the part after sanlock's default
    "UUID." prefix, or the whole name (our_host_name set, or vdsm's host UUID)."""
    match = _DEFAULT_NAME.match(host_name)
    return match.group(1) if match else host_name


def may_be_cut(host_name):
    """Whether host_name is sanlock's default name cut on its way to the disk.

    A default name that fills the 47 bytes may have lost the end of the node name; one
    whose node name had exactly 10 characters fills them too and cannot be told apart,
    so it counts as cut. A shorter default name is whole; an explicit name (-e,
    our_host_name) is written as given. A character that did not decode (a multi-byte
    character cut in two) counts as cut too."""
    if not _DEFAULT_NAME.match(host_name):
        return False
    return "\ufffd" in host_name or len(host_name.encode("utf-8")) >= NAME_BYTES_ON_DISK


def names_node(host_name, node):
    """Whether a lease's host name names the node Pacemaker calls `node`: the whole host
    name or its node-name part, case-insensitive. A name that may be cut names nobody."""
    wanted = node.strip().lower()
    if not wanted or not host_name or may_be_cut(host_name):
        return False
    return wanted in (host_name.lower(), node_name(host_name).lower())


def listable(name):
    """Whether Pacemaker's fencer keeps this name whole as a list target."""
    return bool(_KEPT_WHOLE.match(name)) and name.lower() not in ("on", "off")


def cut_advice(host_name, host_id=None):
    """What to do about a lease whose default host name may be cut; with host_id, the
    map that names it too."""
    text = ("its host name %s is sanlock's default name, cut to %d bytes on disk, so it may "
            "not hold the whole node name: set our_host_name to the node name in %s on that "
            "host" % (quoted(host_name), NAME_BYTES_ON_DISK, SANLOCK_CONF))
    if host_id is not None:
        text += ", or map the node to its host id (pcmk_host_map=NODE:%d)" % host_id
    return text


# ------------------------------------------------------------------ list: names to print

def listed_nodes(held, warn):
    """{node name: [(lockspace, host id)]} of the names `list` may print.

    held: [(lockspace, host id, host name)] of the leases held. A name is left out (and
    warn() told why) when it may be cut, when the fencer would not keep it whole, when
    two leases of one lockspace carry it, or when its leases carry different host names
    (different machines): Pacemaker would pick this device for a node that no fence
    through it could tell apart from another."""
    by_node = {}
    for lockspace, host_id, host_name in held:
        where = "%s:%d" % (shown_name(lockspace), host_id)
        if may_be_cut(host_name):
            warn("%s is not listed: %s" % (where, cut_advice(host_name, host_id)))
            continue
        node = node_name(host_name)
        if not listable(node):
            warn("%s is not listed: its host name %s has characters Pacemaker's fencer would "
                 "cut off (set our_host_name to the node name in %s on that host)"
                 % (where, quoted(host_name), SANLOCK_CONF))
            continue
        by_node.setdefault(node.lower(), (node, []))[1].append((lockspace, host_id,
                                                                host_name))
    listed = {}
    for node, leases in by_node.values():
        problem = ambiguity(node, leases)
        if problem:
            warn("%s is not listed: %s" % (quoted(node), problem))
            continue
        listed[node] = [(lockspace, host_id) for lockspace, host_id, _name in leases]
    return listed


def ambiguity(node, leases):
    """Why the leases [(lockspace, host id, host name)] a node name matched do not name
    one machine, or None when they do."""
    lockspaces = [lockspace for lockspace, _id, _name in leases]
    for lockspace in lockspaces:
        if lockspaces.count(lockspace) > 1:
            ids = sorted(h for ls, h, _name in leases if ls == lockspace)
            return ("it matches several hosts in lockspace %s (host ids %s): give each host "
                    "its own sanlock host name (our_host_name in %s), or map the node with "
                    "pcmk_host_map=%s:HOST_ID" % (shown_name(lockspace),
                                                  ", ".join(map(str, ids)), SANLOCK_CONF,
                                                  shown_name(node)))
    names = sorted({name for _ls, _id, name in leases})
    if len(names) > 1:
        return ("its leases carry different host names, so they are different machines "
                "(one sanlock daemon has one name in every lockspace): %s; set "
                "our_host_name to the node name on that node, or map it with pcmk_host_map="
                "%s:HOST_ID" % ("; ".join("%s:%d %s" % (shown_name(ls), h, quoted(name))
                                          for ls, h, name in sorted(leases)),
                                shown_name(node)))
    return None


# ------------------------------------------------------------------ reading the leases

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


def identity_notes(world, lockspaces, addressed):
    """Lines for monitor -v: every lease whose node `list` cannot name, and why (the
    configuration that makes it unambiguous). addressed: {lockspace: host id}."""
    joined = world.joined()
    held = []
    for name in lockspaces:
        if name in joined:
            held += [(name, host_id, host_name) for host_id, host_name
                     in held_names(world, joined[name])
                     if addressed.get(name, host_id) == host_id]
    notes = []
    listed_nodes(held, notes.append)
    return notes


# ------------------------------------------------------------------ a node name as target

def resolve(world, lockspaces, node):
    """Targets of the host Pacemaker calls `node`, in every addressed lockspace where it
    holds a lease. The match is names_node(), unique in each lockspace, and the leases
    found must carry one host name (one machine)."""
    joined = world.joined()
    absent = [name for name in lockspaces if name not in joined]
    if len(absent) == len(lockspaces):
        raise not_joined_error(absent, joined, "run the agent on a host that uses that "
                               "storage, or check the address")
    found, seen = [], []
    for name in lockspaces:
        if name in absent:
            continue
        held = held_names(world, joined[name])
        seen += [(name, host_id, host_name) for host_id, host_name in held]
        found += [(name, host_id, host_name) for host_id, host_name in held
                  if names_node(host_name, node)]
    if not found:
        raise FenceError(no_match_message(node, lockspaces, seen))
    problem = ambiguity(node, found)
    if problem:
        raise UsageError("node name %s cannot be resolved: %s" % (quoted(node), problem))
    return [Target(name, host_id) for name, host_id, _host_name in found]


def no_match_message(node, lockspaces, seen):
    """The refusal of a node name no whole host name matches, naming the candidates and
    any default name that may be a cut form of it."""
    wanted = node.strip().lower()
    cut = [(ls, h, name) for ls, h, name in seen
           if may_be_cut(name) and wanted.startswith(node_name(name).lower())]
    text = ("node name %s matches no host holding a lease in %s (they hold: %s)"
            % (quoted(node), ", ".join(map(shown_name, lockspaces)),
               "; ".join("%s:%d %s" % (shown_name(ls), h, quoted(name))
                         for ls, h, name in seen) or "nobody"))
    if cut:
        text += ("; %s may be sanlock's default name cut to %d bytes, which is never taken "
                 "for a whole node name" % (", ".join("%s:%d" % (shown_name(ls), h)
                                                      for ls, h, _name in cut),
                                            NAME_BYTES_ON_DISK))
    return text + (": set our_host_name to the node name in %s on that host (sanlock's "
                   "default name keeps only 10 characters of it), or map it with "
                   "pcmk_host_map=%s:HOST_ID" % (SANLOCK_CONF, shown_name(node)))


def check_names_node(world, targets, node, wait=2.0):
    """Raise unless every addressed lease this host can see carries a host name that
    names `node` (names_node), and all of them the same name (one machine).

    The address's host ids pick the leases; a node name given with them (Pacemaker's
    port or nodename) must agree, so that a device made for one node never fences
    another. Each record is read once, within `wait` seconds; one that cannot be read
    refuses the fence, as nothing could show whose lease it is."""
    placed, _missing = place_targets(world.joined(), targets)
    leases = []
    for target, space in placed:
        read = world.read(space, target.host_id, wait=wait)
        if read.record is None:
            raise FenceError("cannot read the lease of %s to check that it is node %s's "
                             "(%s), so nothing was sent: retry, or give its host id as port "
                             "(pcmk_host_map=%s:%d), which is taken as given"
                             % (target, quoted(node), read.error, shown_name(node),
                                target.host_id))
        host_name = read.record.host_name
        if not names_node(host_name, node):
            raise UsageError(contradiction_message(node, target, host_name))
        leases.append((target.lockspace, target.host_id, host_name))
    problem = ambiguity(node, leases)
    if problem:
        raise UsageError("refusing to act on node %s, nothing was sent: %s"
                         % (quoted(node), problem))


def contradiction_message(node, target, host_name):
    """The refusal of a node name the addressed lease does not carry: both names, and
    what configuration says what was meant."""
    head = "refusing to act on node %s through %s, nothing was sent: " % (quoted(node),
                                                                          target)
    map_it = ("pcmk_host_map=%s:%d (a host id is taken as given)"
              % (shown_name(node), target.host_id))
    if not host_name:
        return head + ("the lease of %s carries no host name (never joined), so nothing "
                       "shows it is that node's: if it is, map it with %s" % (target, map_it))
    if may_be_cut(host_name):
        return head + ("the lease of %s cannot show it is that node's: %s, or map it "
                       "with %s" % (target, cut_advice(host_name), map_it))
    return head + ("the lease of %s is held by host name %s (node %s), another node: this "
                   "device's address names that host; fence %s with its own host id "
                   "(pcmk_host_map=%s:HOST_ID, or a device with ip=LOCKSPACE that finds "
                   "the host by node name), or fix the address"
                   % (target, quoted(host_name), quoted(node_name(host_name)), quoted(node),
                      shown_name(node)))
