# SPDX-License-Identifier: GPL-2.0-or-later
"""The evidence kept between processes: what is saved comes back whole, and only from a
file this store may trust, of the same clock and the same lease generation."""

import json
import logging
import os
import shutil
import stat
import tempfile
import threading
import time

import pytest

from harness.callers import require
from sanlock_fencing.core.evidence import LeaseEvidence
from sanlock_fencing.core.evidence_store import MAX_FILE_BYTES, EvidenceStore, quote_name


@pytest.fixture(autouse=True, scope="module")
def as_root():
    """Only root keeps evidence, and these tests hand files to uid nobody."""
    require(os.geteuid() == 0, "root (the store keeps evidence for root only, and files "
            "are handed to uid nobody): run the unit tests as root")


def credited(generation=5, lockspace="LS/with%odd name"):
    """Evidence of LS:3 with a reply credited, built through to_json/from_json only (the
    store sees nothing else of it; its fields change with the evidence model)."""
    data = LeaseEvidence(lockspace, 3, generation).to_json()
    for key, value in (("io_timeout", 3), ("reply_anchor", 120.5), ("reply_ts", 118),
                       ("last_ts", 131), ("renewals", 4)):
        if key in data:
            data[key] = value
    return LeaseEvidence.from_json(data)


def test_saved_evidence_comes_back_equal(tmp_path):
    store = EvidenceStore(str(tmp_path))
    ev = credited()
    assert store.save(ev, "witness")
    found = store.load(ev.lockspace, 3, 5)
    assert found == {"witness": ev}
    assert found["witness"].to_json() == ev.to_json() != credited(6).to_json()


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


# ---------------------------------------------------------------- who is trusted (issue 18)
# Kept evidence can make status say OFF: only root writes it, and only files and
# directories that root alone controls are read, never through a link, never blocking.

NOBODY = 65534
NAME = "3-5-witness.json"          # where credited() is kept for writer "witness"


def lockspace_dir(base, lockspace="LS/with%odd name"):
    return os.path.join(str(base), quote_name(lockspace))


def saved(base):
    """A store at base holding credited() as the witness's, and that evidence."""
    store = EvidenceStore(str(base))
    ev = credited()
    assert store.save(ev, "witness")
    assert store.load(ev.lockspace, 3, 5) == {"witness": ev}
    return store, ev


def forged_bytes(store, lockspace="LS/with%odd name"):
    ev = credited(lockspace=lockspace)
    return json.dumps({"clock": store.domain, "writer": "forger", "saved": 0,
                       "evidence": ev.to_json()}).encode()


def files_under(top):
    return sorted(os.path.join(d, f) for d, _, names in os.walk(str(top)) for f in names)


def test_a_file_owned_by_another_user_is_ignored(tmp_path):
    store, ev = saved(tmp_path)
    os.chown(os.path.join(lockspace_dir(tmp_path), NAME), NOBODY, -1)
    assert store.load(ev.lockspace, 3, 5) == {}


def test_a_group_writable_file_is_ignored(tmp_path):
    store, ev = saved(tmp_path)
    os.chmod(os.path.join(lockspace_dir(tmp_path), NAME), 0o664)
    assert store.load(ev.lockspace, 3, 5) == {}


def test_a_file_larger_than_any_evidence_is_ignored(tmp_path):
    store, ev = saved(tmp_path)
    path = os.path.join(lockspace_dir(tmp_path), NAME)
    with open(path, "ab") as handle:            # still valid JSON, padded past the bound
        handle.write(b" " * (MAX_FILE_BYTES + 1))
    assert store.load(ev.lockspace, 3, 5) == {}


def test_a_fifo_does_not_hang_load_and_is_ignored(tmp_path):
    store, ev = saved(tmp_path)
    fifo = os.path.join(lockspace_dir(tmp_path), "3-5-fence-1.json")
    os.mkfifo(fifo, 0o644)
    result = []
    reader = threading.Thread(target=lambda: result.append(store.load(ev.lockspace, 3, 5)),
                              daemon=True)
    reader.start()
    reader.join(5)
    if reader.is_alive():                        # release the old code's blocked open
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        reader.join(5)
        pytest.fail("load blocked on a FIFO in the evidence directory")
    assert result == [{"witness": ev}]


