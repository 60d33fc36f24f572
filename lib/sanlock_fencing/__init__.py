# SPDX-License-Identifier: GPL-2.0-or-later
"""Fencing through shared storage with sanlock: the logic behind fence_sanlock_vdsm.

Two programs share this package. The agent (agents/sanlock_vdsm/fence_sanlock_vdsm.py,
which only declares options and documentation) runs on the host that fences; the host
services run on every host, the one fenced included. Each has a sub-package; what both
read and decide with is the core beneath them. No core module imports either side; the
host side never imports the agent's side; the agent's side imports the host side in two
places only, for actions the target runs about itself (`on`: host.unfence, `monitor`:
host.target_side).

core/  what both sides share
- errors:          the exceptions that end an action with one line
- address:         parse and validate LOCKSPACE:HOST_ID targets; names shown safely
- hoststate:       the host states sanlock reports
- events:          the sanlk-resetd event protocol values
- crc32c, lease:   read a delta lease record straight from shared storage
- timing:          every time bound, and where each number comes from
- bounded:         blocking calls with deadlines
- proxy:           this host's sanlock daemon, bounded, errors typed
- evidence:        what is seen of a lease over time (facts only, pure)
- judge:           proven, failed or wait, from that evidence (every rule, in order, pure)
- evidence_store:  what observers on this host saw, kept between processes (root's only)
- world:           clock, daemon, storage and store, as fence, status and witness see them
- resetd_protocol: sanlk-resetd's socket protocol
- watchdog_check:  is this host's watchdog in use (wdmd --dump)

agent/  the fence agent: one request, then status, list, monitor or a fence
- glue:            the fence-agents library's callbacks; one line and exit 1 on failure
- request:         the library's options parsed once into one Request
- nodes:           hosts by node name: list output, a node name as port
- status:          status and list
- fence:           off/reboot: send the request, observe until proof or failure
- mutual:          a request against this host itself (two nodes fencing each other)
- health:          monitor
- progress:        what a person at a terminal sees while a fence runs

host/  the services on every host, and unfencing
- responder:       answer reset requests itself (instead of sanlk-resetd)
- wdmd, watchdog_fire: its pieces: wdmd's client API; would an arming fire in time
- witness:         record the reset replies this host receives
- resetd_sync:     keep sanlk-resetd watching the joined lockspaces
- sync_state, sync_plan: its pieces
- target_side:     which of the two this host runs (monitor, unfencing)
- unfence:         `on` run by the target itself: make this host fenceable
- service:         what the host services share
"""

__version__ = "0.3.0"
