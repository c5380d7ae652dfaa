#!/usr/bin/env bash
# Runs a command in a private mount namespace holding at least N extra
# mounts (a tmpfs bound recursively into itself, each bind doubling the
# count), so that berth takes its compact mount namespace path
# (docs/architecture.md §4.5) for every container the command creates.
#
#   scripts/with-many-mounts.sh N COMMAND [ARGS...]
#
# The namespace, its mounts and whatever was mounted in it go with the
# command; the one directory made on the host side is removed afterwards.
set -euo pipefail

[[ $# -ge 2 ]] || { echo "usage: $0 N COMMAND [ARGS...]" >&2; exit 2; }
[[ $EUID -eq 0 ]] || { echo "with-many-mounts.sh: must run as root" >&2; exit 1; }
want=$1
shift
base=$(mktemp -d /tmp/berth-many-mounts.XXXXXX)
trap 'rmdir "$base"' EXIT

# shellcheck disable=SC2016  # expanded by the inner shell
unshare --mount --propagation private bash -c '
    set -euo pipefail
    base=$1 want=$2
    shift 2
    mount -t tmpfs -o size=1m,mode=700 tmpfs "$base"
    have=1 k=0
    while (( have < want )); do
        mkdir "$base/d$k"
        mount --rbind "$base" "$base/d$k"
        have=$(( have * 2 )) k=$(( k + 1 ))
    done
    echo "with-many-mounts.sh: $(wc -l < /proc/self/mountinfo) mounts in this namespace" >&2
    exec "$@"
' with-many-mounts "$base" "$want" "$@"
