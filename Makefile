# semailctl: the two set-up commands are `make demo` and `make test`.
# Both install what is missing (apt), build, and clean up what they start.
SWIFT ?= swift
# The module graph is the architecture: fail the build when a target imports a
# module it does not declare (SwiftPM alone finds any module already built).
BUILD_FLAGS ?= --explicit-target-dependency-import-check error
.PHONY: all deps build-deps build lint format release man completions install uninstall deb installtest test demo bench clean

# `make install`: PREFIX and DESTDIR as usual; the configuration always goes to
# /etc/semail (where the binary looks for it), whatever the prefix.
PREFIX ?= /usr/local
DESTDIR ?=
SYSCONFDIR ?= /etc
UNITDIR ?= $(PREFIX)/lib/systemd/system
# zsh reads /usr/share/zsh/vendor-completions (packages) and
# /usr/local/share/zsh/site-functions (local installs), not the other two.
ZSHCOMPDIR ?= $(if $(filter /usr,$(PREFIX)),$(PREFIX)/share/zsh/vendor-completions,$(PREFIX)/share/zsh/site-functions)
# The one version: the string `semailctl --version` prints.
VERSION := $(shell sed -n 's/^ *version: "\([^"]*\)",.*/\1/p' Sources/Commands/Semailctl.swift)
RELEASE_BIN = .build/release/semailctl
# Man pages come from swift-argument-parser's generate-manual plugin run on the
# debug build (the same command tree; the plugin's own build would otherwise
# replace the static release binary). MAN_SCRATCH=.build-man: a separate tree.
MAN_SCRATCH ?= .build
MAN_OUT = $(MAN_SCRATCH)/plugins/GenerateManual/outputs/semailctl
MAN_DATE := $(shell git log -1 --format=%cs 2>/dev/null)

all: build

deps:
	@bash scripts/deps.sh

# Only the build's own packages (the -dev libraries): what `make install` needs.
build-deps:
	@bash scripts/deps.sh build

build: deps
	$(SWIFT) build $(BUILD_FLAGS)

# Every test: unit tests and integration tests against real slapd, named,
# dockerd, loop devices (started and removed by the test harness), then the
# LVM scenarios inside a QEMU guest.
test: deps lint
	SWIFT=$(SWIFT) bash scripts/build-checked.sh $(BUILD_FLAGS)
	$(SWIFT) test --skip-build $(BUILD_FLAGS)
	bash scripts/webtest.sh
	@if [ -x scripts/vmtest.sh ]; then bash scripts/vmtest.sh; fi
	@if [ -x scripts/installtest.sh ]; then bash scripts/installtest.sh; fi

# The layout .swift-format describes (4 spaces, lines up to 120 columns);
# `make format` rewrites the tree to it.
lint:
	$(SWIFT) format lint --strict -r --parallel Sources Tests Package.swift

format:
	$(SWIFT) format format -i -r --parallel Sources Tests Package.swift

demo: build
	bash scripts/demo.sh

# Benchmarks use the release binary, Swift runtime linked statically (start-up time counts).
release: build-deps
	$(SWIFT) build -c release --static-swift-stdlib --product semailctl
	$(SWIFT) build -c release --static-swift-stdlib --product semail-web

