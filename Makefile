# SPDX-License-Identifier: GPL-2.0-or-later
# fence_sanlock_vdsm — build, test and install.
#
#   make deps     install the Debian packages the agent and its tests need (root)
#   make lint     pyflakes and pycodestyle on the library, the agent, harness and tests
#   make unit     the tests that need no daemon: tests/unit and tests/script (~13 s)
#   make check    deps + lint + tests/unit, script, real (real sanlock daemons), install
#                 and failover scenario 1 (~11 min)
#   make check-cluster  the longer failover scenarios 2 and 3 (multi-node Pacemaker, ~10 min)
#   make unit-pythons  the unit tests under each pyenv Python of PYTHONS (CI: 3.6 and 3.13)
#   make metadata-ref  rewrite tests/data/metadata/fence_sanlock_vdsm.xml from the agent
#   make demo     start a simulated 3-host cluster and fence host 3 through it
#   make demo-cluster  a 3-node Pacemaker cluster loses a node's network and fails over
#   make man      regenerate man/fence_sanlock_vdsm.8 from the agent's metadata
#   make install  install the agent, its library and the man page (DESTDIR, PREFIX)
#   make deb      build the Debian package fence-sanlock-vdsm into build/deb/ (root
#                 installs the missing DEB_BUILD_PACKAGES first)
#   make rpm      build the EL package fence-agents-sanlock-vdsm (rpm/*.spec) into
#                 build/rpm/ and lint it with rpmlint (root installs rpm, rpmlint first)
#   make bench    benchmarks (not part of check, 6 to 13 min here): writes bench/README.md,
#                 results.json and the timeline pictures

PYTHON      ?= /usr/bin/python3
PREFIX      ?= /usr
SBINDIR     ?= $(PREFIX)/sbin
DATADIR     ?= $(PREFIX)/share
LIBDIR      ?= $(DATADIR)/fence-sanlock-vdsm
MANDIR      ?= $(DATADIR)/man
UNITDIR     ?= /lib/systemd/system
# the interpreter in the installed commands' #! line (EL8's spec: /usr/libexec/platform-python)
INSTALL_PYTHON ?= /usr/bin/python3
DESTDIR     ?=
TEST_JOBS   ?= 12
PYTEST_ARGS ?=

AGENT    := agents/sanlock_vdsm/fence_sanlock_vdsm.py
COMMAND  := agents/sanlock_vdsm/service-command.in
# the host services: command name:module
SERVICES := fence-sanlock-vdsm-resetd-sync:host.resetd_sync \
            fence-sanlock-vdsm-witness:host.witness fence-sanlock-vdsm-responder:host.responder
UNITS    := systemd/fence-sanlock-vdsm-resetd-sync.service systemd/fence-sanlock-vdsm-witness.service \
            systemd/fence-sanlock-vdsm-responder.service
# the library's packages: the shared core beneath the agent's side and the host side
LIB_PACKAGES := sanlock_fencing sanlock_fencing/core sanlock_fencing/agent sanlock_fencing/host
DROPIN   := systemd/sanlk-resetd.service.d/fence-sanlock-vdsm.conf
TMPFILES := systemd/fence-sanlock-vdsm.tmpfiles
TMPFILESDIR ?= /usr/lib/tmpfiles.d
MANPAGE  := man/fence_sanlock_vdsm.8
MANEXTRA := man/details.8.in
RNG      := /usr/share/cluster/relaxng/metadata.rng
XSL      := /usr/share/cluster/relaxng/fence2man.xsl

# the demo and the bench import the harness package (harness/) and the library (lib/)
HARNESS_PATH := $(CURDIR):$(CURDIR)/lib

DEB_BUILD_PACKAGES := dpkg-dev debhelper dh-python
RPM_BUILD_PACKAGES := rpm rpmlint
DEB_PACKAGES := sanlock python3-sanlock sanlk-reset fence-agents xsltproc libxml2-utils \
                python3-pytest python3-pytest-xdist util-linux procps passwd \
                python3-venv python3-setuptools $(DEB_BUILD_PACKAGES) $(RPM_BUILD_PACKAGES) \
                pacemaker pacemaker-cli-utils corosync pcs iproute2 \
                python3-pyflakes pycodestyle

