#!/usr/bin/env bash
# Run the conformance suite on a pure cgroup v2 kernel, in a small VM:
# qemu-system-x86 (TCG; KVM is unusable on these machines), the kernel of
# Debian's linux-image-cloud-amd64 (downloaded and unpacked under build/,
# never installed) and an initramfs of busybox-static holding the static
# berth, spec-tests and berth-checker, and Debian's runc with its libraries.
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

for b in berth spec-tests berth-checker berth-console-recv; do
    [[ -x "$bin/$b" ]] || { log "missing $bin/$b (run: cargo build --release --workspace)"; exit 1; }
done
bash "$repo/scripts/install-deps.sh" qemu-system-x86

# The kernel: the package linux-image-cloud-amd64 depends on, unpacked.
kernel_pkg() {
    apt-cache depends linux-image-cloud-amd64 2>/dev/null |
        awk '$1 == "Depends:" && $2 ~ /^linux-image-/ { print $2; exit }'
}
fetch_kernel() {
    local pkg dl
    pkg="$(kernel_pkg)"
    if [[ -z "$pkg" ]]; then
        apt-get update -qq
        pkg="$(kernel_pkg)"
    fi
    [[ -n "$pkg" ]] || { log "no kernel package behind linux-image-cloud-amd64"; return 1; }
    log "downloading $pkg"
    dl="$build/download"
    rm -rf "$dl" "$build/kernel"
    mkdir -p "$dl"
    (cd "$dl" && apt-get download -qq -o APT::Sandbox::User=root "$pkg")
    dpkg-deb -x "$dl"/"$pkg"_*.deb "$dl/root"
    mkdir -p "$build/kernel"
    mv "$dl"/root/boot/vmlinuz-* "$build/kernel/vmlinuz"
    echo "$pkg" >"$build/kernel/package"
    rm -rf "$dl"
}
[[ -s "$build/kernel/vmlinuz" ]] || fetch_kernel
log "kernel $(cat "$build/kernel/package")"

# The initramfs: busybox applets, the static binaries, runc with its
# libraries, /init and the suite's arguments. Uncompressed: decompressing
# is slow under TCG.
rd="$build/initramfs.d"
rm -rf "$rd"
mkdir -p "$rd"/{bin,sbin,usr/bin,usr/sbin,etc,opt/berth,proc,sys,dev,tmp,run}
cp /bin/busybox "$rd/bin/busybox"
/bin/busybox --list-full | while read -r applet; do
    [[ "$applet" == bin/busybox ]] || ln -s /bin/busybox "$rd/$applet"
done
for b in berth spec-tests berth-checker berth-console-recv; do
    cp "$bin/$b" "$rd/opt/berth/$b"
done
cp /usr/sbin/runc "$rd/usr/sbin/runc"
for lib in $(ldd /usr/sbin/runc | grep -o '/[^ ]*'); do
    mkdir -p "$rd/$(dirname "$lib")"
    cp -L "$lib" "$rd/$lib"
done
# The recorded client configs (the seccomp cases read them; init.sh points
# SPEC_FIXTURES here).
mkdir -p "$rd/opt/berth/fixtures"
cp -r "$repo/spec-tests/fixtures/configs" "$rd/opt/berth/fixtures/"
install -m 0755 "$here/init.sh" "$rd/init"
printf '%s\n' "$@" >"$rd/etc/spec-args"
(cd "$rd" && find . | /bin/busybox cpio -o -H newc 2>/dev/null) >"$build/initramfs.cpio"
log "initramfs $(du -m "$build/initramfs.cpio" | cut -f1) MiB; prepared in $((SECONDS - t0)) s"

console="$build/console.log"
status="$build/status"
rm -f "$console" "$status"
qemu_pid=""
tail_pid=""
cleanup() {
    if [[ -n "$qemu_pid" ]] && kill -0 "$qemu_pid" 2>/dev/null; then
        kill "$qemu_pid" 2>/dev/null || true
        sleep 1
        kill -KILL "$qemu_pid" 2>/dev/null || true
    fi
    [[ -z "$tail_pid" ]] || wait "$tail_pid" 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

qemu-system-x86_64 -accel tcg,thread=multi -cpu max -machine pc -m 1024 -smp 2 \
    -nodefaults -no-user-config -display none -no-reboot \
    -kernel "$build/kernel/vmlinuz" -initrd "$build/initramfs.cpio" \
    -append "console=ttyS0 quiet loglevel=3 panic=-1 cgroup_no_v1=all" \
    -chardev "file,id=con,path=$console" -serial chardev:con \
    -serial "file:$status" </dev/null &
qemu_pid=$!
boot=$SECONDS
# The guest's console, live in the log (tail stops when qemu is gone).
until [[ -e "$console" ]] || ! kill -0 "$qemu_pid" 2>/dev/null; do sleep 0.1; done
tail -n +1 -f --pid="$qemu_pid" "$console" 2>/dev/null | tr -d '\r' &
tail_pid=$!

timed_out=0
while kill -0 "$qemu_pid" 2>/dev/null; do
    if ((SECONDS - boot >= timeout)); then
        log "no result after $timeout s: killing qemu (pid $qemu_pid)"
        timed_out=1
        cleanup
        break
    fi
    sleep 1
done
wait "$qemu_pid" 2>/dev/null || true
qemu_pid=""
wait "$tail_pid" 2>/dev/null || true
tail_pid=""

result="$(tr -d '\r' <"$status" 2>/dev/null | grep -o 'RC=.*' | head -n1 || true)"
log "VM ran $((SECONDS - boot)) s, total $((SECONDS - t0)) s; result: ${result:-none}"
((timed_out == 0)) || exit 1
[[ "$result" =~ ^RC=([0-9]+)\ RUNC_RC=([0-9]+)$ ]] || { log "no result from the guest"; exit 1; }
berth_rc="${BASH_REMATCH[1]}"
runc_rc="${BASH_REMATCH[2]}"
((berth_rc == 0)) || { log "FAIL on berth (exit $berth_rc)"; exit 1; }
((runc_rc == 0)) || { log "FAIL on runc, the reference (exit $runc_rc): a wrong check"; exit 1; }
log "all green on cgroup v2, berth and runc"
