# SPDX-License-Identifier: GPL-2.0-or-later
"""Fixtures of the host services' unit tests."""

import pytest

from harness.fakeworld import FakeResetd


@pytest.fixture
def resetd(tmp_path):
    """sanlk-resetd's update socket, listening; stopped at the end."""
    fake = FakeResetd(str(tmp_path / "resetd.sock"))
    yield fake
    if fake.running:
        fake.stop()
