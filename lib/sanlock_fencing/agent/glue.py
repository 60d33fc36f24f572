# SPDX-License-Identifier: GPL-2.0-or-later
"""Glue between the fence-agents library (fencing.py) and this package.

The agent script declares options and documentation and calls run(); run() has the
options parsed once (request.parse: the only reader of the library's dict), checks on
this host what can be checked before the delay, then hands the library callbacks bound
to that one Request. Every failure is a single line on stderr with exit status 1.

(About 310 lines: every check made before a delay or an action, and each callback the
library calls, in one place, so that the order in which input is judged can be read.)
"""

import logging
import os
import sys

from . import request
from ..core import bounded, timing, watchdog_check
from ..core.errors import FenceError, UsageError
from ..core.evidence_store import EvidenceStore
from .fence import fence, wait_until_on
from .health import monitor
from ..core.lease import LeaseReader, LeaseReadError
from .nodes import check_names_node, identity_notes, resolve
from .progress import Progress
from ..core.proxy import DaemonDown, DaemonHung, Proxy
from .status import Power, host_status, list_hosts
from ..core.world import HostWorld, place_targets

EXIT_OK, EXIT_FAILED, EXIT_OFF = 0, 1, 2


class EarlyStderrHandler(logging.StreamHandler):
    """Shows log lines on stderr until the library installs its own stderr handler.

    Without it, a warning logged while the library reads stdin makes Python add a
    default handler, and every later line would then appear twice.
    """

    def __init__(self):
        super().__init__(sys.stderr)
        self.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))

    def emit(self, record):
        for handler in logging.getLogger().handlers:
            if handler is not self and type(handler) is logging.StreamHandler:
                return
        super().emit(record)


def install_early_logging():
    logging.getLogger().addHandler(EarlyStderrHandler())


def fail_line(message):
    """Report one failure line and exit 1."""
    logging.error("%s", message)
    sys.exit(EXIT_FAILED)


def adapt_library(argv):
    """The few places where the fence-agents library (4.12.1) does not fit this agent.

    - The library names the agent after argv[0]: a source checkout runs it as .py.
    - ipaddr pulls in a TCP port option (ipport) that needs a network protocol: this
      agent reaches its targets through storage, so ipaddr comes without it.
    - vdsm always sends agent=<name> on stdin; the library declares agent as a flag and
      would warn on every call.
    - A warning logged while stdin is read makes Python add a default handler, and
      every later line would then appear twice (EarlyStderrHandler).
    - passwd pulls in passwd_script (-S, --password-script), which the library runs
      through a shell, as whoever runs the agent (vdsm, root under Pacemaker), before
      any action. This agent uses no password: passwd (vdsm always sends one) stays
      accepted and ignored, and passwd_script is not an option of this agent at all,
      so the library refuses it on the command line and ignores it on stdin, never
      running it.
    """
    import fencing
    if argv[0].endswith(".py"):
        argv[0] = argv[0][:-3]
    fencing.DEPENDENCY_OPT["ipaddr"] = []
    fencing.DEPENDENCY_OPT["passwd"] = []
    fencing.all_opt["agent"].update(getopt=":", longopt="agent")
    install_early_logging()


def on_target(world, req, targets):
    """on run by the addressed host itself (Pacemaker's on_target unfencing).

    Returns None when the address is another host (the proxy's "on": wait for it to
    rejoin); otherwise makes this host fenceable through the addressed lockspaces and
    returns the exit status: where fence-sanlock-vdsm-responder runs, it checks that its
    answer would be true (watchdog_fire.fenceable); where sanlk-resetd runs, it registers
    them with it (unfence.py, target_side.py).
    """
    # imported here: unfence brings the host services' modules (argparse among them),
    # which status and monitor, called every few seconds, need not pay for
    from ..host.unfence import DEFAULT_WAIT, addresses_this_host, unfence
    proxy = world.proxy
    power_timeout = req.fence.power_timeout
    try:
        if not addresses_this_host(proxy, targets):
            return None
        # a short wait (for a lockspace being joined, a target side starting): unfencing
        # runs under Pacemaker's pcmk_on_timeout (60 s by default), and a host that is not
        # fenceable must say why before that, not after power_timeout's 175 s
        text = unfence(proxy, targets, wait=min(DEFAULT_WAIT, power_timeout or DEFAULT_WAIT))
    except FenceError as err:
        fail_line("Failed: %s" % err)
    print("Fenceable: %s" % text)
    print("Success: Powered ON")
    return EXIT_OK


