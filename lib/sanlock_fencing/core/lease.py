# SPDX-License-Identifier: GPL-2.0-or-later
"""Read a host's delta lease record straight from shared storage.

The record is the evidence that survives the host: the last reset event it
wrote (a RESETTING reply) stays in it until replaced, and any host that can
read the storage sees the same bytes, whichever proxy sent the request and
whether or not the target still runs. sanlock's python binding cannot read a
delta lease record, so this module does, with O_DIRECT (another host's writes
never reach this host's page cache) and sanlock's own checksum.

On-disk layout (little endian), struct leader_record in sanlock's leader.h;
for delta leases the three "write_*" fields carry the last event:
    0 magic u32, 4 version u32, 8 flags u32, 12 sector_size u32,
    16 num_hosts u64, 24 max_hosts u64, 32 owner_id u64, 40 owner_generation u64,
    48 lver u64, 56 space_name[48], 104 resource_name[48], 152 timestamp u64,
    160 unused1 u64, 168 checksum u32, 172 unused2 u16, 174 io_timeout u16,
    176 event generation u64, 184 event u64, 192 event data u64
"""

import errno
import mmap
import os
import struct
from collections import namedtuple

from .crc32c import crc32c
from .errors import FenceError

DELTA_DISK_MAGIC = 0x12212010
CHECKSUM_LENGTH = 168          # the checksum covers the record up to itself
CHECKSUM_SEED = 0xFFFFFFFE     # sanlock seeds crc32c with ~1
BITMAP_OFFSET = 256            # sanlock's HOSTID_BITMAP_OFFSET: who the event is for
BITMAP_SIZE = 256
READ_SIZE = 4096               # one page: aligned for O_DIRECT on 512 and 4K devices
WINDOW_SIZE = 64 * 1024        # read_many: records this close together come in one read
SECTOR_SIZES = (512, 4096)

_HEAD = struct.Struct("<IIII QQQQQ 48s48s QQ IHH QQQ")


class LeaseReadError(FenceError):
    """The record could not be read, or what was read is not a valid delta lease."""


# sanlock's leader flags for the lockspace's alignment (leader.h), and the host ids each
# geometry holds (sizeflags.c, size_to_max_hosts)
ALIGN_FLAGS = {0x10: 1 << 20, 0x20: 2 << 20, 0x40: 4 << 20, 0x80: 8 << 20}
MAX_HOSTS = {(512, 1 << 20): 2000, (4096, 1 << 20): 250, (4096, 2 << 20): 500,
             (4096, 4 << 20): 1000, (4096, 8 << 20): 2000}
OLD_ALIGN = {512: 1 << 20, 4096: 8 << 20}   # records written before the align flags


class LeaseRecord(namedtuple("LeaseRecord", "host_id owner_id owner_generation timestamp "
                                            "io_timeout sector_size host_name event "
                                            "event_generation event_data flags bitmap")):
    """What one host's delta lease says on disk.

    timestamp is the owner's own monotonic clock in seconds (0: free). event is the
    last event this host wrote (0: none), event_generation the generation field it
    carried (for a reply: the requester's generation). The event fields lie outside
    sanlock's checksum and survive a join into the next generation.
    """

    __slots__ = ()

    def addresses(self, host_id):
        """Whether this host's last event is still addressed to host_id: sanlock sets the
        addressee's bit in the bitmap after the record for 6 io_timeouts."""
        byte = (host_id - 1) // 8
        return byte < len(self.bitmap) and bool(self.bitmap[byte] & (1 << ((host_id - 1) % 8)))

    @property
    def capacity(self):
        """(host ids the lockspace holds, alignment in bytes) from this record's flags."""
        align = next((size for bit, size in ALIGN_FLAGS.items() if self.flags & bit),
                     OLD_ALIGN.get(self.sector_size, 1 << 20))
        return MAX_HOSTS.get((self.sector_size, align), 2000), align


def parse_record(data, host_id, lockspace):
    """Decode and verify one record (bytes of at least 200); raise LeaseReadError if invalid."""
    fields = _HEAD.unpack_from(data, 0)
    (magic, _version, flags, sector_size, _num_hosts, _max_hosts, owner_id,
     owner_generation, _lver, space_name, resource_name, timestamp, _unused1,
     checksum, _unused2, io_timeout, event_generation, event, event_data) = fields
    if magic != DELTA_DISK_MAGIC:
        raise LeaseReadError("no sanlock delta lease for host %d of lockspace %s on disk "
                             "(magic 0x%08x): is the lockspace path right?"
                             % (host_id, lockspace, magic))
    if crc32c(data[:CHECKSUM_LENGTH], CHECKSUM_SEED) != checksum:
        raise LeaseReadError("checksum mismatch in the delta lease of host %d of lockspace "
                             "%s" % (host_id, lockspace))
    name = space_name.rstrip(b"\0").decode("utf-8", "replace")
    if name != lockspace:
        raise LeaseReadError("the delta lease read for lockspace %s belongs to lockspace %s"
                             % (lockspace, name))
    if timestamp and owner_id != host_id:
        raise LeaseReadError("the delta lease read for host %d of lockspace %s is owned by "
                             "host %d: the storage returned another host's record"
                             % (host_id, lockspace, owner_id))
    return LeaseRecord(
        host_id=host_id, owner_id=owner_id, owner_generation=owner_generation,
        timestamp=timestamp, io_timeout=io_timeout, sector_size=sector_size,
        host_name=resource_name.rstrip(b"\0").decode("utf-8", "replace"),
        event=event, event_generation=event_generation, event_data=event_data, flags=flags,
        bitmap=bytes(data[BITMAP_OFFSET:BITMAP_OFFSET + BITMAP_SIZE]))


