# SPDX-License-Identifier: GPL-2.0-or-later
"""fence-sanlock-vdsm-responder: this host answers reset requests itself (no sanlk-resetd).

Wire-compatible with sanlk-resetd (sanlock's reset/sanlk_resetd.c) both ways: it
registers for events in every lockspace this host's sanlock daemon has joined (joins,
leaves and daemon restarts followed, no limit on their number); for a RESET addressed
to this host it arms the watchdog through its own wdmd connection (wdmd.py:
test_live(now, now), as sanlk-resetd), and only once wdmd has processed that (a status
reply on the same connection) it replies RESETTING to every host, with the requester's
host id and generation as the event's, so `sanlk-reset reset LS:ID`, sanlk-resetd-era
proxies and fence_sanlock_vdsm all read it. REBOOT is honoured only with
--sysrq-reboot (sanlk-resetd's -b 1): a "b" to /proc/sysrq-trigger after a delay,
on top of the watchdog, never instead of it.

Where it differs, and why:
- It replies only where the reply is true: wdmd petting a device that fires within the
  bound every proxy assumes (watchdog_fire.py); otherwise it refuses, logs why, and
  answers nothing. A failed arming gets no reply at all (sanlk-resetd would still send
  REBOOTING).
- A request must name this host's current generation, or 0 (sanlk-reset's default,
  "whichever is current"); one for an earlier generation is stale and ignored.
  (The daemon delivers an event to the host whose bit the sender set and fills in
  that host's id itself, so the generation is the only addressing left to check.)
- The reply's data field announces this host's watchdog bound (events.py,
  encode_reply_bound); sanlk-resetd sends 0 there and sanlk-reset ignores it.
- sanlk-resetd marks the lockspace USED (sanlock_set_config) before replying. The
  python binding offers no set_config, and the promise here rests on the responder's
  own expired wdmd connection, which fires whatever sanlock does with the lockspace.
- It refuses to start while a sanlk-resetd answers on its socket: two responders
  would both answer, one of them perhaps without a watchdog (-w 0).

(About 400 lines: the wdmd connection, the registrations, the request rule and the
command line, each logged once per change so the journal stays readable.)
"""

import argparse
import logging
import os
import select
import sys
import time

from . import service, target_side, watchdog_fire, wdmd
from ..core import bounded, events, timing
from ..core.errors import FenceError
from ..core.proxy import Proxy, ProxyError
from ..core.resetd_protocol import RESETD_SOCKET, ResetdClient

log = logging.getLogger("responder")

COMMAND = "fence-sanlock-vdsm-responder"
CLIENT_NAME = "fence-sanlock-vdsm-responder"     # as wdmd lists this client
INTERVAL = 1.0
CHECK_EVERY = 10.0           # seconds between watchdog checks while idle
SYSRQ_TRIGGER = "/proc/sysrq-trigger"
DEFAULT_SYSRQ_DELAY = 25     # sanlk-resetd's: time for the reply's renewal first
EXIT_OTHER_RESPONDER = 3


def classify(event, own_host_id, own_generation, sysrq_reboot):
    """(act, reboot, note) for one event (pure). act: arm and reply; reboot: also
    sysrq; note: why a request is ignored (None for events that are no request)."""
    bits = event.get("event", 0)
    asked_reset, asked_reboot = bool(bits & events.RESET), bool(bits & events.REBOOT)
    if not (asked_reset or asked_reboot):
        return False, False, None            # replies and other applications' events
    what = "%s from host %d (generation %d)" % (events.name(bits & events.REQUEST_BITS),
                                                event.get("from_host_id", 0),
                                                event.get("from_generation", 0))
    if not asked_reset and not sysrq_reboot:
        return False, False, ("%s ignored: REBOOT alone asks for a sysrq reboot, which is "
                              "not enabled (--sysrq-reboot)" % what)
    if event.get("host_id") != own_host_id:
        return False, False, ("%s ignored: addressed to host id %s, this host is %d"
                              % (what, event.get("host_id"), own_host_id))
    generation = event.get("generation", 0)
    if generation not in (0, own_generation):
        return False, False, ("%s ignored: it is for generation %d, this host is at "
                              "generation %d (a stale request)"
                              % (what, generation, own_generation))
    return True, asked_reboot and sysrq_reboot, None


