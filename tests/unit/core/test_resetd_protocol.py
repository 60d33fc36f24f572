# SPDX-License-Identifier: GPL-2.0-or-later
"""resetd_protocol: the datagrams sanlk-resetd's update socket takes."""

from sanlock_fencing.core.resetd_protocol import encode_update


def test_update_datagram_is_256_bytes_nul_padded():
    data = encode_update("reg", "ls1")
    assert len(data) == 256 and data.startswith(b"reg ls1\0")
