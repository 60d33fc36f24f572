# SPDX-License-Identifier: GPL-2.0-or-later
"""What one invocation of the agent asks for: the library's options, parsed once.

The options come from the fence-agents library (stdin key=value lines or the command
line) as a dict; parse() reads that dict, and nothing else in the package does. Every
action then reads the one Request it returns. Everything wrong in the options is a
UsageError with one line saying what and why, raised before any delay or action.
"""

import os
from collections import namedtuple

from ..core import timing
from ..core.address import check_lockspace_name, parse_host_id, parse_targets, shown
from ..core.errors import UsageError
from .fence import FenceOptions

# action     the library's action (off, reboot, status, list, list-status, monitor, on ...)
# verbose    -v given
# lockspaces the lockspace names of the address, once each: in the address's order where no
#            host id is needed, in the (sorted) targets' order otherwise
# targets    the Targets the address names (with port); for monitor, those it names, if
#            any; empty where a node name is to be resolved to host ids from the leases
# node       a node name besides the address (Pacemaker's port or nodename), or None:
#            resolved to targets when there are none, checked against them otherwise
# addressed  {lockspace: host id} of the address's LOCKSPACE:HOST_ID items (list, monitor)
# fence      the FenceOptions every action reads (modes, power_timeout, the fire bound)
Request = namedtuple("Request", "action verbose lockspaces targets node addressed fence")

# the actions that need no host: they name lockspaces, and list what is in them
LISTING_ACTIONS = ("list", "list-status", "monitor")


def parse(options):
    """The Request of the library's options dict; raises UsageError.

    list, list-status and monitor need only lockspaces (a host id in the address narrows
    list to that host), and of the other options only resource_mode; every other action
    takes the targets from the address and port, or a node name to resolve, and checks
    every option. validate-all checks as the actions do, and resolves nothing
    (Pacemaker validates with a made-up node name).
    """
    action = options.get("--action")
    verbose = "--verbose" in options
    address = options.get("--ip")
    if action in LISTING_ACTIONS:
        lockspaces = lockspaces_of(address)
        fence_options = FenceOptions(
            resource_mode=boolean_option(options, "--resource-mode", "resource_mode"),
            fire_timeout=timing.configured_fire_timeout())
        return Request(action, verbose, lockspaces, monitor_targets(address, options),
                       None, addressed_host_ids(address), fence_options)
    port, node = port_as_node_name(options)
    if node is not None and not has_host_ids(address):
        lockspaces, targets = lockspaces_of(address), []
    else:
        targets = parse_targets(address, port)
        lockspaces = unique(target.lockspace for target in targets)
    return Request(action, verbose, lockspaces, targets, node, {}, fence_options_of(options))


def unique(names):
    found = []
    for name in names:
        if name not in found:
            found.append(name)
    return found


TRUE_WORDS = ("1", "yes", "on", "true")
FALSE_WORDS = ("0", "no", "off", "false")


def boolean_option(options, key, name):
    """Value of a yes/no option given as text; raises UsageError for anything else.

    An empty value is refused rather than read either way: these options change what
    counts as proof, so they are on only when someone wrote yes.
    """
    value = str(options.get(key, "0")).strip().lower()
    if value in TRUE_WORDS:
        return True
    if value in FALSE_WORDS:
        return False
    if value == "":
        raise UsageError("%s has no value: set it to 1 (yes) or 0 (no)" % name)
    raise UsageError("invalid %s %s: expected 1/yes/true or 0/no/false"
                     % (name, shown(options.get(key))))


def port_as_node_name(options):
    """(host id port or None, node name or None): what names the target besides the address.

    - a port of digits is a host id (pcmk_host_map, or a person's explicit id): it is
      authoritative, and no node name is taken;
    - any other port names the node: Pacemaker passes the node's name as port when no
      map gives a host id;
    - with no port, Pacemaker's nodename names it (pcmk_host_argument=none sends only
      nodename); a person at a shell sends neither.
    With a bare lockspace in the address the node name is resolved to a host id from the
    leases (nodes.resolve); with host ids in the address it must agree with the addressed
    leases' host names (nodes.check_names_node), checked before anything is sent.
    """
    port = (options.get("--plug") or "").strip()
    if port.isdigit():
        return port, None
    if port:
        return None, port
    nodename = (options.get("--nodename") or "").strip()
    return None, nodename or None


