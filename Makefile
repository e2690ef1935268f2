# semailctl: the two set-up commands are `make demo` and `make test`.
# Both install what is missing (apt), build, and clean up what they start.
SWIFT ?= swift
BUILD_FLAGS ?=
.PHONY: all deps build release test demo bench clean

all: build

deps:
	@bash scripts/deps.sh

build: deps
	$(SWIFT) build $(BUILD_FLAGS)

# Every test: unit tests and integration tests against real slapd, named,
# dockerd, loop devices (started and removed by the test harness), then the
# LVM scenarios inside a QEMU guest.
test: deps
	$(SWIFT) build --build-tests $(BUILD_FLAGS)
	$(SWIFT) test --skip-build $(BUILD_FLAGS)
	@if [ -x scripts/vmtest.sh ]; then bash scripts/vmtest.sh; fi

demo: build
	bash scripts/demo.sh

# Benchmarks use the release binary, Swift runtime linked statically (start-up time counts).
release: deps
	$(SWIFT) build -c release --static-swift-stdlib --product semailctl

bench: release
	@for b in bench/*.sh; do echo "== $$b"; SEMAILCTL=$(CURDIR)/.build/release/semailctl bash "$$b" || exit 1; done

clean:
	rm -rf .build
