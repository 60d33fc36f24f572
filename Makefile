# fence_sanlock_vdsm — build, test and install.
#
#   make deps     install the Debian packages the agent and its tests need (root)
#   make check    deps + the whole test suite (unit tests and real sanlock daemons)
#   make demo     start a simulated 3-host cluster and fence host 3 through it
#   make man      regenerate man/fence_sanlock_vdsm.8 from the agent's metadata
#   make install  install the agent, its library and the man page (DESTDIR, PREFIX)
#   make deb      build the Debian package fence-sanlock-vdsm into build/deb/ (root
#                 installs the missing DEB_BUILD_PACKAGES first)
#   make bench    benchmarks (not part of check): writes bench/README.md and results.json

PYTHON      ?= /usr/bin/python3
PREFIX      ?= /usr
SBINDIR     ?= $(PREFIX)/sbin
DATADIR     ?= $(PREFIX)/share
LIBDIR      ?= $(DATADIR)/fence-sanlock-vdsm
MANDIR      ?= $(DATADIR)/man
UNITDIR     ?= /lib/systemd/system
DESTDIR     ?=
TEST_JOBS   ?= 12
PYTEST_ARGS ?=

AGENT   := agents/sanlock_vdsm/fence_sanlock_vdsm.py
SYNC    := agents/sanlock_vdsm/fence-sanlock-vdsm-resetd-sync
UNIT    := systemd/fence-sanlock-vdsm-resetd-sync.service
MANPAGE := man/fence_sanlock_vdsm.8
RNG     := /usr/share/cluster/relaxng/metadata.rng
XSL     := /usr/share/cluster/relaxng/fence2man.xsl

DEB_BUILD_PACKAGES := dpkg-dev debhelper dh-python
DEB_PACKAGES := sanlock python3-sanlock sanlk-reset fence-agents xsltproc libxml2-utils \
                python3-pytest python3-pytest-xdist util-linux procps passwd \
                python3-venv python3-setuptools $(DEB_BUILD_PACKAGES) \
                pacemaker pacemaker-cli-utils corosync

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

.PHONY: all deps check unit demo bench man install uninstall clean

all: man

deps:
	$(call install_missing,$(DEB_PACKAGES),make deps)

check: deps
	$(PYTHON) -m pytest -n $(TEST_JOBS) --dist loadgroup -p no:cacheprovider $(PYTEST_ARGS) tests

unit:
	$(PYTHON) -m pytest -q -p no:cacheprovider tests/unit tests/test_cli.py

demo: deps
	$(PYTHON) demo/demo.py

BENCH_ARGS ?=
bench: deps
	$(PYTHON) bench/bench.py $(BENCH_ARGS)

man: $(MANPAGE)

$(MANPAGE): $(AGENT) lib/sanlock_fencing/*.py
	$(PYTHON) $(AGENT) -o manpage > man/.fence_sanlock_vdsm.xml
	xmllint --noout --relaxng $(RNG) man/.fence_sanlock_vdsm.xml
	xsltproc $(XSL) man/.fence_sanlock_vdsm.xml > $@
	rm -f man/.fence_sanlock_vdsm.xml

install:
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(LIBDIR)/sanlock_fencing $(DESTDIR)$(MANDIR)/man8
	sed 's|@LIBDIR@|$(LIBDIR)|' $(AGENT) > $(DESTDIR)$(SBINDIR)/fence_sanlock_vdsm
	chmod 0755 $(DESTDIR)$(SBINDIR)/fence_sanlock_vdsm
	sed 's|@LIBDIR@|$(LIBDIR)|' $(SYNC) > $(DESTDIR)$(SBINDIR)/fence-sanlock-vdsm-resetd-sync
	chmod 0755 $(DESTDIR)$(SBINDIR)/fence-sanlock-vdsm-resetd-sync
	install -d $(DESTDIR)$(UNITDIR)
	sed 's|/usr/sbin|$(SBINDIR)|' $(UNIT) > $(DESTDIR)$(UNITDIR)/fence-sanlock-vdsm-resetd-sync.service
	install -m 0644 lib/sanlock_fencing/*.py $(DESTDIR)$(LIBDIR)/sanlock_fencing/
	install -m 0644 $(MANPAGE) $(DESTDIR)$(MANDIR)/man8/fence_sanlock_vdsm.8

uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/fence_sanlock_vdsm $(DESTDIR)$(MANDIR)/man8/fence_sanlock_vdsm.8
	rm -f $(DESTDIR)$(SBINDIR)/fence-sanlock-vdsm-resetd-sync
	rm -f $(DESTDIR)$(UNITDIR)/fence-sanlock-vdsm-resetd-sync.service
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