class Armer:
    """The wdmd connection the watchdog is armed through."""

    def __init__(self, lib_loader=wdmd.load):
        self.lib_loader = lib_loader
        self.con = None
        self.armed_at = None       # test_live sent: from here on never close cleanly
        self.confirmed = False     # wdmd answered after it: it has processed the arming

    def ensure(self):
        """Connected, registered, refcount set; raises FenceError."""
        if self.con is not None and not self.con.broken and not self.con.peer_closed():
            return False
        if self.armed_at is not None:
            raise wdmd.WdmdDown("the connection to wdmd that armed the watchdog is gone")
        self.drop()
        con = wdmd.Connection(self.lib_loader())
        try:
            con.connect()
            con.register(CLIENT_NAME)
            con.refcount_set()       # wdmd may not exit cleanly (disarmed) while we can arm
        except FenceError:
            con.close()
            raise
        self.con = con
        return True

    def arm(self):
        """Expire this connection now and wait until wdmd has processed that."""
        now = wdmd.monotonic_seconds()
        self.con.test_live(now, now)
        self.armed_at = time.monotonic()     # sent: from here the host may reset
        status = self.con.status()           # answered in order: the test_live was read
        self.confirmed = True
        return status

    def drop(self):
        """Close cleanly while unarmed (wdmd forgets the client and its refcount)."""
        if self.con is not None and self.armed_at is None:
            try:
                if not self.con.broken:
                    self.con.refcount_clear()
            except FenceError:
                pass
            self.con.close()
            self.con = None


