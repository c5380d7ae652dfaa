#!/usr/bin/env bash
# Build the conformance suite and run it against $RUNTIME (default: the
# workspace's release berth). Extra arguments go to the harness, e.g.
#   RUNTIME=/usr/sbin/runc bash spec-tests/run.sh --filter hook
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

cargo build --release -p spec-tests

bin_dir="$(python3 scripts/release_dir.py)"

if [[ -n "${RUNTIME:-}" ]]; then
    export RUNTIME
else
    export RUNTIME="$bin_dir/berth"
fi
export CHECKER="$bin_dir/berth-checker"

exec "$bin_dir/spec-tests" "$@"
