# SPDX-License-Identifier: GPL-2.0-or-later
"""A writer that stands for a VM's disk I/O, and the reader that proves who wrote when.

The writer (``python3 clusterwriter.py --file F --node NAME --slot N``) writes one
512-byte record every `interval` seconds to F with O_DIRECT|O_DSYNC, so each record is on
the shared storage (through the node's storage view, storagepath.py) when its write
returns. A record holds the node's name, a sequence number, CLOCK_REALTIME in ns taken
right before the write, the writer's pid and a CRC. Each node writes in its own slot of
the file (slot N at N * SLOT_BYTES), so a second writer never overwrites the first one's
records: the file keeps every record of every node, the ground truth after a scenario.
A writer started again on a node continues that node's sequence.

CLOCK_REALTIME is what makes records of different simulated machines comparable: the
machines' time namespaces move only CLOCK_MONOTONIC and CLOCK_BOOTTIME (machine.py).

`no_overlap()` is the safety check of the failover tests: no record of the fenced node is
later than the first record the survivor wrote after taking over.

The writer exits on SIGTERM (the resource agent's stop); a reset kills it like everything
else on its machine. It writes its pid file only after its first record is on storage,
so a resource start that returned means the writer was writing.
"""

import argparse
import mmap
import os
import signal
import struct
import sys
import time
import zlib

RECORD = 512
SLOT_BYTES = 8 << 20               # 16384 records a slot: ~55 min at 5 records/s
MAX_SLOTS = 8
FILE_BYTES = SLOT_BYTES * MAX_SLOTS
MAGIC = b"FSVWREC1"
_HEAD = struct.Struct("<8s32sIQQI")        # magic, node, slot, seq, realtime_ns, pid
_CRC = struct.Struct("<I")


def encode(node, slot, seq, realtime_ns, pid):
    head = _HEAD.pack(MAGIC, node.encode()[:32], slot, seq, realtime_ns, pid)
    body = head + _CRC.pack(zlib.crc32(head))
    return body + b"\0" * (RECORD - len(body))


def decode(block):
    """The record in a 512-byte block, or None (empty, torn or foreign)."""
    head = block[:_HEAD.size]
    if len(head) < _HEAD.size or not head.startswith(MAGIC):
        return None
    (crc,) = _CRC.unpack_from(block, _HEAD.size)
    if crc != zlib.crc32(head):
        return None
    _magic, node, slot, seq, realtime_ns, pid = _HEAD.unpack(head)
    return {"node": node.rstrip(b"\0").decode(), "slot": slot, "seq": seq,
            "t": realtime_ns / 1e9, "pid": pid}


def read_slot(read_at, slot):
    """Records of one slot in order, up to the first empty block; read_at(offset, size)."""
    records = []
    base = slot * SLOT_BYTES
    for chunk_at in range(base, base + SLOT_BYTES, 1 << 20):
        data = read_at(chunk_at, 1 << 20)
        for i in range(0, len(data) - RECORD + 1, RECORD):
            record = decode(data[i:i + RECORD])
            if record is None:
                return records
            records.append(record)
        if len(data) < (1 << 20):
            break
    return records


def read_records(path):
    """Every record in the file (read from the backing file, outside any view), by slot."""
    with open(path, "rb") as f:
        def read_at(offset, size):
            f.seek(offset)
            return f.read(size)
        return {slot: read_slot(read_at, slot) for slot in range(MAX_SLOTS)}


def create(path):
    """The data file, sparse, in the storage's backing directory (views cannot create)."""
    with open(path, "wb") as f:
        f.truncate(FILE_BYTES)


def no_overlap(records, fenced_node, survivor_node, since=0.0):
    """(ok, why): no record of fenced_node is later than the first record survivor_node
    wrote at or after `since` (its take-over)."""
    fenced = [r for rs in records.values() for r in rs if r["node"] == fenced_node]
    taken = [r for rs in records.values() for r in rs
             if r["node"] == survivor_node and r["t"] >= since]
    if not taken:
        return False, "the survivor %s wrote nothing after %.3f" % (survivor_node, since)
    first = min(r["t"] for r in taken)
    late = [r for r in fenced if r["t"] >= first]
    if late:
        return False, ("%d records of %s are later than %s's first record (%.3f): the "
                       "first at %.3f" % (len(late), fenced_node, survivor_node, first,
                                          min(r["t"] for r in late)))
    return True, "last of %s %.3f < first of %s %.3f" % (
        fenced_node, max([r["t"] for r in fenced] or [0]), survivor_node, first)


# ---------------------------------------------------------------- the writer itself

class _Stop(Exception):
    pass


def _on_term(_sig, _frame):
    raise _Stop()


def run(path, node, slot, interval, pidfile):
    fd = os.open(path, os.O_RDWR | os.O_DIRECT | os.O_DSYNC)
    buf = mmap.mmap(-1, 1 << 20)            # page-aligned, as O_DIRECT needs

    def read_at(offset, size):
        n = os.preadv(fd, [memoryview(buf)[:size]], offset)
        return bytes(buf[:n])
    seq = len(read_slot(read_at, slot))
    base = slot * SLOT_BYTES
    one = mmap.mmap(-1, RECORD)
    signal.signal(signal.SIGTERM, _on_term)
    wrote_pid = False
    try:
        while seq < SLOT_BYTES // RECORD:
            one[:] = encode(node, slot, seq, time.clock_gettime_ns(time.CLOCK_REALTIME),
                            os.getpid())
            os.pwritev(fd, [one], base + seq * RECORD)
            seq += 1
            if not wrote_pid:
                with open(pidfile + ".tmp", "w") as f:
                    f.write("%d\n" % os.getpid())
                os.rename(pidfile + ".tmp", pidfile)
                wrote_pid = True
            time.sleep(interval)
    except _Stop:
        pass
    finally:
        os.close(fd)
    return 0


def main(argv=None):
    p = argparse.ArgumentParser(description="write sequence-numbered records like a VM")
    p.add_argument("--file", required=True)
    p.add_argument("--node", required=True)
    p.add_argument("--slot", type=int, required=True)
    p.add_argument("--interval", type=float, default=0.2)
    p.add_argument("--pidfile", required=True)
    args = p.parse_args(argv)
    if not 0 <= args.slot < MAX_SLOTS:
        p.error("--slot must be 0..%d" % (MAX_SLOTS - 1))
    return run(args.file, args.node, args.slot, args.interval, args.pidfile)


if __name__ == "__main__":
    sys.exit(main())
