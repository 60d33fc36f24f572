# SPDX-License-Identifier: GPL-2.0-or-later
"""What one invocation of the agent asks for, validated before anything is done.

The options come from the fence-agents library (stdin key=value lines or the command
line); everything wrong in them is a UsageError with one line saying what and why.
"""

import os

from ..core import timing
from ..core.address import check_lockspace_name, parse_targets, shown
from ..core.errors import UsageError
from .fence import FenceOptions

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


def settings(options, validating=False):
    """(targets, node name or None, FenceOptions) from the library's options.

    With a node name and a bare lockspace, targets is [] and the targets are found later
    from the leases (nodes.resolve); with host ids in the address, targets come from it
    and the node name is checked against their leases (nodes.check_names_node). Neither
    is done by validate-all (Pacemaker validates with a made-up node name).
    """
    port, node = port_as_node_name(options)
    if node is not None and not has_host_ids(options.get("--ip")):
        lockspaces_of(options)
        targets = []
    else:
        targets = parse_targets(options.get("--ip"), port)
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
    return targets, node, FenceOptions(resource_mode, sysrq_reboot, power_timeout,
                                       timing.configured_fire_timeout(), mutual_guard)


def lockspaces_of(options):
    """Lockspace names for list/monitor, where no host id is needed."""
    address = options.get("--ip") or ""
    names = []
    for item in address.split(","):
        name = item.strip().rpartition(":")[0] if ":" in item else item.strip()
        if name and name not in names:
            names.append(name)
    if not names:
        raise UsageError("no lockspace given: set ipaddr (-a) to the lockspace name")
    for name in names:
        check_lockspace_name(name)
    return names


def targets_of(options):
    """The targets when the address names host ids (monitor's per-target lines), else []."""
    try:
        return parse_targets(options.get("--ip"), options.get("--plug"))
    except UsageError:
        return []
