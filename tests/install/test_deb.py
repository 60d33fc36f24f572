# SPDX-License-Identifier: GPL-2.0-or-later
"""make deb builds a Debian package that installs with apt and works where vdsm and
Pacemaker look for it (issue: real clients, installs).

The test installs the package into the real system (/usr/sbin, /usr/share), so it runs
in the "system-install" xdist group, serially with the other test that installs there;
files a plain 'make install' left in those places are put back afterwards.
"""

import glob
import os
import re
import shutil
import subprocess

import pytest

from harness.callers import SANLOCK_GROUP, as_user, ensure_vdsm_like_user, require, vdsm_stdin
from harness.machine import ROOT

PACKAGE = "fence-sanlock-vdsm"
INSTALLED_AGENT = "/usr/sbin/fence_sanlock_vdsm"
INSTALLED_LIBDIR = "/usr/share/fence-sanlock-vdsm"
INSTALLED_MAN = "/usr/share/man/man8/fence_sanlock_vdsm.8"
RNG = "/usr/share/cluster/relaxng/metadata.rng"
# what a plain 'make install' into /usr leaves (not owned by any package)
UNPACKAGED_PATHS = (INSTALLED_AGENT, INSTALLED_LIBDIR, INSTALLED_MAN)

pytestmark = [pytest.mark.xdist_group("system-install"), pytest.mark.slow]


@pytest.fixture(autouse=True, scope="module")
def needs():
    require(os.geteuid() == 0, "root (it installs a package): run the tests as root")
    require(shutil.which("apt-get"), "apt-get: a Debian or Ubuntu host (make rpm and "
            "tests/install/test_rpm.py cover EL)")


def library_version():
    with open(os.path.join(ROOT, "lib", "sanlock_fencing", "__init__.py")) as handle:
        for line in handle:
            if line.startswith("__version__"):
                return line.split('"')[1]
    raise AssertionError("no __version__")


def package_installed():
    r = subprocess.run(["dpkg-query", "-W", "-f=${Status}", PACKAGE], capture_output=True,
                       text=True)
    return r.returncode == 0 and "install ok installed" in r.stdout


def apt_get(*args):
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    return subprocess.run(["apt-get", "-y", "-q"] + list(args), capture_output=True,
                          text=True, env=env, timeout=600)


@pytest.fixture
def preserved_unpackaged_install(tmp_path):
    """Move aside what a 'make install' into /usr left (dpkg would silently overwrite
    it and apt-get remove delete it); put it back at the end."""
    saved = []
    if not package_installed():
        for path in UNPACKAGED_PATHS:
            if os.path.lexists(path):
                keep = tmp_path / "saved" / path.lstrip("/")
                keep.parent.mkdir(parents=True, exist_ok=True)
                shutil.move(path, str(keep))
                saved.append((path, keep))
    yield
    for path, keep in saved:
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        elif os.path.lexists(path):
            os.unlink(path)
        shutil.move(str(keep), path)


@pytest.fixture(scope="module")
def deb():
    """make deb, once: the path of the .deb it built."""
    result = subprocess.run(["make", "-s", "-C", ROOT, "deb"], capture_output=True, text=True,
                            timeout=900)
    assert result.returncode == 0, result.stdout + result.stderr
    debs = glob.glob(os.path.join(ROOT, "build", "deb", "%s_*_all.deb" % PACKAGE))
    assert len(debs) == 1, debs
    return debs[0]


