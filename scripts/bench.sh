#!/usr/bin/env bash
# make bench: berth vs runc vs crun, interleaved (driver: scripts/bench.py).
# Output: markdown table on stdout and in build/bench.md.
# Env: BERTH (binary), BENCH_ITERS, BENCH_SEQ_ITERS, BENCH_PAR_ITERS.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
[[ $EUID -eq 0 ]] || { echo "bench.sh: must run as root" >&2; exit 1; }

# The bundles (build/bench-bundle*) and their BENCH_*_BUNDLE variables.
source scripts/bench-bundles.sh

# crun needs hugetlb on v1 on this hybrid host (see crun-hugetlb.sh).
source scripts/crun-hugetlb.sh
trap restore_hugetlb EXIT
hugetlb_v1_for_crun

python3 scripts/bench.py "$bundle" build/bench.md
