# SPDX-License-Identifier: GPL-2.0-or-later
"""progress: what a person at a terminal sees while a fence runs, and the log of -v."""

import io

from sanlock_fencing.agent.progress import Progress


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


def test_live_line_is_rewritten_in_place_and_ended():
    screen = FakeTerminal()
    progress = Progress(stream=screen)
    progress.phase("requested")
    progress.phase("acknowledged by host 3; waiting for its watchdog 35/75 s")
    progress.done()
    text = screen.getvalue()
    assert text.count("\r\033[K") == 2 and text.endswith("75 s\n")
    assert "fence_sanlock_vdsm: requested" in text


def test_nothing_is_shown_when_not_on_a_terminal():
    stream = io.StringIO()
    progress = Progress(stream=stream)
    progress.phase("requested")
    progress.step(1.0, "something")
    progress.done()
    assert stream.getvalue() == ""


def test_verbose_steps_go_to_the_log(caplog):
    caplog.set_level("INFO")
    Progress(stream=io.StringIO(), verbose=True).step(12.5, "host 3 is DEAD")
    assert "+  12.5 s  host 3 is DEAD" in caplog.text