def has_host_ids(address):
    """Whether the address names host ids (LOCKSPACE:HOST_ID) rather than only lockspaces."""
    return ":" in (address or "")


# Upper bounds of the numeric options: a larger value is a typo or a way of saying "no
# bound" (1e23), and is refused rather than waited. (The library accepts only integers.)
# power_timeout: the worst fence at io_timeout 60, six times vdsm's 10, is about 675 s
#   (timing.expected_fence_seconds) and 'on' waits for a boot; an hour covers both with
#   room, and 0 is there for "no limit".
# delay: a head start for one of two nodes fencing each other, as Pacemaker's
#   pcmk_delay_base/pcmk_delay_max give (seconds to tens of seconds). Whoever runs the
#   agent bounds it as a whole, delay included (Pacemaker's action timeout, which
#   timing.pacemaker_timeout puts at under five minutes for io_timeout 10; vdsm's 180 s
#   per call), and the fence after the delay still needs two to three minutes there:
#   300 s is past any delay that can still end in a fence.
MAX_POWER_TIMEOUT = 3600
MAX_DELAY = 300


def seconds_option(options, key, name, upper, zero_means):
    """A number of seconds from 0 to upper; UsageError naming the value otherwise."""
    text = options.get(key, 0) or 0
    try:
        value = float(text)
    except (TypeError, ValueError):
        value = None
    if value is None or not 0 <= value <= upper:    # nan fails both comparisons
        raise UsageError("invalid %s %s: expected seconds from %s to %d"
                         % (name, shown(text), zero_means, upper))
    return value


def fence_options_of(options):
    """The FenceOptions of an action on hosts: every mode and bound checked."""
    resource_mode = boolean_option(options, "--resource-mode", "resource_mode")
    sysrq_reboot = boolean_option(options, "--sysrq-reboot", "sysrq_reboot")
    guard = str(options.get("--mutual-guard", "auto")).strip().lower()
    if guard == "auto":
        # the library's own test for "run by Pacemaker's fencer"
        mutual_guard = os.environ.get("PCMK_service") == "pacemaker-fenced"
    else:
        mutual_guard = boolean_option(options, "--mutual-guard", "mutual_guard")
    power_timeout = seconds_option(options, "--power-timeout", "power_timeout",
                                   MAX_POWER_TIMEOUT, "0 (no limit)")
    seconds_option(options, "--delay", "delay", MAX_DELAY, "0")     # the library waits it
    return FenceOptions(resource_mode, sysrq_reboot, power_timeout,
                        timing.configured_fire_timeout(), mutual_guard)


def lockspaces_of(address):
    """Lockspace names of an address, where no host id is needed (list, monitor, a node
    name to resolve)."""
    names = unique(item.strip().rpartition(":")[0] if ":" in item else item.strip()
                   for item in (address or "").split(","))
    names = [name for name in names if name]
    if not names:
        raise UsageError("no lockspace given: set ipaddr (-a) to the lockspace name")
    for name in names:
        check_lockspace_name(name)
    return names


def addressed_host_ids(address):
    """{lockspace: host id} of the address's LOCKSPACE:HOST_ID items (list and monitor,
    which need no port): a device whose address names a host stands for that host only."""
    found = {}
    for item in (address or "").split(","):
        name, colon, id_text = item.strip().rpartition(":")
        if colon and name:
            host_id = parse_host_id(id_text, where=" in %s" % shown(item.strip()))
            # the later one used to win: list then named one of the two hosts, silently
            if found.setdefault(name, host_id) != host_id:
                raise UsageError("lockspace %s appears with two host ids (%d and %d): a "
                                 "device's address names one host, with one id per "
                                 "lockspace; give the lockspace alone to list every host"
                                 % (shown(name), found[name], host_id))
    return found


def monitor_targets(address, options):
    """The targets when the address names host ids (monitor's per-target lines), else []."""
    try:
        return parse_targets(address, options.get("--plug"))
    except UsageError:
        return []
