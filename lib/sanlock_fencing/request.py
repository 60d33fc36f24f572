"""What one invocation of the agent asks for, validated before anything is done.

The options come from the fence-agents library (stdin key=value lines or the command
line); everything wrong in them is a UsageError with one line saying what and why.
"""

import os

from . import timing
from .address import check_lockspace_name, parse_targets, shown
from .errors import UsageError
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
    """(port, node name to resolve) from the port option.

    A port that is not a host id is a node name: Pacemaker passes the target's node name
    as port when pcmk_host_map does not map it. With a bare lockspace in the address it
    is resolved to the host's id from the leases (nodes.resolve); with host ids in the
    address, a port equal to Pacemaker's nodename is what the fencer always adds and is
    ignored, and any other name contradicts the address.
    """
    port = options.get("--plug")
    text = (port or "").strip()
    if not text or text.isdigit():
        return port, None
    address = options.get("--ip") or ""
    if ":" not in address:
        return None, text
    if text == (options.get("--nodename") or "").strip():
        return None, None
    raise UsageError("port %s is not a host id, and the address %s names host ids already: "
                     "give the host id once" % (shown(text), shown(address)))


def settings(options, validating=False):
    """(targets, node name or None, FenceOptions) from the library's options.

    With a node name the targets are found later, from the leases (resolve_node);
    validate-all does not look them up (Pacemaker validates with a made-up node name).
    """
    port, node = port_as_node_name(options)
    if node is not None:
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
    try:
        power_timeout = float(options.get("--power-timeout", 0) or 0)
    except ValueError:
        raise UsageError("invalid power_timeout %s: expected seconds"
                         % shown(options.get("--power-timeout"))) from None
    if power_timeout < 0:
        raise UsageError("invalid power_timeout %s: expected 0 (no limit) or more seconds"
                         % shown(options.get("--power-timeout")))
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