class LeaseReader:
    """Reads delta lease records of one lockspace from its device or file."""

    def __init__(self, lockspace, path, offset=0):
        self.lockspace = lockspace
        self.path = path
        self.offset = offset
        self._sector_size = None

    def _read(self, position, size=READ_SIZE):
        # A buffer of each read's own (page aligned, as O_DIRECT needs): a read on a stalled
        # path is abandoned by its caller (bounded.py) and keeps its buffer exported while it
        # blocks, so nothing may close or share that buffer.
        buffer = mmap.mmap(-1, size)
        flags = os.O_RDONLY | getattr(os, "O_DIRECT", 0)
        try:
            fd = os.open(self.path, flags)
        except OSError as err:
            raise LeaseReadError(self._describe_os_error(err)) from None
        try:
            # lseek + readv, not preadv (Python 3.7+; EL8's platform Python is 3.6) and
            # not pread: pread reads into a buffer of its own, not page aligned, which
            # O_DIRECT refuses (EINVAL). The descriptor is this call's alone, so nothing
            # moves its offset between the two calls. readv releases the GIL as preadv did.
            os.lseek(fd, position, os.SEEK_SET)
            count = os.readv(fd, [buffer])
        except OSError as err:
            raise LeaseReadError(self._describe_os_error(err)) from None
        finally:
            os.close(fd)
        if count < 512:
            raise LeaseReadError("short read of %d bytes at offset %d of %s: the lockspace "
                                 "area is smaller than its host ids need"
                                 % (count, position, self.path))
        return bytes(buffer[:count])

    def _describe_os_error(self, err):
        if err.errno in (errno.EACCES, errno.EPERM):
            return ("permission denied reading lockspace %s at %s: run the agent as a user "
                    "that can read the storage (root, or vdsm in oVirt)"
                    % (self.lockspace, self.path))
        if err.errno == errno.ENOENT:
            return ("lockspace %s storage %s does not exist on this host: the proxy must "
                    "see the same shared storage as the target" % (self.lockspace, self.path))
        if err.errno == errno.EINVAL:
            return ("cannot read %s with direct I/O (EINVAL): the lockspace must be on a "
                    "device or a file system that supports O_DIRECT" % self.path)
        return "cannot read lockspace %s at %s: %s" % (self.lockspace, self.path,
                                                       os.strerror(err.errno))

    @property
    def sector_size(self):
        """The lockspace's sector size, from the first record (host id 1)."""
        if self._sector_size is None:
            self.geometry()
        return self._sector_size

    def geometry(self):
        """(sector size, host ids the lockspace holds, alignment) from host 1's record."""
        data = self._read(self.offset)
        size = struct.unpack_from("<I", data, 12)[0]
        if size not in SECTOR_SIZES:
            # parse_record gives the precise reason (no magic, bad checksum ...)
            parse_record(data, 1, self.lockspace)
            raise LeaseReadError("unsupported sector size %d in lockspace %s"
                                 % (size, self.lockspace))
        self._sector_size = size
        record = parse_record(data[:size], 1, self.lockspace)
        capacity, align = record.capacity
        return size, capacity, align

    def check_readable(self):
        """Raise LeaseReadError unless the lockspace area can be read with direct I/O."""
        self._read(self.offset)

    def _position(self, host_id):
        """Where host_id's record starts on the device."""
        return self.offset + (host_id - 1) * self.sector_size

    def read(self, host_id):
        """Return the LeaseRecord of host_id as it is on disk now."""
        sector = self.sector_size
        position = self._position(host_id)
        aligned = position - position % sector
        data = self._read(aligned)
        start = position - aligned
        return parse_record(data[start:start + sector], host_id, self.lockspace)

    def read_many(self, host_ids):
        """{host id: LeaseRecord, or the LeaseReadError of that record} with one read per
        64 KiB of the lockspace that holds wanted records (list and node names read every
        held lease: 64 hosts on 512-byte sectors are one read, not 64). The first read
        (host 1's record, for the sector size) raises as read() does; a window that
        cannot be read is the error of each record in it."""
        sector = self.sector_size
        found = {}
        windows = {}
        for host_id in sorted(set(host_ids)):
            position = self._position(host_id)
            windows.setdefault(position - position % WINDOW_SIZE, []).append(host_id)
        for start, ids in windows.items():
            try:
                data = self._read(start, WINDOW_SIZE)
            except LeaseReadError as err:
                found.update((host_id, err) for host_id in ids)
                continue
            for host_id in ids:
                at = self._position(host_id) - start
                try:
                    if at + sector > len(data):
                        raise LeaseReadError("short read: the record of host %d of lockspace "
                                             "%s lies beyond the end of %s"
                                             % (host_id, self.lockspace, self.path))
                    found[host_id] = parse_record(data[at:at + sector], host_id,
                                                  self.lockspace)
                except LeaseReadError as err:
                    found[host_id] = err
        return found
