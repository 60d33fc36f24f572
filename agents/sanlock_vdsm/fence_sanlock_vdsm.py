#!/usr/bin/python3 -tt
"""fence_sanlock_vdsm: fence a host through shared storage with sanlock.

This script only declares the agent's options and documentation and hands over
to the sanlock_fencing package; see lib/sanlock_fencing for how it works.
"""

import atexit
import os
import sys

sys.path.append("/usr/share/fence")

# The install step writes here where it put the library; in a source tree the
# library sits in ../../lib, and a pip install needs no path at all.
INSTALLED_LIBDIR = "@LIBDIR@"


def _add_library_path():
    here = os.path.dirname(os.path.realpath(__file__))
    candidates = (os.environ.get("FENCE_SANLOCK_VDSM_LIBDIR"), INSTALLED_LIBDIR,
                  os.path.join(here, "..", "..", "lib"))
    for candidate in candidates:
        if candidate and not candidate.startswith("@") and \
                os.path.isdir(os.path.join(candidate, "sanlock_fencing")):
            sys.path.insert(0, os.path.abspath(candidate))
            return


_add_library_path()

try:
    import fencing
    from fencing import all_opt, atexit_handler, check_input, process_input, show_docs
    from fencing import fence_action, run_delay
    from sanlock_fencing import agent, timing
except ImportError as err:
    sys.stderr.write("fence_sanlock_vdsm: cannot start: %s; install fence-agents and "
                     "python3-sanlock, and run it with /usr/bin/python3\n" % err)
    sys.exit(1)

TYPICAL, WORST = timing.expected_fence_seconds(timing.DEFAULT_IO_TIMEOUT)


def define_options():
    all_opt["ipaddr"]["help"] = ("-a, --ip=[address]            LOCKSPACE:HOST_ID of the host "
                                 "to fence; several as LS1:ID1,LS2:ID2; or LOCKSPACE alone "
                                 "with --plug=HOST_ID")
    all_opt["ipaddr"]["shortdesc"] = (
        "Target as LOCKSPACE:HOST_ID (oVirt: storage-domain UUID and the host's id), several "
        "separated by commas, or a bare LOCKSPACE with the host id in port")
    all_opt["port"]["help"] = ("-n, --plug=[id]                Host id of the target in the "
                               "lockspace (when ipaddr is a bare lockspace name)")
    all_opt["port"]["shortdesc"] = "Host id of the target when ipaddr names only the lockspace"
    all_opt["port"]["required"] = "0"
    all_opt["login"]["help"] = "-l, --username=[name]          Accepted and ignored"
    all_opt["login"]["shortdesc"] = "Accepted and ignored (oVirt always sends one)"
    all_opt["passwd"]["help"] = "-p, --password=[password]      Accepted and ignored"
    all_opt["passwd"]["shortdesc"] = "Accepted and ignored: sanlock needs no password"
    all_opt["passwd_script"]["help"] = "-S, --password-script=[script] Accepted and ignored"
    all_opt["passwd_script"]["shortdesc"] = "Accepted and ignored"
    # vdsm always sends agent=<name>; the library declares it as a flag and warns on it
    all_opt["agent"].update(getopt=":", longopt="agent")

    # Pacemaker sends the target's node name; declared so that it can be told apart from a
    # host id in port (see sanlock_fencing.agent.pacemaker_port)
    all_opt["nodename"] = {"getopt": ":", "longopt": "nodename", "help": "", "required": "0",
                           "shortdesc": "", "order": 1}
    all_opt["resource_mode"] = {
        "getopt": ":",
        "longopt": "resource-mode",
        "type": "boolean",
        "help": "--resource-mode=[0|1]          An expired host lease alone proves the host "
                "off (only if every shared resource has a sanlock resource lease)",
        "shortdesc": "Set to 1 only when every shared resource (every VM disk) is protected by "
                     "a sanlock resource lease: then an expired host lease alone proves the "
                     "host off, even without a reply to the reset request",
        "required": "0",
        "default": "0",
        "order": 10}
    all_opt["sysrq_reboot"] = {
        "getopt": ":",
        "longopt": "sysrq-reboot",
        "type": "boolean",
        "help": "--sysrq-reboot=[0|1]           Also ask for a sysrq reboot (target runs "
                "sanlk-resetd -b 1)",
        "shortdesc": "Also request REBOOT, which a target running 'sanlk-resetd -b 1' does "
                     "through /proc/sysrq-trigger before its watchdog fires; the proof is "
                     "the same",
        "required": "0",
        "default": "0",
        "order": 11}

    # sanlock reaches the target through storage: no TCP port to configure.
    fencing.DEPENDENCY_OPT["ipaddr"] = []
    all_opt["power_timeout"]["default"] = "175"
    all_opt["power_timeout"]["help"] = ("--power-timeout=[seconds]      Overall bound of off, "
                                        "reboot and on (default 175; 0: no bound)")
    all_opt["power_timeout"]["shortdesc"] = (
        "Overall time bound of off, reboot and on; reaching it is a failure. Default 175 s "
        "fits oVirt's 180 s per call; under Pacemaker its own pcmk_off_timeout and "
        "pcmk_reboot_timeout bound the agent instead")
    all_opt["method"]["default"] = "cycle"
    all_opt["method"]["help"] = ("-m, --method=[method]          Method to fence (onoff|cycle) "
                                 "(Default: cycle, one proven reset)")
    fencing.fail_usage = agent.one_line_fail_usage


