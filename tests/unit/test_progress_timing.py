# SPDX-License-Identifier: GPL-2.0-or-later
import io

from sanlock_fencing.core import timing
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


def test_expected_fence_time_fits_ovirt_at_io_timeout_10():
    typical, worst = timing.expected_fence_seconds(10)
    # typical within the default power_timeout (175 s); the worst case (every renewal of
    # both hosts late by all sanlock allows) reaches it, and stays under the engine's
    # 180 s RPC timeout: there the fence fails at power_timeout, it never succeeds early
    assert typical < 175 <= worst < 180
    assert timing.pacemaker_timeout(10) > worst


def test_the_watchdog_bound_covers_the_measured_chain():
    # measured with real wdmd: reply set -> device fire 70.00-70.12 s
    assert 70.12 < timing.watchdog_bound() <= 72
    # a shorter fire timeout shortens wdmd's test interval too; a longer one lengthens
    assert timing.watchdog_bound(30) < timing.watchdog_bound() < timing.watchdog_bound(90)
