# Install stas into $(DESTDIR)$(PREFIX) (e.g. make install PREFIX=/usr DESTDIR=/tmp/root for a package).
# Build first: `make` (npm ci: the locked packages and the native addon; npm run build: TypeScript, then one
# bundle per program in dist/bundle/). `make install` only copies files: no registry, no
# node_modules. `make deb` builds dist/stas_<version>_<arch>.deb (packaging/deb/).
PREFIX ?= /usr/local
DESTDIR ?=
SYSCONFDIR ?= /etc
LIBDIR := $(PREFIX)/lib/stas
BINDIR := $(PREFIX)/bin
SBINDIR := $(PREFIX)/sbin
UNITDIR ?= $(PREFIX)/lib/systemd/system
DBUSDIR := $(PREFIX)/share/dbus-1/system.d
MANDIR := $(PREFIX)/share/man
COMPLETIONDIR := $(PREFIX)/share/bash-completion/completions
DOCDIR := $(PREFIX)/share/doc/stas
DEBDIR ?= dist
BUNDLE ?= dist/bundle
DAEMON_NODE_FLAGS ?= --max-semi-space-size=1 --no-sparkplug
NODE ?= /usr/bin/node

.PHONY: all install uninstall deb

all:
	npm ci --no-audit --no-fund
	npm run --silent build

install:
	@test -f $(BUNDLE)/stafd.mjs -a -f build/Release/stas_native.node || \
	  { echo 'make install: dist/bundle/ or the native addon is missing: run make first' >&2; exit 1; }
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(SBINDIR) $(DESTDIR)$(UNITDIR) \
	  $(DESTDIR)$(DBUSDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8 \
	  $(DESTDIR)$(SYSCONFDIR)/stas $(DESTDIR)$(COMPLETIONDIR) $(DESTDIR)$(DOCDIR)
	rm -rf $(DESTDIR)$(LIBDIR)
	install -d $(DESTDIR)$(LIBDIR)
	install -m 0644 $(BUNDLE)/*.mjs $(DESTDIR)$(LIBDIR)/
	install -m 0644 build/Release/stas_native.node $(DESTDIR)$(LIBDIR)/stas_native.node
	install -m 0644 $(BUNDLE)/THIRD-PARTY-LICENSES $(DESTDIR)$(DOCDIR)/
	# The daemons' young generation capped at 1 MiB per semi-space (README "Figures": stafd with a 65,536-entry log
	# stays at ~86 MiB instead of ~145 MiB; same CPU).
	for p in stafd stacd; do \
	  printf '#!/bin/sh\nexec %s $(DAEMON_NODE_FLAGS) %s/%s.mjs "$$@"\n' '$(NODE)' '$(LIBDIR)' $$p > $(DESTDIR)$(SBINDIR)/$$p; \
	  chmod 0755 $(DESTDIR)$(SBINDIR)/$$p; done
	for p in stafctl stacctl stasadm; do \
	  printf '#!/bin/sh\nexec %s %s/%s.mjs "$$@"\n' '$(NODE)' '$(LIBDIR)' $$p > $(DESTDIR)$(BINDIR)/$$p; \
	  chmod 0755 $(DESTDIR)$(BINDIR)/$$p; done
	for u in etc/systemd/*; do \
	  sed -e 's|@SBINDIR@|$(SBINDIR)|g' -e 's|@BINDIR@|$(BINDIR)|g' $$u > $(DESTDIR)$(UNITDIR)/$$(basename $$u); done
	install -m 0644 etc/dbus-1/system.d/*.conf $(DESTDIR)$(DBUSDIR)/
	install -m 0644 man/*.1 $(DESTDIR)$(MANDIR)/man1/
	install -m 0644 man/*.5 $(DESTDIR)$(MANDIR)/man5/
	install -m 0644 man/*.8 $(DESTDIR)$(MANDIR)/man8/
	for f in stafd.conf stacd.conf sys.conf.doc; do \
	  [ -e $(DESTDIR)$(SYSCONFDIR)/stas/$$f ] || install -m 0644 etc/stas/$$f $(DESTDIR)$(SYSCONFDIR)/stas/$$f; done
	if [ -d etc/bash-completion ]; then install -m 0644 etc/bash-completion/* $(DESTDIR)$(COMPLETIONDIR)/; fi

uninstall:
	rm -rf $(DESTDIR)$(LIBDIR) $(DESTDIR)$(DOCDIR)
	rm -f $(DESTDIR)$(SBINDIR)/stafd $(DESTDIR)$(SBINDIR)/stacd $(DESTDIR)$(BINDIR)/stafctl $(DESTDIR)$(BINDIR)/stacctl $(DESTDIR)$(BINDIR)/stasadm
	rm -f $(DESTDIR)$(UNITDIR)/stafd.service $(DESTDIR)$(UNITDIR)/stacd.service $(DESTDIR)$(UNITDIR)/stas-config@.service $(DESTDIR)$(UNITDIR)/stas-config.target
	rm -f $(DESTDIR)$(DBUSDIR)/org.nvmexpress.staf.conf $(DESTDIR)$(DBUSDIR)/org.nvmexpress.stac.conf

# A Debian package of what `make install` installs (PREFIX=/usr), with conffiles and maintainer scripts.
deb:
	@test -f $(BUNDLE)/stafd.mjs || { echo 'make deb: run make first' >&2; exit 1; }
	BUNDLE=$(BUNDLE) bash packaging/deb/build.sh $(DEBDIR)
