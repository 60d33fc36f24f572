# SPDX-License-Identifier: GPL-2.0-or-later
"""Fixtures shared by the tests; the harness itself is the package harness/."""

import os

import pytest


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
