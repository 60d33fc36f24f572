# SPDX-License-Identifier: GPL-2.0-or-later
"""CRC-32C (Castagnoli), the checksum sanlock puts in every leader record."""

_POLY_REFLECTED = 0x82F63B78


def _make_table():
    table = []
    for index in range(256):
        crc = index
        for _ in range(8):
            crc = (crc >> 1) ^ _POLY_REFLECTED if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_TABLE = None   # built on first use: most agent calls never read a lease record


def crc32c(data, seed):
    """Reflected CRC-32C of data starting from seed, without a final inversion."""
    global _TABLE
    if _TABLE is None:
        _TABLE = _make_table()
    table = _TABLE
    crc = seed
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc
