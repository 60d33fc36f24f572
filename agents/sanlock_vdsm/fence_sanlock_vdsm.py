#!/usr/bin/python3 -tt
# SPDX-License-Identifier: GPL-2.0-or-later
"""fence_sanlock_vdsm: options and documentation; the logic is in sanlock_fencing."""

import atexit
import os
import sys

sys.path.append("/usr/share/fence")
LIBDIR = "@LIBDIR@"     # written by 'make install'; a source tree uses ../../lib
sys.path.insert(0, LIBDIR if not LIBDIR.startswith("@") else
                os.path.join(os.path.dirname(os.path.realpath(__file__)), "..", "..", "lib"))
try:
    from fencing import all_opt, atexit_handler, check_input, fence_action, process_input
    from fencing import run_delay, show_docs
    from sanlock_fencing import __version__
    from sanlock_fencing.agent import glue
    from sanlock_fencing.core import timing
except ImportError as err:
    sys.exit("fence_sanlock_vdsm: cannot start: %s; install fence-agents and python3-sanlock, "
             "and run it with /usr/bin/python3" % err)

TEXTS = {   # option: (help, shortdesc)
    "ipaddr": ("-a, --ip=[address]             LOCKSPACE, or LOCKSPACE:HOST_ID (LS1:ID1,LS2:ID2)",
               "The lockspace (oVirt: the storage-domain UUID) with the target in plug, or "
               "LOCKSPACE:HOST_ID; several separated by commas"),
    "port": ("-n, --plug=[id|name]           The target's host id, or its node name",
             "The target's host id (taken as given), or its node name: its sanlock host "
             "name, or the part after the UUID of sanlock's default name unless that may be "
             "cut. With ip=LOCKSPACE the name picks the host; with host ids in ip it (or "
             "Pacemaker's nodename) must name the addressed host, or nothing is done"),
    "method": ("-m, --method=cycle             Reboot is one proven reset", "Only cycle"),
    "power_timeout": ("--power-timeout=[seconds]      Bound of off, reboot and on (default 175)",
                      "Overall bound of off, reboot and on, 0 (none) to 3600; reaching it is "
                      "a failure. 175 fits oVirt's 180 s per call; Pacemaker bounds the agent "
                      "instead"),
    "delay": ("--delay=[seconds]              Wait before off or reboot (0 to 300)",
              "Seconds to wait before off or reboot, 0 to 300: a head start for one of two "
              "nodes fencing each other; it counts against Pacemaker's timeouts"),
    # vdsm always sends login and passwd: accepted and ignored. The library's
    # passwd_script (run through a shell) is not an option here (glue.adapt_library).
    "login": ("-l, --username=[name]          Accepted and ignored (vdsm sends one)",
              "Accepted and ignored"),
    "passwd": ("-p, --password=[password]      Accepted and ignored (vdsm sends one)",
               "Accepted and ignored; no password script is run"),
    "nodename": ("", ""),   # sent by Pacemaker; declared, not shown
    "resource_mode": ("--resource-mode=[0|1]          An expired lease alone is proof",
                      "1 only when every shared resource has a sanlock resource lease and "
                      "the targets' sanlock uses its watchdog"),
    "sysrq_reboot": ("--sysrq-reboot=[0|1]           Also request a sysrq REBOOT",
                     "Also request a sysrq reboot before the watchdog fires; same proof"),
    "mutual_guard": ("--mutual-guard=[auto|1|0]      Wait before fencing a lower host id",
                     "Before fencing a lower host id, wait 4 x io_timeout + 15 s for its own "
                     "request for this host, so that of two nodes fencing each other only "
                     "one is reset; auto: on under Pacemaker"),
}
NEW = {"nodename": dict(order=1), "resource_mode": dict(default="0", type="boolean", order=10),
       "sysrq_reboot": dict(default="0", type="boolean", order=11),
       "mutual_guard": dict(default="auto", choices=["auto", "1", "0"], order=12)}
DOCS = {
    "shortdesc": "Fence agent that resets a host through shared storage with sanlock",
    "longdesc": "fence_sanlock_vdsm fences a host through the storage it shares with another "
                "host, when the network cannot reach it: run on that other host, it asks the "
                "target's responder, through their sanlock lockspace, to reset the target "
                "with its watchdog, and reports success only once the reset is proven from the "
                "storage. Every host needs wdmd with a watchdog device, a responder "
                "(fence-sanlock-vdsm-responder, or sanlk-resetd with "
                "fence-sanlock-vdsm-resetd-sync) and the fence-sanlock-vdsm-witness service. "
                "A fence takes about %d s, at most about "
                "%d s, at sanlock's default io_timeout of 10 s: under Pacemaker set "
                "pcmk_off_timeout, pcmk_reboot_timeout and stonith-timeout to %d (plain "
                "seconds). See fence_sanlock_vdsm(8)."
                % (timing.expected_fence_seconds(10) + (timing.pacemaker_timeout(10),)),
    "vendorurl": "https://pagure.io/sanlock"}
DEVICE_OPT = ["ipaddr", "port", "no_port", "login", "no_login", "passwd", "no_password",
              "method", "nodename",
              "resource_mode", "sysrq_reboot", "mutual_guard", "on_target"]


def main():
    atexit.register(atexit_handler)
    glue.adapt_library(sys.argv)
    for name, extra in NEW.items():
        all_opt[name] = dict(getopt=":", longopt=name.replace("_", "-"), required="0", **extra)
    for name, (help_text, shortdesc) in TEXTS.items():
        all_opt[name].update(help=help_text, shortdesc=shortdesc)
    all_opt["port"]["required"] = "0"
    all_opt["method"].update(choices=["cycle"], default="cycle")
    all_opt["power_timeout"]["default"] = "175"
    options = check_input(DEVICE_OPT, process_input(DEVICE_OPT), other_conditions=True)
    if "--version" in options:      # this project's version, not the library's
        print(__version__)
        return 0
    show_docs(options, DOCS)
    return glue.run(options, fence_action, run_delay)


if __name__ == "__main__":
    glue.guarded(main)
