import io

from sanlock_fencing import timing
from sanlock_fencing.progress import Progress


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


def test_fail_proves_reset_only_from_production_io_timeout():
    assert timing.fail_state_proves_reset(10)
    assert timing.fail_state_proves_reset(20)
    assert not timing.fail_state_proves_reset(9)
    assert not timing.fail_state_proves_reset(1)


def test_expected_fence_time_fits_ovirt_at_io_timeout_10():
    typical, worst = timing.expected_fence_seconds(10)
    assert typical < worst < 175          # the default power_timeout, under oVirt's 180 s
    assert timing.WATCHDOG_FIRE_BOUND + timing.watchdog_margin(10) < timing.dead_seconds(10)
