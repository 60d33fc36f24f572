# SPDX-License-Identifier: GPL-2.0-or-later
"""Is this host's watchdog in use, so that sanlk-resetd's reply is a promise it can keep?

sanlk-resetd arms the watchdog by expiring its own connection to wdmd, and answers
RESETTING as soon as that message is queued; started with -w 0 it answers RESETTING
without arming anything. A fencing proxy cannot tell from storage. So the target side
registers lockspaces with sanlk-resetd only while `wdmd --dump` shows that wdmd pets a
watchdog device (or is letting it fire), that a live sanlk-resetd is one of its
clients (it connects only with -w 1), and that the device's fire timeout is the one
the proxies' watchdog bound assumes.

(Measured with Debian's 3.8.5 binaries: wdmd pets its device from its start, whether
or not sanlock itself runs with -w 1; newer wdmd sources open the device only when a
client asks. The dump shows which.)
"""

import re
import subprocess

from . import timing
DUMP_TIMEOUT = 5.0


def _wdmd_dump(run):
    # Pipes and universal_newlines spelled out: run()'s capture_output= and text= are
    # Python 3.7+, and EL8's platform Python is 3.6.
    return run(["wdmd", "--dump"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
               universal_newlines=True, timeout=DUMP_TIMEOUT)


def check(expected_fire_timeout=None, run=subprocess.run):
    """None when the watchdog is in use; otherwise the reason it is not."""
    if expected_fire_timeout is None:
        expected_fire_timeout = timing.configured_fire_timeout()
    try:
        done = _wdmd_dump(run)
    except FileNotFoundError:
        return "wdmd is not installed: this host has no watchdog daemon"
    except subprocess.TimeoutExpired:
        return "wdmd did not answer within %.0f s" % DUMP_TIMEOUT
    head = re.search(r"^wdmd \d+ .*\bnow (\d+) last_keepalive (\d+)\b", done.stdout, re.M)
    if done.returncode != 0 or head is None:
        return ("wdmd is not running (wdmd --dump: %s)"
                % (done.stderr.strip() or done.stdout.strip() or "no answer"))
    now, keepalive = (int(x) for x in head.groups())
    # Debian's wdmd 3.8.5 does not print its fire timeout; newer ones do. Without it, the
    # device runs with what this host's sanlock asked for: its configured value.
    fire_field = re.search(r"^wdmd \d+ .*\bfire_timeout (\d+)", done.stdout, re.M)
    fire = int(fire_field.group(1)) if fire_field else expected_fire_timeout
    limit = 2 * timing.wdmd_test_interval(fire) + 5
    unclean = re.search(r"^wdmd \d+ .*\blast_closeunclean (\d+)", done.stdout, re.M)
    if keepalive and unclean and int(unclean.group(1)) >= keepalive:
        return None     # closed without disarming after its last pet: it is firing now
    if keepalive == 0 or now - keepalive > limit:
        return ("wdmd is not petting a watchdog device (last keepalive %s), so "
                "sanlk-resetd would acknowledge a reset it cannot carry out; check wdmd and "
                "the watchdog driver (with newer wdmd versions, also run sanlock with -w 1)"
                % ("never" if keepalive == 0 else "%d s ago" % (now - keepalive)))
    if not re.search(r"^client \d+ name sanlk-resetd pid \d+ fd \d+ dead 0 ref 1\b",
                     done.stdout, re.M):
        return ("no sanlk-resetd is connected to wdmd: a sanlk-resetd started with -w 0 "
                "acknowledges resets without arming the watchdog; run it with -w 1 (its "
                "default)")
    if fire != expected_fire_timeout:
        return ("wdmd's watchdog fires %d s after its last ping, but sanlock.conf says %d: "
                "fencing proxies derive their proof from the configured value; make them "
                "agree" % (fire, expected_fire_timeout))
    return None


def sanlock_uses_watchdog(run=subprocess.run):
    """Whether this host's sanlock daemon uses its watchdog: True when wdmd has a client
    sanlock registered for a lockspace (it does with -w 1), False when wdmd runs without
    one, None when wdmd cannot be asked (not running, or this user may not)."""
    try:
        done = _wdmd_dump(run)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0 or not re.search(r"^wdmd \d+ ", done.stdout, re.M):
        return None
    return bool(re.search(r"^client \d+ name sanlock_\S+ pid \d+ fd \d+ dead 0", done.stdout,
                          re.M))