def test_the_package_declares_what_it_needs(deb):
    fields = {}
    for name in ("Package", "Version", "Architecture", "Depends", "Recommends", "Suggests"):
        fields[name] = subprocess.run(["dpkg-deb", "-f", deb, name], capture_output=True,
                                      text=True, check=True).stdout.strip()
    assert fields["Package"] == PACKAGE
    assert fields["Version"] == library_version()
    assert fields["Architecture"] == "all"
    depends = {d.strip() for d in fields["Depends"].split(",")}
    assert {"python3", "python3-sanlock", "fence-agents", "sanlock"} <= depends
    # sanlk-reset is optional (the responder is the target side; EL9/EL10 lack it) and
    # not installed by default: its sanlk-resetd would make the responder refuse to run
    assert "sanlk-reset" not in {d.split()[0] for d in depends}
    assert "sanlk-reset" not in fields["Recommends"]
    assert "sanlk-reset" in {d.strip() for d in fields["Suggests"].split(",")}
    # the responder and the witness are enabled and started at install; the resetd sync
    # is enabled again only where it was before (debian-installed), never started
    postinst = subprocess.run(["dpkg-deb", "-I", deb, "postinst"], capture_output=True,
                              text=True, check=True).stdout
    started = re.findall(r"deb-systemd-invoke \$_dh_action (.*) >", postinst)
    assert [set(re.findall(r"'([^']+)'", s)) for s in started] == [
        {"fence-sanlock-vdsm-responder.service", "fence-sanlock-vdsm-witness.service"}], \
        postinst
    assert "debian-installed 'fence-sanlock-vdsm-resetd-sync.service'" in postinst, postinst
    assert subprocess.run(["sh", "-n"], input=postinst, text=True).returncode == 0
    listing = subprocess.run(["dpkg-deb", "-c", deb], capture_output=True, text=True,
                             check=True).stdout
    files = {line.split()[-1].lstrip(".") for line in listing.splitlines()}
    for path in (INSTALLED_AGENT, INSTALLED_MAN + ".gz",
                 INSTALLED_LIBDIR + "/sanlock_fencing/agent/fence.py",
                 "/usr/share/doc/%s/copyright" % PACKAGE,
                 "/usr/sbin/fence-sanlock-vdsm-resetd-sync",
                 "/lib/systemd/system/fence-sanlock-vdsm-resetd-sync.service",
                 "/usr/sbin/fence-sanlock-vdsm-responder",
                 "/lib/systemd/system/fence-sanlock-vdsm-responder.service",
                 "/usr/sbin/fence-sanlock-vdsm-witness",
                 "/lib/systemd/system/fence-sanlock-vdsm-witness.service",
                 "/lib/systemd/system/sanlk-resetd.service.d/fence-sanlock-vdsm.conf",
                 "/usr/lib/tmpfiles.d/fence-sanlock-vdsm.conf"):
        assert path in files, listing
    assert not any("__pycache__" in f or f.endswith(".pyc") for f in files), listing
    mode = [line.split()[0] for line in listing.splitlines()
            if line.split()[-1] == "." + INSTALLED_AGENT]
    assert mode == ["-rwxr-xr-x"], mode


def test_apt_installs_a_working_agent_and_removes_it(deb, make_cluster,
                                                     preserved_unpackaged_install):
    installed = apt_get("install", "--reinstall", deb)
    try:
        assert installed.returncode == 0, installed.stdout + installed.stderr
        assert package_installed()
        owner = subprocess.run(["dpkg", "-S", INSTALLED_AGENT], capture_output=True,
                               text=True)
        assert owner.stdout.startswith(PACKAGE + ":"), owner
        with open(INSTALLED_AGENT) as handle:
            assert 'LIBDIR = "%s"' % INSTALLED_LIBDIR in handle.read()

        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}
        metadata = subprocess.run([INSTALLED_AGENT, "-o", "metadata"], capture_output=True,
                                  text=True, env=env, cwd="/", timeout=60)
        assert metadata.returncode == 0, metadata.stderr
        assert 'name="fence_sanlock_vdsm"' in metadata.stdout
        if os.path.exists(RNG):
            check = subprocess.run(["xmllint", "--noout", "--relaxng", RNG, "-"],
                                   input=metadata.stdout, capture_output=True, text=True)
            assert check.returncode == 0, check.stderr

        # status through the installed copy, on simulated host 1 (its machine): as a
        # person (root, command line) and as vdsm (stdin, portal address, member of sanlock)
        cluster = make_cluster(hosts=2, socket_group=SANLOCK_GROUP,
                               lease_group=SANLOCK_GROUP, name_prefix="deb")
        on_host1 = cluster.host(1).machine.command_prefix()
        env["SANLOCK_RUN_DIR"] = cluster.host(1).run_dir
        status = subprocess.run(on_host1 + [INSTALLED_AGENT, "-o", "status", "-a",
                                            "%s:2" % cluster.lockspace],
                                capture_output=True, text=True, env=env, cwd="/", timeout=60)
        assert (status.returncode, status.stdout.strip()) == (0, "Status: ON"), status
        user = ensure_vdsm_like_user()
        as_vdsm = subprocess.run(on_host1 + as_user(user, [INSTALLED_AGENT]),
                                 input=vdsm_stdin(cluster.lockspace, "status", port="2"),
                                 capture_output=True, text=True, env=env, cwd="/", timeout=60)
        assert (as_vdsm.returncode, as_vdsm.stdout.strip()) == (0, "Status: ON"), as_vdsm
    finally:
        removed = apt_get("remove", PACKAGE)
    assert removed.returncode == 0, removed.stdout + removed.stderr
    assert not package_installed()
    assert not os.path.exists(INSTALLED_AGENT)
    assert not os.path.exists(INSTALLED_LIBDIR)
