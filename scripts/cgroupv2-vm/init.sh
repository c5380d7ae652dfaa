#!/bin/busybox sh
# /init of the cgroup v2 test VM (see run.sh). Runs the conformance suite
# against berth, then against runc, on a host with cgroup2 alone mounted at
# /sys/fs/cgroup, and reports "RC=<berth's exit> RUNC_RC=<runc's exit>" on
# the second serial port. The suite's arguments come from /etc/spec-args.
export PATH=/bin:/sbin:/usr/bin:/usr/sbin

report() {
    [ -z "${watchdog_pid:-}" ] || watchdog_stop
    echo "$1" >/dev/ttyS1
    sync
    poweroff -f
}

# The initramfs is rootfs, which pivot_root(2) cannot leave: copy it onto a
# tmpfs and start again there, or every runtime's pivot_root fails.
if [ "$$" = 1 ] && [ ! -e /.on-tmpfs ]; then
    mount -t proc proc /proc
    mount -t devtmpfs dev /dev
    mkdir -p /newroot
    mount -t tmpfs -o mode=0755 root /newroot
    for f in /*; do
        [ "$f" = /newroot ] || [ "$f" = /proc ] || [ "$f" = /dev ] || cp -a "$f" /newroot/
    done
    mkdir -p /newroot/proc /newroot/dev
    touch /newroot/.on-tmpfs
    umount /proc
    umount /dev
    exec switch_root /newroot /init
fi

mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mkdir -p /dev/pts /dev/shm /dev/mqueue /tmp /run
mount -t devpts -o newinstance,ptmxmode=0666 devpts /dev/pts
mount -t tmpfs -o mode=1777 shm /dev/shm
mount -t mqueue mqueue /dev/mqueue
# /tmp stays on the root tmpfs.
chmod 1777 /tmp
mount -t tmpfs -o mode=0755 run /run
mount -t cgroup2 -o nsdelegate cgroup2 /sys/fs/cgroup || report "RC=97 RUNC_RC=97"
ip link set lo up
hostname berth-v2
echo "root:x:0:0:root:/root:/bin/sh" >/etc/passwd
echo "root:x:0:" >/etc/group

sed 's/[^ ][^ ]*/+&/g' /sys/fs/cgroup/cgroup.controllers >/sys/fs/cgroup/cgroup.subtree_control || report "RC=96 RUNC_RC=96"

echo "== guest: $(uname -r), $(nproc) cpus"
echo "== /proc/self/mountinfo cgroup entries:"
grep cgroup /proc/self/mountinfo
echo "== root cgroup.subtree_control: $(cat /sys/fs/cgroup/cgroup.subtree_control)"

bin=/opt/berth
# The suite's arguments, one a line.
set --
while IFS= read -r a; do set -- "$@" "$a"; done </etc/spec-args
export CHECKER=$bin/berth-checker
export SPEC_FIXTURES=$bin/fixtures
set -o pipefail

# stamp (each line of the suite, stamped with the guest's uptime) and the
# watchdog (what blocks the suite if it prints nothing for 240 s).
. "$bin/guest-progress.sh"
watchdog_start

echo "== spec-tests on berth: $($bin/spec-tests "$@" --list | wc -l) cases"
start=$(uptime_s)
RUNTIME=$bin/berth $bin/spec-tests "$@" 2>&1 | stamp
berth_rc=$?
echo "== berth: exit $berth_rc in $(($(uptime_s) - start)) s"
# berth's delete removes every cgroup it made: anything left is a leak.
left=$(find /sys/fs/cgroup -mindepth 1 -type d)
if [ -n "$left" ]; then
    echo "== FAIL: cgroups left after the berth run:"
    echo "$left"
    [ "$berth_rc" != 0 ] || berth_rc=1
fi

if [ -e /etc/skip-runc ]; then
    echo "== runc not run (CGV2_RUNC=0)"
    report "RC=$berth_rc RUNC_RC=-"
fi
echo "== spec-tests on runc ($(runc --version | head -n1))"
start=$(uptime_s)
RUNTIME=/usr/sbin/runc $bin/spec-tests "$@" 2>&1 | stamp
runc_rc=$?
echo "== runc: exit $runc_rc in $(($(uptime_s) - start)) s"

report "RC=$berth_rc RUNC_RC=$runc_rc"
