# Shared by the test VMs (scripts/cgroupv2-vm/, scripts/systemd-vm/); sourced,
# not run. Provides: the kernel of Debian's linux-image-cloud-amd64 (downloaded
# and unpacked under build/vm-kernel/, never installed), the pieces every
# initramfs holds (busybox applets, the test binaries, runc and its
# libraries), packing a tree into an uncompressed cpio, and one qemu run (TCG:
# KVM is unusable on these machines) whose guest reports on a second serial
# port. Needs `repo` set and the caller's `set -euo pipefail`.

vm_kernel_dir="$repo/build/vm-kernel"

# The package linux-image-cloud-amd64 depends on (the versioned kernel).
vm_kernel_pkg() {
    apt-cache depends linux-image-cloud-amd64 2>/dev/null |
        awk '$1 == "Depends:" && $2 ~ /^linux-image-/ { print $2; exit }'
}

# Download the kernel package and keep only its vmlinuz, once.
vm_fetch_kernel() {
    [[ -s "$vm_kernel_dir/vmlinuz" ]] && return 0
    local pkg dl
    pkg="$(vm_kernel_pkg)"
    if [[ -z "$pkg" ]]; then
        apt-get update -qq
        pkg="$(vm_kernel_pkg)"
    fi
    [[ -n "$pkg" ]] || { log "no kernel package behind linux-image-cloud-amd64"; return 1; }
    log "downloading $pkg"
    dl="$vm_kernel_dir.download"
    rm -rf "$dl" "$vm_kernel_dir"
    mkdir -p "$dl"
    (cd "$dl" && apt-get download -qq -o APT::Sandbox::User=root "$pkg")
    dpkg-deb -x "$dl"/"$pkg"_*.deb "$dl/root"
    mkdir -p "$vm_kernel_dir"
    mv "$dl"/root/boot/vmlinuz-* "$vm_kernel_dir/vmlinuz"
    echo "$pkg" >"$vm_kernel_dir/package"
    rm -rf "$dl"
}

# Busybox applets in TREE, each a link to /bin/busybox, except names already
# present and those in SKIP (space-separated applet names).
vm_add_busybox() {
    local tree="$1" skip=" ${2:-} " applet
    mkdir -p "$tree/bin"
    cp /bin/busybox "$tree/bin/busybox"
    /bin/busybox --list-full | while read -r applet; do
        [[ "$applet" == bin/busybox || "$skip" == *" ${applet##*/} "* ]] && continue
        [[ -e "$tree/$applet" || -L "$tree/$applet" ]] && continue
        mkdir -p "$tree/$(dirname "$applet")"
        ln -s /bin/busybox "$tree/$applet"
    done
}

# The test binaries from BIN into TREE/opt/berth, with the recorded client
# configs the seccomp cases read (SPEC_FIXTURES points there) and the
# payloads' progress helpers (guest-progress.sh).
vm_add_test_binaries() {
    local tree="$1" bin="$2" b
    mkdir -p "$tree/opt/berth/fixtures"
    for b in berth spec-tests berth-checker berth-console-recv; do
        cp "$bin/$b" "$tree/opt/berth/$b"
    done
    cp -r "$repo/spec-tests/fixtures/configs" "$tree/opt/berth/fixtures/"
    cp "$repo/scripts/vm/guest-progress.sh" "$tree/opt/berth/guest-progress.sh"
}

# Debian's runc into TREE, with the libraries TREE does not have yet.
vm_add_runc() {
    local tree="$1" lib
    mkdir -p "$tree/usr/sbin"
    cp /usr/sbin/runc "$tree/usr/sbin/runc"
    for lib in $(ldd /usr/sbin/runc | grep -o '/[^ ]*'); do
        [[ -e "$tree/$lib" ]] && continue
        mkdir -p "$tree/$(dirname "$lib")"
        cp -L "$lib" "$tree/$lib"
    done
}

# Pack DIR into the uncompressed newc cpio OUT (decompressing is slow under
# TCG). Archives may be concatenated: the kernel unpacks them in order.
vm_cpio() {
    (cd "$1" && find . | /bin/busybox cpio -o -H newc 2>/dev/null) >"$2"
}

# Kernel arguments both VMs boot with: the console shows errors and worse
# (a memory cgroup's or the system's OOM kill, a task blocked for 60 s, an
# RCU stall), so that a VM that stops making progress in CI leaves its
# cause in the log; informational messages stay in the kernel log.
vm_diag_args="quiet loglevel=4 sysctl.kernel.hung_task_timeout_secs=60"

# Boot the kernel with INITRD and kernel command line APPEND; the guest's
# console goes to CONSOLE (and, live, to stdout), its second serial port to
# STATUS. Waits for qemu to end, or kills it (by its pid) after TIMEOUT
# seconds. Sets vm_result to the first `RC=...` line of STATUS (empty if
# none) and returns 1 on a timeout. Installs an EXIT trap that stops qemu
# and then runs the caller's `vm_on_exit` command, if set.
vm_run_qemu() {
    local initrd="$1" append="$2" console="$3" status="$4" timeout="$5"
    local start timed_out=0
    rm -f "$console" "$status"
    vm_result=""
    vm_qemu_pid=""
    vm_tail_pid=""
    trap vm_cleanup EXIT
    trap 'exit 130' INT TERM
    qemu-system-x86_64 -accel tcg,thread=multi -cpu max -machine pc -m "${VM_MEM:-1024}" -smp 2 \
        -nodefaults -no-user-config -display none -no-reboot \
        -kernel "$vm_kernel_dir/vmlinuz" -initrd "$initrd" -append "$append" \
        -chardev "file,id=con,path=$console" -serial chardev:con \
        -serial "file:$status" </dev/null &
    vm_qemu_pid=$!
    start=$SECONDS
    # The guest's console, live (tail stops when qemu is gone).
    until [[ -e "$console" ]] || ! kill -0 "$vm_qemu_pid" 2>/dev/null; do sleep 0.1; done
    tail -n +1 -f --pid="$vm_qemu_pid" "$console" 2>/dev/null | sed -u 's/\r//' &
    vm_tail_pid=$!
    while kill -0 "$vm_qemu_pid" 2>/dev/null; do
        if ((SECONDS - start >= timeout)); then
            log "no result after $timeout s: killing qemu (pid $vm_qemu_pid)"
            timed_out=1
            vm_stop
            break
        fi
        sleep 1
    done
    wait "$vm_qemu_pid" 2>/dev/null || true
    vm_qemu_pid=""
    wait "$vm_tail_pid" 2>/dev/null || true
    vm_tail_pid=""
    vm_result="$(tr -d '\r' <"$status" 2>/dev/null | grep -o 'RC=.*' | head -n1 || true)"
    ((timed_out == 0))
}

# Stop qemu (by its pid) and the console's tail.
vm_stop() {
    if [[ -n "${vm_qemu_pid:-}" ]] && kill -0 "$vm_qemu_pid" 2>/dev/null; then
        kill "$vm_qemu_pid" 2>/dev/null || true
        sleep 1
        kill -KILL "$vm_qemu_pid" 2>/dev/null || true
    fi
    [[ -z "${vm_tail_pid:-}" ]] || wait "$vm_tail_pid" 2>/dev/null || true
    vm_tail_pid=""
}

vm_cleanup() {
    vm_stop
    [[ -z "${vm_on_exit:-}" ]] || eval "$vm_on_exit"
}