def check_targets_here(world, targets):
    """Everything about the targets this host can check before a delay or any action:
    this host joined their lockspaces, none is this host itself, each host id fits its
    lockspace. Raises UsageError/FenceError."""
    placed, _missing = place_targets(world.joined(), targets)
    for target, space in placed:
        reader = LeaseReader(space.name, space.path, space.offset)
        try:
            size, capacity, align = bounded.call(reader.geometry, 10.0,
                                                 "reading lockspace %s" % space.name)
        except (LeaseReadError, bounded.CallTimeout) as err:
            raise FenceError("cannot read lockspace %s's leases, so a reset of %s could not be "
                             "proven: %s" % (space.name, target, err)) from None
        if target.host_id > capacity:
            raise UsageError("host id %d is beyond lockspace %s, which holds host ids 1 to %d "
                             "(%d-byte sectors, %d MiB alignment): check the address"
                             % (target.host_id, target.lockspace, capacity, size, align >> 20))


def check_resource_mode():
    """resource_mode trusts an expired lease because sanlock's own watchdog use resets a
    host whose lease it cannot renew. What this host can check is its own sanlock: hosts
    of one cluster are configured alike."""
    uses = watchdog_check.sanlock_uses_watchdog()
    if uses is False:
        raise UsageError("resource_mode=1 relies on the targets' sanlock using its watchdog "
                         "(sanlock daemon -w 1), and this host's does not (wdmd has no sanlock "
                         "client): their expired leases would prove nothing; set resource_mode "
                         "to 0, or run sanlock with -w 1 on every host")
    if uses is None:
        logging.warning("resource_mode=1: cannot ask wdmd whether sanlock uses its watchdog "
                        "here; it must, on every target (sanlock daemon -w 1)")


class Callbacks:
    """The functions fence_action calls back, bound to one request: they read the Request,
    never the library's dict (which they are handed too)."""

    def __init__(self, world, req, targets):
        self.world = world
        self.req = req
        self.targets = targets          # the request's, or those its node name resolved to
        self.options = req.fence
        self.verbose = req.verbose

    def _log(self, text):
        if self.verbose:
            logging.info("%s", text)

    def get_power_status(self, _conn, _options):
        try:
            verdict = host_status(self.world, self.targets, self.options.resource_mode,
                                  self.options.fire_timeout, log=self._log)
        except FenceError as err:
            fail_line("Failed: %s" % err)
        if verdict.power == Power.UNPROVEN:
            if self.req.action in ("off", "reboot"):
                fail_line("Failed: nothing was sent: %s" % verdict.reason)
            fail_line("Failed: cannot tell whether the host is off: %s" % verdict.reason)
        if verdict.power == Power.OFF and self.req.action in ("status", "off"):
            print("Proof: %s" % verdict.reason)
        return "on" if verdict.power == Power.ON else "off"

    def _progress(self):
        return Progress(verbose=self.verbose)

    def set_power_sync(self, _conn, _options):
        if self.req.action == "on":
            try:
                text = wait_until_on(self.world, self.targets, self.options.power_timeout,
                                     self._progress())
            except FenceError as err:
                fail_line("Failed: %s" % err)
            self._log(text)
            return True
        return self._fence()

    def reboot_cycle(self, _conn, _options):
        return self._fence()

    def _fence(self):
        try:
            result = fence(self.world, self.targets, self.options, self._progress(),
                           writer="fence-%d" % os.getpid())
        except FenceError as err:
            fail_line("Failed: %s" % err)
        print("%s: %s" % ("Already off" if result.already_off else "Proof", result.proof))
        return True

    def list_outlets(self, _conn, _options):
        req = self.req
        try:
            if req.action == "monitor":
                for line in monitor(self.world.proxy, req.lockspaces, req.targets):
                    self._log(line)
                if self.verbose:
                    for line in identity_notes(self.world, req.lockspaces, req.addressed):
                        logging.warning("%s", line)
                return {}
            # a device whose address names a host stands for that host alone: dynamic-list
            # must not pick it for another node
            outlets = list_hosts(self.world, req.lockspaces, self.options.resource_mode,
                                 self.options.fire_timeout, warn=logging.warning,
                                 addressed=req.addressed)
        except FenceError as err:
            fail_line("Failed: %s" % err)
        # printed here, not by the library: it would print "name," (an empty alias) on
        # every line; Pacemaker splits either form the same way, people read this one
        for node, (_alias, power) in sorted(outlets.items()):
            print(node if req.action == "list" else "%s,%s" % (node, power))
        return {}


