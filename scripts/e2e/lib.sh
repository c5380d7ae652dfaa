# Shared helpers for berth's end-to-end scripts (sourced, not run).
#
# Every script gets its own scratch dir ($E2E_TMP) holding the private
# daemons' roots, state dirs and sockets; `e2e_cleanup` (an EXIT trap) stops
# the daemons it started, by pid, unmounts what remains under $E2E_TMP and
# removes it. Checks are counted; `e2e_finish` prints the tally and fails the
# script when any check failed.

set -uo pipefail

E2E_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BERTH=${BERTH:-$(python3 "$E2E_REPO/scripts/release_dir.py")/berth}
E2E_IMAGE_TAR=${E2E_IMAGE_TAR:-$E2E_REPO/build/e2e/busybox.tar}
E2E_IMAGE=docker.io/library/busybox:latest
E2E_NAME=${E2E_NAME:-e2e}

E2E_PASSED=0
E2E_FAILED=0
E2E_PIDS=()        # daemons to stop, last started first
E2E_CLEANUPS=()    # extra commands run by e2e_cleanup before the daemons stop
E2E_FORGET=()      # paths outside $E2E_TMP removed after the daemons stop

e2e_log() { printf '%s: %s\n' "$E2E_NAME" "$*" >&2; }

e2e_setup() {
    [[ -x $BERTH ]] || { e2e_log "no berth binary at $BERTH (make build)"; exit 1; }
    [[ -f $E2E_IMAGE_TAR ]] || { e2e_log "no image at $E2E_IMAGE_TAR (make e2e-image)"; exit 1; }
    E2E_TMP=$(mktemp -d "/tmp/berth-$E2E_NAME.XXXXXX")
    chmod 711 "$E2E_TMP"
    trap e2e_cleanup EXIT
    trap 'exit 130' INT TERM
}

# --- checks ---------------------------------------------------------------

pass() { E2E_PASSED=$((E2E_PASSED + 1)); printf 'ok   %s\n' "$1"; }
fail() {
    E2E_FAILED=$((E2E_FAILED + 1))
    printf 'FAIL %s\n' "$1"
    shift
    local line
    for line in "$@"; do printf '     %s\n' "$line"; done
}

# Commands are run as given: client wrappers (ctrd, dk, pm) carry the time
# limit, so functions can be checked too.

# expect_out NAME WANT CMD...: CMD exits 0 and its stdout (CR stripped,
# trailing blanks trimmed) equals WANT.
expect_out() {
    local name=$1 want=$2 out rc
    shift 2
    out=$("$@" 2>"$E2E_TMP/stderr" | tr -d '\r')
    rc=${PIPESTATUS[0]}
    if [[ $rc -eq 0 && $out == "$want" ]]; then
        pass "$name"
    else
        fail "$name" "command: $*" "exit $rc, stdout: ${out:0:400}" \
            "want: $want" "stderr: $(tail -c 600 "$E2E_TMP/stderr")"
    fi
}

# expect_match NAME REGEX CMD...: CMD exits 0 and stdout matches REGEX.
expect_match() {
    local name=$1 re=$2 out rc
    shift 2
    out=$("$@" 2>"$E2E_TMP/stderr" | tr -d '\r')
    rc=${PIPESTATUS[0]}
    if [[ $rc -eq 0 && $out =~ $re ]]; then
        pass "$name"
    else
        fail "$name" "command: $*" "exit $rc, stdout: ${out:0:400}" \
            "want match: $re" "stderr: $(tail -c 600 "$E2E_TMP/stderr")"
    fi
}

# expect_status NAME CODE CMD...: CMD exits with CODE.
expect_status() {
    local name=$1 want=$2 rc
    shift 2
    "$@" >"$E2E_TMP/stdout" 2>"$E2E_TMP/stderr"
    rc=$?
    if [[ $rc -eq $want ]]; then
        pass "$name"
    else
        fail "$name" "command: $*" "exit $rc, want $want" \
            "stdout: $(tail -c 400 "$E2E_TMP/stdout")" \
            "stderr: $(tail -c 600 "$E2E_TMP/stderr")"
    fi
}

