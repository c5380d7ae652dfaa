#!/usr/bin/env bash
# Run the conformance suite with the systemd cgroup driver, under a real
# systemd as PID 1, in a small VM: qemu (TCG) with the kernel of
# scripts/vm/common.sh on pure cgroup v2 (cgroup_no_v1=all,
# systemd.unified_cgroup_hierarchy=1), from two concatenated initramfs
# archives: the cached base image of Debian's systemd 252 and D-Bus
# (image.sh), and this run's payload (the test binaries, Debian's runc,
# payload.sh, the arguments). systemd boots to berth-spec.target; once the
# system bus is up, berth-spec.service runs the suite in systemd mode
# (BERTH_SPEC_SYSTEMD=1: every runtime call carries --systemd-cgroup, cases
# get a `system.slice:berth-spec:<name>` cgroupsPath) on each runtime in
# turn, checks that no scope, slice or cgroup is left; then the containerd
# step (shim-check.sh): the base image's containerd 1.6 runs containers
# through each shim of SDVM_SHIMS with SystemdCgroup (scope, metrics, OOM,
# nothing left); it writes "RC=<worst> <runtime>=<exit>... shim-<name>=<failed
# checks>..." to the second serial port and powers off.
#
#   [BIN_DIR=DIR] [SDVM_RUNTIMES="berth runc"] [SDVM_SHIMS="berth runc"] \
#       [SDVM_TIMEOUT=900] scripts/systemd-vm/run.sh [spec-tests args]
#
# Arguments go to spec-tests; without any it runs the cases tagged
# `systemd`, `cgroup` or `cgroupv2` (a tag or filter that selects nothing
# fails the run). BIN_DIR is where `berth` comes from (default: this
# checkout's release dir, scripts/release_dir.py); spec-tests, berth-checker
# and berth-console-recv always come from this checkout's release dir.
# SDVM_RUNTIMES names the runtimes, in order: `runc` is Debian's
# /usr/sbin/runc (1.1.5, the reference), any other name a binary in BIN_DIR.
# SDVM_DRIVER_BENCH=N adds N interleaved `berth run true` with the cgroupfs
# driver and with --systemd-cgroup and prints their medians (the driver's
# cost per container; make bench-systemd).
# SDVM_SHIMS (default: SDVM_RUNTIMES; empty: no containerd step) names the
# shims: `berth` is BIN_DIR's containerd-shim-berth-v2 driving BIN_DIR's
# berth, `runc` containerd's runc v2 shim driving Debian's runc.
# Exits 0 only if every runtime passed and left nothing behind; non-zero if a
# case fails, something is left, or no result comes within SDVM_TIMEOUT
# seconds (qemu is then killed by its pid). SDVM_CGROUP picks the hierarchy
# systemd boots with: `v2` (default: pure cgroup v2), `hybrid` (v1
# controllers, systemd's own tree also on cgroup2 at /sys/fs/cgroup/unified:
# systemd.unified_cgroup_hierarchy=0) or `legacy` (v1 only, systemd's tree
# on the named v1 hierarchy: also systemd.legacy_systemd_cgroup_controller=1);
# systemd 252 boots both v1 layouts without further switches. Runs may
# overlap (each works in its own directory under build/systemd-vm). SDVM_KERNEL_ARGS is appended to
# the kernel command line (e.g. `systemd.log_level=debug`). The console is printed live and
# kept in build/systemd-vm/console.log (the last run's).
set -euo pipefail

if (($# == 0)); then
    set -- --tag systemd --tag cgroup --tag cgroupv2
fi

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
here="$repo/scripts/systemd-vm"
spec_bin="$(python3 "$repo/scripts/release_dir.py")"
bin="${BIN_DIR:-$spec_bin}"
build="$repo/build/systemd-vm"
runtimes="${SDVM_RUNTIMES:-berth runc}"
shims="${SDVM_SHIMS-$runtimes}"
timeout="${SDVM_TIMEOUT:-900}"
t0=$SECONDS

log() { echo "systemd-vm: $*" >&2; }
# shellcheck source=../vm/common.sh
. "$repo/scripts/vm/common.sh"

for b in spec-tests berth-checker berth-console-recv; do
    [[ -x "$spec_bin/$b" ]] || { log "missing $spec_bin/$b (run: cargo build --release --workspace)"; exit 1; }
done
for rt in $runtimes; do
    [[ "$rt" == runc || -x "$bin/$rt" ]] || { log "missing runtime $bin/$rt"; exit 1; }
done
for s in $shims; do
    case "$s" in
        runc) ;;
        berth) [[ -x "$bin/containerd-shim-berth-v2" ]] || { log "missing $bin/containerd-shim-berth-v2"; exit 1; } ;;
        *) log "SDVM_SHIMS names berth and runc only, not $s"; exit 1 ;;
    esac
