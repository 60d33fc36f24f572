# SPDX-License-Identifier: GPL-2.0-or-later
"""make rpm builds the EL package fence-agents-sanlock-vdsm, rpmlint finds no error in it,
and it installs into a scratch rpm root with the layout EL hosts need and an agent whose
metadata validates (issue 19, packages for EL).

An install test: it builds and installs a package, into a scratch root (rpm --root), never
into this system. rpmbuild and rpmlint are installed by 'make deps', so a missing one is a
failure, not a skip.
"""

import glob
import os
import re
import shutil
import struct
import subprocess
import sys

import pytest

from harness.machine import ROOT

PACKAGE = "fence-agents-sanlock-vdsm"
SPEC = os.path.join(ROOT, "rpm", PACKAGE + ".spec")
LIBDIR = "/usr/share/fence-sanlock-vdsm"
UNITDIR = "/usr/lib/systemd/system"
RNG = "/usr/share/cluster/relaxng/metadata.rng"
SYSTEM_PYTHON = "/usr/bin/python3"


def run(args, **kwargs):
    kwargs.setdefault("timeout", 300)
    return subprocess.run(args, capture_output=True, text=True, **kwargs)


def require_tool(name):
    assert shutil.which(name), "%s is missing: run 'make deps' (it installs rpm and rpmlint)" % name


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """make rpm, once, into a directory of this test's own: (the .rpm, make's output)."""
    require_tool("rpmbuild")
    require_tool("rpmlint")
    rpm_dir = tmp_path_factory.mktemp("rpmbuild")
    result = run(["make", "-C", ROOT, "rpm", "RPM_DIR=%s" % rpm_dir], timeout=600)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    rpms = glob.glob(str(rpm_dir / "RPMS" / "noarch" / ("%s-*.noarch.rpm" % PACKAGE)))
    assert len(rpms) == 1, rpms
    return rpms[0], output


@pytest.fixture(scope="module")
def scratch_root(built, tmp_path_factory):
    """The package installed into an empty rpm root (no dependencies, no scriptlets:
    neither EL's packages nor systemd exist there)."""
    root = tmp_path_factory.mktemp("rpmroot")
    initdb = run(["rpm", "--root", str(root), "--initdb"])
    assert initdb.returncode == 0, initdb.stderr
    installed = run(["rpm", "-i", "--root", str(root), "--nodeps", "--noscripts",
                     "--notriggers", built[0]])
    assert installed.returncode == 0, installed.stdout + installed.stderr
    return root


def query(rpm_file, tag):
    result = run(["rpm", "-qp", "--qf", "[%%{%s}\\n]" % tag, rpm_file])
    assert result.returncode == 0, result.stderr
    return [line for line in result.stdout.splitlines() if line]


def source_units():
    return sorted(os.path.basename(p)
                  for p in glob.glob(os.path.join(ROOT, "systemd", "*.service")))


def test_rpmlint_reports_no_error(built):
    summary = re.findall(r"checked; (\d+) errors?, (\d+) warnings?", built[1])
    assert summary, "no rpmlint summary in make rpm's output:\n" + built[1][-3000:]
    assert [errors for errors, _ in summary] == ["0"] * len(summary), built[1][-3000:]


def test_the_package_is_a_noarch_fence_agents_package_with_el_names(built):
    rpm_file = built[0]
    assert query(rpm_file, "NAME") == [PACKAGE]
    assert query(rpm_file, "ARCH") == ["noarch"]
    with open(os.path.join(ROOT, "lib", "sanlock_fencing", "__init__.py")) as handle:
        version = re.search(r'^__version__ = "([^"]+)"', handle.read(), re.M).group(1)
    assert query(rpm_file, "VERSION") == [version]
    requires = set(query(rpm_file, "REQUIRENAME"))
    assert {"fence-agents-common", "python3-sanlock", "sanlock"} <= requires
    # nothing EL9/EL10 lack, and no Debian names
    assert not requires & {"sanlk-reset", "fence-agents", "libsanlock1", "python3-fence-agents"}
    assert "sanlk-reset" not in query(rpm_file, "RECOMMENDNAME")   # built here: not EL8


def test_sanlk_reset_is_only_suggested_on_el8():
    """The responder in this package is the target side; sanlk-resetd (EL8 only) is an
    alternative it refuses to run beside: suggested there, never pulled in."""
    def names(rhel):
        result = run(["rpmspec", "-q", "--define", "rhel %d" % rhel, "--qf",
                      "[%{SUGGESTNAME} ]|[%{RECOMMENDNAME} ]|[%{REQUIRENAME} ]\\n", SPEC])
        assert result.returncode == 0, result.stderr
        return [part.split() for part in result.stdout.strip().split("|")]
    suggests, recommends, requires = names(8)
    assert suggests == ["sanlk-reset"] and "sanlk-reset" not in recommends + requires
    for rhel in (9, 10):
        assert "sanlk-reset" not in sum(names(rhel), [])