# $(call install_missing,PACKAGES,WHO): apt-get those of PACKAGES not installed yet
define install_missing
	@missing=""; for p in $(1); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q "install ok installed" \
	        || missing="$$missing $$p"; \
	done; \
	if [ -z "$$missing" ]; then echo "$(2): all Debian packages present"; \
	elif [ "$$(id -u)" != 0 ]; then echo "$(2) needs:$$missing (apt-get install, as root)" >&2; exit 1; \
	else echo "installing:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; fi
endef

.PHONY: all deps lint check check-cluster unit unit-pythons metadata-ref demo demo-cluster bench man install uninstall clean

all: man metadata-ref

deps:
	$(call install_missing,$(DEB_PACKAGES),make deps)

# lint: the field's usual checks, on what ships (the library with the host services,
# and the agent) and on what proves it (the harness, the tests, the demo, the bench);
# the project's lines are at most 100 characters
LINT_PATHS := lib agents/sanlock_vdsm/fence_sanlock_vdsm.py harness tests demo bench setup.py
lint: deps
	$(PYTHON) -m pyflakes $(LINT_PATHS)
	$(PYTHON) -m pycodestyle --max-line-length=100 $(LINT_PATHS)

# scenario 1 of the failover tests (a 3-node cluster loses a node's network): the mission
# end to end, run in make check beside the other tests; the longer scenarios wait for
# make check-cluster
SCENARIO_1 := tests/cluster/test_lost_node.py

check: deps lint
	$(PYTHON) -m pytest -n $(TEST_JOBS) --dist loadgroup -p no:cacheprovider \
	    $(PYTEST_ARGS) tests/unit tests/script tests/real tests/install $(SCENARIO_1)

# The longer failover scenarios of tests/cluster/test_failover.py (a broken watchdog, two
# nodes fencing each other, repeated): real multi-node Pacemaker clusters, one at a time
# (each is a few dozen processes on 2 cores); CI runs it after check.
check-cluster: deps
	$(PYTHON) -m pytest -p no:cacheprovider $(PYTEST_ARGS) tests/cluster --ignore=$(SCENARIO_1)

unit:
	$(PYTHON) -m pytest -q -p no:cacheprovider tests/unit tests/script

# The unit layer under the interpreters the agent's platforms ship: 3.6 (EL8's
# platform-python, which fence-agents uses there), 3.9 (EL9), 3.11 (Debian 12), 3.12
# (EL10, Ubuntu 24.04), 3.13. Each comes from pyenv (PYENV_ROOT; a version like 3.6 takes
# the newest 3.6.x there) and runs in a venv of its own under build/pythons/ with the
# pytest of tests/unit/requirements-pytest.txt, made again when that file changes; the
# venv keeps out whatever plugins the interpreter itself has. A Python named in PYTHONS
# that pyenv does not have is an error, not a skip. The pure tests need neither the
# sanlock binding nor fencing.py, which exist only for /usr/bin/python3.
PYENV_ROOT  ?= $(HOME)/.pyenv
PYTHONS     ?= 3.6 3.13
PYTHONS_DIR := build/pythons
UNIT_PYTEST := tests/unit/requirements-pytest.txt

unit-pythons:
	@set -e; for want in $(PYTHONS); do \
	    base=$$(ls -d $(PYENV_ROOT)/versions/$$want $(PYENV_ROOT)/versions/$$want.[0-9]* \
	            2>/dev/null | sort -V | tail -n 1); \
	    if [ -z "$$base" ] || [ ! -x "$$base/bin/python3" ]; then \
	        echo "make unit-pythons: no Python $$want in $(PYENV_ROOT)/versions: install it" \
	             "(pyenv install $$want), set PYENV_ROOT, or leave it out of PYTHONS" >&2; \
	        exit 1; fi; \
	    venv=$(PYTHONS_DIR)/$$(basename $$base); \
	    if ! cmp -s $(UNIT_PYTEST) $$venv/requirements-pytest.txt; then \
	        echo "== $$venv: a venv of $$base with $(UNIT_PYTEST)"; \
	        rm -rf $$venv; $$base/bin/python3 -m venv $$venv; \
	        $$venv/bin/python -m pip install -q -r $(UNIT_PYTEST); \
	        cp $(UNIT_PYTEST) $$venv/requirements-pytest.txt; fi; \
	    echo "== tests/unit under $$($$venv/bin/python -V 2>&1) ($$base)"; \
	    $$venv/bin/python -m pytest -q -p no:cacheprovider tests/unit; \
	done

