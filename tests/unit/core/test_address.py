# SPDX-License-Identifier: GPL-2.0-or-later
"""address: LOCKSPACE:HOST_ID targets parsed and validated; shown_name: names from the
daemon or from storage reach a log line or a terminal escaped and, when over-long, cut."""

import pytest

from sanlock_fencing.core.address import (SHOWN_NAME_LIMIT, Target, parse_targets, shown,
                                          shown_name)
from sanlock_fencing.core.errors import UsageError

UUID = "3f6b1e2c-9a4d-4c1e-8f7a-2b5d9c0e1a47"


def test_lockspace_colon_host_id():
    assert parse_targets("%s:3" % UUID) == [Target(UUID, 3)]


def test_bare_lockspace_with_port():
    assert parse_targets(UUID, "7") == [Target(UUID, 7)]


def test_several_lockspaces_same_host():
    assert parse_targets("b:2, a:5") == [Target("a", 5), Target("b", 2)]


def test_several_bare_lockspaces_share_the_port():
    assert parse_targets("a,b", "4") == [Target("a", 4), Target("b", 4)]


def test_port_agreeing_with_address_is_fine():
    assert parse_targets("a:4", "4") == [Target("a", 4)]


def test_duplicates_collapse():
    assert parse_targets("a:4,a:4") == [Target("a", 4)]


def test_limits_are_inclusive():
    name = "x" * 48
    assert parse_targets("%s:1,y:2000" % name) == [Target(name, 1), Target("y", 2000)]


@pytest.mark.parametrize("address, port, fragment", [
    ("", None, "no fence address"),
    ("   ", None, "no fence address"),
    ("ls", None, "names no host id"),
    (":3", None, "empty lockspace name"),
    ("ls:", None, "invalid host id ''"),
    ("ls:0", None, "invalid host id '0'"),
    ("ls:2001", None, "invalid host id '2001'"),
    ("ls:-1", None, "invalid host id '-1'"),
    ("ls:3x", None, "invalid host id '3x'"),
    ("ls:٣", None, "invalid host id"),
    ("a:b:3", None, "may not contain ':'"),
    ("x" * 49 + ":1", None, "49 bytes"),
    ("ls:3", "4", "contradicts"),
    ("ls", "abc", "invalid port (host id) 'abc'"),
    ("a:1,,b:2", None, "empty item"),
    ("a:1,a:2", None, "two host ids"),
    ("bad name:1", None, "spaces"),
])
def test_bad_addresses_name_the_value(address, port, fragment):
    with pytest.raises(UsageError) as err:
        parse_targets(address, port)
    assert fragment in str(err.value)
    assert "\n" not in str(err.value)


def test_target_text_and_bytes():
    target = Target("ls", 3)
    assert str(target) == "ls:3"


# ------------------------------------------------------------------ shown_name
def test_an_ordinary_name_is_shown_as_it_is():
    assert shown_name("3f6b1e2c-9a4d-4c1e-8f7a-2b5d9c0e1a47") == \
        "3f6b1e2c-9a4d-4c1e-8f7a-2b5d9c0e1a47"


def test_control_characters_are_escaped():
    shown_text = shown_name("ls\x1b[2J\nfake line\x00")
    assert shown_text == "ls\\x1b[2J\\nfake line\\x00"
    assert all(ch.isprintable() for ch in shown_text)


def test_bytes_are_decoded_and_invalid_bytes_escaped():
    assert shown_name(b"ls\xff\x07") == "ls\\xff\\x07"


def test_an_over_long_name_is_cut_to_the_limit():
    text = shown_name("x" * 5000)
    assert len(text) == SHOWN_NAME_LIMIT and text.endswith("...")
    assert shown_name("ab" * 10, limit=8) == "ababa..."


def test_escaping_counts_towards_the_limit():
    text = shown_name("\x01" * 64)
    assert len(text) == SHOWN_NAME_LIMIT and "\x01" not in text


def test_the_longest_honest_host_name_is_not_cut():
    assert shown_name("h" * 64) == "h" * 64


def test_none_and_shown_keep_their_form():
    assert shown_name(None) == "(none)"
    assert shown("a\tb") == "'a\\tb'"
