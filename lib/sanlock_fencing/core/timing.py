# SPDX-License-Identifier: GPL-2.0-or-later
"""Every time bound the agent uses, and where each number comes from.

sanlock (3.8.5): a host renews its delta lease every 2*io_timeout. The renewal
thread wakes once a second, so consecutive timestamps differ by 2*io or 2*io + 1
(more when a read is slow); the timestamp is taken after the renewal's read and
before its write. Other hosts' daemons call a host FAIL after 8*io without a
change and DEAD after 8*io + watchdog_fire_timeout (60 s by default).

The watchdog bound (how long after sanlk-resetd armed the watchdog the host must
have been reset). sanlk-resetd arms by telling wdmd that its connection expired
"now"; wdmd runs its test every 10 s (fire timeouts of 60 s and more; scheduled in
whole seconds: measured spacing 9.46-10.51 s), fails that client at its next test,
and closes the device without the magic character; the kernel counts that close as
a last ping, so the device fires fire_timeout (60 s) later. Measured with the real
chain: reply set -> fire 70.00-70.12 s. So the fire comes at most
    10.51 (one test interval, worst measured) + 60 + 1.49 (slack) = 72 s
after the arming. The anchor of the bound is an upper bound of the arming time:
the moment this host first saw the reply (the reply is set after the arming, and
is on storage before any host can read it), or the owner's own timestamp of the
renewal that carried the reply plus one second (timestamps are whole seconds).

The bound assumes wdmd's fire timeout of 60 s, and is never shortened from
configuration: sanlock and wdmd 3.8.5 (Debian 12, EL8, EL9) do not read
watchdog_fire_timeout at all (it came upstream later, with 3.9), so a smaller value
in sanlock.conf would shorten the bound against a device that still fires after 60 s.
A larger value lengthens it (a longer wait only delays a proof). The value that
bounds a target's fire is the target's own; this host's file describes it only where
the administrator keeps every host alike, which newer sanlock requires.
"""

SANLOCK_CONF = "/etc/sanlock/sanlock.conf"
DEFAULT_FIRE_TIMEOUT = 60        # sanlock's and wdmd's default
WDMD_TEST_SPACING_EXCESS = 0.51  # wdmd's tests come up to this much later than planned
BOUND_SLACK = 1.49               # scheduling slack on top of what was measured

DEFAULT_IO_TIMEOUT = 10          # sanlock's and vdsm's production default
POLL_INTERVAL = 0.25             # how often the fence loop reads leases and events

# Target renewals after our request reached the storage with no reply: a target
# running sanlk-resetd reads the request at its first renewal and writes the reply
# at its second, so four leaves room for one slow renewal each way.
NO_REPLY_RENEWALS = 4

# How late a healthy renewal may be, on top of its read and write (renewal_lateness):
# the renewal thread's one-second wake-up, the half second it sleeps after a failed
# attempt, and one second of scheduling noise.
PACE_SLACK = 2.5


def wdmd_test_interval(fire_timeout):
    """wdmd's test interval for a device fire timeout (wdmd main.c, _init_test_interval)."""
    if fire_timeout >= 60:
        return 10
    if fire_timeout >= 30:
        return 5
    if fire_timeout >= 10:
        return 2
    return 1


def watchdog_bound(fire_timeout=DEFAULT_FIRE_TIMEOUT):
    """Seconds after the arming by which an armed, working watchdog has fired."""
    return (wdmd_test_interval(fire_timeout) + WDMD_TEST_SPACING_EXCESS + fire_timeout
            + BOUND_SLACK)


def configured_fire_timeout(path=SANLOCK_CONF):
    """The fire timeout the watchdog bound assumes: watchdog_fire_timeout from
    sanlock.conf when it is larger than the 60 s default, else 60 (see the module
    comment: a smaller value is never trusted).

    Parsed as sanlock parses it: "name = value" lines, '#' comments, positive
    integers only (sanlock ignores other values).
    """
    try:
        with open(path) as handle:
            lines = handle.read().splitlines()
    except OSError:
        return DEFAULT_FIRE_TIMEOUT
    value = DEFAULT_FIRE_TIMEOUT
    for line in lines:
        line = line.strip()
        if line.startswith("#") or "=" not in line:
            continue
        name, _, text = line.partition("=")
        if name.strip() == "watchdog_fire_timeout":
            try:
                number = int(text.strip())
            except ValueError:
                continue
            if number > 0:
                value = number
    return max(value, DEFAULT_FIRE_TIMEOUT)


def renewal_interval(io_timeout):
    return 2 * io_timeout


def renewal_lateness(io_timeout):
    """How much later than renewal_interval after the last one a healthy host's next
    renewal may show up on storage (sanlock's renewal loop, src/lockspace.c): it starts
    up to PACE_SLACK late, its read may take io_timeout before the timestamp is taken
    and its write io_timeout after. A renewal missed by less than this is no sign that
    the host stopped."""
    return PACE_SLACK + 2 * io_timeout


def fail_seconds(io_timeout):
    return 8 * io_timeout


def dead_seconds(io_timeout, fire_timeout=DEFAULT_FIRE_TIMEOUT):
    return 8 * io_timeout + fire_timeout


def request_write_deadline(io_timeout):
    """Time for this proxy's daemon to put our request into its own lease."""
    return 2 * renewal_interval(io_timeout) + io_timeout + 1


def unknown_wait(io_timeout):
    """How long status waits for a host that this daemon has not judged yet."""
    return 2 * renewal_interval(io_timeout) + 1


def storage_silence_limit(io_timeout):
    """How long the leases may stay unreadable before a fence gives up.

    After 8*io without a successful renewal this host's own lease is lost too, so
    waiting longer cannot bring a proof.
    """
    return fail_seconds(io_timeout) + 10


def expected_fence_seconds(io_timeout, fire_timeout=DEFAULT_FIRE_TIMEOUT):
    """(typical, worst) seconds from request to proof through the watchdog bound.

    Request to reply on storage: one proxy renewal, then two target renewals
    (typical: half of that). After the reply: the bound, then the renewal that a
    host whose watchdog failed would still write (at most one interval after the
    bound, plus slack).
    """
    delivery_worst = 3 * renewal_interval(io_timeout)
    after_reply = (watchdog_bound(fire_timeout) + renewal_interval(io_timeout)
                   + renewal_lateness(io_timeout))
    return (int(delivery_worst / 2 + after_reply - renewal_interval(io_timeout) / 2),
            int(delivery_worst + after_reply + 1))


def pacemaker_timeout(io_timeout, fire_timeout=DEFAULT_FIRE_TIMEOUT):
    """pcmk_off_timeout/pcmk_reboot_timeout/stonith-timeout covering a fence under
    Pacemaker: the worst fence plus the mutual guard's wait (on there by default), a
    fifth more, rounded up to ten seconds."""
    worst = expected_fence_seconds(io_timeout, fire_timeout)[1] + mutual_guard_wait(io_timeout)
    return int((worst * 1.2 + 9) // 10 * 10)


# How far apart two nodes may start fencing each other and still be told apart by the
# guard below: Pacemaker's fencers on both sides of a split start within seconds.
RACE_SKEW = 10


def mutual_guard_wait(io_timeout):
    """How long a proxy whose host id is higher than its target's waits before sending.

    If the target is fencing this proxy at the same moment, its request reaches this
    host within one renewal of the target (written) and one of this host (read), and
    then this proxy gives up instead of sending: exactly one of the two is reset.
    """
    return 2 * renewal_interval(io_timeout) + 5 + RACE_SKEW
