"""What the administrator chose for a fence, validated (see agent.settings)."""

from collections import namedtuple

# resource_mode: an expired lease alone proves the host off
# sysrq_reboot:  also request REBOOT (sanlk-resetd -b 1)
# power_timeout: overall bound in seconds; 0: none (Pacemaker bounds the agent itself)
FenceOptions = namedtuple("FenceOptions", "resource_mode sysrq_reboot power_timeout",
                          defaults=(False, False, 0))
