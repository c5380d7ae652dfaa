#!/usr/bin/env bash
# Build an OCI bundle with a busybox rootfs (Debian's busybox-static).
#
#   bundles/busybox.sh OUT_DIR [ARGS...]
#
# OUT_DIR/rootfs      busybox + one symlink per applet, minimal /etc
# OUT_DIR/config.json written below; process.args = ARGS (default: echo Hello)
#
# Re-running is cheap: the rootfs is rebuilt only when busybox or this recipe
# changes, and config.json is rewritten only when its content would change.
set -euo pipefail

BUSYBOX=${BUSYBOX:-/bin/busybox}
RECIPE_VERSION=1   # bump when the rootfs layout below changes

die() { echo "busybox.sh: $*" >&2; exit 1; }

[[ $# -ge 1 && -n $1 ]] || die "usage: $0 OUT_DIR [ARGS...]"
out=$1
shift
[[ -x $BUSYBOX ]] || die "$BUSYBOX not found (install busybox-static: scripts/install-deps.sh)"
# Only the static build works inside an empty rootfs.
if ldd "$BUSYBOX" >/dev/null 2>&1; then
    die "$BUSYBOX is dynamically linked; install busybox-static"
fi

mkdir -p "$out"
rootfs=$out/rootfs
stamp=$out/.rootfs-stamp
want_stamp="recipe=$RECIPE_VERSION busybox=$(sha256sum "$BUSYBOX" | cut -d' ' -f1)"

build_rootfs() {
    local tmp=$out/rootfs.tmp
    rm -rf "$tmp"
    mkdir -p "$tmp"/{bin,etc,proc,sys,dev,tmp,root,usr,home/user}
    chmod 1777 "$tmp/tmp"
    chmod 700 "$tmp/root"
    chown 1000:1000 "$tmp/home/user"
    install -m 0755 "$BUSYBOX" "$tmp/bin/busybox"
    local applet
    while read -r applet; do
        [[ -n $applet && $applet != busybox && $applet != */* ]] || continue
        ln -s busybox "$tmp/bin/$applet"
    done < <("$BUSYBOX" --list)
    ln -s bin "$tmp/sbin"
    ln -s ../bin "$tmp/usr/bin"
    ln -s ../bin "$tmp/usr/sbin"

    cat >"$tmp/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
user:x:1000:1000:user:/home/user:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
    cat >"$tmp/etc/group" <<'EOF'
root:x:0:
tty:x:5:
user:x:1000:
nobody:x:65534:
EOF
    echo berth >"$tmp/etc/hostname"

    rm -rf "$rootfs"
    mv "$tmp" "$rootfs"
    echo "$want_stamp" >"$stamp"
}

if [[ ! -d $rootfs || ! -f $stamp || $(<"$stamp") != "$want_stamp" ]]; then
    build_rootfs
fi

# config.json: generated here, replaced only if different.
python3 - "$out/config.json" "$@" <<'PY'
import json, os, sys

path, args = sys.argv[1], sys.argv[2:] or ["echo", "Hello from berth"]

caps = sorted([
    "CAP_AUDIT_WRITE", "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER",
    "CAP_FSETID", "CAP_KILL", "CAP_MKNOD", "CAP_NET_BIND_SERVICE",
    "CAP_NET_RAW", "CAP_SETFCAP", "CAP_SETGID", "CAP_SETPCAP",
    "CAP_SETUID", "CAP_SYS_CHROOT",
])

def mount(dest, typ, opts, source=None):
    return {"destination": dest, "type": typ, "source": source or typ,
            "options": opts}

config = {
    "ociVersion": "1.0.2",
    "process": {
        "terminal": False,
        "user": {"uid": 0, "gid": 0},
        "args": args,
        "env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
        "cwd": "/",
        "capabilities": {"bounding": caps, "effective": caps,
                         "permitted": caps},
        "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
        "noNewPrivileges": True,
    },
    "root": {"path": "rootfs", "readonly": True},
    "hostname": "berth",
    "mounts": [
        mount("/proc", "proc", ["nosuid", "noexec", "nodev"]),
        mount("/dev", "tmpfs",
              ["nosuid", "strictatime", "mode=755", "size=65536k"]),
        mount("/dev/pts", "devpts",
              ["nosuid", "noexec", "newinstance", "ptmxmode=0666",
               "mode=0620", "gid=5"]),
        mount("/dev/shm", "tmpfs",
              ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
              source="shm"),
        mount("/dev/mqueue", "mqueue", ["nosuid", "noexec", "nodev"]),
        mount("/sys", "sysfs", ["nosuid", "noexec", "nodev", "ro"]),
    ],
    "linux": {
        "namespaces": [{"type": t} for t in
                       ("pid", "network", "ipc", "uts", "mount", "cgroup")],
        "maskedPaths": [
            "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
            "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
            "/proc/sched_debug", "/proc/scsi", "/sys/firmware",
            "/sys/devices/virtual/powercap",
        ],
        "readonlyPaths": [
            "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
            "/proc/sysrq-trigger",
        ],
    },
}

text = json.dumps(config, indent=2) + "\n"
try:
    with open(path) as f:
        if f.read() == text:
            sys.exit(0)
except FileNotFoundError:
    pass
with open(path + ".tmp", "w") as f:
    f.write(text)
os.replace(path + ".tmp", path)
PY
