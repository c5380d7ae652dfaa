#!/bin/sh
# The systemd test VM's payload (berth-spec.service, see run.sh): runs the
# suite in systemd mode (BERTH_SPEC_SYSTEMD=1: --systemd-cgroup, a
# `system.slice:berth-spec:<name>` cgroupsPath) against each runtime named in
# /etc/berth-spec/runtimes, with the arguments in /etc/berth-spec/args (one a
# line), checks that no unit or cgroup is left after each; then, when
# /etc/berth-spec/shims names shims, runs shim-check.sh (a private
# containerd with those shims and SystemdCgroup) with the same leftover
# check, and writes "RC=<worst exit> <runtime>=<exit>... shim-<name>=<failed
# checks>..." to the second serial port.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
bin=/opt/berth
export CHECKER=$bin/berth-checker
export SPEC_FIXTURES=$bin/fixtures
export BERTH_SPEC_SYSTEMD=1
set -o pipefail

# stamp (each line of a step, stamped with the guest's uptime) and the
# watchdog (what blocks a step that prints nothing for 240 s).
. "$bin/guest-progress.sh"

# Units and cgroups the runtimes may leave: every loaded scope and slice
# but systemd's own (and the system-<template>.slice it makes for a
# template's instances, e.g. getty's, which may appear while the boot
# finishes), every cgroup directory but those of services (systemd may
# start one on demand while the suite runs).
units() {
    systemctl list-units --all --plain --no-legend --type=scope,slice |
        awk '{ print $1 }' | grep -v -x -e init.scope -e -.slice -e system.slice -e 'system-.*[.]slice' |
        sort
}
cgroups() {
    find /sys/fs/cgroup -mindepth 1 -type d | grep -v -e '[.]service\(/\|$\)' -e '/system-[^/]*[.]slice$' | sort
}
# snapshot before a step; after it, `left_since STEP` prints what the step
# left behind and fails, or succeeds quietly.
snapshot() {
    units >/tmp/units.before
    cgroups >/tmp/cgroups.before
}
left_since() {
    left_units=$(units | grep -vxF -f /tmp/units.before || true)
    left_cgroups=$(cgroups | grep -vxF -f /tmp/cgroups.before || true)
    [ -z "$left_units$left_cgroups" ] && return 0
    echo "== FAIL: left behind by $1:"
    echo "$left_units"
    echo "$left_cgroups"
    return 1
}

# Seconds from boot to a point systemd recorded (a monotonic microseconds
# property of the manager or of a unit).
at() { systemctl show -P "$2" $1 | awk '{ printf "%.1f", $1 / 1e6 }'; }
echo "== guest: $(uname -r), $(nproc) cpus, $(systemctl --version | head -n1)"
echo "== boot: systemd started at $(at "" UserspaceTimestampMonotonic) s," \
    "basic.target at $(at basic.target ActiveEnterTimestampMonotonic) s," \
    "dbus at $(at dbus.service ActiveEnterTimestampMonotonic) s, payload at $(uptime_s) s"
echo "== system state: $(systemctl is-system-running); bus: $(ls /run/dbus/system_bus_socket)"
# The boot's last units start while the payload runs: wait (at most 60 s)
# until no job is queued but this payload's own (a oneshot: its start job
# lasts as long as the payload), so the first snapshot sees the booted system.
settle() {
    i=0
    while [ "$i" -lt 300 ]; do
        systemctl list-jobs --no-legend | grep -q -v -e 'berth-spec[.]service' -e 'berth-spec[.]target' ||
            return 0
        sleep 0.2
        i=$((i + 1))
    done
    return 1
}
if settle; then
    echo "== boot jobs done at $(uptime_s) s"
else
    echo "== boot jobs still queued after 60 s: $(systemctl list-jobs --no-legend | tr '\n' ';')"
fi
echo "== cgroup mounts: $(grep cgroup /proc/self/mounts | cut -d' ' -f1-3 | tr '\n' ' ')"
if [ -e /sys/fs/cgroup/cgroup.controllers ]; then
    echo "== controllers: $(cat /sys/fs/cgroup/cgroup.controllers)"
else
    echo "== v1 controllers: $(awk 'NR > 1 && $4 { printf "%s ", $1 }' /proc/cgroups)"
fi
set --
while IFS= read -r a; do set -- "$@" "$a"; done </etc/berth-spec/args