def precious(tmp_path):
    victim = tmp_path / "root-only"
    victim.write_text("precious")
    os.chmod(victim, 0o600)
    return victim


def test_a_link_planted_at_the_file_or_temporary_name_is_not_followed_on_save(tmp_path):
    base = tmp_path / "evidence"
    victim = precious(tmp_path)
    store, ev = saved(base)
    directory = lockspace_dir(base)
    os.unlink(os.path.join(directory, NAME))
    # the final name, and the temporary name the old code derived from the pid
    os.symlink(str(victim), os.path.join(directory, NAME))
    os.symlink(str(victim), os.path.join(directory, ".%s.%d" % (NAME, os.getpid())))
    assert store.save(ev, "witness")
    assert victim.read_text() == "precious" and stat.S_IMODE(victim.stat().st_mode) == 0o600
    assert not os.path.islink(os.path.join(directory, NAME))
    assert store.load(ev.lockspace, 3, 5) == {"witness": ev}


def test_a_link_is_not_followed_on_load(tmp_path):
    base = tmp_path / "evidence"
    store, ev = saved(base)
    outside = tmp_path / "forged.json"            # root's, 0644: trusted were it inside
    outside.write_bytes(forged_bytes(store))
    os.symlink(str(outside), os.path.join(lockspace_dir(base), "3-5-forger.json"))
    assert store.load(ev.lockspace, 3, 5) == {"witness": ev}


def test_a_linked_lockspace_directory_is_neither_written_nor_read(tmp_path):
    base = tmp_path / "evidence"
    store, ev = saved(base)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "3-5-forger.json").write_bytes(forged_bytes(store))
    shutil.rmtree(lockspace_dir(base))
    os.symlink(str(elsewhere), lockspace_dir(base))
    assert store.load(ev.lockspace, 3, 5) == {}
    assert not store.save(ev, "witness")
    assert os.listdir(str(elsewhere)) == ["3-5-forger.json"]


def test_prune_never_deletes_through_a_link_or_outside_the_directory(tmp_path):
    base = tmp_path / "evidence"
    store, ev = saved(base)
    two_days_ago = time.time() - 2 * 24 * 3600
    stale = os.path.join(lockspace_dir(base), "1-1-fence-9.json")
    with open(stale, "w") as handle:
        handle.write("{}")
    victims = tmp_path / "victims"
    victims.mkdir()
    old_outside = victims / "old"
    old_outside.write_text("keep me")
    os.symlink(str(old_outside), os.path.join(lockspace_dir(base), "2-2-link.json"))
    for path in (stale, str(old_outside), str(victims)):
        os.utime(path, (two_days_ago, two_days_ago))
    other = EvidenceStore(str(base))
    other_ls = credited(lockspace="other")
    os.symlink(str(victims), lockspace_dir(base, "other"))   # a lockspace dir elsewhere
    assert store.save(ev, "witness")             # prunes its own directory
    assert not other.save(other_ls, "witness")   # refuses the linked one
    assert not os.path.exists(stale)             # pruning works...
    assert old_outside.read_text() == "keep me"  # ...but never through a link
    assert os.path.islink(os.path.join(lockspace_dir(base), "2-2-link.json"))


@pytest.mark.parametrize("which", ["base", "lockspace"])
@pytest.mark.parametrize("change", ["group-writable", "owned by nobody"])
def test_a_directory_root_alone_does_not_control_is_not_trusted(tmp_path, caplog, which,
                                                                change):
    base = tmp_path / "evidence"
    store, ev = saved(base)
    directory = str(base) if which == "base" else lockspace_dir(base)
    if change == "group-writable":
        os.chmod(directory, 0o2775)              # the old package's mode
    else:
        os.chown(directory, NOBODY, -1)
    before = files_under(base)
    assert store.load(ev.lockspace, 3, 5) == {}
    assert store.load(ev.lockspace, 3, 5) == {}
    assert not store.save(credited(6), "witness")
    assert files_under(base) == before
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1, warnings          # one warning, saying what to fix
    assert directory in warnings[0] and "chown root:root" in warnings[0] and \
        "chmod 755" in warnings[0]