def make_world(proxy_factory=Proxy):
    return HostWorld(proxy_factory(), EvidenceStore())


def look_here(req, world_factory):
    """The checks that ask this host's daemon and storage; returns (world, targets).

    A node name with a bare lockspace is resolved to its host ids; beside host ids it
    must name the addressed leases, or this device was picked for another node. For
    off, reboot and status each target must be fenceable from here. Raises
    FenceError/UsageError."""
    world = world_factory()
    targets = req.targets
    if req.node is not None and not targets:
        targets = resolve(world, req.lockspaces, req.node)
        logging.debug("node %s is %s", req.node, ",".join(map(str, targets)))
    if req.action in ("off", "reboot", "status"):
        check_targets_here(world, targets)
        if req.node is not None and req.targets:
            check_names_node(world, targets, req.node)
        if req.fence.resource_mode:
            check_resource_mode()
    return world, targets


def run(options, fence_action, run_delay, world_factory=make_world):
    """Do the action the options ask for; returns the exit status (fence_action's, or ours).

    Everything that can be checked is checked before the delay: bad input never waits.
    One thing is not bad input: a daemon that does not answer now. Then the delay is
    honoured (it is a head start Pacemaker or a person asked for, and upstream's
    delay-check runs the agent with no daemon at all) and the checks run again after
    it; nothing is sent on what was seen before the delay either way.
    """
    try:
        req = request.parse(options)
        if req.action == "validate-all":
            # stderr: what pcs and stonith_admin --validate show, and no parser reads
            logging.warning("a fence takes up to about %d s at sanlock's default io_timeout "
                            "of 10 s (%d s at 3): under Pacemaker set pcmk_off_timeout, "
                            "pcmk_reboot_timeout and stonith-timeout to at least %d, in plain "
                            "seconds ('fence_sanlock_vdsm -o monitor -v' tells for your "
                            "lockspaces)", timing.expected_fence_seconds(10)[1],
                            timing.expected_fence_seconds(3)[1], timing.pacemaker_timeout(10))
            return EXIT_OK
        unreachable = None
        try:
            world, targets = look_here(req, world_factory)
        except (DaemonDown, DaemonHung) as err:
            unreachable = err
    except FenceError as err:
        fail_line("%s" % err if isinstance(err, UsageError) else "Failed: %s" % err)

    run_delay(options)
    if unreachable is not None:
        try:
            world, targets = look_here(req, world_factory)
        except FenceError as err:
            fail_line("%s" % err if isinstance(err, UsageError) else "Failed: %s" % err)
    if req.action == "on":
        status = on_target(world, req, targets)
        if status is not None:
            return status
    callbacks = Callbacks(world, req, targets)
    return fence_action(None, options, None, callbacks.get_power_status,
                        get_outlet_list=callbacks.list_outlets,
                        reboot_cycle_fn=callbacks.reboot_cycle,
                        sync_set_power_fn=callbacks.set_power_sync)


def guarded(main):
    """Run main(); any unexpected exception becomes one line and exit 1, never a traceback."""
    try:
        sys.exit(main())
    except SystemExit:
        raise
    except KeyboardInterrupt:
        fail_line("interrupted: the fence is not proven")
    except BrokenPipeError:
        # whoever read our output went away (`| head`): nothing to tell it any more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(EXIT_FAILED)
    except Exception as err:   # the last line of defence: one line, never a traceback
        fail_line("unexpected %s: %s (run with -v for details and report it)"
                  % (type(err).__name__, err))
