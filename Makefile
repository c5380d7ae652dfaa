# berth — build, demo, test, bench. See README.md.
SHELL := /bin/bash
# The release binaries (the target triple is read from .cargo/config.toml).
BIN_DIR ?= $(shell python3 scripts/release_dir.py)
BERTH := $(BIN_DIR)/berth
BUILD := $(CURDIR)/build
BUSYBOX_BUNDLE := $(BUILD)/bundles/busybox

.PHONY: all build deps deps-e2e demo test unit lint fuzz spec-tests spec-tests-many-mounts spec-tests-runc robustness e2e e2e-image test-cgroupv2 test-systemd test-systemd-v1 bench bench-e2e bench-shim clean bundle fixtures

all: build

deps:
	bash scripts/install-deps.sh

# containerd, Docker and podman for the end-to-end tests (make e2e); the CNI
# plugins for the CRI scenario's pod network.
deps-e2e: deps
	bash scripts/install-deps.sh containerd docker.io podman containernetworking-plugins

build:
	cargo build --release --workspace

bundle: deps
	bash bundles/busybox.sh $(BUSYBOX_BUNDLE)

demo: deps build bundle
	$(BERTH) --root $(BUILD)/demo-root run --bundle $(BUSYBOX_BUNDLE) berth-demo-$$$$

# Tests that need root are #[ignore = "needs root…"], so a non-root
# `cargo test` lists them as ignored, never as passed; as root, make unit
# runs them after the others (not the doc tests, whose `ignore` blocks are
# no tests; not the cgroup benchmark).
# Built with the `unit` profile (Cargo.toml): tests need unwinding, so they
# cannot share the release build, and a light second build is 2x cheaper.
unit:
	cargo test --workspace --profile unit
ifeq ($(shell id -u),0)
	cargo test --workspace --profile unit --lib --bins --tests -- --ignored --skip bench_create_apply_destroy
endif

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --release --all-targets -- -D warnings

# cargo-fuzz smoke run: each fuzz target for FUZZ_SECONDS (scripts/fuzz.sh).
FUZZ_SECONDS ?= 60
FUZZ_PROFILE ?= release
fuzz:
	FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_PROFILE=$(FUZZ_PROFILE) bash scripts/fuzz.sh

spec-tests: deps build
	bash spec-tests/run.sh

# The same suite in a mount namespace with 2048 extra mounts: every
# container takes the compact mount namespace (docs/architecture.md §4.5).
spec-tests-many-mounts: deps build
	bash scripts/with-many-mounts.sh 2048 bash spec-tests/run.sh

# The same suite against Debian's runc: proves every check on the reference.
spec-tests-runc: deps build
	RUNTIME=/usr/sbin/runc bash spec-tests/run.sh

# Fault injection (SIGKILL of create/start/exec/run/delete mid-way), churn
# (1000 lifecycles in 3 streams) and the ownership rule (a foreign sleeper
# survives every cgroup scenario); each checks that nothing is left behind.
robustness: deps build bundle
	python3 scripts/robustness/faults.py
	python3 scripts/robustness/churn.py
	python3 scripts/robustness/ownership.py

# berth under real clients: private containerd, dockerd and podman instances
# run the busybox image made offline from Debian's busybox-static.
e2e-image: bundle
	python3 scripts/e2e/image.py $(BUSYBOX_BUNDLE)/rootfs $(BUILD)/e2e/busybox.tar busybox:latest

# The client configs under spec-tests/fixtures/ (what Docker, containerd's
# ctr and podman pass to the runtime), recorded through private daemons.
fixtures: deps-e2e build e2e-image
	bash scripts/fixtures/capture.sh

e2e: deps-e2e build e2e-image
	bash scripts/e2e/run.sh

# The cgroup cases on a pure cgroup v2 kernel, berth and runc, in a small
# VM (qemu, TCG); caches the kernel under build/vm-kernel. About 3 min.
test-cgroupv2: deps build
	bash scripts/cgroupv2-vm/run.sh

# The cgroup cases with the systemd cgroup driver (--systemd-cgroup) under
# Debian's systemd as PID 1, berth then runc, in a small VM (qemu, TCG);
# then containerd 1.6 with berth's shim and with its runc shim, both with
# SystemdCgroup (scripts/systemd-vm/shim-check.sh). Caches the kernel and
# the systemd image under build/. About 6 min.
test-systemd: deps build
	bash scripts/systemd-vm/run.sh

# The systemd driver's cases on cgroup v1 (systemd 252 booted hybrid:
# systemd.unified_cgroup_hierarchy=0), berth only, and the containerd step
# with both shims, in the same VM. About 70 s.
test-systemd-v1: deps build
	SDVM_CGROUP=hybrid SDVM_RUNTIMES=berth SDVM_SHIMS="berth runc" bash scripts/systemd-vm/run.sh --filter systemd_

# Each stage in turn, with its wall time (CI's budget is watched from these).
# make test's fuzz stage is a smoke run: 30 s per target on unoptimised
# builds (make fuzz alone: FUZZ_SECONDS 60, release builds); the pure v2 VM
# runs the cases on berth only (make test-cgroupv2 alone: berth and runc).
TEST_STAGES := lint unit fuzz spec-tests-runc spec-tests spec-tests-many-mounts robustness test-cgroupv2 test-systemd test-systemd-v1 e2e
TEST_FUZZ_SECONDS ?= 30
test: deps build
	@for stage in $(TEST_STAGES); do \
		t0=$$(date +%s); \
		$(MAKE) --no-print-directory $$stage FUZZ_SECONDS=$(TEST_FUZZ_SECONDS) FUZZ_PROFILE=dev CGV2_RUNC=0 || { echo "==== make $$stage failed after $$(( $$(date +%s) - t0 )) s"; exit 1; }; \
		echo "==== make $$stage: $$(( $$(date +%s) - t0 )) s"; \
	done

bench: deps build bundle
	bash scripts/bench.sh

# docker run / ctr run through berth, runc and crun (private daemons).
bench-e2e: deps-e2e build e2e-image
	bash scripts/e2e/bench.sh

# berth's containerd shim against containerd's runc shim: latency, memory, threads.
bench-shim: deps-e2e build e2e-image
	bash scripts/e2e/bench-shim.sh

# 1000 containers under one root and ~100 000 mounts (scripts/bench_scale.py):
# a few minutes (populating and removing 3 × 1000 containers), so not in
# `make bench`.
.PHONY: bench-scale
bench-scale: deps build bundle
	bash scripts/bench-scale.sh

# The systemd cgroup driver's cost per container: `run true` with cgroupfs
# and with --systemd-cgroup, berth and runc, under systemd in the VM (one
# quick case of the suite runs too; about 2 min). Prints the medians.
.PHONY: bench-systemd
bench-systemd: deps build
	SDVM_DRIVER_BENCH=20 SDVM_RUNTIMES=berth SDVM_SHIMS= bash scripts/systemd-vm/run.sh --filter systemd_malformed_cgroups_path

# Regenerates runtime/link-order.txt, berth's function layout (perf-guided;
# scripts/link-order.sh): after changing the start-up path. About 10 min.
.PHONY: link-order
link-order: deps build bundle
	bash scripts/link-order.sh

clean:
	cargo clean
	rm -rf $(BUILD)
