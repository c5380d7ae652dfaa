#!/usr/bin/env bash
# The base image of the systemd test VM: Debian's systemd and D-Bus with the
# libraries they link and containerd 1.6 (containerd, ctr, its runc v2
# shim), unpacked from Debian packages (`apt-get download` + `dpkg-deb
# --fsys-tarfile`; nothing is installed on the host), busybox's applets,
# the units in this directory and /init (init.sh), packed as an
# uncompressed cpio. Cached as build/systemd-vm/base-<key>.cpio, where the
# key hashes this script (so the package list) and the files it copies in;
# rebuilt only when one of them changes. Prints the cpio's path.
#   scripts/systemd-vm/image.sh
set -euo pipefail

# What systemd 252 (bookworm) and dbus-daemon link, found with ldd on a
# bookworm host; the build checks that every binary's libraries resolve in
# the tree, so a missing one fails here, not in the guest.
packages=(
    systemd libsystemd-shared libsystemd0
    dbus dbus-daemon dbus-system-bus-common libdbus-1-3 libexpat1
    libc6 libgcc-s1 libacl1 libapparmor1 libaudit1 libaudit-common libblkid1
    libcap-ng0 libcap2 libcrypt1 libgcrypt20 libgpg-error0 libip4tc2 libkmod2
    liblz4-1 liblzma5 libmount1 libpam0g libpcre2-8-0 libseccomp2 libselinux1
    libssl3 libzstd1
    # The containerd step (shim-check.sh): containerd 1.6, ctr and its
    # runc v2 shim (Go binaries that link libc alone).
    containerd
)

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
here="$repo/scripts/systemd-vm"
build="$repo/build/systemd-vm"
log() { echo "systemd-vm: $*" >&2; }
# shellcheck source=../vm/common.sh
. "$repo/scripts/vm/common.sh"

mkdir -p "$build"
# One build at a time (runs may overlap).
exec 9>"$build/image.lock"
flock 9
inputs=("${BASH_SOURCE[0]}" "$here/init.sh" "$here/berth-spec.service" "$here/berth-spec.target")
key="$(cat "${inputs[@]}" /bin/busybox | sha256sum | cut -c1-16)"
out="$build/base-$key.cpio"
if [[ -s "$out" ]]; then
    echo "$out"
    exit 0
fi
t0=$SECONDS

download() {
    local dl="$1"
    (cd "$dl" && apt-get download -qq -o APT::Sandbox::User=root "${packages[@]}")
}

# Every executable and shared object under the tree's /usr: its libraries
# must resolve inside the tree (run through the tree's own loader).
check_libraries() {
    local tree="$1" missing
    missing="$(cd "$tree" && find usr/bin usr/lib/systemd usr/lib/x86_64-linux-gnu -type f \
        \( -perm -u+x -o -name '*.so*' \) | while read -r f; do
        head -c 4 "$f" | grep -q ELF || continue
        chroot "$tree" /lib64/ld-linux-x86-64.so.2 --list "/$f" 2>&1 |
            grep 'not found' | sed "s|^|/$f: |" || true
    done)"
    [[ -z "$missing" ]] || { log "libraries missing from the image:"; echo "$missing" >&2; return 1; }
}

# Units of a stock boot that a RAM-only test VM without udev or modules does
# not need; masked, they cost no time under TCG.
masked=(
    proc-sys-fs-binfmt_misc.automount dev-hugepages.mount sys-kernel-debug.mount
    sys-kernel-tracing.mount sys-kernel-config.mount sys-fs-fuse-connections.mount
    modprobe@configfs.service modprobe@dm_mod.service modprobe@fuse.service
    modprobe@loop.service modprobe@drm.service modprobe@efi_pstore.service
    systemd-modules-load.service systemd-random-seed.service
    systemd-update-utmp.service systemd-journal-flush.service
    systemd-tmpfiles-clean.timer systemd-pstore.service systemd-repart.service
    systemd-firstboot.service systemd-hwdb-update.service ldconfig.service
)

# The system configuration: a root user (systemd-sysusers adds the rest),
# a fixed machine id (no first-boot preset run), the default target, the
# masks.
configure() {
    local tree="$1"
    mkdir -p "$tree"/{etc/systemd/system,proc,sys,dev,run,tmp,root,opt/berth}
    chmod 1777 "$tree/tmp"
    echo "root:x:0:0:root:/root:/bin/sh" >"$tree/etc/passwd"
    echo "root:x:0:" >"$tree/etc/group"
    echo "berth-sd" >"$tree/etc/hostname"
    echo "6265727468737973746d6476d0000001" >"$tree/etc/machine-id"
    printf 'ID=debian\nNAME="berth systemd VM"\n' >"$tree/usr/lib/os-release"
    install -m 0644 "$here/berth-spec.service" "$here/berth-spec.target" "$tree/etc/systemd/system/"
    ln -sf berth-spec.target "$tree/etc/systemd/system/default.target"
    install -m 0755 "$here/init.sh" "$tree/init"
    local u
    for u in "${masked[@]}"; do ln -s /dev/null "$tree/etc/systemd/system/$u"; done
}

rm -rf "$build"/base-*.cpio "$build/base.d" "$build/debs"
mkdir -p "$build/debs" "$build/base.d"
tree="$build/base.d"
if ! download "$build/debs"; then
    apt-get update -qq
    download "$build/debs"
fi
# Merged /usr, as on bookworm: the packages' /lib and /bin land in /usr.
mkdir -p "$tree"/usr/{bin,sbin,lib,lib64}
for d in bin sbin lib lib64; do ln -s "usr/$d" "$tree/$d"; done
for deb in "$build"/debs/*.deb; do
    dpkg-deb --fsys-tarfile "$deb" | tar -x --keep-directory-symlink -C "$tree"
done
rm -rf "$tree"/usr/share/{doc,man,info,locale,lintian,bash-completion,zsh} \
    "$tree"/usr/lib/x86_64-linux-gnu/gconv
# containerd's older shims (v1 and the shim API's first version): unused.
rm -f "$tree"/usr/bin/containerd-shim "$tree"/usr/bin/containerd-shim-runc-v1
check_libraries "$tree"
# systemd's poweroff, not busybox's; no busybox init.
vm_add_busybox "$tree" "init linuxrc poweroff reboot halt"
configure "$tree"
vm_cpio "$tree" "$out.tmp"
mv "$out.tmp" "$out"
rm -rf "$build/debs" "$tree"
log "base image $(du -m "$out" | cut -f1) MiB (${#packages[@]} packages) built in $((SECONDS - t0)) s"
echo "$out"
