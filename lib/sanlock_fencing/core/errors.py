# SPDX-License-Identifier: GPL-2.0-or-later
"""Errors that end an action with a one-line message and exit status 1."""


class FenceError(Exception):
    """An action cannot be done or cannot be proven; the message says why and what to do."""


class UsageError(FenceError):
    """The caller's input is wrong; nothing has been done."""


class DaemonError(FenceError):
    """A daemon of this host (sanlock, wdmd) cannot do what was asked.

    errno: the error number it gave, or None: some callers tell apart what the daemon
    refused (EBUSY, ENOENT ...) from what failed on the way."""

    def __init__(self, message, code=None):
        super().__init__(message)
        self.errno = code
