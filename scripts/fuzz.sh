#!/usr/bin/env bash
# Runs berth's cargo-fuzz targets, each for FUZZ_SECONDS (default 60).
#
#   scripts/fuzz.sh [TARGET...]        all targets when none is named
#
# Targets: config, seccomp, state, cli (runtime/fuzz) and shim_options
# (shim/fuzz). Each fuzz crate is detached from the workspace; its build goes
# to <crate>/target, new corpus entries to <crate>/corpus-work/<target> (the
# committed seeds in <crate>/corpus/<target> are read, never written), crash
# inputs to <crate>/artifacts/<target>/, libFuzzer's log to
# <crate>/target/fuzz-logs/<target>.log (all gitignored).
#
# Toolchain: `cargo +nightly fuzz` when rustup has a nightly toolchain, else
# the default (stable) toolchain with RUSTC_BOOTSTRAP=1, which lets stable
# rustc accept the -Z flags cargo-fuzz passes (the address sanitizer runtime
# ships with stable too, so ASan stays on). FUZZ_TOOLCHAIN=nightly|stable
# forces one; FUZZ_SANITIZER=address|none|... overrides the sanitizer.
# FUZZ_JOBS runs that many targets at once (default 2 on 2+ cores).
#
# Exit status: non-zero if any target fails to build, crashes, panics, leaks,
# times out (one input over 60 s: generous, as a shared machine stalled a
# millisecond input for 18 s once) or runs out of memory (2 GB; ASan's
# quarantine alone keeps the RSS at 0.4-0.7 GB). Prints one summary line per
# target.
set -uo pipefail

FUZZ_SECONDS=${FUZZ_SECONDS:-60}
FUZZ_TOOLCHAIN=${FUZZ_TOOLCHAIN:-auto}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

all=(runtime:config runtime:seccomp runtime:state runtime:cli shim:shim_options)
selected=()
if (($# == 0)); then
    selected=("${all[@]}")
else
    for want in "$@"; do
        found=
        for t in "${all[@]}"; do
            [[ ${t#*:} == "$want" ]] && selected+=("$t") && found=1
        done
        [[ -n $found ]] || { echo "fuzz.sh: unknown target $want (${all[*]#*:})" >&2; exit 2; }
    done
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz.sh: installing cargo-fuzz from crates.io" >&2
    cargo install cargo-fuzz --locked || { echo "fuzz.sh: cannot install cargo-fuzz" >&2; exit 1; }
fi

have_nightly() {
    command -v rustup >/dev/null 2>&1 && rustup run nightly rustc --version >/dev/null 2>&1
}
forced=$FUZZ_TOOLCHAIN
case $FUZZ_TOOLCHAIN in
    auto) if have_nightly; then FUZZ_TOOLCHAIN=nightly; else FUZZ_TOOLCHAIN=stable; fi ;;
    nightly | stable) ;;
    *) echo "fuzz.sh: FUZZ_TOOLCHAIN must be auto, nightly or stable" >&2; exit 2 ;;
esac
cargo_fuzz=(cargo)
if [[ $FUZZ_TOOLCHAIN == nightly ]]; then
    cargo_fuzz+=(+nightly)
else
    # Stable rustc refuses -Zsanitizer and friends unless bootstrapping.
    # Without nightly the default toolchain is used; +stable only when asked.
    export RUSTC_BOOTSTRAP=1
    [[ $forced == stable ]] && command -v rustup >/dev/null 2>&1 && cargo_fuzz+=(+stable)
fi
cargo_fuzz+=(fuzz)
sanitizer=${FUZZ_SANITIZER:-address}
# FUZZ_PROFILE=dev (make test's smoke run): unoptimised builds with debug
# assertions, ~2.5x quicker to build (1m20 instead of 3m30 per crate on 2
# cores) and ~12x fewer execs/s; release (default) for real fuzzing.
FUZZ_PROFILE=${FUZZ_PROFILE:-release}
case $FUZZ_PROFILE in
    release) profile_flag=(-O) ;;
    dev) profile_flag=(-D) ;;
    *) echo "fuzz.sh: FUZZ_PROFILE must be release or dev" >&2; exit 2 ;;