bench: release
	@for b in bench/*.sh; do echo "== $$b"; SEMAILCTL=$(CURDIR)/.build/release/semailctl bash "$$b" || exit 1; done

# Section 8 man pages, one per command (semailctl.8, semailctl.mailbox.create.8, ...).
man: build-deps
	rm -rf $(MAN_OUT)
	$(SWIFT) package --scratch-path $(MAN_SCRATCH) generate-manual --configuration debug --multi-page --section 8 $(if $(MAN_DATE),--date $(MAN_DATE))

completions: release
	mkdir -p .build/completions
	$(RELEASE_BIN) --generate-completion-script bash > .build/completions/semailctl
	$(RELEASE_BIN) --generate-completion-script zsh > .build/completions/_semailctl
	$(RELEASE_BIN) --generate-completion-script fish > .build/completions/semailctl.fish

# Binary (stripped) in sbin, data in share/semail, man pages, completions, the
# systemd units (never enabled), and /etc/semail/semail.toml only when absent.
install: release man completions
	install -d $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(PREFIX)/share/semail/templates \
	  $(DESTDIR)$(PREFIX)/share/semail/schema $(DESTDIR)$(PREFIX)/share/semail/examples \
	  $(DESTDIR)$(PREFIX)/share/man/man8 $(DESTDIR)$(PREFIX)/share/doc/semailctl \
	  $(DESTDIR)$(PREFIX)/share/bash-completion/completions $(DESTDIR)$(ZSHCOMPDIR) \
	  $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d $(DESTDIR)$(UNITDIR)
	install -m 0755 -s $(RELEASE_BIN) $(DESTDIR)$(PREFIX)/sbin/semailctl
	install -m 0755 -s .build/release/semail-web $(DESTDIR)$(PREFIX)/sbin/semail-web
	install -m 0644 packaging/nginx/semail-web.conf $(DESTDIR)$(PREFIX)/share/semail/examples/nginx-semail-web.conf
	install -m 0644 packaging/logrotate/semailctl $(DESTDIR)$(PREFIX)/share/semail/examples/logrotate-semailctl
	install -d $(DESTDIR)$(PREFIX)/lib/sysusers.d
	install -m 0644 packaging/sysusers/semail-web.conf $(DESTDIR)$(PREFIX)/lib/sysusers.d/semail-web.conf
	install -m 0644 templates/* $(DESTDIR)$(PREFIX)/share/semail/templates/
	install -m 0644 schema/* $(DESTDIR)$(PREFIX)/share/semail/schema/
	install -m 0644 packaging/semail.toml $(DESTDIR)$(PREFIX)/share/semail/examples/semail.toml
	install -m 0644 README.md SECURITY.md $(DESTDIR)$(PREFIX)/share/doc/semailctl/
	install -m 0644 $(MAN_OUT)/*.8 $(DESTDIR)$(PREFIX)/share/man/man8/
	install -m 0644 .build/completions/semailctl $(DESTDIR)$(PREFIX)/share/bash-completion/completions/semailctl
	install -m 0644 .build/completions/_semailctl $(DESTDIR)$(ZSHCOMPDIR)/_semailctl
	install -m 0644 .build/completions/semailctl.fish $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/semailctl.fish
	cd packaging/systemd && find . -type f \( -name '*.service' -o -name '*.timer' -o -name '*.socket' \
	  -o -name '*.path' -o -name '*.mount' -o -name '*.target' -o -name '*.conf' \) | sort | while read -r f; do \
	  install -d "$(DESTDIR)$(UNITDIR)/$$(dirname "$$f")" && \
	  sed -E 's#(^|[=[:space:]"])(/usr)?(/local)?/s?bin/(semailctl|semail-web)\b#\1$(PREFIX)/sbin/\4#g' "$$f" > "$(DESTDIR)$(UNITDIR)/$$f" && \
	  chmod 0644 "$(DESTDIR)$(UNITDIR)/$$f" || exit 1; done
	[ -d $(DESTDIR)$(SYSCONFDIR)/semail ] || install -d -m 0755 $(DESTDIR)$(SYSCONFDIR)/semail
	# The portal's one privilege, naming this prefix's semailctl; visudo checks it before it is put in place.
	install -d -m 0750 $(DESTDIR)$(SYSCONFDIR)/sudoers.d
	sed 's#/usr/sbin/semailctl#$(PREFIX)/sbin/semailctl#; s#/etc/semail/semail\\.toml#$(SYSCONFDIR)/semail/semail\\.toml#' packaging/sudoers/semail-web > .build/sudoers-semail-web
	if command -v visudo >/dev/null; then visudo -cqf .build/sudoers-semail-web; fi
	install -m 0440 $$([ "$$(id -u)" = 0 ] && echo "-o 0 -g 0") .build/sudoers-semail-web \
	  $(DESTDIR)$(SYSCONFDIR)/sudoers.d/semail-web
	# The portal's user, on this host (a package makes it in its postinst).
	if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ] && ! id semail-web >/dev/null 2>&1; then \
	  useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin semail-web; fi
	@if [ -e $(DESTDIR)$(SYSCONFDIR)/semail/semail.toml ]; then \
	  echo "install: keeping $(DESTDIR)$(SYSCONFDIR)/semail/semail.toml (the new example: $(PREFIX)/share/semail/examples/semail.toml)"; \
	else \
	  install -m 0600 $$([ "$$(id -u)" = 0 ] && echo "-o 0 -g 0") packaging/semail.toml $(DESTDIR)$(SYSCONFDIR)/semail/semail.toml; fi

# Removes what `make install` put there, except /etc/semail (and never state or mail).
uninstall:
	rm -f $(DESTDIR)$(PREFIX)/sbin/semail-web $(DESTDIR)$(PREFIX)/share/semail/examples/nginx-semail-web.conf \
	  $(DESTDIR)$(PREFIX)/lib/sysusers.d/semail-web.conf $(DESTDIR)$(SYSCONFDIR)/sudoers.d/semail-web
	-rmdir $(DESTDIR)$(PREFIX)/lib/sysusers.d 2>/dev/null
	rm -f $(DESTDIR)$(PREFIX)/sbin/semailctl $(DESTDIR)$(PREFIX)/share/man/man8/semailctl.*8 \
	  $(DESTDIR)$(PREFIX)/share/bash-completion/completions/semailctl $(DESTDIR)$(ZSHCOMPDIR)/_semailctl \
	  $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/semailctl.fish
	cd templates && for f in *; do rm -f "$(DESTDIR)$(PREFIX)/share/semail/templates/$$f"; done
	cd schema && for f in *; do rm -f "$(DESTDIR)$(PREFIX)/share/semail/schema/$$f"; done
	rm -f $(DESTDIR)$(PREFIX)/share/semail/examples/semail.toml $(DESTDIR)$(PREFIX)/share/semail/examples/logrotate-semailctl $(DESTDIR)$(PREFIX)/share/doc/semailctl/README.md \
	  $(DESTDIR)$(PREFIX)/share/doc/semailctl/SECURITY.md
	-rmdir $(DESTDIR)$(PREFIX)/share/semail/templates $(DESTDIR)$(PREFIX)/share/semail/schema \
	  $(DESTDIR)$(PREFIX)/share/semail/examples $(DESTDIR)$(PREFIX)/share/semail $(DESTDIR)$(PREFIX)/share/doc/semailctl 2>/dev/null
	cd packaging/systemd && find . -type f \( -name '*.service' -o -name '*.timer' -o -name '*.socket' \
	  -o -name '*.path' -o -name '*.mount' -o -name '*.target' -o -name '*.conf' \) | while read -r f; do \
	  rm -f "$(DESTDIR)$(UNITDIR)/$$f"; rmdir "$$(dirname "$(DESTDIR)$(UNITDIR)/$$f")" 2>/dev/null || true; done

# A Debian package of the same tree (PREFIX=/usr) in .build/deb/.
deb: deps
	rm -rf .build/deb/root
	$(MAKE) install DESTDIR=$(CURDIR)/.build/deb/root PREFIX=/usr
	bash scripts/mkdeb.sh .build/deb/root $(VERSION) .build/deb

installtest: deps
	bash scripts/installtest.sh

clean:
	rm -rf .build .build-man
