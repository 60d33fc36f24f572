# SPDX-License-Identifier: GPL-2.0-or-later
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


# The data field of a reply from fence-sanlock-vdsm-responder: the tag in the upper 32
# bits; a reply number in bits 16-31, different for every reply a responder sends, so
# that a new reply shows on storage even where the record already carried a RESETTING
# of the same requester (an earlier fence's, or one forged on the target by a local
# process); and in the lower 16 bits how long after its arming the replying host's
# watchdog fires at the latest, in whole seconds rounded up. sanlk-resetd sends 0;
# sanlk-reset and sanlk-resetd ignore the field. A proxy takes the larger of that bound
# and its own.
REPLY_BOUND_TAG = 0x46535652      # "FSVR"


def encode_reply_bound(seconds, number=0):
    """The data value of reply `number` announcing a watchdog bound of `seconds`."""
    bound = min(int(-(-seconds // 1)), 0xFFFF)
    return (REPLY_BOUND_TAG << 32) | ((number & 0xFFFF) << 16) | bound


def decode_reply_bound(data):
    """The bound in seconds a reply's data announces, or None (sanlk-resetd, unknown)."""
    if (data or 0) >> 32 != REPLY_BOUND_TAG:
        return None
    return data & 0xFFFF


def name(event):
    """RESET|REBOOT style text for an event value (0 is 'none')."""
    if not event:
        return "none"
    parts = [text for bit, text in _NAMES if event & bit]
    unknown = event & ~(RESET | RESETTING | REBOOT | REBOOTING)
    if unknown:
        parts.append("0x%x" % unknown)
    return "|".join(parts)
