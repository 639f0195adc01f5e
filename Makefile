# Install stas into $(DESTDIR)$(PREFIX) (e.g. make install PREFIX=/usr DESTDIR=/tmp/root for a package).
# Build first: npm ci (compiles TypeScript and the native addon): `make` does it.
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
NODE ?= /usr/bin/node

.PHONY: all install uninstall

all:
	npm ci --no-audit --no-fund
	npm run --silent build

install:
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(SBINDIR) $(DESTDIR)$(UNITDIR) \
	  $(DESTDIR)$(DBUSDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8 \
	  $(DESTDIR)$(SYSCONFDIR)/stas $(DESTDIR)$(COMPLETIONDIR)
	cp -r dist/src package.json $(DESTDIR)$(LIBDIR)/
	install -D -m 0755 build/Release/stas_native.node $(DESTDIR)$(LIBDIR)/build/Release/stas_native.node
	cd $(DESTDIR)$(LIBDIR) && npm install --omit=dev --ignore-scripts --no-audit --no-fund --no-package-lock >/dev/null
	for p in stafd stacd; do \
	  printf '#!/bin/sh\nexec %s %s/src/cli/%s.js "$$@"\n' '$(NODE)' '$(LIBDIR)' $$p > $(DESTDIR)$(SBINDIR)/$$p; \
	  chmod 0755 $(DESTDIR)$(SBINDIR)/$$p; done
	for p in stafctl stacctl stasadm; do \
	  printf '#!/bin/sh\nexec %s %s/src/cli/%s.js "$$@"\n' '$(NODE)' '$(LIBDIR)' $$p > $(DESTDIR)$(BINDIR)/$$p; \
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
	rm -rf $(DESTDIR)$(LIBDIR)
	rm -f $(DESTDIR)$(SBINDIR)/stafd $(DESTDIR)$(SBINDIR)/stacd $(DESTDIR)$(BINDIR)/stafctl $(DESTDIR)$(BINDIR)/stacctl $(DESTDIR)$(BINDIR)/stasadm
	rm -f $(DESTDIR)$(UNITDIR)/stafd.service $(DESTDIR)$(UNITDIR)/stacd.service $(DESTDIR)$(UNITDIR)/stas-config@.service $(DESTDIR)$(UNITDIR)/stas-config.target
	rm -f $(DESTDIR)$(DBUSDIR)/org.nvmexpress.staf.conf $(DESTDIR)$(DBUSDIR)/org.nvmexpress.stac.conf