def test_el8_commands_run_on_platform_python(tmp_path):
    """EL8's fence agents run on /usr/libexec/platform-python: the spec hands %{__python3}
    to make install, which writes it into every installed command's #! line."""
    parsed = run(["rpmspec", "-P", "--define", "rhel 8", "--define",
                  "__python3 /usr/libexec/platform-python", SPEC])
    assert parsed.returncode == 0, parsed.stderr
    assert "INSTALL_PYTHON=/usr/libexec/platform-python" in parsed.stdout
    compiling = [line for line in parsed.stdout.splitlines() if "compileall" in line]
    assert compiling and all("/usr/libexec/platform-python" in line and LIBDIR in line
                             for line in compiling), compiling
    dest = tmp_path / "root"
    made = run(["make", "-s", "-C", ROOT, "install", "DESTDIR=%s" % dest,
                "INSTALL_PYTHON=/usr/libexec/platform-python"])
    assert made.returncode == 0, made.stderr
    commands = glob.glob(str(dest / "usr" / "sbin" / "*"))
    assert len(commands) >= 3, commands
    for command in commands:
        with open(command) as handle:
            assert handle.readline() == "#!/usr/libexec/platform-python -tt\n", command


def test_layout_in_a_scratch_root(scratch_root):
    root = str(scratch_root)
    agent = root + "/usr/sbin/fence_sanlock_vdsm"
    assert os.access(agent, os.X_OK)
    with open(agent) as handle:
        text = handle.read()
    assert text.startswith("#!%s -tt\n" % SYSTEM_PYTHON)   # %{__python3} of this build
    assert 'LIBDIR = "%s"' % LIBDIR in text
    assert os.path.isfile(root + LIBDIR + "/sanlock_fencing/agent/fence.py")
    assert glob.glob(root + "/usr/share/man/man8/fence_sanlock_vdsm.8*")
    assert os.path.isfile(root + "/usr/lib/tmpfiles.d/fence-sanlock-vdsm.conf")
    assert os.path.isfile(root + UNITDIR + "/sanlk-resetd.service.d/fence-sanlock-vdsm.conf")
    # every unit of the source tree, each starting a command the package installed
    installed_units = sorted(os.path.basename(p) for p in
                             glob.glob(root + UNITDIR + "/fence-sanlock-vdsm-*.service"))
    assert installed_units == source_units() and installed_units
    for unit in installed_units:
        with open(root + UNITDIR + "/" + unit) as handle:
            command = re.search(r"^ExecStart=(\S+)", handle.read(), re.M).group(1)
        assert command.startswith("/usr/sbin/") and os.access(root + command, os.X_OK), unit
    owner = run(["rpm", "--root", root, "-qf", "/usr/sbin/fence_sanlock_vdsm"])
    assert owner.stdout.startswith(PACKAGE + "-"), owner


def test_library_is_byte_compiled_for_the_installed_sources(scratch_root):
    """A .pyc for every module, made by the build's interpreter, recording the installed
    source's mtime and size: Python uses it and never writes next to the package's files."""
    tag = sys.implementation.cache_tag   # the tests run on /usr/bin/python3, as the build
    package_dir = str(scratch_root) + LIBDIR + "/sanlock_fencing"
    sources = sorted(glob.glob(package_dir + "/**/*.py", recursive=True))
    assert len(sources) > 20 and any("/host/" in source for source in sources)
    for source in sources:
        folder, name = os.path.split(source[:-3])
        compiled = "%s/__pycache__/%s.%s.pyc" % (folder, name, tag)
        with open(compiled, "rb") as handle:
            header = handle.read(16)
        flags, mtime, size = struct.unpack("<4xIII", header)
        stat = os.stat(source)
        assert (flags, mtime, size) == (0, int(stat.st_mtime) & 0xFFFFFFFF, stat.st_size), name


def test_installed_agent_metadata_validates(scratch_root):
    """The installed agent, run by /usr/bin/python3 on the scratch root's library (imported
    first, so that the agent's own LIBDIR, the real /usr/share path, is not used)."""
    root = str(scratch_root)
    agent = root + "/usr/sbin/fence_sanlock_vdsm"
    wrapper = ("import runpy, sys\n"
               "sys.path.insert(0, %r)\n"
               "import sanlock_fencing\n"
               "assert sanlock_fencing.__file__.startswith(%r), sanlock_fencing.__file__\n"
               "sys.argv = [%r, '-o', 'metadata']\n"
               "runpy.run_path(%r, run_name='__main__')\n") % (root + LIBDIR, root, agent, agent)
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}
    metadata = run([SYSTEM_PYTHON, "-c", wrapper], env=env, cwd="/", timeout=60)
    assert metadata.returncode == 0, metadata.stderr
    assert 'name="fence_sanlock_vdsm"' in metadata.stdout
    assert os.path.exists(RNG), "%s is missing: run 'make deps' (fence-agents)" % RNG
    check = run(["xmllint", "--noout", "--relaxng", RNG, "-"], input=metadata.stdout)
    assert check.returncode == 0, check.stderr
    # running it wrote nothing into the package's files (no stale byte code rewritten)
    verify = run(["rpm", "--root", root, "-V", "--nodeps", PACKAGE])
    assert verify.returncode == 0 and verify.stdout == "", verify.stdout + verify.stderr
