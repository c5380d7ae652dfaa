#!/usr/bin/env bash
# make bench: berth vs runc vs crun, interleaved (driver: scripts/bench.py).
# Output: markdown table on stdout and in build/bench.md.
# Env: BERTH (binary), BENCH_ITERS, BENCH_SEQ_ITERS, BENCH_PAR_ITERS.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
[[ $EUID -eq 0 ]] || { echo "bench.sh: must run as root" >&2; exit 1; }

bundle=$repo/build/bench-bundle
bash bundles/busybox.sh "$bundle" true
# The same `true` bundle with memory+pids limits, and with Docker's seccomp
# profile (from the shared fixtures, when present).
export BENCH_LIMITS_BUNDLE=$repo/build/bench-bundle-limits
export BENCH_SECCOMP_BUNDLE=$repo/build/bench-bundle-seccomp
bash bundles/busybox.sh "$BENCH_LIMITS_BUNDLE" true
bash bundles/busybox.sh "$BENCH_SECCOMP_BUNDLE" true
python3 - "$BENCH_LIMITS_BUNDLE/config.json" "$BENCH_SECCOMP_BUNDLE/config.json" "$repo/../shared/fixtures/configs/docker-20.10-busybox.json" <<'PY'
import json, os, sys
limits, seccomp, docker = sys.argv[1:4]
c = json.load(open(limits))
c["linux"]["resources"] = {"memory": {"limit": 67108864}, "pids": {"limit": 20}}
json.dump(c, open(limits, "w"), indent=1)
if os.path.exists(docker):
    c = json.load(open(seccomp))
    c["linux"]["seccomp"] = json.load(open(docker))["linux"]["seccomp"]
    json.dump(c, open(seccomp, "w"), indent=1)
PY
# A long-running container for `exec true`.
export BENCH_SLEEP_BUNDLE=$repo/build/bench-bundle-sleep
bash bundles/busybox.sh "$BENCH_SLEEP_BUNDLE" sleep 1000

# crun refuses a hybrid layout while hugetlb is on cgroup2. If hugetlb is on
# cgroup2, unused there, and has no v1 mount, give it a v1 mount for the
# duration of the bench. This is the only host change made; undone at exit.
hugetlb=/sys/fs/cgroup/hugetlb
mounted_hugetlb=false
created_hugetlb_dir=false

hugetlb_col() {  # column N of hugetlb's line in /proc/cgroups
    awk -v n="$1" '$1 == "hugetlb" { print $n }' /proc/cgroups
}
hugetlb_on_v2() { [[ $(hugetlb_col 2) == 0 ]]; }      # hierarchy id 0 = cgroup2
hugetlb_no_children() { [[ $(hugetlb_col 3) == 1 ]]; }  # only the root cgroup
wait_for() {  # wait_for CHECK: poll for up to 20 s
    local i
    for ((i = 0; i < 100; i++)); do "$1" && return 0; sleep 0.2; done
    return 1
}

restore_hugetlb() {
    if $mounted_hugetlb; then
        # The kernel frees a v1 hierarchy at umount only if it has no child
        # cgroups, and releases removed cgroups and the hierarchy itself
        # asynchronously (after RCU grace periods): wait on both sides.
        find "$hugetlb" -mindepth 1 -depth -type d -exec rmdir {} + 2>/dev/null || true
        wait_for hugetlb_no_children || true
        umount "$hugetlb"
        wait_for hugetlb_on_v2 \
            || echo "bench.sh: warning: hugetlb has not returned to cgroup2" >&2
    fi
    if $created_hugetlb_dir; then rmdir "$hugetlb"; fi
}
trap restore_hugetlb EXIT

v2=/sys/fs/cgroup/unified
if ! mountpoint -q "$hugetlb" && hugetlb_on_v2 && [[ -f $v2/cgroup.controllers ]] \
    && grep -qw hugetlb "$v2/cgroup.controllers" \
    && ! grep -qw hugetlb "$v2/cgroup.subtree_control"; then
    [[ -d $hugetlb ]] || created_hugetlb_dir=true
    mkdir -p "$hugetlb"
    mounted_hugetlb=true
    mount -t cgroup -o hugetlb cgroup "$hugetlb" || {
        mounted_hugetlb=false
        echo "bench.sh: could not mount hugetlb on v1; crun may be excluded" >&2
    }
fi

python3 scripts/bench.py "$bundle" build/bench.md