@pytest.mark.parametrize("lockspace", [".", "..", "", "a/../..", ".hidden"])
def test_dot_names_stay_inside_the_base(tmp_path, lockspace):
    base = tmp_path / "evidence"
    base.mkdir()
    store = EvidenceStore(str(base))
    ev = credited(lockspace=lockspace)
    assert store.save(ev, "witness")
    (path,) = files_under(tmp_path)
    assert os.path.dirname(os.path.dirname(path)) == str(base)   # in its own subdirectory
    assert store.load(lockspace, 3, 5) == {"witness": ev}
    for other in {".", "..", "%2E", "%2E."} - {lockspace}:
        assert store.load(other, 3, 5) == {}


def test_names_quote_to_distinct_plain_components():
    names = [".", "..", "", "%", "%2E", "a/b", "a%2Fb", ".x", "x.", "é", "%C3%A9"]
    quoted = [quote_name(n) for n in names]
    assert len(set(quoted)) == len(names)
    assert all(q not in (".", "..", "") and "/" not in q for q in quoted)


def test_a_process_not_running_as_root_keeps_nothing(tmp_path, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    store = EvidenceStore(str(tmp_path))
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert not store.save(credited(), "fence-1")
    assert files_under(tmp_path) == []
    assert any("only root keeps evidence" in r.getMessage() and r.levelname == "DEBUG"
               for r in caplog.records)


def test_a_group_member_writing_into_the_old_layout_keeps_nothing():
    """uid nobody, as a member of the directory's group, in a 2775 directory (the old
    package's layout): its fence keeps nothing, and root's load trusts nothing there."""
    top = tempfile.mkdtemp(prefix="fsv-evidence-", dir="/var/tmp")
    try:
        os.chmod(top, 0o755)
        base = os.path.join(top, "evidence")
        os.mkdir(base)
        os.chown(base, 0, NOBODY)
        os.chmod(base, 0o2775)
        kept = _as_nobody(lambda: EvidenceStore(base).save(credited(), "fence-1"))
        assert kept is False
        assert files_under(base) == []
        assert EvidenceStore(base).load("LS/with%odd name", 3, 5) == {}
    finally:
        shutil.rmtree(top)


def _as_nobody(fn):
    """fn() in a forked child running as uid and gid nobody, no other group; its result."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:                                 # the child: never returns into pytest
        code = 1
        try:
            os.close(read_end)
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            os.write(write_end, json.dumps(fn()).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        out = pipe.read()
    _, status = os.waitpid(pid, 0)
    assert status == 0, out     # exited with 0 (waitstatus_to_exitcode is 3.9+)
    return json.loads(out)


def test_forget_removes_what_is_kept_for_one_lockspace_only(tmp_path):
    base = tmp_path / "evidence"
    store, ev = saved(base)
    other = credited(lockspace="other")
    assert store.save(other, "witness")
    victim = precious(tmp_path)
    os.symlink(str(victim), os.path.join(lockspace_dir(base), "9-9-link.json"))
    assert store.forget(ev.lockspace)
    assert store.load(ev.lockspace, 3, 5) == {}
    assert store.load("other", 3, 5) == {"witness": other}
    assert victim.read_text() == "precious"


def test_root_makes_the_directories_a_bare_run_lacks(tmp_path):
    # a /run where the package's tmpfiles never ran (a private /run of a test node, a
    # host booted without systemd-tmpfiles): root's first save makes both levels, 0755
    run = tmp_path / "run"
    run.mkdir()
    store = EvidenceStore(str(run / "fence-sanlock-vdsm" / "evidence"))
    ev = credited()
    assert store.save(ev, "fence-1")
    assert store.load(ev.lockspace, 3, 5) == {"fence-1": ev}
    for made in (run / "fence-sanlock-vdsm", run / "fence-sanlock-vdsm" / "evidence"):
        assert stat.S_IMODE(os.lstat(str(made)).st_mode) == 0o755