# expect_fail_match NAME REGEX CMD...: CMD fails and stderr matches REGEX.
expect_fail_match() {
    local name=$1 re=$2 rc err
    shift 2
    "$@" >"$E2E_TMP/stdout" 2>"$E2E_TMP/stderr"
    rc=$?
    err=$(cat "$E2E_TMP/stderr")
    if [[ $rc -ne 0 && $err =~ $re ]]; then
        pass "$name"
    else
        fail "$name" "command: $*" "exit $rc (want non-zero)" \
            "stderr: ${err:0:800}" "want match: $re"
    fi
}

# ok NAME CMD...: CMD exits 0.
ok() { expect_status "$1" 0 "${@:2}"; }

# wait_for NAME TIMEOUT_S CMD...: poll CMD until it succeeds. The limit is
# wall-clock time, however long each poll takes (a hung client must not turn
# 20 s into hours; each poll is bounded by its client wrapper's timeout).
wait_for() {
    local name=$1 limit=$2 deadline
    shift 2
    deadline=$((SECONDS + limit))
    while ((SECONDS < deadline)); do
        if "$@" >/dev/null 2>&1; then
            return 0
        fi
        sleep 0.1
    done
    fail "$name" "timed out after ${limit}s waiting for: $*"
    return 1
}

# pty_run CMDLINE: run the shell command line CMDLINE (60 s limit) as the
# foreground job of a fresh pty, for clients that need a terminal (-t, -it).
# `exec` and --foreground keep the client in the pty's foreground process
# group whatever shell `script` uses: a client put in a background group by
# `timeout` is stopped by SIGTTOU when it makes the terminal raw.
pty_run() { SHELL=/bin/sh script -qec "exec timeout --foreground 60 $*" /dev/null; }

e2e_finish() {
    printf '%s: %d passed, %d failed\n' "$E2E_NAME" "$E2E_PASSED" "$E2E_FAILED"
    [[ $E2E_FAILED -eq 0 ]]
}

# --- daemons --------------------------------------------------------------

# start_daemon NAME LOGFILE CMD...: start CMD in the background, remember pid.
start_daemon() {
    local name=$1 log=$2
    shift 2
    "$@" >"$log" 2>&1 </dev/null &
    local pid=$!
    E2E_PIDS=("$pid" "${E2E_PIDS[@]}")
    e2e_log "started $name (pid $pid, log $log)"
}

