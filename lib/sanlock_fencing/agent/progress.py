# SPDX-License-Identifier: GPL-2.0-or-later
"""What a person sees while a fence runs.

On a terminal: one live line on stderr, rewritten in place (requested ->
acknowledged by host N -> waiting for its watchdog 35/102 s -> proven). With
verbose: every state change as a timestamped line through logging (the
fence-agents library formats and timestamps it). When stderr is not a terminal
and verbose is off (Pacemaker, vdsm): nothing at all.
"""

import logging
import sys
import time

_MIN_REDRAW = 0.5   # seconds between redraws of the live line


class Progress:
    def __init__(self, stream=None, verbose=False, live=None, prefix="fence_sanlock_vdsm"):
        self.stream = stream or sys.stderr
        self.verbose = verbose
        self.live = self.stream.isatty() if live is None else live
        self.prefix = prefix
        self._last_text = None
        self._last_draw = 0.0
        self._drawn = False

    def phase(self, text):
        if not self.live:
            return
        now = time.monotonic()
        if text == self._last_text and now - self._last_draw < _MIN_REDRAW:
            return
        self._last_text, self._last_draw = text, now
        self.stream.write("\r\033[K%s: %s" % (self.prefix, text))
        self.stream.flush()
        self._drawn = True

    def step(self, elapsed, text):
        if self.verbose:
            self._clear()
            logging.info("+%6.1f s  %s", elapsed, text)

    def done(self):
        """Leave the last live line on screen, ended, so the outcome below follows it."""
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False

    def _clear(self):
        if self._drawn:
            self.stream.write("\r\033[K")
            self.stream.flush()
            self._drawn = False
            self._last_text = None