done
bash "$repo/scripts/install-deps.sh" qemu-system-x86

vm_fetch_kernel
log "kernel $(cat "$vm_kernel_dir/package")"
t_image=$SECONDS
base="$(bash "$here/image.sh")"
log "base image $(basename "$base") ready in $((SECONDS - t_image)) s"

# This run's payload, unpacked over the base image. runc's libraries
# (libc6, libseccomp2) are in the base image's package list. Each run works
# in its own directory, so that runs (e.g. of two checkouts' berth) can
# overlap.
work="$(mktemp -d "$build/run.XXXXXX")"
vm_on_exit='rm -rf "$work"'
trap 'eval "$vm_on_exit"' EXIT
pd="$work/payload.d"
mkdir -p "$pd/opt/berth" "$pd/etc/berth-spec" "$pd/usr/sbin"
vm_add_test_binaries "$pd" "$spec_bin"
for rt in $runtimes; do
    [[ "$rt" == runc ]] || cp "$bin/$rt" "$pd/opt/berth/$rt"
done
cp /usr/sbin/runc "$pd/usr/sbin/runc"
install -m 0755 "$here/payload.sh" "$pd/opt/berth/payload.sh"
printf '%s\n' "$@" >"$pd/etc/berth-spec/args"
echo "$runtimes" >"$pd/etc/berth-spec/runtimes"
if [[ -n "$shims" || -n "${SDVM_DRIVER_BENCH:-}" ]]; then
    # The busybox rootfs for `ctr run --rootfs` and the driver bench
    # (bundles/busybox.sh, cached under build/bundles).
    bash "$repo/bundles/busybox.sh" "$repo/build/bundles/busybox" >/dev/null
    cp -a "$repo/build/bundles/busybox/rootfs" "$pd/opt/berth/rootfs"
fi
if [[ -n "$shims" ]]; then
    # The containerd step: berth's shim next to berth (it runs the berth
    # next to itself), the check script.
    if [[ " $shims " == *" berth "* ]]; then
        cp "$bin/containerd-shim-berth-v2" "$bin/berth" "$pd/opt/berth/"
    fi
    install -m 0755 "$here/shim-check.sh" "$pd/opt/berth/shim-check.sh"
    echo "$shims" >"$pd/etc/berth-spec/shims"
fi
if [[ -n "${SDVM_DRIVER_BENCH:-}" ]]; then
    cp "$bin/berth" "$pd/opt/berth/"
    echo "$SDVM_DRIVER_BENCH" >"$pd/etc/berth-spec/driver-bench"
fi
vm_cpio "$pd" "$work/payload.cpio"
cat "$base" "$work/payload.cpio" >"$work/initramfs.cpio"
rm -rf "$pd" "$work/payload.cpio"
log "initramfs $(du -m "$work/initramfs.cpio" | cut -f1) MiB; prepared in $((SECONDS - t0)) s"

case "${SDVM_CGROUP:-v2}" in
    v2) cgroup_args="cgroup_no_v1=all systemd.unified_cgroup_hierarchy=1" ;;
    hybrid) cgroup_args="systemd.unified_cgroup_hierarchy=0" ;;
    legacy) cgroup_args="systemd.unified_cgroup_hierarchy=0 systemd.legacy_systemd_cgroup_controller=1" ;;
    *) log "SDVM_CGROUP must be v2, hybrid or legacy, not ${SDVM_CGROUP}"; exit 1 ;;
esac
boot=$SECONDS
append="console=ttyS0 $vm_diag_args panic=-1 $cgroup_args"
append+=" systemd.show_status=error ${SDVM_KERNEL_ARGS:-}"
rc=0
VM_MEM=1536 vm_run_qemu "$work/initramfs.cpio" "$append" \
    "$work/console.log" "$work/status" "$timeout" || rc=1
cp "$work/console.log" "$build/console.log" 2>/dev/null || true
((rc == 0)) || exit 1
result="$vm_result"
log "VM ran $((SECONDS - boot)) s, total $((SECONDS - t0)) s; result: ${result:-none}"
[[ "$result" =~ ^RC=([0-9]+)((\ [^ =]+=[0-9]+)+)$ ]] || { log "no result from the guest"; exit 1; }
# On failure the failing checks again, last: CI shows the end of the output.
failures() {
    grep -a -A2 -E '^\[ *[0-9.]+\] (FAIL|== FAIL)|^== FAIL' "$build/console.log" | head -n 40 >&2
}
((BASH_REMATCH[1] == 0)) || { log "failed checks:"; failures; log "FAIL:${BASH_REMATCH[2]}"; exit 1; }
log "all green under systemd:${BASH_REMATCH[2]}"