DOCS = {
    "shortdesc": "Fence agent that resets a host through shared storage with sanlock",
    "longdesc": (
        "fence_sanlock_vdsm fences a host that can no longer be reached over the network "
        "but may still write to shared storage. It runs on another host (the proxy) whose "
        "sanlock daemon shares a lockspace with the target, and asks the target's sanlk-resetd, "
        "through the target's delta lease, to reset itself with its watchdog. Off and reboot "
        "succeed only once the reset is proven: the target acknowledged the request "
        "(RESETTING or REBOOTING, in the generation the request was sent to) and then its "
        "lease expired, or it came back with a new generation, or it stopped renewing its "
        "lease before its watchdog had to fire (70 s after it acknowledged) and that bound "
        "plus a margin of 3 x io_timeout + 2 s has passed. With resource_mode an expired "
        "lease alone is proof. At the production io_timeout of 10 s a fence takes about "
        "%d s, at most about %d s; at io_timeout 1 about 75 s. A timeout is a failure: the agent "
        "fails as soon as success becomes impossible (no reply after %d renewals of the "
        "target, meaning no sanlk-resetd watches that lockspace there; a lease that expired "
        "or was released without a reply, which may be a host that lost its storage while "
        "still running and needs manual fencing; a watchdog that did not fire; this host's "
        "sanlock daemon failing) or when power_timeout passes. "
        "Status is ON while the host is live, failing or not yet judged, OFF (exit 2) only "
        "when its lease on shared storage proves the reset, whichever host sent it, and "
        "an error (exit 1) when the lease expired without proof. "
        "On never sends a reset: sanlock cannot power a host on and a reset host boots by "
        "itself; run on another host, on succeeds at once when the host is running, and "
        "otherwise waits up to power_timeout for it to rejoin its lockspace. Run by the "
        "addressed host itself (Pacemaker unfencing, on_target), on makes that host "
        "fenceable: it has its lockspaces watched by the local sanlk-resetd, and fails with "
        "the reason when it cannot. Reboot is the same proven reset as off. "
        "Requirements: the target runs sanlk-resetd watching the lockspace "
        "(sanlk-reset reg LOCKSPACE) with its watchdog (wdmd); the proxy has joined the "
        "lockspace and can read its storage; run as root or as a member of the sanlock group "
        "(vdsm is)." % (TYPICAL, WORST, timing.NO_REPLY_RENEWALS)),
    "vendorurl": "https://pagure.io/sanlock",
}

DEVICE_OPT = ["ipaddr", "port", "no_port", "login", "no_login", "passwd", "no_password", "method",
              "resource_mode", "sysrq_reboot", "on_target", "nodename"]


def main():
    # the library names the agent after argv[0]; a source checkout runs it as .py
    if sys.argv[0].endswith(".py"):
        sys.argv[0] = sys.argv[0][:-3]
    atexit.register(atexit_handler)
    agent.install_early_logging()
    define_options()
    device_opt = list(DEVICE_OPT)
    options = check_input(device_opt, process_input(device_opt), other_conditions=True)
    show_docs(options, DOCS)
    return agent.run(options, fence_action, run_delay)


if __name__ == "__main__":
    agent.guarded(main)