class Responder:
    def __init__(self, proxy, armer, check, sysrq_reboot=False,
                 sysrq_delay=DEFAULT_SYSRQ_DELAY, sysrq_trigger=SYSRQ_TRIGGER,
                 resetd=None, clock=time.monotonic):
        self.proxy, self.armer, self.check, self.clock = proxy, armer, check, clock
        self.sysrq_reboot, self.sysrq_delay = sysrq_reboot, sysrq_delay
        self.sysrq_trigger = sysrq_trigger
        self.resetd = resetd
        self.registrations = {}      # name -> (fd, JoinedLockspace)
        self.replied = set()         # (lockspace, requester id, requester generation)
        # numbers this process's replies (events.encode_reply_bound): a random start, so
        # that a restarted responder does not repeat the reply already on storage
        self.reply_number = int.from_bytes(os.urandom(2), "little")
        self.verdict = None          # the last watchdog_fire.Verdict
        self.checked_at = None
        self.sysrq_at = None
        self._said = {}

    def _say_once(self, topic, level, message):
        if self._said.get(topic) != message:
            self._said[topic] = message
            log.log(level, "%s", message)

    # -- is the promise true -----------------------------------------------------------

    def refresh(self, force=False):
        """The watchdog verdict, checked again every CHECK_EVERY seconds (or when forced)."""
        if self.armer.armed_at is not None:
            # armed: wdmd lets the device fire now, which every check would call "not
            # petting"; the verdict that allowed the arming stays the one replies use
            self._say_once("verdict", logging.WARNING, "the watchdog is armed: this host "
                           "is being reset")
            return self.verdict
        if not force and self.checked_at is not None and \
                self.clock() - self.checked_at < CHECK_EVERY:
            return self.verdict
        self.checked_at = self.clock()
        try:
            if self.armer.ensure():
                log.info("registered with wdmd as %s (refcount set: wdmd cannot exit "
                         "cleanly while this service runs)", CLIENT_NAME)
            verdict = self.check()
        except FenceError as err:
            verdict = watchdog_fire.Verdict("wdmd cannot be used: %s" % err, None, "")
        self.verdict = verdict
        if verdict.problem:
            self._say_once("verdict", logging.ERROR, "this host cannot be fenced: %s; "
                           "reset requests get no reply" % verdict.problem)
        else:
            self._say_once("verdict", logging.INFO, "this host can be fenced: %s"
                           % verdict.summary)
        return verdict

    # -- registrations -----------------------------------------------------------------

    def sync_registrations(self):
        try:
            joined = self.proxy.joined()
        except FenceError as err:
            self._say_once("daemon", logging.WARNING, "cannot list this host's lockspaces: "
                           "%s; retrying" % err)
            self._forget_all()
            return
        if self._said.pop("daemon", None):
            log.info("this host's sanlock daemon answers again")
        stable = {n: s for n, s in joined.items() if not s.adding and not s.removing}
        for name in sorted(set(self.registrations) - set(stable)):
            fd, _ = self.registrations.pop(name)
            self.proxy.end_events(fd, name)
            log.info("no longer answering in lockspace %s: this host left it", name)
        for name in sorted(set(stable) - set(self.registrations)):
            try:
                fd = self.proxy.register_events(name)
            except FenceError as err:
                self._say_once("reg:" + name, logging.WARNING, "cannot register for events "
                               "of lockspace %s yet: %s" % (name, err))
                continue
            self._said.pop("reg:" + name, None)
            self.registrations[name] = (fd, stable[name])
            log.info("answering reset requests in lockspace %s (this host is host id %d)",
                     name, stable[name].host_id)

    def _forget_all(self):
        """The daemon went away: its event fds are dead."""
        for name, (fd, _) in self.registrations.items():
            try:
                os.close(fd)
            except OSError:
                pass
            log.info("lost the registration of lockspace %s with the sanlock daemon", name)
        self.registrations = {}

    # -- requests ----------------------------------------------------------------------

    def take_events(self, name):
        fd, space = self.registrations[name]
        try:
            batch = self.proxy.read_events(fd)
        except FenceError as err:
            log.warning("lost the event registration of lockspace %s: %s", name, err)
            self.registrations.pop(name, None)
            self.proxy.end_events(fd, name)
            return
        for event in batch:
            self.on_event(space, event)

    def on_event(self, space, event):
        if not event.get("event", 0) & events.REQUEST_BITS:
            return
        key = (space.name, event.get("from_host_id"), event.get("from_generation"))
        if key in self.replied:
            return                       # the same request again (repeated while its bit is set)
        try:
            own = self.proxy.host(space.name, space.host_id, retry_seconds=2.0).generation
        except FenceError as err:
            log.error("reset request in lockspace %s, but this host's generation cannot be "
                      "read: %s; not answering it now", space.name, err)
            return
        act, reboot, note = classify(event, space.host_id, own, self.sysrq_reboot)
        if not act:
            self._say_once("ignored:%s:%s" % key[:2], logging.WARNING,
                           "lockspace %s: %s" % (space.name, note))
            return
        self.answer(space, event, key, reboot)

    def answer(self, space, event, key, reboot):
        asked = "%s from host %d generation %d in lockspace %s" % (
            events.name(event["event"] & events.REQUEST_BITS), key[1], key[2], space.name)
        if not self.armer.confirmed:
            verdict = self.refresh(force=True)
            if verdict.problem:
                self._say_once("refused:%s:%s:%s" % key, logging.ERROR,
                               "%s: not answering, this host cannot be fenced: %s"
                               % (asked, verdict.problem))
                return
            try:
                status = self.armer.arm()
            except FenceError as err:
                log.error("%s: arming the watchdog failed, not answering: %s", asked, err)
                return
            log.warning("%s: watchdog armed (wdmd confirmed; it pets every %d s and the "
                        "device fires %d s after its last ping): this host will be reset",
                        asked, status.test_interval, status.fire_timeout)
        reply = events.RESETTING | (events.REBOOTING if reboot else 0)
        needed = self.verdict.needed if self.verdict and self.verdict.needed else \
            timing.watchdog_bound(timing.configured_fire_timeout())
        try:
            self.reply_number = (self.reply_number + 1) & 0xFFFF
            self.proxy.send_reply(space.name, key[1], key[2], reply,
                                  events.encode_reply_bound(needed, self.reply_number))
        except FenceError as err:
            log.error("%s: the reply %s could not be set: %s", asked, events.name(reply), err)
            return
        self.replied.add(key)
        log.warning("%s: replied %s to every host (watchdog bound %d s)", asked,
                    events.name(reply), -(-needed // 1))
        if reboot and self.sysrq_at is None:
            self.sysrq_at = self.clock() + self.sysrq_delay
            log.warning("rebooting through %s in %g s", self.sysrq_trigger, self.sysrq_delay)

    def maybe_sysrq(self):
        if self.sysrq_at is None or self.clock() < self.sysrq_at:
            return
        self.sysrq_at = float("inf")         # once; the watchdog stays armed regardless
        log.warning("rebooting now through %s", self.sysrq_trigger)
        try:
            bounded.call(lambda: _write(self.sysrq_trigger, b"b"), 5.0, "writing sysrq")
        except (OSError, FenceError) as err:
            log.error("sysrq reboot failed (%s); the armed watchdog resets this host", err)

    # -- one pass ----------------------------------------------------------------------

    def step(self, wait=INTERVAL):
        if self.resetd is not None and self.resetd.running():
            self._say_once("resetd", logging.ERROR, "sanlk-resetd is running on this host "
                           "too (%s answers): stop it (systemctl disable --now sanlk-resetd)"
                           % self.resetd.path)
        self.refresh()
        self.sync_registrations()
        handles = {fd: name for name, (fd, _) in self.registrations.items()}
        if handles:
            poller = select.poll()
            for fd in handles:
                poller.register(fd, select.POLLIN)
            ready = poller.poll(wait * 1000)
        else:
            time.sleep(wait)
            ready = []
        for fd, mask in ready:
            if fd in handles and handles[fd] in self.registrations:
                self.take_events(handles[fd])
        self.maybe_sysrq()

    def close(self):
        for name, (fd, _) in sorted(self.registrations.items()):
            self.proxy.end_events(fd, name)
        self.registrations = {}
        self.armer.drop()


def _write(path, data):
    with open(path, "wb", buffering=0) as handle:
        handle.write(data)


# ------------------------------------------------------------------ the command

def parse_args(argv):
    arguments = service.parser(
        COMMAND,
        "Answer reset requests for this host (the target side of fence_sanlock_vdsm, "
        "wire-compatible with sanlk-resetd): in every lockspace this host's sanlock daemon "
        "has joined, a RESET addressed to this host arms the watchdog through wdmd and, "
        "once armed, is answered RESETTING. Refuses to answer while the watchdog would not "
        "reset the host within the bound fencing proxies assume (no wdmd, no device "
        "petted, iTCO_wdt under a wdmd that does not compensate). Runs in the foreground, "
        "logs to stderr; honours SANLOCK_RUN_DIR.", INTERVAL)
    arguments.add_argument("--sysrq-reboot", action="store_true",
                           help="honour REBOOT requests: reboot through /proc/sysrq-trigger "
                                "after --sysrq-delay, on top of the armed watchdog "
                                "(sanlk-resetd's -b 1)")
    arguments.add_argument("--sysrq-delay", type=float, default=DEFAULT_SYSRQ_DELAY,
                           metavar="SECONDS",
                           help="seconds between the reply and the sysrq reboot, so that the "
                                "reply reaches the storage first (default %(default)s)")
    arguments.add_argument("--watchdog-sysfs", default=watchdog_fire.SYSFS_WATCHDOG,
                           help=argparse.SUPPRESS)
    arguments.add_argument("--sysrq-trigger", default=SYSRQ_TRIGGER, help=argparse.SUPPRESS)
    arguments.add_argument("--resetd-socket", default=RESETD_SOCKET, help=argparse.SUPPRESS)
    args = service.parse(arguments, argv)
    if args.sysrq_delay < 0:
        arguments.error("--sysrq-delay must be 0 or more")
    return args


def main(argv=None, proxy_factory=None):
    args = parse_args(argv)
    resetd = ResetdClient(args.resetd_socket)
    if resetd.running():
        log.error("sanlk-resetd is running on this host (it answers on %s): stop and "
                  "disable it (systemctl disable --now sanlk-resetd) before starting %s; "
                  "both would answer the same requests", resetd.path, COMMAND)
        return EXIT_OTHER_RESPONDER
    # held until exit: how monitor and unfencing tell that the responder is this host's
    # target side (target_side.py), and that no second responder runs; its fd stays open
    # until this process ends
    try:
        target_side.hold_responder_lock(args.watchdog_sysfs)
    except target_side.OtherResponder as err:
        log.error("%s", err)
        return EXIT_OTHER_RESPONDER
    except OSError as err:
        log.warning("cannot hold %s (%s): requests are answered, but monitor and "
                    "unfencing will not see this responder", target_side.RESPONDER_LOCK, err)
    try:
        proxy = (proxy_factory or Proxy)()
        wdmd.load()
    except FenceError as err:
        log.error("%s", err)
        return 1
    fire_timeout = timing.configured_fire_timeout()
    responder = Responder(
        proxy, Armer(), lambda: watchdog_fire.check(args.watchdog_sysfs, fire_timeout),
        args.sysrq_reboot, args.sysrq_delay, args.sysrq_trigger, resetd)

    def step():
        try:
            responder.step(args.interval)
        except ProxyError as err:         # the daemon went away mid-pass: look again
            log.warning("%s; retrying", err)
            time.sleep(args.interval)
    try:
        return service.run_until_signalled(step, 0.01, "answering reset requests in every "
                                           "joined lockspace")
    finally:
        responder.close()


if __name__ == "__main__":
    sys.exit(main())