# The agent's metadata as committed, checked by tests/script/test_cli.py as upstream
# fence-agents' xml-check does: run this when the options change on purpose, and commit
# the file. The reference is what this machine's fencing.py (Debian 12's fence-agents)
# prints; another fence-agents version adds or words its common options differently.
METADATA_REF := tests/data/metadata/fence_sanlock_vdsm.xml

metadata-ref:
	mkdir -p $(dir $(METADATA_REF))
	$(PYTHON) $(AGENT) -o metadata > $(METADATA_REF).tmp
	xmllint --noout --relaxng $(RNG) $(METADATA_REF).tmp
	mv $(METADATA_REF).tmp $(METADATA_REF)

demo: deps
	PYTHONPATH=$(HARNESS_PATH) $(PYTHON) demo/demo.py

# scenario 1 (tests/cluster/test_lost_node.py), watched: a three-node Pacemaker cluster loses a
# node's network, fences it through the agent, fails over; prints the timeline (~3 min)
demo-cluster: deps
	PYTHONPATH=$(HARNESS_PATH) $(PYTHON) demo/failover.py

# BENCH_ARGS=--quick: a short development run, written to build/bench-quick/
BENCH_ARGS ?=
bench: deps
	$(call install_missing,python3-matplotlib,make bench)
	PYTHONPATH=$(HARNESS_PATH) $(PYTHON) bench/bench.py $(BENCH_ARGS)

man: $(MANPAGE)

$(MANPAGE): $(AGENT) $(MANEXTRA) $(wildcard lib/sanlock_fencing/*.py lib/sanlock_fencing/*/*.py)
	$(PYTHON) $(AGENT) -o manpage > man/.fence_sanlock_vdsm.xml
	xmllint --noout --relaxng $(RNG) man/.fence_sanlock_vdsm.xml
	xsltproc $(XSL) man/.fence_sanlock_vdsm.xml > man/.fence_sanlock_vdsm.8
	# the generated page holds the metadata; the long explanation follows it
	cat man/.fence_sanlock_vdsm.8 $(MANEXTRA) > $@
	rm -f man/.fence_sanlock_vdsm.xml man/.fence_sanlock_vdsm.8

