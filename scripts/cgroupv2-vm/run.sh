#!/usr/bin/env bash
# Run the conformance suite on a pure cgroup v2 kernel, in a small VM:
# qemu-system-x86 (TCG; KVM is unusable on these machines), the kernel of
# Debian's linux-image-cloud-amd64 (downloaded and unpacked under
# build/vm-kernel by scripts/vm/common.sh, never installed) and an initramfs
# of busybox-static holding the static berth, spec-tests and berth-checker,
# and Debian's runc with its libraries.
# The guest mounts cgroup2 alone at /sys/fs/cgroup, runs the suite against
# berth, then against runc, and writes "RC=<berth's exit> RUNC_RC=<runc's>"
# to its second serial port. Exits non-zero if a case fails on either
# runtime, if berth leaves a cgroup behind, or if no result comes within
# CGV2_TIMEOUT seconds (qemu is then killed by its pid).
#   scripts/cgroupv2-vm/run.sh [spec-tests args]
# Without arguments it runs the cases tagged `cgroup` or `cgroupv2` in the
# harness (spec-tests/src/harness/case.rs: the cgroup code, and the
# lifecycle, exec and seccomp around it; run_parallel_exit_status is left
# out for time: its 10 runc runs at once overrun the harness's 10 s command
# timeout under TCG), about 45 s on berth and 120 s on runc; a tag or filter
# that selects nothing fails the run. `--filter ''` runs the whole suite
# (about 6.5 min, more on a busy host: raise CGV2_TIMEOUT there).
set -euo pipefail

if (($# == 0)); then
    set -- --tag cgroup --tag cgroupv2
fi

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
here="$repo/scripts/cgroupv2-vm"
bin="$(python3 "$repo/scripts/release_dir.py")"
build="$repo/build/cgroupv2-vm"
timeout="${CGV2_TIMEOUT:-600}"
t0=$SECONDS

log() { echo "cgroupv2-vm: $*" >&2; }
# shellcheck source=../vm/common.sh
. "$repo/scripts/vm/common.sh"

for b in berth spec-tests berth-checker berth-console-recv; do
    [[ -x "$bin/$b" ]] || { log "missing $bin/$b (run: cargo build --release --workspace)"; exit 1; }
done
bash "$repo/scripts/install-deps.sh" qemu-system-x86

vm_fetch_kernel
log "kernel $(cat "$vm_kernel_dir/package")"

# The initramfs: busybox applets, the static binaries, runc with its
# libraries, /init and the suite's arguments. Uncompressed: decompressing
# is slow under TCG.
rd="$build/initramfs.d"
rm -rf "$rd"
mkdir -p "$rd"/{bin,sbin,usr/bin,usr/sbin,etc,opt/berth,proc,sys,dev,tmp,run}
vm_add_busybox "$rd"
vm_add_test_binaries "$rd" "$bin"
vm_add_runc "$rd"
install -m 0755 "$here/init.sh" "$rd/init"
printf '%s\n' "$@" >"$rd/etc/spec-args"
# CGV2_RUNC=0: berth only (make test; the runc run proves the checks and
# takes 120 s of the 180).
[[ "${CGV2_RUNC:-1}" != 0 ]] || touch "$rd/etc/skip-runc"
vm_cpio "$rd" "$build/initramfs.cpio"
log "initramfs $(du -m "$build/initramfs.cpio" | cut -f1) MiB; prepared in $((SECONDS - t0)) s"

boot=$SECONDS
vm_run_qemu "$build/initramfs.cpio" "console=ttyS0 $vm_diag_args panic=-1 cgroup_no_v1=all" \
    "$build/console.log" "$build/status" "$timeout" || exit 1
result="$vm_result"
log "VM ran $((SECONDS - boot)) s, total $((SECONDS - t0)) s; result: ${result:-none}"
[[ "$result" =~ ^RC=([0-9]+)\ RUNC_RC=([0-9]+|-)$ ]] || { log "no result from the guest"; exit 1; }
berth_rc="${BASH_REMATCH[1]}"
runc_rc="${BASH_REMATCH[2]}"
((berth_rc == 0)) || { log "FAIL on berth (exit $berth_rc)"; exit 1; }
if [[ $runc_rc == - ]]; then
    log "all green on cgroup v2, berth (runc not run: CGV2_RUNC=0)"
    exit 0
fi
((runc_rc == 0)) || { log "FAIL on runc, the reference (exit $runc_rc): a wrong check"; exit 1; }
log "all green on cgroup v2, berth and runc"
