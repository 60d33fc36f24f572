# SPDX-License-Identifier: GPL-2.0-or-later
"""harness/noskip.py: a test that skips fails the run, whichever way it skips."""

import os
import subprocess
import sys
import textwrap

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

SKIPPING = textwrap.dedent('''
    import pytest

    def test_skips_inside():
        pytest.skip("no such feature here")

    @pytest.mark.skipif(True, reason="never on this machine")
    def test_skipped_by_mark():
        pass

    @pytest.mark.xfail(reason="a known bug", strict=True)
    def test_expected_failure():
        assert False

    def test_passes():
        pass
''')


def run_pytest(tmp_path, *plugins, name="test_sample.py", text=SKIPPING):
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / name).write_text(text)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT, os.path.join(ROOT, "lib")]))
    args = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rA"]
    for plugin in plugins:
        args += ["-p", plugin]
    return subprocess.run(args + [name], cwd=str(tmp_path), env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, timeout=120)


def test_a_skip_fails_and_says_what_to_do(tmp_path):
    done = run_pytest(tmp_path, "harness.noskip")
    assert done.returncode == 1, done.stdout
    # a skip in the test's body fails it; a skip mark acts at set-up, so it is an error
    summary = done.stdout.strip().splitlines()[-1]
    for count in ("1 failed", "1 error", "1 passed", "1 xfailed"):
        assert count in summary, done.stdout
    assert "skipped" not in summary, done.stdout
    assert "no such feature here" in done.stdout and "never on this machine" in done.stdout
    assert "require()" in done.stdout


MODULE_SKIP = textwrap.dedent('''
    import pytest

    pytest.importorskip("a_module_nobody_has")

    def test_never_collected():
        pass
''')


def test_a_skip_while_a_module_is_collected_fails_too(tmp_path):
    done = run_pytest(tmp_path, "harness.noskip", name="test_gone.py", text=MODULE_SKIP)
    assert done.returncode != 0, done.stdout
    assert "a_module_nobody_has" in done.stdout and "require()" in done.stdout, done.stdout
    assert "skipped" not in done.stdout.strip().splitlines()[-1], done.stdout


def test_without_the_plugin_the_same_files_pass(tmp_path):
    # what the plugin is there for: plain pytest calls these runs green
    done = run_pytest(tmp_path)
    assert done.returncode == 0, done.stdout
    assert "2 skipped" in done.stdout, done.stdout
    done = run_pytest(tmp_path, name="test_gone.py", text=MODULE_SKIP)
    assert done.returncode in (0, 5), done.stdout       # 5: no test ran
    assert "1 skipped" in done.stdout, done.stdout
