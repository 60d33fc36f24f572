# SPDX-License-Identifier: GPL-2.0-or-later
"""The test platform: simulated hosts with real sanlock daemons, their storage and
watchdogs, Pacemaker clusters in network namespaces, and the agent run as its callers run
it. The tests, `make demo` and `make bench` all stand on it; it is not shipped.

- machine:       a simulated machine: cgroup, mount, UTS and time namespaces, processes
- fuselite:      a small FUSE server library (the device and storage views below)
- fakewatchdog:  a FUSE watchdog device the real wdmd drives; its fire is recorded
- storagepath:   per-host FUSE views of the lease storage, with faults (eio, stall)
- simhost:       one simulated host: sanlock, wdmd, the responder or sanlk-resetd
- simcluster:    several simulated hosts on one lockspace; the agent run on one of them
- observe:       the storage read directly (with the product's lease reader) and the
                 stand-in watchdog that powers a host off after its reply
- callers:       what vdsm and Pacemaker send the agent; running it (as root, or as a
                 vdsm-like user); one-line errors; require(), which fails a test
                 whose needs are missing rather than skipping it
- pcmkbase:      what every Pacemaker node starts the same way: corosync.conf, state
                 directories, start order, its tools
- pcmk:          one Pacemaker node in private namespaces (the real vdsm/pcs paths)
- netns:         network namespaces and a bridge: a network that can be cut
- pcmkcluster:   a multi-node corosync/Pacemaker cluster on simulated hosts
- clusterwriter: the data writer the failover tests run as a cluster resource
- failover:      the failover scenarios, their timelines and durations
- fakeworld:     the unit tests' made-up world (storage, daemon, clock as timelines);
                 it needs only the library, so it loads under every Python from 3.6
- noskip:        a pytest plugin (tests/conftest.py loads it): a skipped test fails

Import it with the source tree's top directory and lib/ on the path (pytest.ini's
pythonpath; the Makefile sets PYTHONPATH for the demo and the bench).
"""
