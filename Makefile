# fence_sanlock_vdsm — build, test and install.
#
#   make deps     install the Debian packages the agent and its tests need (root)
#   make check    deps + the whole test suite (unit tests and real sanlock daemons)
#   make demo     start a simulated 3-host cluster and fence host 3 through it
#   make man      regenerate man/fence_sanlock_vdsm.8 from the agent's metadata
#   make install  install the agent, its library and the man page (DESTDIR, PREFIX)
#   make bench    benchmarks (not part of check): writes bench/README.md and results.json

PYTHON      ?= /usr/bin/python3
PREFIX      ?= /usr
SBINDIR     ?= $(PREFIX)/sbin
DATADIR     ?= $(PREFIX)/share
LIBDIR      ?= $(DATADIR)/fence-sanlock-vdsm
MANDIR      ?= $(DATADIR)/man
DESTDIR     ?=
TEST_JOBS   ?= 12
PYTEST_ARGS ?=

AGENT   := agents/sanlock_vdsm/fence_sanlock_vdsm.py
MANPAGE := man/fence_sanlock_vdsm.8
RNG     := /usr/share/cluster/relaxng/metadata.rng
XSL     := /usr/share/cluster/relaxng/fence2man.xsl

DEB_PACKAGES := sanlock python3-sanlock sanlk-reset fence-agents xsltproc libxml2-utils \
                python3-pytest python3-pytest-xdist util-linux procps

.PHONY: all deps check unit demo bench man install uninstall clean

all: man

deps:
	@missing=""; for p in $(DEB_PACKAGES); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q "install ok installed" \
	        || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	    echo "installing:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	else echo "all Debian packages present"; fi

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
	install -m 0644 lib/sanlock_fencing/*.py $(DESTDIR)$(LIBDIR)/sanlock_fencing/
	install -m 0644 $(MANPAGE) $(DESTDIR)$(MANDIR)/man8/fence_sanlock_vdsm.8

uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/fence_sanlock_vdsm $(DESTDIR)$(MANDIR)/man8/fence_sanlock_vdsm.8
	rm -rf $(DESTDIR)$(LIBDIR)

clean:
	rm -rf build dist lib/*.egg-info
	find . -name __pycache__ -prune -exec rm -rf {} +
