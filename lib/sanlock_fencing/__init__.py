"""Fencing through shared storage with sanlock: the logic behind fence_sanlock_vdsm.

The agent script (agents/sanlock_vdsm/fence_sanlock_vdsm.py) only declares options and
documentation; everything that decides anything lives in this package:

- address:    parse and validate LOCKSPACE:HOST_ID targets
- events:     the sanlk-resetd event protocol values
- lease:      read a host's delta lease record straight from shared storage
- crc32c:     the checksum of those records
- errors:     the exceptions that end an action with one line
- hoststate:  the host states sanlock reports, and what the agent observes of a host
- timing:     every deadline, derived from the target's io_timeout
- proof:      the rules that decide when a host is proven off (pure functions)
- proxy:      the calls to this host's sanlock daemon, with errors a person can act on
- status:     the read-only actions about hosts (status, list)
- health:     monitor: can this host fence through the addressed lockspaces?
- settings:   the validated fence options
- observe:    match targets with the lockspaces this host has joined, and look at them
- agent:      glue to the fence-agents library
- unfence:    on run by the target itself: make this host fenceable
- resetd_sync: the target-side service keeping sanlk-resetd watching the joined lockspaces
- watch:      the fence decision: proven, failed or wait (pure logic)
- fence:      off/reboot: send the reset request and watch until proof or failure
- progress:   what a person at a terminal sees while a fence runs
"""

__version__ = "0.1.0"
