#!/usr/bin/python3 -tt
"""fence_sanlock_vdsm: fence a host through shared storage with sanlock.

Options and documentation only; the logic is in the sanlock_fencing package.
"""

import atexit
import os
import sys

sys.path.append("/usr/share/fence")
# 'make install' writes the library's directory here; a source tree uses ../../lib
LIBDIR = "@LIBDIR@"
sys.path.insert(0, LIBDIR if not LIBDIR.startswith("@") else
                os.path.join(os.path.dirname(os.path.realpath(__file__)), "..", "..", "lib"))

try:
    from fencing import all_opt, atexit_handler, check_input, fence_action, process_input
    from fencing import run_delay, show_docs
    from sanlock_fencing import agent, timing
except ImportError as err:
    sys.exit("fence_sanlock_vdsm: cannot start: %s; install fence-agents and python3-sanlock, "
             "and run it with /usr/bin/python3" % err)

TYPICAL, WORST = timing.expected_fence_seconds(timing.DEFAULT_IO_TIMEOUT)
PCMK_TIMEOUT = timing.pacemaker_timeout(timing.DEFAULT_IO_TIMEOUT)


def option(name, longopt, help_text, shortdesc, default, order, **extra):
    all_opt[name] = dict(getopt=":", longopt=longopt, help=help_text, shortdesc=shortdesc,
                         required="0", default=default, order=order, **extra)


def define_options():
    all_opt["ipaddr"]["help"] = ("-a, --ip=[address]            LOCKSPACE:HOST_ID of the host to "
                                 "fence (LS1:ID1,LS2:ID2 for several), or LOCKSPACE")
    all_opt["ipaddr"]["shortdesc"] = (
        "The lockspace (oVirt: the storage-domain UUID), as LOCKSPACE with the target in "
        "plug, or LOCKSPACE:HOST_ID; several separated by commas")
    all_opt["port"]["help"] = ("-n, --plug=[id|name]           The target's host id in the "
                               "lockspace, or its node name")
    all_opt["port"]["shortdesc"] = (
        "The target's host id, or its node name (its sanlock host name, or the part after "
        "sanlock's default UUID.), when ip names only the lockspace")
    all_opt["port"]["required"] = "0"
    all_opt["login"]["shortdesc"] = "Accepted and ignored (oVirt always sends one)"
    all_opt["passwd"]["shortdesc"] = "Accepted and ignored: sanlock needs no password"
    all_opt["method"]["choices"] = ["cycle"]
    all_opt["method"]["default"] = "cycle"
    all_opt["method"]["help"] = "-m, --method=cycle             Reboot is one proven reset"
    all_opt["power_timeout"]["default"] = "175"
    all_opt["power_timeout"]["shortdesc"] = (
        "Overall bound of off, reboot and on; reaching it is a failure. 175 fits oVirt's "
        "180 s per call; under Pacemaker, pcmk_off_timeout and pcmk_reboot_timeout bound "
        "the agent instead")
    # Pacemaker sends the target's node name: declared (help empty: not in the metadata) so
    # that a port holding that name is recognised
    option("nodename", "nodename", "", "", None, 1)
    option("resource_mode", "resource-mode",
           "--resource-mode=[0|1]          An expired lease alone proves the host off",
           "1 only when every shared resource has a sanlock resource lease and the targets' "
           "sanlock runs with its watchdog: then an expired host lease alone is proof",
           "0", 10, type="boolean")
    option("sysrq_reboot", "sysrq-reboot",
           "--sysrq-reboot=[0|1]           Also request a sysrq reboot (sanlk-resetd -b 1)",
           "Also request REBOOT, which 'sanlk-resetd -b 1' does through sysrq before its "
           "watchdog fires; the proof is the same", "0", 11, type="boolean")
    option("mutual_guard", "mutual-guard",
           "--mutual-guard=[auto|1|0]      Wait before fencing a lower host id (auto: under "
           "Pacemaker)",
           "Before fencing a host with a lower host id, wait about 4 x io_timeout + 15 s for "
           "that host's own request for this one: of two nodes fencing each other, only "
           "one is reset. auto: on when run by Pacemaker's fencer", "auto", 12,
           choices=["auto", "1", "0"])


DOCS = {
    "shortdesc": "Fence agent that resets a host through shared storage with sanlock",
    "longdesc": (
        "fence_sanlock_vdsm fences a host through the storage it shares with another host, "
        "when the network cannot reach it: run on that other host, it asks the target's "
        "sanlk-resetd, through their sanlock lockspace, to reset the target with its "
        "watchdog, and reports success only once the reset is proven from the storage. "
        "Every host needs sanlk-resetd (with its watchdog), wdmd with a watchdog device, "
        "and the fence-sanlock-vdsm-resetd-sync and fence-sanlock-vdsm-witness services. "
        "A fence takes about %d s, at most about %d s, at sanlock's default io_timeout of "
        "10 s: under Pacemaker set pcmk_off_timeout, pcmk_reboot_timeout and "
        "stonith-timeout to %d (plain seconds). See fence_sanlock_vdsm(8)."
        % (TYPICAL, WORST, PCMK_TIMEOUT)),
    "vendorurl": "https://pagure.io/sanlock",
}

DEVICE_OPT = ["ipaddr", "port", "no_port", "login", "no_login", "passwd", "no_password",
              "method", "resource_mode", "sysrq_reboot", "mutual_guard", "on_target",
              "nodename"]


def main():
    atexit.register(atexit_handler)
    agent.adapt_library(sys.argv)
    define_options()
    options = check_input(DEVICE_OPT, process_input(DEVICE_OPT), other_conditions=True)
    show_docs(options, DOCS)
    return agent.run(options, fence_action, run_delay)


if __name__ == "__main__":
    agent.guarded(main)
