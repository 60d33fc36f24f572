#!/usr/bin/python3
"""Independent observer of one fence, run on the proxy (its SANLOCK_RUN_DIR in env).

It does not use the agent's code: it polls sanlock.get_hosts and the lockspace's
events every 0.1 s and reads the target's delta lease with its own few lines of
struct parsing, and prints, as one JSON line when told to stop (SIGTERM) or when
the reset is proven, the monotonic times at which it first saw
  reply:  a RESETTING/REBOOTING reply from the target (event or lease on disk)
  dead:   the target's lease DEAD
  proven: the earliest moment the evidence proves the reset, by the same rules the
          agent documents: reply and DEAD; or reply + 70 s watchdog bound + margin
          (3 * io_timeout + 2 s) with no renewal after the bound.
usage: observer.py LOCKSPACE HOST_ID PATH OFFSET
"""

import json
import mmap
import os
import signal
import struct
import sys
import time

import sanlock

REPLY_BITS = 0x2 | 0x8
BOUND = 70


def main():
    lockspace, host_id, path, offset = sys.argv[1], int(sys.argv[2]), sys.argv[3], \
        int(sys.argv[4])
    name = lockspace.encode()
    fd_events = sanlock.reg_event(name)
    sanlock.get_event(fd_events)          # drop what was pending
    buf = mmap.mmap(-1, 4096)
    start = sanlock.get_hosts(name, host_id)[0]
    generation, io = start["generation"], start["io_timeout"]
    seen = {"reply": None, "dead": None, "proven": None, "rule": None}
    last_ts, last_renewal = start["timestamp"], None
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    print("ready", flush=True)

    def sector_size():
        disk = os.open(path, os.O_RDONLY | os.O_DIRECT)
        try:
            os.preadv(disk, [buf], offset)
        finally:
            os.close(disk)
        return struct.unpack_from("<I", buf, 12)[0]

    sector = sector_size()
    while not stop:
        now = time.monotonic()
        for event in sanlock.get_event(fd_events):
            if event["from_host_id"] == host_id and event["from_generation"] == generation \
                    and event["event"] & REPLY_BITS and seen["reply"] is None:
                seen["reply"] = now
        position = offset + (host_id - 1) * sector
        aligned = position - position % 4096 if sector == 4096 else position - position % 512
        disk = os.open(path, os.O_RDONLY | os.O_DIRECT)
        try:
            os.preadv(disk, [buf], aligned)
        finally:
            os.close(disk)
        start_at = position - aligned
        owner_generation = struct.unpack_from("<Q", buf, start_at + 40)[0]
        timestamp = struct.unpack_from("<Q", buf, start_at + 152)[0]
        event = struct.unpack_from("<Q", buf, start_at + 184)[0]
        if owner_generation == generation:
            if timestamp != last_ts:
                last_ts, last_renewal = timestamp, now
            if event & REPLY_BITS and seen["reply"] is None:
                seen["reply"] = now
        host = sanlock.get_hosts(name, host_id)[0]
        if host["flags"] == sanlock.HOST_DEAD and seen["dead"] is None:
            seen["dead"] = now
        if seen["reply"] is not None and seen["proven"] is None:
            if seen["dead"] is not None:
                seen["proven"], seen["rule"] = now, "dead"
            elif now >= seen["reply"] + BOUND + 3 * io + 2 and \
                    (last_renewal is None or last_renewal <= seen["reply"] + BOUND + 1):
                seen["proven"], seen["rule"] = now, "watchdog bound"
        if seen["proven"] is not None:
            break
        time.sleep(0.1)
    print(json.dumps(seen), flush=True)
    sanlock.end_event(fd_events, name)


if __name__ == "__main__":
    main()
