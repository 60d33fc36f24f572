# SPDX-License-Identifier: GPL-2.0-or-later
"""lease: a delta lease record read straight from shared storage, parsed and checked
(sector sizes, alignments, damaged and foreign records, unreadable paths)."""

import os
import struct

import pytest

from harness.callers import require
from sanlock_fencing.core.crc32c import crc32c
from sanlock_fencing.core.lease import (CHECKSUM_SEED, DELTA_DISK_MAGIC, LeaseReader,
                                        LeaseReadError, parse_record)


def make_record(host_id=2, generation=3, timestamp=1234, event=0, event_generation=0,
                lockspace=b"ls", name=b"host-b", sector=512, magic=DELTA_DISK_MAGIC,
                io_timeout=10, corrupt=False, flags=0x10):
    head = struct.pack("<IIII QQQQQ 48s48s QQ", magic, 0x30004, flags, sector, 0, 2000, host_id,
                       generation, 0, lockspace, name, timestamp, 0)
    checksum = crc32c(head, CHECKSUM_SEED) ^ (1 if corrupt else 0)
    body = head + struct.pack("<IHH QQQ", checksum, 0, io_timeout, event_generation, event, 0)
    return body + b"\0" * (sector - len(body))


def test_parse_reads_every_field():
    record = parse_record(make_record(event=2, event_generation=7), 2, "ls")
    assert (record.owner_id, record.owner_generation, record.timestamp) == (2, 3, 1234)
    assert (record.event, record.event_generation, record.io_timeout) == (2, 7, 10)
    assert record.host_name == "host-b"


def test_another_hosts_record_is_refused():
    with pytest.raises(LeaseReadError, match="owned by host 2"):
        parse_record(make_record(host_id=2), 5, "ls")


def test_a_free_record_has_no_owner_to_check():
    assert parse_record(make_record(host_id=0, timestamp=0), 5, "ls").timestamp == 0


@pytest.mark.parametrize("sector, flags, capacity", [(512, 0x10, 2000), (4096, 0x10, 250),
                                                     (4096, 0x80, 2000), (4096, 0, 2000)])
def test_capacity_from_the_alignment_flags(sector, flags, capacity):
    record = parse_record(make_record(sector=sector, flags=flags), 2, "ls")
    assert record.capacity[0] == capacity


@pytest.mark.parametrize("kwargs, fragment", [
    ({"magic": 0x1234}, "no sanlock delta lease"),
    ({"corrupt": True}, "checksum mismatch"),
    ({"lockspace": b"other"}, "belongs to lockspace other"),
])
def test_invalid_records_are_refused(kwargs, fragment):
    with pytest.raises(LeaseReadError) as err:
        parse_record(make_record(**kwargs), 2, "ls")
    assert fragment in str(err.value)


@pytest.mark.parametrize("sector", [512, 4096])
def test_reader_finds_each_host_by_sector_size(tmp_path, sector):
    path = tmp_path / "ids"
    data = b"".join(make_record(host_id=i, generation=i, sector=sector) for i in range(1, 5))
    path.write_bytes(b"\0" * 4096 + data + b"\0" * (1 << 20))
    reader = LeaseReader("ls", str(path), offset=4096)
    assert reader.sector_size == sector
    assert [reader.read(i).owner_generation for i in (1, 2, 3, 4)] == [1, 2, 3, 4]


def test_reader_explains_a_missing_path(tmp_path):
    with pytest.raises(LeaseReadError) as err:
        LeaseReader("ls", str(tmp_path / "nope")).read(1)
    assert "does not exist" in str(err.value)


def test_reader_explains_permission_denied(tmp_path):
    require(os.geteuid() == 0, "root, to read as uid nobody: run the unit tests as root")
    path = tmp_path / "ids"
    path.write_bytes(make_record() * 8)
    os.chmod(path, 0)
    pid = os.fork()
    if pid == 0:   # child: become nobody and try
        try:
            os.setgid(65534)
            os.setuid(65534)
            LeaseReader("ls", str(path)).read(1)
            os._exit(2)
        except LeaseReadError as err:
            os._exit(0 if "permission denied" in str(err) else 3)
        except BaseException:
            os._exit(4)
    _, status = os.waitpid(pid, 0)
    assert status == 0      # exited with 0 (waitstatus_to_exitcode is 3.9+)


@pytest.mark.parametrize("sector", [512, 4096])
def test_read_many_matches_read_across_windows_and_names_bad_records(tmp_path, sector):
    # ids 1-3 share a window, 200 and 2000 lie in windows of their own (4K sectors:
    # every id past 16 is in another 64 KiB window); host 3's record is damaged and the
    # file ends before host 2000's record
    ids = [1, 2, 3, 200, 2000]
    path = tmp_path / "ids"
    with open(path, "wb") as handle:
        for host_id in range(1, 201):
            handle.write(make_record(host_id=host_id, timestamp=100 + host_id,
                                     sector=sector, corrupt=host_id == 3,
                                     name=b"host-%d" % host_id))
    reader = LeaseReader("ls", str(path))
    found = reader.read_many(ids)
    assert sorted(found) == ids
    for host_id in (1, 2, 200):
        assert found[host_id] == reader.read(host_id)
        assert found[host_id].host_name == "host-%d" % host_id
    assert isinstance(found[3], LeaseReadError) and "checksum" in str(found[3])
    assert isinstance(found[2000], LeaseReadError) and "short read" in str(found[2000])


def test_read_many_raises_what_the_storage_says(tmp_path):
    with pytest.raises(LeaseReadError, match="does not exist"):
        LeaseReader("ls", str(tmp_path / "missing")).read_many([1, 2])