install:
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(MANDIR)/man8 \
	    $(DESTDIR)$(UNITDIR)/sanlk-resetd.service.d $(DESTDIR)$(TMPFILESDIR)
	sed -e '1s|^#!/usr/bin/python3|#!$(INSTALL_PYTHON)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
	    $(AGENT) > $(DESTDIR)$(SBINDIR)/fence_sanlock_vdsm
	chmod 0755 $(DESTDIR)$(SBINDIR)/fence_sanlock_vdsm
	for pair in $(SERVICES); do cmd=$${pair%%:*}; mod=$${pair#*:}; \
	    sed -e '1s|^#!/usr/bin/python3|#!$(INSTALL_PYTHON)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
	        -e "s|@COMMAND@|$$cmd|" -e "s|@MODULE@|$$mod|" \
	        $(COMMAND) > $(DESTDIR)$(SBINDIR)/$$cmd; chmod 0755 $(DESTDIR)$(SBINDIR)/$$cmd; done
	for unit in $(UNITS); do \
	    sed 's|/usr/sbin|$(SBINDIR)|' $$unit > $(DESTDIR)$(UNITDIR)/$$(basename $$unit); done
	install -m 0644 $(DROPIN) $(DESTDIR)$(UNITDIR)/sanlk-resetd.service.d/
	install -m 0644 $(TMPFILES) $(DESTDIR)$(TMPFILESDIR)/fence-sanlock-vdsm.conf
	for dir in $(LIB_PACKAGES); do install -d $(DESTDIR)$(LIBDIR)/$$dir; \
	    install -m 0644 lib/$$dir/*.py $(DESTDIR)$(LIBDIR)/$$dir/; done
	install -m 0644 $(MANPAGE) $(DESTDIR)$(MANDIR)/man8/fence_sanlock_vdsm.8

uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/fence_sanlock_vdsm $(DESTDIR)$(MANDIR)/man8/fence_sanlock_vdsm.8
	for pair in $(SERVICES); do rm -f $(DESTDIR)$(SBINDIR)/$${pair%%:*}; done
	for unit in $(UNITS); do rm -f $(DESTDIR)$(UNITDIR)/$$(basename $$unit); done
	rm -f $(DESTDIR)$(UNITDIR)/sanlk-resetd.service.d/fence-sanlock-vdsm.conf
	rm -f $(DESTDIR)$(TMPFILESDIR)/fence-sanlock-vdsm.conf
	rm -rf $(DESTDIR)$(LIBDIR)

clean:
	rm -rf build dist lib/*.egg-info
	find . -name __pycache__ -prune -exec rm -rf {} +

# ---------------------------------------------------------------- Debian package
# dpkg-buildpackage writes its results next to the source tree, so the package is
# built from a copy of the working tree in $(DEB_DIR)/src; the .deb, .buildinfo and
# .changes stay in $(DEB_DIR). The package's files are what 'make install' lays out
# (debian/rules); dh_python3 byte-compiles the library at install, removes it at removal.

DEB_DIR     := build/deb
DEB_VERSION  = $(shell sed -n '1s/^[^(]*(\([^)]*\)).*/\1/p' debian/changelog)
LIB_VERSION  = $(shell sed -n 's/^__version__ = "\(.*\)"/\1/p' lib/sanlock_fencing/__init__.py)

.PHONY: deb
deb:
	$(call install_missing,$(DEB_BUILD_PACKAGES),make deb)
	@if [ "$(DEB_VERSION)" != "$(LIB_VERSION)" ]; then \
	    echo "debian/changelog is at version '$(DEB_VERSION)' but the library at" \
	         "'$(LIB_VERSION)': add a changelog entry (dch -v $(LIB_VERSION))" >&2; exit 1; \
	fi
	rm -rf $(DEB_DIR)
	mkdir -p $(DEB_DIR)/src
	tar -cf - --exclude=./build --exclude=./.git --exclude=__pycache__ --exclude='*.egg-info' \
	    --exclude=./.pytest_cache . | tar -xf - -C $(DEB_DIR)/src
	cd $(DEB_DIR)/src && dpkg-buildpackage -us -uc -b
	rm -rf $(DEB_DIR)/src
	@echo "built: $$(ls $(DEB_DIR)/*.deb)"

# ---------------------------------------------------------------- EL package
# rpmbuild builds rpm/fence-agents-sanlock-vdsm.spec from a tarball of the working tree
# (Source0) under $(RPM_DIR); %install runs 'make install', as debian/rules does. Here,
# on Debian, rpm's database knows none of the installed packages, so the build
# dependencies (EL's names) cannot be checked: --nodeps. rpmlint then checks the spec,
# the source and the binary package; rpm/rpmlintrc filters only what Debian's rpmlint
# judges differently from Fedora's, each filter with its reason.

RPM_DIR     := build/rpm
RPM_NAME    := fence-agents-sanlock-vdsm
RPM_SPEC    := rpm/$(RPM_NAME).spec
RPM_VERSION  = $(shell sed -n 's/^Version:[[:space:]]*//p' $(RPM_SPEC))

.PHONY: rpm
rpm:
	$(call install_missing,$(RPM_BUILD_PACKAGES),make rpm)
	@if [ "$(RPM_VERSION)" != "$(LIB_VERSION)" ]; then \
	    echo "$(RPM_SPEC) is at version '$(RPM_VERSION)' but the library at" \
	         "'$(LIB_VERSION)': set Version: and add a %changelog entry" >&2; exit 1; \
	fi
	rm -rf $(RPM_DIR)
	mkdir -p $(RPM_DIR)/SOURCES $(RPM_DIR)/src/$(RPM_NAME)-$(RPM_VERSION)
	tar -cf - --exclude=./build --exclude=./.git --exclude=__pycache__ --exclude='*.egg-info' \
	    --exclude=./.pytest_cache . | tar -xf - -C $(RPM_DIR)/src/$(RPM_NAME)-$(RPM_VERSION)
	tar -czf $(RPM_DIR)/SOURCES/$(RPM_NAME)-$(RPM_VERSION).tar.gz -C $(RPM_DIR)/src \
	    $(RPM_NAME)-$(RPM_VERSION)
	rm -rf $(RPM_DIR)/src
	rpmbuild -ba --nodeps --define "_topdir $(abspath $(RPM_DIR))" $(RPM_SPEC)
	rpmlint -r rpm/rpmlintrc $(RPM_SPEC) $(RPM_DIR)/SRPMS/*.src.rpm $(RPM_DIR)/RPMS/noarch/*.rpm
	@echo "built: $$(ls $(RPM_DIR)/RPMS/noarch/*.rpm)"
