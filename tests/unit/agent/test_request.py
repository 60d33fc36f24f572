# SPDX-License-Identifier: GPL-2.0-or-later
"""agent/request.py: the library's options parsed once into one Request.

power_timeout and delay are numbers of seconds with an upper bound, whatever the library
lets through (it checks int() today; nan, inf and 1e23 must not mean "no bound" here
either); what names the target; what list and monitor need; and that nothing else in the
package reads the library's dict."""

import glob
import os
import re

import pytest

from sanlock_fencing.agent import request
from sanlock_fencing.agent.request import MAX_DELAY, MAX_POWER_TIMEOUT, addressed_host_ids, parse
from sanlock_fencing.core import timing
from sanlock_fencing.core.address import Target
from sanlock_fencing.core.errors import UsageError

LS = "ls"
PACKAGE = os.path.join(os.path.dirname(os.path.abspath(request.__file__)), "..")


def options(action="off", **extra):
    base = {"--ip": "ls:3", "--action": action}
    base.update(("--" + key.replace("_", "-"), value) for key, value in extra.items())
    return base


# ------------------------------------------------------------------ numbers of seconds

@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "1e23", "3601", "-1", "soon"])
def test_power_timeout_out_of_bounds_is_refused(value):
    with pytest.raises(UsageError, match="invalid power_timeout .*from 0 \\(no limit\\) "
                                         "to 3600"):
        parse(options(power_timeout=value))


@pytest.mark.parametrize("value", ["nan", "inf", "1e23", "301", "-5", "later"])
def test_delay_out_of_bounds_is_refused(value):
    with pytest.raises(UsageError, match="invalid delay .*from 0 to 300"):
        parse(options(delay=value))


def test_the_bounds_themselves_are_accepted():
    req = parse(options(power_timeout=str(MAX_POWER_TIMEOUT), delay=str(MAX_DELAY)))
    assert req.fence.power_timeout == MAX_POWER_TIMEOUT


def test_no_value_means_what_it_meant():
    for given in (options(), options(power_timeout="", delay="")):
        assert parse(given).fence.power_timeout == 0


def test_the_power_timeout_bound_leaves_room_for_the_slowest_sane_fence():
    # io_timeout 60 is six times vdsm's and sanlock's default
    assert timing.expected_fence_seconds(60)[1] * 2 < MAX_POWER_TIMEOUT


# ------------------------------------------------------------------ what names the node

@pytest.mark.parametrize("given, expected", [
    ({"--plug": "3", "--nodename": "node2"}, ("3", None)),      # a host id: authoritative
    ({"--plug": " node2 ", "--nodename": "node9"}, (None, "node2")),
    ({"--nodename": "node2"}, (None, "node2")),                  # pcmk_host_argument=none
    ({"--plug": "", "--nodename": " "}, (None, None)),
    ({}, (None, None)),
])
def test_what_names_the_node(given, expected):
    assert request.port_as_node_name(given) == expected


def test_with_host_ids_in_the_address_a_node_name_is_kept_for_the_check():
    req = parse({"--action": "off", "--ip": "ls:3", "--plug": "node2", "--nodename": "node2"})
    assert (req.targets, req.node) == ([Target(LS, 3)], "node2")
    req = parse({"--action": "off", "--ip": "ls:3", "--plug": "3", "--nodename": "node2"})
    assert (req.targets, req.node) == ([Target(LS, 3)], None)
    req = parse({"--action": "off", "--ip": "ls", "--nodename": "node2"})
    assert (req.targets, req.node, req.lockspaces) == ([], "node2", [LS])


def test_the_lockspaces_come_once_each():
    # targets are sorted and de-duplicated (address.parse_targets); their lockspaces follow
    req = parse({"--action": "reboot", "--ip": "b:3, a:3,b:3"})
    assert (req.targets, req.lockspaces) == ([Target("a", 3), Target("b", 3)], ["a", "b"])
    # where no host id is needed, in the address's order
    assert parse({"--action": "list", "--ip": "b, a:2,b"}).lockspaces == ["b", "a"]


# ------------------------------------------------------------------ list and monitor

def test_addressed_host_ids_of_an_address():
    assert addressed_host_ids("ls:3, ls2:4,ls3") == {"ls": 3, "ls2": 4}
    with pytest.raises(UsageError, match="invalid host id"):
        addressed_host_ids("ls:x")


def test_a_listing_address_with_two_host_ids_in_one_lockspace_is_refused():
    # it names no one host; the later id used to win, and list named only that host
    with pytest.raises(UsageError, match="two host ids \\(3 and 4\\).*lockspace alone"):
        parse({"--action": "list", "--ip": "ls:3,ls:4"})
    assert addressed_host_ids("ls:3, ls:3") == {"ls": 3}


def test_list_needs_only_lockspaces_and_narrows_to_an_addressed_host():
    req = parse({"--action": "list", "--ip": "ls:3,ls2"})
    assert (req.lockspaces, req.addressed, req.node) == (["ls", "ls2"], {"ls": 3}, None)
    # a bad host id in a listing address is bad input: refused at parse, before any delay
    with pytest.raises(UsageError, match="invalid host id"):
        parse({"--action": "list-status", "--ip": "ls:x"})


def test_monitor_takes_the_targets_the_address_names_if_any():
    assert parse({"--action": "monitor", "--ip": "ls:3"}).targets == [Target(LS, 3)]
    assert parse({"--action": "monitor", "--ip": "ls"}).targets == []


def test_listing_actions_check_resource_mode_but_not_the_fence_bounds():
    with pytest.raises(UsageError, match="resource_mode"):
        parse({"--action": "list", "--ip": "ls", "--resource-mode": "maybe"})
    assert parse({"--action": "monitor", "--ip": "ls", "--resource-mode": "yes"}).fence \
        .resource_mode is True


def test_listing_actions_name_a_missing_lockspace_first():
    # both wrong: the address is what the caller must fix first, and it is named
    with pytest.raises(UsageError, match="no lockspace given"):
        parse({"--action": "list", "--ip": " , ", "--resource-mode": "maybe"})


def test_no_lockspace_is_refused_for_every_action():
    for action in ("list", "monitor", "off", "status"):
        with pytest.raises(UsageError):
            parse({"--action": action, "--ip": " , "})


# ------------------------------------------------------------------ one reader

def test_only_request_reads_the_librarys_options():
    """The library's dict (keys "--action", "--ip" ...) is read in request.py alone: any
    other module that picks a key from it is a second, diverging parse."""
    readers = []
    for path in glob.glob(os.path.join(PACKAGE, "**", "*.py"), recursive=True):
        if os.path.basename(path) == "request.py":
            continue
        with open(path) as handle:
            if re.search(r"""options(\.get\(|\[)\s*["']--""", handle.read()):
                readers.append(os.path.relpath(path, PACKAGE))
    assert readers == []