esac
rustc_cmd=(rustc)
[[ ${cargo_fuzz[1]} == +* ]] && rustc_cmd+=("${cargo_fuzz[1]}")
echo "fuzz.sh: $("${rustc_cmd[@]}" --version 2>/dev/null)" \
    "($FUZZ_TOOLCHAIN${RUSTC_BOOTSTRAP:+, RUSTC_BOOTSTRAP=1}), sanitizer $sanitizer," \
    "${FUZZ_SECONDS}s per target, $FUZZ_PROFILE build"

failed=()
summary=()
built=()
for t in "${selected[@]}"; do
    crate=$root/${t%%:*}/fuzz
    name=${t#*:}
    work=$crate/corpus-work/$name
    seeds=$crate/corpus/$name
    artifacts=$crate/artifacts/$name
    logs=$crate/target/fuzz-logs
    log=$logs/$name.log
    mkdir -p "$work" "$seeds" "$artifacts" "$logs"
    echo "fuzz.sh: building $name" >&2
    if ! (cd "$crate" && "${cargo_fuzz[@]}" build "${profile_flag[@]}" -s "$sanitizer" "$name"); then
        summary+=("$name: BUILD FAILED")
        failed+=("$name")
        continue
    fi
    built+=("$t")
done

# Run the built targets FUZZ_JOBS at a time (default: one per core, at most
# 2): each libFuzzer run is single-threaded.
run_one() {
    local crate=$1 name=$2
    local log=$crate/target/fuzz-logs/$name.log
    echo "fuzz.sh: running $name for ${FUZZ_SECONDS}s (log: $log)" >&2
    (cd "$crate" && "${cargo_fuzz[@]}" run "${profile_flag[@]}" -s "$sanitizer" "$name" \
        "$crate/corpus-work/$name" "$crate/corpus/$name" -- \
        -max_total_time="$FUZZ_SECONDS" -print_final_stats=1 -timeout=60 -rss_limit_mb=2048 \
        -artifact_prefix="$crate/artifacts/$name/") >"$log" 2>&1
    echo $? >"$crate/target/fuzz-logs/$name.rc"
}
jobs_max=${FUZZ_JOBS:-$(($(nproc) < 2 ? 1 : 2))}
for t in "${built[@]}"; do
    while (($(jobs -rp | wc -l) >= jobs_max)); do wait -n; done
    run_one "$root/${t%%:*}/fuzz" "${t#*:}" &
done
wait

for t in "${built[@]}"; do
    crate=$root/${t%%:*}/fuzz
    name=${t#*:}
    log=$crate/target/fuzz-logs/$name.log
    rc=$(cat "$crate/target/fuzz-logs/$name.rc" 2>/dev/null || echo 1)
    # The final status line: "#N DONE cov: C ft: F corp: U/S ... exec/s: E ..."
    # (or the last "#N ... cov:" line if the run stopped early).
    last=$(grep -E '^#[0-9]+.*cov: ' "$log" | tail -1)
    cov=$(sed -nE 's/.* cov: ([0-9]+).*/\1/p' <<<"$last")
    ft=$(sed -nE 's/.* ft: ([0-9]+).*/\1/p' <<<"$last")
    corp=$(sed -nE 's/.* corp: ([^ ]+).*/\1/p' <<<"$last")
    execs=$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+).*/\1/p' "$log" | tail -1)
    eps=$(sed -nE 's/^stat::average_exec_per_sec: *([0-9]+).*/\1/p' "$log" | tail -1)
    line="$name: execs ${execs:-?}, exec/s ${eps:-?}, cov ${cov:-?}, ft ${ft:-?}, corpus ${corp:-?} (units/size)"
    if ((rc != 0)) || grep -qE '^(==[0-9]+== ?ERROR|SUMMARY: libFuzzer)' "$log"; then
        crash=$(sed -nE 's/.*(Test unit|[Aa]rtifact) written to ([^ ]+).*/\2/p' "$log" | tail -1)
        echo "----- $name: last lines of $log -----" >&2
        tail -40 "$log" >&2
        line+=" -- FAILED (exit $rc)${crash:+, crash input: $crash}"
        failed+=("$name")
    else
        line+=", crashes 0"
    fi
    echo "fuzz.sh: $line"
    summary+=("$line")
done

echo "fuzz.sh: summary (${FUZZ_SECONDS}s per target, $FUZZ_TOOLCHAIN, sanitizer $sanitizer)"
printf '  %s\n' "${summary[@]}"
if ((${#failed[@]})); then
    echo "fuzz.sh: FAILED: ${failed[*]}" >&2
    exit 1
fi
