# SPDX-License-Identifier: GPL-2.0-or-later
"""The package's layout is its architecture: core/ beneath the agent's side (agent/) and
the host side (host/). core imports neither side; the host side never imports the
agent's; the agent imports the host side only where the target runs an action about
itself (lib/sanlock_fencing/__init__.py says which)."""

import ast
import glob
import os

import sanlock_fencing

PACKAGE = os.path.dirname(os.path.abspath(sanlock_fencing.__file__))
WINGS = ("core", "agent", "host")
# (importing module, imported module): the two places the agent asks the host side
AGENT_USES_HOST = {("agent.glue", "host.unfence"), ("agent.health", "host.target_side")}


def imports_of(path, wing):
    """(module, imported module) pairs of a module file, both relative to the package."""
    module = "%s.%s" % (wing, os.path.basename(path)[:-3])
    with open(path) as handle:
        tree = ast.parse(handle.read(), path)
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level == 0:
                base = node.module or ""
                if not base.startswith("sanlock_fencing"):
                    continue
                parts = base.split(".")[1:]
            else:
                parts = ([wing] if node.level == 1 else []) + (node.module or "").split(".")
                parts = [part for part in parts if part]
            if len(parts) == 1 and parts[0] in WINGS:      # from ..core import timing
                found.update((module, "%s.%s" % (parts[0], alias.name))
                             for alias in node.names)
            elif parts:
                found.add((module, ".".join(parts[:2])))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("sanlock_fencing."):
                    found.add((module, ".".join(alias.name.split(".")[1:3])))
    return found


def all_imports():
    pairs = set()
    for wing in WINGS:
        for path in glob.glob(os.path.join(PACKAGE, wing, "*.py")):
            if not path.endswith("__init__.py"):
                pairs |= imports_of(path, wing)
    return pairs


def test_every_module_is_in_a_wing():
    loose = [os.path.basename(path) for path in glob.glob(os.path.join(PACKAGE, "*.py"))
             if not path.endswith("__init__.py")]
    assert loose == []


def test_the_import_graph_is_seen():
    # a parser gone wrong would make the checks below pass on nothing
    pairs = all_imports()
    assert ("agent.fence", "core.judge") in pairs
    assert ("host.responder", "host.wdmd") in pairs
    assert AGENT_USES_HOST <= pairs


def test_core_imports_neither_side():
    assert sorted(pair for pair in all_imports()
                  if pair[0].startswith("core.") and not pair[1].startswith("core.")) == []


def test_the_host_side_never_imports_the_agent():
    assert sorted(pair for pair in all_imports()
                  if pair[0].startswith("host.") and pair[1].startswith("agent.")) == []


def test_the_agent_imports_the_host_side_only_for_the_targets_own_actions():
    crossing = {pair for pair in all_imports()
                if pair[0].startswith("agent.") and pair[1].startswith("host.")}
    assert crossing == AGENT_USES_HOST