worst=0
summary=""
watchdog_start
for rt in $(cat /etc/berth-spec/runtimes); do
    case "$rt" in
        runc) path=/usr/sbin/runc ;;
        *) path=$bin/$rt ;;
    esac
    snapshot
    echo "== spec-tests --systemd-cgroup on $rt ($($path --version | head -n1)):" \
        "$($bin/spec-tests "$@" --list | wc -l) cases"
    start=$(uptime_s)
    RUNTIME=$path $bin/spec-tests "$@" 2>&1 | stamp
    rc=$?
    echo "== $rt: exit $rc in $(($(uptime_s) - start)) s"
    left_since "the $rt run" || { [ "$rc" != 0 ] || rc=1; }
    [ "$rc" = 0 ] || worst=$rc
    summary="$summary $rt=$rc"
done

# The systemd driver's cost per container (/etc/berth-spec/driver-bench =
# N, run.sh's SDVM_DRIVER_BENCH): N rounds of `berth run true` on the busybox
# rootfs, interleaved: the cgroupfs driver and --systemd-cgroup (a scope in
# system.slice, made and stopped over D-Bus), on berth and on runc (the
# reference). Times in ms from the guest's clock: busybox's date has no
# nanoseconds, so /proc/uptime's 10 ms steps; qemu TCG is far slower than
# a host, so the ratios are what to read.
now_us() {  # microseconds: date's %N where it has it, else /proc/uptime
    t=$(date +%s%N)
    case "$t" in
        *N) awk '{ printf "%d", $1 * 1000000 }' /proc/uptime ;;
        *) echo $((t / 1000)) ;;
    esac
}
driver_bench() {  # driver_bench N RUNTIME_PATH...
    n=$1 d=/tmp/driver-bench
    shift
    mkdir -p "$d/bundle"
    (cd "$d/bundle" && rm -f config.json && "$bin/berth" spec) || return 1
    sed -i 's/"terminal": true/"terminal": false/; s/"sh"$/"true"/' "$d/bundle/config.json"
    sed -i "s|\"path\": \"rootfs\"|\"path\": \"$bin/rootfs\"|" "$d/bundle/config.json"
    for rt in "$@"; do
        : >"$d/fs"
        : >"$d/sd"
        i=0
        while [ "$i" -lt "$n" ]; do
            for mode in fs sd; do
                flag=""
                [ "$mode" = sd ] && flag=--systemd-cgroup
                t0=$(now_us)
                # shellcheck disable=SC2086 # empty or one flag
                (cd "$d/bundle" && "$rt" --root "$d/root" $flag run "db-$mode-$i") || return 1
                echo $(($(now_us) - t0)) >>"$d/$mode"
                echo "$rt $mode $i" >>/tmp/progress  # progress, for the watchdog
            done
            i=$((i + 1))
        done
        echo "== driver bench: $("$rt" --version | head -n1), run true, $n interleaved each:" \
            "cgroupfs $(median "$d/fs") ms, --systemd-cgroup $(median "$d/sd") ms (medians)"
    done
}
median() { sort -n "$1" | awk '{ v[NR] = $1 } END { printf "%.0f", v[int((NR + 1) / 2)] / 1000 }'; }
bench_n=$(cat /etc/berth-spec/driver-bench 2>/dev/null)
if [ -n "$bench_n" ]; then
    snapshot
    rc=0
    driver_bench "$bench_n" "$bin/berth" /usr/sbin/runc || { echo "== FAIL: driver bench"; rc=1; }
    left_since "the driver bench" || rc=1
    [ "$rc" = 0 ] || { worst=1; summary="$summary driver-bench=1"; }
fi

# containerd with each shim of /etc/berth-spec/shims (shim-check.sh), the
# same leftover check around it.
shims=$(cat /etc/berth-spec/shims 2>/dev/null)
if [ -n "$shims" ]; then
    snapshot
    echo "== containerd $(containerd --version | cut -d' ' -f3) with the shims: $shims"
    start=$(uptime_s)
    # shellcheck disable=SC2086 # one word per shim
    $bin/shim-check.sh /tmp/shim-results $shims 2>&1 | stamp
    rc=$?
    echo "== shims: exit $rc in $(($(uptime_s) - start)) s"
    left_since "the containerd step" || { summary="$summary shim-leftovers=1"; rc=1; }
    [ "$rc" = 0 ] || worst=$rc
    summary="$summary $(tr '\n' ' ' </tmp/shim-results 2>/dev/null)"
    summary=${summary% }
fi

watchdog_stop
echo "RC=$worst$summary" >/dev/ttyS1
sync
