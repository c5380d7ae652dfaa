#!/usr/bin/env bash
# make bench-scale: berth vs runc vs crun with 1000 containers under one
# root and with ~100 000 mounts in the mount namespace (driver:
# scripts/bench_scale.py). Output: markdown on stdout and in
# build/bench-scale.md. Env: BERTH, BERTH_BEFORE, BENCH_ITERS, BENCH_SCALE_N.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
[[ $EUID -eq 0 ]] || { echo "bench-scale.sh: must run as root" >&2; exit 1; }

bundle=$repo/build/bench-bundle
bash bundles/busybox.sh "$bundle" true
# The population: `sleep` without its own network namespace (as the
# containers of a pod share one), so 3000 of them stay cheap to make and
# tear down.
pop=$repo/build/bench-bundle-pop
bash bundles/busybox.sh "$pop" sleep 100000
python3 - "$pop/config.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["linux"]["namespaces"] = [n for n in c["linux"]["namespaces"] if n["type"] != "network"]
json.dump(c, open(sys.argv[1], "w"), indent=1)
PY

# crun needs hugetlb on v1 on this hybrid host (see crun-hugetlb.sh).
source scripts/crun-hugetlb.sh
trap restore_hugetlb EXIT
hugetlb_v1_for_crun

python3 scripts/bench_scale.py "$bundle" "$pop" build/bench-scale.md
