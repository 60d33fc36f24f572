# SPDX-License-Identifier: GPL-2.0-or-later
"""Calls that may block, each with a deadline.

A SIGSTOPped sanlock daemon accepts a connection and never answers; a stalled
storage path blocks a read for as long as it stalls. Neither may hold the agent
past its bound, so every such call runs in a worker thread and the caller waits
for it only until the deadline (the sanlock binding and os.readv release the GIL
while they block). A call that misses its deadline is abandoned, not cancelled:
its thread stays blocked until the call returns, and the process exits without
waiting for it (daemon threads).

BlockingSource keeps at most one call outstanding per source, so that a hung
storage path costs one blocked thread, not one per poll: a read still running
when the next one is wanted is reported as "no answer yet", with the time it was
issued, and its result is taken when it comes.
"""

import threading
import time

from .errors import FenceError


class CallTimeout(FenceError):
    """A blocking call did not return within its deadline."""


def call(fn, seconds, what, clock=time.monotonic):
    """fn() in a worker thread; its result, its exception, or CallTimeout after seconds."""
    box = {}
    done = threading.Event()

    def run():
        try:
            box["value"] = fn()
        except BaseException as err:     # handed to the caller, raised there
            box["error"] = err
        finally:
            done.set()

    started = clock()
    threading.Thread(target=run, name="bounded:" + what, daemon=True).start()
    if not done.wait(max(0.0, seconds)):
        raise CallTimeout("%s did not return within %.0f s" % (what, clock() - started))
    if "error" in box:
        raise box["error"]
    return box["value"]


class BlockingSource:
    """One blocking call at a time (a lease read), waited for up to a deadline."""

    def __init__(self, fn, what, clock=time.monotonic):
        self._fn = fn
        self.what = what
        self._clock = clock
        self._lock = threading.Lock()
        self._pending = None     # (issued, Event, box) of the outstanding call

    def _start(self):
        box = {}
        done = threading.Event()
        issued = self._clock()

        def run():
            try:
                box["value"] = self._fn()
            except BaseException as err:
                box["error"] = err
            finally:
                box["returned"] = self._clock()
                done.set()

        threading.Thread(target=run, name="source:" + self.what, daemon=True).start()
        self._pending = (issued, done, box)

    def get(self, wait):
        """(issued, returned, value, error) of a call; returned None when it is still out.

        Starts a new call unless one is outstanding, then waits up to `wait` seconds.
        error is the exception the call raised (value None then).
        """
        with self._lock:
            if self._pending is None:
                self._start()
            issued, done, box = self._pending
        done.wait(max(0.0, wait))
        if not done.is_set():
            return issued, None, None, None
        with self._lock:
            self._pending = None
        return issued, box["returned"], box.get("value"), box.get("error")
