"""The sanlk-resetd protocol: event values carried through the delta leases.

A requester sets RESET (optionally with REBOOT) for the target host; the target's
sanlk-resetd answers with RESETTING (and REBOOTING) addressed to every host.
"""

RESET = 0x1        # requester: arm your watchdog so that it resets you
RESETTING = 0x2    # target: my watchdog is set to fire
REBOOT = 0x4       # requester: reboot through /proc/sysrq-trigger (sanlk-resetd -b 1)
REBOOTING = 0x8    # target: I will sysrq-reboot shortly

REQUEST_BITS = RESET | REBOOT
REPLY_BITS = RESETTING | REBOOTING

_NAMES = ((RESET, "RESET"), (RESETTING, "RESETTING"), (REBOOT, "REBOOT"),
          (REBOOTING, "REBOOTING"))


def request_value(sysrq_reboot):
    """The event a fence request sends."""
    return RESET | REBOOT if sysrq_reboot else RESET




# The data field of a reply from fence-sanlock-vdsm-responder announces how long after
# its arming the replying host's watchdog fires at the latest: the tag in the upper 32
# bits, whole seconds (rounded up) in the lower 32. sanlk-resetd sends 0; sanlk-reset and
# sanlk-resetd ignore the field. A proxy may take the larger of this and its own bound.
REPLY_BOUND_TAG = 0x46535652      # "FSVR"


def encode_reply_bound(seconds):
    """The data value of a reply announcing a watchdog bound of `seconds`."""
    return (REPLY_BOUND_TAG << 32) | min(int(-(-seconds // 1)), 0xFFFFFFFF)


def decode_reply_bound(data):
    """The bound in seconds a reply's data announces, or None (sanlk-resetd, unknown)."""
    if (data or 0) >> 32 != REPLY_BOUND_TAG:
        return None
    return data & 0xFFFFFFFF


def name(event):
    """RESET|REBOOT style text for an event value (0 is 'none')."""
    if not event:
        return "none"
    parts = [text for bit, text in _NAMES if event & bit]
    unknown = event & ~(RESET | RESETTING | REBOOT | REBOOTING)
    if unknown:
        parts.append("0x%x" % unknown)
    return "|".join(parts)
