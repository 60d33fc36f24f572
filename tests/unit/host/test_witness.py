# SPDX-License-Identifier: GPL-2.0-or-later
"""witness: through made-up timelines, it credits a reply it saw arrive, follows the
host, and its record lets status on its host say OFF (or never OFF); what it kept is
dropped with this host's life in the lockspace; names it logs are escaped."""

import logging
import os
import types

from harness.callers import require
from harness.fakeworld import (HOSTILE_NAME, HOSTILE_SHOWN, LS, FakeStore, FakeWorld, Timeline,
                               assert_printable, rec, renewals, view, views_from)
from sanlock_fencing.agent.status import Power, host_status
from sanlock_fencing.core import events
from sanlock_fencing.core.address import Target
from sanlock_fencing.core.evidence import LeaseEvidence
from sanlock_fencing.core.evidence_store import EvidenceStore
from sanlock_fencing.host.witness import Witness

R = events.RESETTING
T3 = Target(LS, 3)


def reply_event(at, generation=5):
    return (at, {"from_host_id": 3, "from_generation": generation, "host_id": 2,
                 "generation": 9, "event": R, "data": 0})


def world(points, arrival, start=0.0):
    w = FakeWorld({3: Timeline(points)}, {3: views_from(points)}, store=FakeStore(),
                  incoming=[reply_event(arrival)])
    w.t = start
    return w


def run_witness(w, until, witness=None):
    witness = witness or Witness(w)
    while w.t < until:
        witness.step()
    return witness


def test_a_witnessed_reset_makes_status_off_on_this_host():
    points = renewals(-20, 70.0, events_at=[(30.0, R)])
    w = world(points, arrival=31.0)
    witness = run_witness(w, 30.5)
    assert host_status(w, [T3]).power == Power.ON
    run_witness(w, 100.0, witness)
    assert host_status(w, [T3]).power == Power.ON      # not proven before the bound
    run_witness(w, 150.0, witness)
    verdict = host_status(w, [T3])
    assert verdict.power == Power.OFF, verdict


def test_a_witnessed_watchdog_failure_keeps_status_from_ever_saying_off():
    points = renewals(-20, 140.0, events_at=[(30.0, R)])      # renews 100 s past its reply
    w = world(points, arrival=31.0)
    run_witness(w, 400.0)
    verdict = host_status(w, [T3])
    assert verdict.power == Power.UNPROVEN and "did not reset it" in verdict.reason


def test_a_reply_already_on_disk_when_registering_is_not_credited():
    # the record carries the reply when the witness starts: its arrival, soon after,
    # may be a late delivery of an older reply
    points = renewals(-20, 70.0, events_at=[(-4.0, R)])
    w = world(points, arrival=3.0)
    run_witness(w, 200.0)
    assert host_status(w, [T3]).power == Power.UNPROVEN


def test_a_reply_soon_after_registering_is_credited_when_the_record_was_clean():
    points = renewals(-20, 70.0, events_at=[(2.0, R)])
    w = world(points, arrival=3.0)
    run_witness(w, 200.0)
    assert host_status(w, [T3]).power == Power.OFF


# ------------------------------------------------------------------ what is kept

class JoinOnlyWorld:
    """Just enough of a host for Witness.sync_registrations: which lockspaces this host's
    daemon has joined, event registrations that always succeed, no other host."""

    def __init__(self, store):
        self.store = store
        self.spaces = {}

    def joined(self):
        return dict(self.spaces)

    def join(self, name):
        self.spaces[name] = types.SimpleNamespace(name=name, host_id=1, adding=False,
                                                  removing=False)

    def register_events(self, name):
        return 100 + len(name)

    def end_events(self, handle, name):
        pass

    def clock(self):
        return 1000.0

    def hosts(self, name):
        return []


def test_the_witness_drops_what_was_kept_when_this_host_leaves_or_joins_again(tmp_path):
    """Kept history belongs to one life of this host in the lockspace."""
    require(os.geteuid() == 0, "root (the store keeps evidence for root only): run the "
            "unit tests as root")
    store = EvidenceStore(str(tmp_path))
    ev = LeaseEvidence(LS, 3, 5)
    assert store.save(ev, "witness")
    world = JoinOnlyWorld(store)
    witness = Witness(world)
    world.join(ev.lockspace)
    witness.sync_registrations()                 # (re)registers: the old life's history
    assert store.load(ev.lockspace, 3, 5) == {}
    assert store.save(ev, "witness")
    witness.sync_registrations()                 # nothing changed: kept
    assert store.load(ev.lockspace, 3, 5) == {"witness": ev}
    del world.spaces[ev.lockspace]
    witness.sync_registrations()                 # left
    assert store.load(ev.lockspace, 3, 5) == {}


# ------------------------------------------------------------------ names in its log

def test_the_witness_logs_a_lockspace_name_escaped(caplog):
    points = [(-100, rec(1000))]
    world = FakeWorld({3: Timeline(points)}, {3: Timeline([(-100, view("LIVE", 1000))])},
                      lockspaces=(HOSTILE_NAME,), store=FakeStore())
    with caplog.at_level(logging.INFO, logger="witness"):
        Witness(world).sync_registrations()
    lines = [record.getMessage() for record in caplog.records]
    assert any("witnessing lockspace " + HOSTILE_SHOWN in line for line in lines), lines
    for line in lines:
        assert_printable(line)
