"""Every deadline the agent uses, derived from the target's io_timeout.

sanlock's timing (sanlock.md): a host renews its delta lease every 2*io; others
call it FAIL after 8*io without a renewal and DEAD after 8*io + 60, the 60 being
sanlock's fixed watchdog-fire time.

The watchdog bound: sanlk-resetd arms the watchdog by expiring its wdmd
connection; wdmd notices at its next test (every 10 s) and stops petting the
device, which fires 60 s after its last pet. So the host is reset at most
WATCHDOG_FIRE_BOUND seconds after it armed, and it armed before it wrote its
RESETTING reply. Neither number depends on io_timeout, which is why the
watchdog-timing proof is valid at any io_timeout (sanlk-reset only applies its
"native timeout" at io_timeout 10 because it hard-codes the seconds).
"""

WDMD_TEST_INTERVAL = 10
WATCHDOG_FIRE_TIMEOUT = 60
WATCHDOG_FIRE_BOUND = WDMD_TEST_INTERVAL + WATCHDOG_FIRE_TIMEOUT

# Target renewals after our request reached the storage with no reply: a target
# running sanlk-resetd reads the request at its first renewal and writes the reply
# at its second, so four leaves room for one slow renewal each way.
NO_REPLY_RENEWALS = 4

DEFAULT_IO_TIMEOUT = 10    # sanlock's and vdsm's production default
POLL_INTERVAL = 0.25       # how often the fence loop reads leases and events


def renewal_interval(io_timeout):
    return 2 * io_timeout


def fail_seconds(io_timeout):
    return 8 * io_timeout


def dead_seconds(io_timeout):
    return 8 * io_timeout + WATCHDOG_FIRE_TIMEOUT


def watchdog_margin(io_timeout):
    """Silence needed after the watchdog bound before calling the host reset.

    A host whose watchdog failed would renew within one renewal interval plus the
    time a slow write may take (io_timeout), so three io_timeouts (plus poll slack)
    without a renewal after the bound shows that the host is no longer renewing.
    """
    return 3 * io_timeout + 2


def renewal_slack(io_timeout):
    """How late after the bound a renewal may still have been written before it."""
    return min(io_timeout, 2) + POLL_INTERVAL


def fail_state_proves_reset(io_timeout):
    """Whether FAIL (no renewal for > 8*io) already outlasts the watchdog bound.

    The reply is written at or before the last renewal, and the watchdog was armed
    before that, so a host with a reply on disk that has not renewed for longer than
    WATCHDOG_FIRE_BOUND has been reset. FAIL guarantees 8*io of silence; require one
    more io_timeout of slack. True from io_timeout 10, sanlock's default.
    """
    return fail_seconds(io_timeout) >= WATCHDOG_FIRE_BOUND + io_timeout


def request_write_deadline(io_timeout):
    """Time for this proxy's daemon to put our request into its own lease."""
    return 2 * renewal_interval(io_timeout) + io_timeout + 1


def unknown_wait(io_timeout):
    """How long status waits for a host that this daemon has not judged yet."""
    return 2 * renewal_interval(io_timeout) + 1


def expected_fence_seconds(io_timeout):
    """(typical, worst) seconds from request to proof through the watchdog bound.

    Request to reply on disk: one proxy renewal, then two target renewals
    (typical half of that, worst all of it); then the bound and the margin.
    """
    delivery_worst = 3 * renewal_interval(io_timeout)
    after_reply = WATCHDOG_FIRE_BOUND + watchdog_margin(io_timeout)
    return delivery_worst / 2 + after_reply, delivery_worst + after_reply
