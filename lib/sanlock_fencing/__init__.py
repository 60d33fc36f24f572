# SPDX-License-Identifier: GPL-2.0-or-later
"""Fencing through shared storage with sanlock: the logic behind fence_sanlock_vdsm.

The agent script (agents/sanlock_vdsm/fence_sanlock_vdsm.py) only declares options and
documentation; everything that decides anything lives in this package:

- address:         parse and validate LOCKSPACE:HOST_ID targets
- nodes:           hosts by node name: list output, a node name as port
- events:          the sanlk-resetd event protocol values
- lease:           read a delta lease record straight from shared storage (crc32c)
- errors:          the exceptions that end an action with one line
- hoststate:       the host states sanlock reports
- timing:          every time bound, and where each number comes from
- evidence:        what is seen of a lease over time (pure)
- judge:           proven, failed or wait, from that evidence (pure)
- evidence_store:  what observers on this host saw, kept between processes
- bounded:         blocking calls with deadlines
- proxy:           this host's sanlock daemon, bounded, errors typed
- world:           clock, daemon, storage and store, as fence and status see them
- fence:           off/reboot: send the request, observe until proof or failure
- status:          status and list
- health:          monitor
- agent:           glue to the fence-agents library
- unfence:         on run by the target itself: make this host fenceable
- witness:         host service: record the reset replies this host receives
- resetd_sync:     host service: keep sanlk-resetd watching the joined lockspaces
- resetd_protocol, sync_state, sync_plan: its pieces
- watchdog_check:  is this host's watchdog in use (wdmd --dump)
- responder:       host service: answer reset requests itself (instead of sanlk-resetd)
- wdmd, watchdog_fire: its pieces: wdmd's client API; would an arming fire in time
- target_side:     which of the two this host runs (monitor, unfencing)
- service:         what the host services share
- progress:        what a person at a terminal sees while a fence runs
"""

__version__ = "0.3.0"
