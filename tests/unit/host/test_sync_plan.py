# SPDX-License-Identifier: GPL-2.0-or-later
"""sync_plan: what the resetd sync registers with sanlk-resetd and ends, from what it
registered and what this host's daemon has joined (pure)."""

from sanlock_fencing.host.sync_plan import plan


def test_plan_registers_new_and_ends_left():
    key = (1, "/p", 0, 1)
    todo = plan({"gone": key, "kept": key}, {"kept": key, "new": key})
    assert (todo.end, todo.reg, todo.waiting) == (["gone"], ["new"], [])


def test_plan_rejoined_lockspace_is_registered_again_and_unsure_is_kept():
    todo = plan({"a": (1, "/p", 0, 1), "b": (1, "/p", 0, 1)}, {"a": (1, "/p", 0, 2)},
                unsure={"b"})
    assert (todo.end, todo.reg) == ([], ["a"])


def test_plan_respects_the_capacity_and_the_filter():
    key = (1, "/p", 0, 1)
    stable = {"ls%02d" % i: key for i in range(5)}
    todo = plan({"ls00": key}, stable, capacity=3)
    assert todo.reg == ["ls01", "ls02"] and todo.waiting == ["ls03", "ls04"]
    todo = plan({}, stable, wanted={"ls03", "other"})
    assert todo.reg == ["ls03"] and not todo.waiting


def test_plan_leaves_registrations_outside_the_filter_alone():
    key = (1, "/p", 0, 1)
    todo = plan({"mine": key, "other": key}, {"mine": key, "other": key}, wanted={"mine"})
    assert (todo.end, todo.reg) == ([], [])


def test_names_the_protocol_cannot_carry_are_reported():
    todo = plan({}, {"has space": (1, "/p", 0, 1)})
    assert "has space" in todo.unusable and not todo.reg
