# berth — build, demo, test, bench. See README.md.
SHELL := /bin/bash
TARGET_DIR ?= target/x86_64-unknown-linux-gnu/release
BERTH := $(CURDIR)/$(TARGET_DIR)/berth
BUILD := $(CURDIR)/build
BUSYBOX_BUNDLE := $(BUILD)/bundles/busybox

.PHONY: all build deps demo test unit lint spec-tests spec-tests-runc test-cgroupv2 bench clean bundle

all: build

deps:
	bash scripts/install-deps.sh

build:
	cargo build --release --workspace

bundle: deps
	bash bundles/busybox.sh $(BUSYBOX_BUNDLE)

demo: deps build bundle
	$(BERTH) --root $(BUILD)/demo-root run --bundle $(BUSYBOX_BUNDLE) berth-demo-$$$$

unit:
	cargo test --workspace --release

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --release --all-targets -- -D warnings

spec-tests: deps build
	bash spec-tests/run.sh

# The same suite against Debian's runc: proves every check on the reference.
spec-tests-runc: deps build
	RUNTIME=/usr/sbin/runc bash spec-tests/run.sh

# The cgroup cases on a pure cgroup v2 kernel, berth and runc, in a small
# VM (qemu, TCG); caches the kernel under build/cgroupv2-vm. About 3 min.
test-cgroupv2: deps build
	bash scripts/cgroupv2-vm/run.sh

test: deps build lint unit spec-tests-runc spec-tests test-cgroupv2

bench: deps build bundle
	bash scripts/bench.sh

clean:
	cargo clean
	rm -rf $(BUILD)
