# SPDX-License-Identifier: GPL-2.0-or-later
"""events: the sanlk-resetd event values, and the bound a reply announces in its data."""

from sanlock_fencing.core import events


def test_the_reply_data_carries_the_bound_and_sanlk_resetd_s_zero_carries_none():
    data = events.encode_reply_bound(71.2)
    assert events.decode_reply_bound(data) == 72
    assert events.decode_reply_bound(0) is None
    assert events.decode_reply_bound(72) is None
