# SPDX-License-Identifier: GPL-2.0-or-later
"""A pytest plugin: a skipped test is reported as failed.

In this suite a skip would read as a pass in the very run where the feature it guards is
missing (no root, no FUSE, a package not installed): the run would be green and prove
nothing. Tests state their needs with harness.callers.require(), which fails; this plugin
catches a skip that slips in anyway: in a test or its set-up (pytest.skip, skipif,
importorskip in a test or fixture), and while a module is collected (importorskip or
pytest.skip(..., allow_module_level=True) at module level, which makes no test report of
its own: the module's collection report fails instead). Expected failures (xfail) are left
as they are. tests/conftest.py loads it.
"""

import pytest


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = ("%s was skipped (%s), and this suite does not skip: state what the "
                           "test needs with harness.callers.require(), which fails and says "
                           "how to get it" % (item.nodeid, reason))


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    report = outcome.get_result()
    if report.skipped:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = ("%s was skipped while collected (%s), and this suite does not "
                           "skip: state what its tests need with harness.callers.require(), "
                           "which fails and says how to get it" % (collector.nodeid, reason))
