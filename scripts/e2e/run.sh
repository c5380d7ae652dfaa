#!/usr/bin/env bash
# Run berth's end-to-end scripts under real clients (make e2e):
#   scripts/e2e/run.sh [containerd|shim|docker|podman|podman-rootless|cri ...]   (default: all)
# Each script starts and stops its own daemons; this fails if any check fails.
# A script gets at most 600 s: then it is sent SIGTERM (its EXIT trap still
# stops its daemons and removes its containers), and SIGKILL 300 s later.
set -uo pipefail
dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
suites=("$@")
[[ ${#suites[@]} -gt 0 ]] || suites=(containerd shim docker podman podman-rootless cri restart)

failed=()
for s in "${suites[@]}"; do
    printf '\n==== e2e: %s ====\n' "$s"
    start=$SECONDS
    timeout --foreground -k 300 600 bash "$dir/$s.sh" || failed+=("$s")
    printf '(%s: %d s)\n' "$s" $((SECONDS - start))
done
if [[ ${#failed[@]} -gt 0 ]]; then
    echo "e2e: FAILED: ${failed[*]}"
    exit 1
fi
echo "e2e: all passed (${suites[*]})"
