#!/usr/bin/env bash
# Install the Debian packages berth's build, tests and bench need.
#   scripts/install-deps.sh [EXTRA_PACKAGE...]
# Idempotent and silent when everything is installed; uses apt only.
set -euo pipefail

packages=(
    busybox-static  # rootfs of the test bundles
    runc crun       # reference runtimes (spec-tests, bench)
    hyperfine       # ad-hoc latency measurements
    time            # /usr/bin/time: peak RSS in the bench
    uidmap          # newuidmap/newgidmap: multi-range maps for a non-root berth
    slirp4netns     # network of podman rootless (e2e)
    protobuf-compiler  # protoc: k8s-cri's build script (spec-tests/cri-client)
    "$@"
)

installed() {
    [[ $(dpkg-query -W -f='${Status}' "$1" 2>/dev/null) == "install ok installed" ]]
}

missing=()
for pkg in "${packages[@]}"; do
    installed "$pkg" || missing+=("$pkg")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

if [[ $EUID -ne 0 ]]; then
    echo "install-deps: need root to install: ${missing[*]}" >&2
    exit 1
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# apt-get update once per machine run: later calls (e.g. make e2e's extra
# packages after make test's base ones) reuse the fresh lists.
stamp=/var/lib/apt/lists/.berth-updated
if [[ -z $(find "$stamp" -mmin -360 2>/dev/null) ]]; then
    if ! apt-get update -qq; then
        echo "install-deps: apt-get update failed" >&2
        exit 1
    fi
    touch "$stamp"
fi
# Packages with daemons (containerd, docker.io) must not start them: the
# e2e tests run private instances. Without systemd, invoke-rc.d would.
if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
if ! apt-get install -y -qq -o Dpkg::Use-Pty=0 --no-install-recommends "${missing[@]}" </dev/null; then
    echo "install-deps: apt-get install failed for: ${missing[*]}" >&2
    exit 1
fi
