# SPDX-License-Identifier: GPL-2.0-or-later
"""crc32c: the checksum of sanlock's delta lease records."""

from sanlock_fencing.core.crc32c import crc32c


def test_crc32c_matches_the_standard_check_value():
    # CRC-32C check value of "123456789" with the usual init and final inversion
    assert crc32c(b"123456789", 0xFFFFFFFF) ^ 0xFFFFFFFF == 0xE3069283
