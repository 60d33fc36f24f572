# SPDX-License-Identifier: GPL-2.0-or-later
"""What the host services (resetd sync, witness) share: their command line, logging as
systemd expects it, and a loop that runs until SIGTERM."""

import argparse
import logging
import os
import signal
import sys
import time

log = logging.getLogger("service")


def setup_logging(verbose):
    """One stderr handler; no timestamps under systemd (the journal adds them)."""
    handler = logging.StreamHandler(sys.stderr)
    if os.environ.get("JOURNAL_STREAM") or os.environ.get("INVOCATION_ID"):
        fmt = "%(levelname)s: %(message)s"
    else:
        fmt = "%(asctime)s %(levelname)s: %(message)s"
    handler.setFormatter(logging.Formatter(fmt))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)


def parser(prog, description, interval):
    """An argparse parser with the options every service has: -i/--interval, -v."""
    result = argparse.ArgumentParser(prog=prog, description=description)
    result.add_argument("-i", "--interval", type=float, default=interval,
                        help="seconds between passes (default %(default)s)")
    result.add_argument("-v", "--verbose", action="store_true")
    return result


def parse(arguments, argv):
    """Parsed arguments (sys.argv when argv is None), logging set up."""
    args = arguments.parse_args(sys.argv[1:] if argv is None else argv)
    if args.interval <= 0:
        arguments.error("--interval must be more than 0")
    setup_logging(args.verbose)
    return args


def run_until_signalled(step, interval, what):
    """step() every interval seconds until SIGTERM or SIGINT; 0 (the exit status).

    A pass that fails unexpectedly is logged and the service goes on: one bad pass
    must not leave the host unfenceable.
    """
    stopping = []
    signal.signal(signal.SIGTERM, lambda signum, _frame: stopping.append(signum))
    signal.signal(signal.SIGINT, lambda signum, _frame: stopping.append(signum))
    log.info("started: %s, every %g s", what, interval)
    while not stopping:
        started = time.monotonic()
        try:
            step()
        except Exception as err:
            log.exception("unexpected %s: %s", type(err).__name__, err)
        deadline = started + interval
        while not stopping and time.monotonic() < deadline:
            time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))
    log.info("stopped (signal %d)", stopping[0])
    return 0
