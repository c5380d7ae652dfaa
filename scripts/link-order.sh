#!/usr/bin/env bash
# make link-order: regenerates runtime/link-order.txt, the order in which
# lld lays out berth's functions (runtime/build.rs passes it as
# --symbol-ordering-file; docs/architecture.md §5.1). The functions that the
# hot commands run go first and side by side, so that a start maps few,
# contiguous pages of the binary (fewer page faults, lower peak RSS).
#
# Each round builds berth with the current order (`make build`, with the
# linker's map in build/link-order/), records a workload with perf -- CPU
# samples at 20 kHz plus every user page fault, whose instruction fetches
# name the functions still outside the ordered region -- and merges what it
# finds into the file (scripts/link_order.py). The workload is `run` of the
# benchmark bundles (plain, limits, seccomp, user namespace, Docker's whole
# config), create/state/start/delete, and run -d/exec/list/kill/delete of a
# `sleep` container: 3 times recording page faults, then LINK_ORDER_ITERS
# times (default 100) recording CPU samples; LINK_ORDER_ROUNDS rounds
# (default 3). Needs root and Debian's linux-perf (installed here).
# Not part of `make test`: run it after changing the start-up path and commit
# the file. A stale entry costs only locality, never correctness.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
[[ $EUID -eq 0 ]] || { echo "link-order.sh: must run as root" >&2; exit 1; }
bash scripts/install-deps.sh linux-perf
iters=${LINK_ORDER_ITERS:-100}
fault_iters=3
rounds=${LINK_ORDER_ROUNDS:-3}
work=$repo/build/link-order
order=$repo/runtime/link-order.txt
mkdir -p "$work"
touch "$order"
source scripts/bench-bundles.sh
root=$(mktemp -d "$work/root.XXXXXX")
perf_pid=
cleanup() {
    local c
    [[ -z $perf_pid ]] || { kill -INT "$perf_pid"; wait "$perf_pid" || true; }
    for c in "$root"/*/; do
        [[ -d $c ]] && { "$work/berth-rec" --root "$root" delete -f "$(basename "$c")" || true; }
    done
    rm -rf "$root"
}
trap cleanup EXIT

stopped() { "$1" --root "$root" state "$2" 2>/dev/null | grep -q '"status": "stopped"'; }
workload() {  # workload BINARY
    # Ids unique to this run: the default cgroup (<id> below our own) is shared
    # by every --root.
    local b=$1 i x p=lo$$-$RANDOM-
    for ((i = 0; i < iters; i++)); do
        for x in "$bundle" "$BENCH_LIMITS_BUNDLE" "$BENCH_SECCOMP_BUNDLE" \
            "$BENCH_USERNS_BUNDLE" "$BENCH_DOCKER_BUNDLE"; do
            (cd "$x" && "$b" --root "$root" run "${p}r$i")
        done
        (cd "$bundle" && "$b" --root "$root" create "${p}c$i")
        "$b" --root "$root" state "${p}c$i" >/dev/null
        "$b" --root "$root" start "${p}c$i"
        until stopped "$b" "${p}c$i"; do :; done
        "$b" --root "$root" delete "${p}c$i"
        (cd "$BENCH_SLEEP_BUNDLE" && "$b" --root "$root" run -d "${p}s$i" </dev/null >/dev/null)
        "$b" --root "$root" exec "${p}s$i" true
        "$b" --root "$root" list >/dev/null
        "$b" --root "$root" kill "${p}s$i" KILL
        until stopped "$b" "${p}s$i"; do :; done
        "$b" --root "$root" delete "${p}s$i"
    done
}

record() {  # record OUTPUT ITERATIONS PERF_EVENT_ARGS...
    local out=$1 n=$2
    shift 2
    perf record -q -o "$out" -a "$@" >/dev/null 2>&1 &
    perf_pid=$!
    sleep 2  # perf has opened its events
    iters=$n workload "$work/berth-rec"
    kill -INT "$perf_pid"
    wait "$perf_pid" || true
    perf_pid=
}

for ((r = 1; r <= rounds; r++)); do
    # `make build` itself, with the linker's map for the addresses: symbol
    # names depend on the profile and on the features the workspace's
    # crates unify, so only this build's names match its layout.
    BERTH_LINK_MAP=$work/berth.map cargo build --release --workspace --quiet
    # A copy with an inode of its own: perf's MMAP2 records of that file
    # mark the workload's processes (scripts/link_order.py).
    cp "$(python3 scripts/release_dir.py)/berth" "$work/berth-rec"
    # Two recordings: page faults alone (with CPU samples at the same time
    # perf throttles the fault event and drops most of a start's faults),
    # then CPU samples.
    record "$work/faults.data" "$fault_iters" -e exceptions:page_fault_user
    record "$work/samples.data" "$iters" -e cpu-clock -F 20000
    python3 scripts/link_order.py "$work/berth.map" "$work/berth-rec" "$order" \
        "$work/faults.data" "$work/samples.data"
    echo "link-order.sh: round $r of $rounds: $(wc -l <"$order") functions ordered" >&2
done
