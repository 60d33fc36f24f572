# SPDX-License-Identifier: GPL-2.0-or-later
"""Fixtures shared by the tests; the harness itself is the package harness/."""

import os

import pytest

# a skip is a failure here (harness/noskip.py says why)
pytest_plugins = ["harness.noskip"]


@pytest.fixture
def no_daemon_env(tmp_path):
    """An environment whose sanlock socket directory holds no daemon."""
    env = dict(os.environ)
    env["SANLOCK_RUN_DIR"] = str(tmp_path)
    return env


@pytest.fixture
def make_cluster():
    """Start simulated clusters of real sanlock daemons; every one is stopped at the end."""
    from harness.simcluster import SimCluster

    clusters = []

    def make(**kwargs):
        cluster = SimCluster(**kwargs)
        clusters.append(cluster)
        return cluster.start()

    yield make
    for cluster in clusters:
        cluster.stop()


# Each folder says what its tests need; its name is also a marker (pytest.ini), so that
# `-m "not real"` and the like select by need:
#   unit/    pure logic, no daemon, no fencing.py: any Python from 3.6 (make unit-pythons)
#   script/  the agent script as a subprocess with no daemon (fencing.py, /usr/bin/python3)
#   real/    real sanlock daemons, wdmd, responders, Pacemaker on simulated hosts (root)
#   install/ builds and installs the packages (.deb, RPM into a scratch root, pip, make install)
#   cluster/ multi-node Pacemaker failover scenarios (scenario 1 in make check, the rest in
#            make check-cluster)
KINDS = ("unit", "script", "real", "install", "cluster")


# first: -m deselects in pytest's own hook of the same name, which must see these markers
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    tests = os.path.dirname(os.path.abspath(__file__))
    for item in items:
        kind = os.path.relpath(str(item.fspath), tests).split(os.sep)[0]
        if kind not in KINDS:
            raise pytest.UsageError("%s is in no test folder of %s: put it in one (tests/"
                                    "conftest.py says which)" % (item.nodeid, ", ".join(KINDS)))
        item.add_marker(kind)
