"""When is a host proven off? Pure rules over what the proxy observes.

These rules serve `status` and the check before a fence. They use only what any
proxy can see: the state its sanlock daemon computes for the host and the host's
delta lease record on shared storage. They never depend on which proxy sent a
reset or on anything remembered locally, because oVirt may ask another host.

A host is OFF only when
- its lease is DEAD and its last record carries a RESETTING/REBOOTING reply
  written in its current generation (it acknowledged a reset, then stopped), or
- its lease is FAIL, the record carries such a reply, and FAIL already lasts
  longer than the watchdog needs to fire (io_timeout >= 10, see timing), or
- its lease is DEAD and the administrator declared resource_mode (every shared
  resource is protected by a sanlock resource lease, which dies with the host
  lease).
A lease that expired without a reply proves nothing: the host may have lost this
storage while its VMs keep running elsewhere ("host fatal failures").
"""

import enum
from collections import namedtuple

from .hoststate import HostState
from . import timing


class Power(enum.Enum):
    ON = "on"              # running, or may be running
    OFF = "off"            # proven reset
    UNPROVEN = "unproven"  # not running as far as sanlock knows, but nothing proves it stopped


Verdict = namedtuple("Verdict", "power reason")


MANUAL = "fence it by other means (power it off, or check it and confirm it down by hand)"


def lease_verdict(target, view, record, resource_mode=False):
    """Verdict for one lease: view is the HostView, record the LeaseRecord (or None)."""
    state = view.state
    replied = record is not None and record.carries_reply(view.generation)
    io = view.io_timeout or (record.io_timeout if record else 0) or timing.DEFAULT_IO_TIMEOUT

    if state == HostState.LIVE:
        return Verdict(Power.ON, "%s is live (generation %d)" % (target, view.generation))
    if state == HostState.UNKNOWN:
        return Verdict(Power.ON, "%s is not judged yet by this host's sanlock daemon; it may "
                                 "be running" % target)
    if state == HostState.FAIL:
        if replied and timing.fail_state_proves_reset(io):
            return Verdict(Power.OFF, "%s acknowledged a reset and has not renewed its lease "
                                      "for longer than its watchdog needs to fire" % target)
        return Verdict(Power.ON, "%s has stopped renewing its lease but may still be running "
                                 "(its lease is not expired yet)" % target)
    if state == HostState.DEAD:
        if replied:
            return Verdict(Power.OFF, "%s acknowledged a reset and its lease has expired"
                           % target)
        if resource_mode:
            return Verdict(Power.OFF, "%s lease has expired and resource_mode says every "
                                      "shared resource is protected by a sanlock lease" % target)
        return Verdict(Power.UNPROVEN,
                       "%s lease expired without acknowledging a reset: the host may have lost "
                       "storage access while still running; %s" % (target, MANUAL))
    # FREE
    return Verdict(Power.UNPROVEN,
                   "%s holds no lease (it never joined the lockspace or left it cleanly): "
                   "nothing proves it stopped; check the address, or %s" % (target, MANUAL))


def host_verdict(verdicts):
    """Combine the verdicts of one host's leases in several lockspaces.

    Live anywhere means ON; otherwise one proof is enough for OFF; otherwise UNPROVEN.
    """
    if not verdicts:
        raise ValueError("no lease verdicts")
    for power in (Power.ON, Power.OFF):
        matching = [v for v in verdicts if v.power == power]
        if matching:
            return Verdict(power, "; ".join(v.reason for v in matching))
    return Verdict(Power.UNPROVEN, "; ".join(v.reason for v in verdicts))