# stop_pid PID: SIGTERM, then SIGKILL after 20 s; waits for it.
stop_pid() {
    local pid=$1 i
    kill -TERM "$pid" 2>/dev/null || return 0
    for ((i = 0; i < 200; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    return 0
}

# Start a private containerd with every path under $E2E_TMP/containerd.
# Sets CTRD_SOCK; `ctrd` runs ctr against it. The CRI plugin is disabled
# unless CTRD_CRI_CONFIG holds its config (TOML appended to the file).
start_containerd() {
    local d=$E2E_TMP/containerd cri='"io.containerd.grpc.v1.cri",'
    [[ -n ${CTRD_CRI_CONFIG:-} ]] && cri=""
    mkdir -p "$d"
    forget_if_new /run/containerd   # ctr's fifos and the shims' sockets live there
    CTRD_SOCK=$d/containerd.sock
    cat >"$d/config.toml" <<EOF
version = 2
root = "$d/root"
state = "$d/state"
disabled_plugins = [
  $cri
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.tracing.processor.v1.otlp",
]
[grpc]
  address = "$CTRD_SOCK"
[ttrpc]
  address = "$CTRD_SOCK.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
${CTRD_CRI_CONFIG:-}
EOF
    start_daemon containerd "$d/containerd.log" containerd --config "$d/config.toml"
    wait_for "containerd comes up" 30 ctr --address "$CTRD_SOCK" version || {
        tail -20 "$d/containerd.log" >&2
        exit 1
    }
}

ctrd() { timeout 60 ctr --address "$CTRD_SOCK" "$@"; }

# Tasks and containers in the script's containerd namespace ($NS).
c() { ctrd -n "$NS" "$@"; }
task_status() { c tasks ls | awk -v id="$1" '$1 == id { print $3 }'; }
status_is() { [[ $(task_status "$1") == "$2" ]]; }

# ctr_detached_checks RUN: the detached-task scenario, through whichever shim
# the function RUN (a `c run …` wrapper) selects: task d1 runs `sleep`; exec
# (output, exit 5, --tty), ps, pause/resume, exec refused while paused,
# metrics. Leaves d1 running.
ctr_detached_checks() {
    local run=$1 d1_pid
    ok "ctr run -d" "$run" -d "$E2E_IMAGE" d1 sleep 1000
    wait_for "task d1 running" 20 status_is d1 RUNNING
    expect_out "ctr task exec" "exec-ok" c tasks exec --exec-id e1 d1 echo exec-ok
    expect_status "ctr task exec exit status 5" 5 c tasks exec --exec-id e2 d1 sh -c 'exit 5'
    expect_match "ctr task exec --tty" 'tty=/dev/pts/[0-9]+' \
        pty_run "ctr --address $CTRD_SOCK -n $NS tasks exec --tty --exec-id e3 d1 sh -c 'echo tty=\$(tty)'"
    d1_pid=$(c tasks ls | awk '$1 == "d1" { print $2 }')
    expect_match "ctr task ps lists the init (pid $d1_pid)" \
        "(^|[[:space:]])$d1_pid([[:space:]]|\$)" c tasks ps d1
    ok "ctr task pause" c tasks pause d1
    expect_out "task is PAUSED" "PAUSED" task_status d1
    expect_status "exec into a paused task fails" 1 c tasks exec --exec-id e4 d1 true
    ok "ctr task resume" c tasks resume d1
    expect_out "task is RUNNING again" "RUNNING" task_status d1
    expect_match "ctr task metrics shows memory usage" \
        'memory\.usage_in_bytes +[1-9][0-9]*' c tasks metrics d1
    expect_match "ctr task metrics shows pids" 'pids\.current +[1-9]' c tasks metrics d1
}

# Kill and remove whatever a failed check left in $NS (an E2E_CLEANUPS entry).
ctr_cleanup_containers() {
    local id
    for id in $(c tasks ls -q 2>/dev/null); do
        c tasks kill -s KILL "$id"
        c tasks rm -f "$id"
    done
    for id in $(c containers ls -q 2>/dev/null); do
        c containers rm "$id"
    done
}

DOCKER_CLI=${DOCKER_CLI:-/usr/bin/docker}   # Debian's client, same release as dockerd

# start_dockerd NAMESPACE CGROUP_PARENT NAME=PATH...: a private dockerd on
# the private containerd (start_containerd first), every path under
# $E2E_TMP/docker, no bridge and no iptables, with the runtimes NAME=PATH
# registered through daemon.json (as README.md documents). Sets DOCKER_HOST;
# `dk` runs the docker CLI against it.
start_dockerd() {
    local ns=$1 parent=$2 d=$E2E_TMP/docker rt runtimes=""
    shift 2
    mkdir -p "$d"
    # Paths dockerd 20.10 uses whatever its roots are.
    forget_if_new /run/docker            # plugin socket dir
    forget_if_new /etc/docker/key.json   # libtrust key
    for rt in "$@"; do
        runtimes+="${runtimes:+, }\"${rt%%=*}\": {\"path\": \"${rt#*=}\"}"
    done
    echo "{\"runtimes\": {$runtimes}}" >"$d/daemon.json"   # not /etc/docker/daemon.json
    DOCKER_HOST=unix://$d/docker.sock
    start_daemon dockerd "$d/dockerd.log" dockerd --config-file "$d/daemon.json" \
        --data-root "$d/data" --exec-root "$d/exec" --pidfile "$d/dockerd.pid" \
        -H "$DOCKER_HOST" --containerd "$CTRD_SOCK" \
        --containerd-namespace "$ns" --containerd-plugins-namespace "$ns-plugins" \
        --bridge none --iptables=false --ip-forward=false --ip-masq=false \
        --userland-proxy=false --exec-opt native.cgroupdriver=cgroupfs \
        --cgroup-parent "/$parent" --default-runtime runc
    wait_for "dockerd comes up" 60 dk version || {
        tail -30 "$d/dockerd.log" >&2
        exit 1
    }
}

dk() { timeout 60 "$DOCKER_CLI" -H "$DOCKER_HOST" "$@"; }

# Everything mounted under $E2E_TMP, deepest first.
mounts_under_tmp() {
    awk -v p="$E2E_TMP/" 'index($5, p) == 1 { print $5 }' /proc/self/mountinfo | sort -r
}

e2e_cleanup() {
    local rc=$? cmd pid m
    for cmd in "${E2E_CLEANUPS[@]}"; do
        eval "$cmd" >/dev/null 2>&1
    done
    for pid in "${E2E_PIDS[@]}"; do
        stop_pid "$pid"
    done
    for m in "${E2E_FORGET[@]}"; do
        rm -rf "$m"
    done
    if [[ -n ${E2E_TMP:-} && -d $E2E_TMP ]]; then
        while read -r m; do
            [[ -n $m ]] && umount "$m" 2>/dev/null
        done < <(mounts_under_tmp)
        if [[ -n $(mounts_under_tmp) ]]; then
            e2e_log "mounts left under $E2E_TMP:"
            mounts_under_tmp >&2
            rc=1
        else
            rm -rf "$E2E_TMP"
        fi
    fi
    exit "$rc"
}

# remove_ns_cgroups NAME: rmdir the (empty) parent cgroup NAME that a client
# made in every hierarchy; a non-empty one is reported, not forced.
remove_ns_cgroups() {
    local d
    for d in /sys/fs/cgroup/*/"$1" /sys/fs/cgroup/"$1"; do
        [[ -d $d ]] || continue
        find "$d" -depth -type d -exec rmdir {} + 2>/dev/null
        [[ -d $d ]] && e2e_log "cgroup left behind: $d"
    done
}

# Container cgroups left below the parent cgroup NAME, in any hierarchy.
cgroups_below() {
    local d
    for d in /sys/fs/cgroup/*/"$1" /sys/fs/cgroup/"$1"; do
        [[ -d $d ]] && find "$d" -mindepth 1 -type d
    done
    return 0
}

# forget_if_new PATH: a client writes PATH outside our scratch dir (podman's
# blob cache, containerd's client fifo dir); remove it at the end if it did
# not exist before the script began.
forget_if_new() {
    [[ -e $1 ]] || E2E_FORGET+=("$1")
}

# restore_at_exit FILE: a host file the script edits (e.g. /etc/subuid),
# saved as $E2E_TMP/<name>.orig and put back byte for byte (or removed, if
# it did not exist) by the cleanups.
restore_at_exit() {
    local f=$1 saved=$E2E_TMP/${1##*/}.orig
    if [[ -e $f ]]; then
        cp -p "$f" "$saved"
        E2E_CLEANUPS+=("cp -p '$saved' '$f'")
    else
        E2E_CLEANUPS+=("rm -f '$f'")
    fi
}

# podman_private_store DIR: podman's image store, run dir and (empty)
# registries under DIR, exported for every podman call that follows;
# containers.conf (the runtime) is the caller's.
podman_private_store() {
    cat >"$1/storage.conf" <<CONF
[storage]
driver = "overlay"
graphroot = "$1/storage"
runroot = "$1/run"
CONF
    : >"$1/registries.conf"
    export CONTAINERS_STORAGE_CONF=$1/storage.conf
    export CONTAINERS_REGISTRIES_CONF=$1/registries.conf
}
