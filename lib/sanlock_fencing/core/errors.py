# SPDX-License-Identifier: GPL-2.0-or-later
"""Errors that end an action with a one-line message and exit status 1."""


class FenceError(Exception):
    """An action cannot be done or cannot be proven; the message says why and what to do."""


class UsageError(FenceError):
    """The caller's input is wrong; nothing has been done."""
