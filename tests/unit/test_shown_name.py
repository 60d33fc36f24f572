# SPDX-License-Identifier: GPL-2.0-or-later
"""shown_name: names from the daemon or from storage reach a log line or a terminal
escaped and, when over-long, cut."""

from sanlock_fencing.core.address import SHOWN_NAME_LIMIT, shown, shown_name


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
