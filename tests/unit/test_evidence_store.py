"""The evidence kept between processes: what is saved comes back whole, and only from a
file this store may trust, of the same clock and the same lease generation."""

import json
import os

import pytest

from sanlock_fencing.evidence import LeaseEvidence
from sanlock_fencing.evidence_store import EvidenceStore
from sanlock_fencing.hoststate import HostState


def credited(generation=5):
    ev = LeaseEvidence("LS/with%odd name", 3, generation, io_timeout=3)
    ev.reply_anchor, ev.reply_ts, ev.last_ts = 120.5, 118, 131
    ev.renewals, ev.state, ev.rebooted = 4, HostState.FAIL, True
    return ev


def test_saved_evidence_comes_back_equal(tmp_path):
    store = EvidenceStore(str(tmp_path))
    ev = credited()
    assert store.save(ev, "witness")
    found = store.load(ev.lockspace, 3, 5)
    assert found == {"witness": ev}
    assert found["witness"].credited and found["witness"].io_timeout == 3


def test_other_generation_or_host_is_not_loaded(tmp_path):
    store = EvidenceStore(str(tmp_path))
    store.save(credited(5), "witness")
    assert store.load("LS/with%odd name", 3, 6) == {}
    assert store.load("LS/with%odd name", 2, 5) == {}


def test_another_clock_is_ignored(tmp_path):
    store = EvidenceStore(str(tmp_path))
    ev = credited()
    store.save(ev, "witness")
    other = EvidenceStore(str(tmp_path))
    other.domain = "another-boot time:[1]"
    assert other.load(ev.lockspace, 3, 5) == {}


def test_files_everyone_may_write_are_not_trusted(tmp_path):
    store = EvidenceStore(str(tmp_path))
    ev = credited()
    store.save(ev, "witness")
    (path,) = [os.path.join(d, f) for d, _, files in os.walk(tmp_path) for f in files]
    os.chmod(path, 0o666)
    assert store.load(ev.lockspace, 3, 5) == {}


@pytest.mark.parametrize("evidence", [
    None, [], "text", {}, {"lockspace": "LS/with%odd name", "host_id": 3},
])
def test_damaged_files_are_skipped_not_fatal(tmp_path, evidence):
    store = EvidenceStore(str(tmp_path))
    ev = credited()
    store.save(ev, "witness")
    (path,) = [os.path.join(d, f) for d, _, files in os.walk(tmp_path) for f in files]
    with open(path) as handle:
        data = json.load(handle)
    data["evidence"] = evidence
    with open(path, "w") as handle:
        json.dump(data, handle)
    assert store.load(ev.lockspace, 3, 5) == {}


def test_fields_a_later_version_added_are_dropped():
    data = dict(credited().to_json(), some_future_field=1)
    assert LeaseEvidence.from_json(data) == credited()


def test_unknown_field_is_refused_at_construction():
    with pytest.raises(TypeError):
        LeaseEvidence("LS", 3, 5, reply_anchr=1.0)
