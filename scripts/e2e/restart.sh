#!/usr/bin/env bash
# containerd restarts and shim failures, on berth's shim (io.containerd.berth.v2
# + berth) and on containerd's runc shim (io.containerd.runc.v2 + runc 1.1.5),
# the reference: every check runs on both, the reference first; a check the
# reference fails is reported as a skip, not a pass.
#
# 1. containerd is stopped (SIGTERM, waited for) and started again on the same
#    root, state and sockets while containers run: one `sleep`, one that exits
#    (status 3) while containerd is down, one with an exec running. After the
#    restart: the same shims serve them, `ctr task ls` shows each status,
#    kill/exec/metrics work, containerd receives the exit that happened while
#    it was down exactly once (its debug log's "event forwarded" lines: the
#    runc shim delivers such an event as soon as containerd's ttrpc socket is
#    back, before its gRPC socket listens, so no `ctr events` started after the
#    restart could see it), and `ctr task delete` returns the exit status.
# 2. A shim is SIGKILLed: containerd runs the shim binary's `delete`; the
#    container's processes, runtime state, cgroups, rootfs mount and bundle
#    are gone, `ctr task ls` shows no task, `ctr c rm` works.
# (The pod of three containers through CRI is in cri.sh.)
#
#   scripts/e2e/restart.sh        (as root; make e2e runs it)
E2E_NAME=restart
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

BIN_DIR=$(dirname "$BERTH")
SHIM=$BIN_DIR/containerd-shim-berth-v2
RUNC=/usr/sbin/runc
FLAVOURS=(runc berth)   # the reference first
[[ -x $SHIM ]] || { e2e_log "no shim at $SHIM (make build)"; exit 1; }

e2e_setup
export PATH=$BIN_DIR:$PATH   # containerd looks the shim up on PATH
start_containerd
CTRD_PID=${E2E_PIDS[0]}
CTRD_DIR=$E2E_TMP/containerd
TASK_STATE=$CTRD_DIR/state/io.containerd.runtime.v2.task
BERTH_ROOT=$E2E_TMP/berth-root
RUNC_ROOT=$E2E_TMP/runc-root
echo "Root = \"$BERTH_ROOT\"" >"$E2E_TMP/berth.toml"
SKIPPED=0
declare -A INIT SHIM_PID EXEC_PID CGROUPS

# The flavour F and its containerd namespace NS (lib.sh's `c` uses NS).
flavour() { F=$1; NS=restart-$F; }
restart_cleanup() {
    local f
    for f in "${FLAVOURS[@]}"; do
        flavour "$f"
        ctr_cleanup_containers
        remove_ns_cgroups "$NS"
    done
}
E2E_CLEANUPS+=("restart_cleanup")

# ctr run through F's shim and runtime. Detached tasks' fifos go under
# $E2E_TMP: ctr leaves them behind when it does not delete the task itself.
run_f() {
    if [[ $F == berth ]]; then
        c run --fifo-dir "$E2E_TMP/fifo" --runtime io.containerd.berth.v2 \
            --runtime-config-path "$E2E_TMP/berth.toml" "$@"
    else
        c run --fifo-dir "$E2E_TMP/fifo" --runtime io.containerd.runc.v2 \
            --runc-binary "$RUNC" --runc-root "$RUNC_ROOT" "$@"
    fi
}
exec_d() { c tasks exec -d --fifo-dir "$E2E_TMP/fifo" "$@"; }
runtime_state() {
    if [[ $F == berth ]]; then echo "$BERTH_ROOT/$NS/$1"; else echo "$RUNC_ROOT/$NS/$1"; fi
}

# --- checks on both flavours ------------------------------------------------

# both NAME 'CHECK': the shell command CHECK, a predicate evaluated with F and
# NS set, on the reference, then on berth; it counts for berth only when the
# reference passes it.
both() {
    local name=$1 check=$2 ref rc
    flavour runc
    eval "$check" >"$E2E_TMP/check-runc" 2>&1
    ref=$?
    flavour berth
    eval "$check" >"$E2E_TMP/check-berth" 2>&1
    rc=$?
    if ((ref != 0)); then
        SKIPPED=$((SKIPPED + 1))
        printf 'skip %s: containerd'\''s runc shim fails it too (%s); berth %s\n' "$name" \
            "$(tail -c 300 "$E2E_TMP/check-runc" | tr '\n' ' ')" \
            "$( ((rc == 0)) && echo passes || echo fails)"
    elif ((rc == 0)); then
        pass "$name"
    else
        fail "$name" "check: $check" "$(tail -c 800 "$E2E_TMP/check-berth")"
    fi
}

# Runs the command once per flavour (not a check: it records what later
# checks need).
each() {
    local f
    for f in "${FLAVOURS[@]}"; do
        flavour "$f"
        eval "$1"
    done
}

# Predicates; their output explains a failure.
out_is() {
    local want=$1 out
    shift
    out=$("$@" | tr -d '\r')
    [[ ${PIPESTATUS[0]} -eq 0 && $out == "$want" ]] || {
        echo "command: $*; got: ${out:0:400}; want: $want"
        return 1
    }
}
out_matches() {
    local re=$1 out
    shift
    out=$("$@" 2>&1 | tr -d '\r')
    [[ ${PIPESTATUS[0]} -eq 0 && $out =~ $re ]] || {
        echo "command: $*; got: ${out:0:400}; want match: $re"
        return 1
    }
}
# eventually SECONDS CMD...: CMD succeeds within SECONDS.
eventually() {
    local limit=$1 deadline=$((SECONDS + $1))
    shift
    until "$@" >/dev/null 2>&1; do
        if ((SECONDS >= deadline)); then
            echo "not within $limit s: $*"
            "$@"
            return 1
        fi
        sleep 0.1
    done
}
# gone PID: the process has exited (reaped, or a zombie).
gone() {
    local s
    [[ -n $1 ]] || { echo "no pid"; return 1; }
    s=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
    s=${s##*) }
    [[ ${s%% *} == Z ]] || { echo "process $1 runs: $(tr '\0' ' ' <"/proc/$1/cmdline")"; return 1; }
}
alive() { [[ -n $1 && -e /proc/$1 ]] || { echo "process '$1' is gone"; return 1; }; }
none_exist() {
    local p left=()
    for p in "$@"; do [[ -e $p ]] && left+=("$p"); done
    [[ ${#left[@]} -eq 0 ]] || { echo "still there: ${left[*]}"; return 1; }
}
mounted() { awk -v p="$1" '$5 == p { found = 1 } END { exit !found }' /proc/self/mountinfo; }
not_mounted() { ! mounted "$1" || { echo "$1 is still mounted"; return 1; }; }
status_is_() { out_is "$2" task_status "$1"; }

# --- host-side observations ---------------------------------------------------

task_pid() { c tasks ls | awk -v id="$1" '$1 == id { print $2 }'; }
ppid_of() { awk '{ sub(/^.*\) /, ""); print $2 }' "/proc/$1/stat" 2>/dev/null; }
# The cgroup directories of PID whose path ends in /NAME (its own, not the
# ones it shares with its parent), one per hierarchy.
cgroup_dirs() {
    local ctrls path dir v2=/sys/fs/cgroup
    [[ -d /sys/fs/cgroup/unified ]] && v2=/sys/fs/cgroup/unified
    while IFS=: read -r _ ctrls path; do
        [[ $path == */"$2" ]] || continue
        case $ctrls in
            "") dir=$v2$path ;;
            name=*) dir=/sys/fs/cgroup/${ctrls#name=}$path ;;
            *) dir=/sys/fs/cgroup/${ctrls%%,*}$path ;;
        esac
        [[ -d $dir ]] && echo "$dir"
    done <"/proc/$1/cgroup"
}
# The processes in the directories of cgroup_dirs (the container's).
procs_in() { cat "${@/%//cgroup.procs}" 2>/dev/null | sort -un; }
# TaskExit events containerd received from the shims (namespace NS), in the
# debug log LOG.
forwarded_exits() {
    grep -F 'msg="event forwarded"' "$1" | grep -F " ns=$NS " | grep -cF ' topic=/tasks/exit '
}
exits_forwarded_since_restart() { out_is "$1" forwarded_exits "$CTRD_LOG2"; }
some_exit_forwarded() { [[ $(forwarded_exits "$CTRD_LOG2") -ge 1 ]]; }
# What DIR holds (nothing when it does not exist).
entries() { [[ -d $1 ]] || return 0; find "$1" -mindepth 1 -maxdepth 1; }
# The runtime's state directory of container ID.
runtime_state() {
    if [[ $F == berth ]]; then echo "$BERTH_ROOT/$NS/$1"; else echo "$RUNC_ROOT/$NS/$1"; fi
}

# --- containerd stop and start ----------------------------------------------

# SIGTERM to the containerd this script started; it must exit within 20 s.
stop_containerd() {
    local p rest=()
    kill -TERM "$CTRD_PID"
    wait_for "containerd exits on SIGTERM" 20 gone "$CTRD_PID" || return 1
    wait "$CTRD_PID" 2>/dev/null
    for p in "${E2E_PIDS[@]}"; do [[ $p == "$CTRD_PID" ]] || rest+=("$p"); done
    E2E_PIDS=("${rest[@]}")
    pass "containerd exits on SIGTERM"
}

# The same config (root, state, sockets), with debug logging: its
# "event forwarded" lines say what the shims delivered.
start_containerd_again() {
    CTRD_LOG2=$CTRD_DIR/containerd-2.log
    start_daemon containerd "$CTRD_LOG2" containerd --config "$CTRD_DIR/config.toml" \
        --log-level debug
    CTRD_PID=${E2E_PIDS[0]}
    wait_for "containerd comes up again" 30 ctrd version || {
        tail -20 "$CTRD_LOG2" >&2
        exit 1
    }
    pass "containerd starts again on the same root, state and sockets"
}

# --- 1. containerd restarts -------------------------------------------------

# USR1 (from the host) makes the container exit with status 3.
EXITS_CMD='trap "exit 3" USR1; while :; do sleep 0.1; done'

exec_pid() {
    local p
    for p in $(cat /proc/"${SHIM_PID[$F-exec]}"/task/*/children); do
        [[ $(tr '\0' ' ' <"/proc/$p/cmdline") == "sleep 1001 " ]] && echo "$p"
    done
    return 0
}

exec_started() { [[ -n $(exec_pid) ]]; }

restart_setup() {
    local id
    both "import the image" 'c images import "$E2E_IMAGE_TAR"'
    both "ctr run -d: a sleep" 'run_f -d "$E2E_IMAGE" $F-sleep sleep 1000'
    both "ctr run -d: one to exit while containerd is down" \
        'run_f -d "$E2E_IMAGE" $F-exits sh -c "$EXITS_CMD"'
    both "ctr run -d: one to run an exec" 'run_f -d "$E2E_IMAGE" $F-exec sleep 1000'
    both "ctr task exec -d: a sleep in it" 'exec_d --exec-id e1 $F-exec sleep 1001'
    for id in sleep exits exec; do
        each 'INIT[$F-'$id']=$(task_pid $F-'$id')'
        each 'SHIM_PID[$F-'$id']=$(ppid_of "${INIT[$F-'$id']}")'
    done
    both "each container's parent is a live shim" \
        'alive "${SHIM_PID[$F-sleep]}" && alive "${SHIM_PID[$F-exits]}" && alive "${SHIM_PID[$F-exec]}"'
    both "the exec runs" 'eventually 10 exec_started'
    each 'EXEC_PID[$F]=$(exec_pid)'
}

restart_down() {
    stop_containerd || return 1
    both "the shims live on without containerd" \
        'alive "${SHIM_PID[$F-sleep]}" && alive "${SHIM_PID[$F-exits]}" && alive "${SHIM_PID[$F-exec]}"'
    each 'kill -USR1 "${INIT[$F-exits]}"'
    both "a container exits (status 3) while containerd is down" \
        'eventually 10 gone "${INIT[$F-exits]}"'
    both "the sleep runs on" 'alive "${INIT[$F-sleep]}"'
    both "the exec runs on" 'alive "${EXEC_PID[$F]}"'
}

restart_back() {
    start_containerd_again
    both "containerd reconnects to the same shims" \
        'out_is "${SHIM_PID[$F-sleep]} ${SHIM_PID[$F-exec]}" \
            echo "$(ppid_of "$(task_pid $F-sleep)") $(ppid_of "$(task_pid $F-exec)")"'
    both "ctr task ls: the sleep is RUNNING" 'status_is_ $F-sleep RUNNING'
    both "ctr task ls: the one that exited is STOPPED" 'status_is_ $F-exits STOPPED'
    both "ctr task ls: the one with an exec is RUNNING" 'status_is_ $F-exec RUNNING'
    both "containerd receives the exit that happened while it was down" \
        'eventually 30 some_exit_forwarded'
    both "ctr task ps lists the exec started before the restart" \
        'out_matches "(^|[[:space:]])${EXEC_PID[$F]}([[:space:]]|\$)" c tasks ps $F-exec'
    both "ctr task metrics" \
        'out_matches "memory\.usage_in_bytes +[1-9][0-9]*" c tasks metrics $F-exec'
    both "... and that exit exactly once" 'exits_forwarded_since_restart 1'
    both "ctr task exec after the restart" \
        'out_is exec-after-restart c tasks exec --exec-id e2 $F-exec echo exec-after-restart'
    both "ctr task kill of the exec started before the restart" \
        'c tasks kill --exec-id e1 -s KILL $F-exec'
    both "... it exits" 'eventually 10 gone "${EXEC_PID[$F]}"'
    both "ctr task kill" 'c tasks kill -s KILL $F-sleep'
    both "... the sleep is STOPPED" 'eventually 10 status_is_ $F-sleep STOPPED'
    both "ctr task kill of the other" 'c tasks kill -s KILL $F-exec'
    both "... STOPPED" 'eventually 10 status_is_ $F-exec STOPPED'
    both "ctr task delete returns the exit status (3) of the exit while down" \
        'out_matches "exit code 3([^0-9]|\$)" c tasks rm $F-exits'
    both "ctr task delete: status 137 after the kill" \
        'out_matches "exit code 137" c tasks rm $F-sleep'
    both "ctr task delete: status 137" 'out_matches "exit code 137" c tasks rm $F-exec'
    # The exits after the restart: the exec e2, the exec e1, two inits.
    both "each exit reached containerd once" 'eventually 10 exits_forwarded_since_restart 5'
    both "ctr container rm" 'c containers rm $F-sleep $F-exits $F-exec'
    both "the shims exit" 'eventually 20 gone "${SHIM_PID[$F-sleep]}" &&
        eventually 20 gone "${SHIM_PID[$F-exits]}" && eventually 20 gone "${SHIM_PID[$F-exec]}"'
}

# --- 2. a shim SIGKILLed ------------------------------------------------------

# The victim: an init and a child in the container, and an exec.
victim_procs_are() { [[ $(procs_in ${CGROUPS[$F]} | wc -l) -eq $1 ]]; }

kill_setup() {
    both "ctr run -d: the victim (two processes)" \
        'run_f -d "$E2E_IMAGE" $F-victim sh -c "sleep 1000 & exec sleep 1002"'
    both "ctr task exec -d: an exec in the victim" \
        'exec_d --exec-id e1 $F-victim sleep 1003'
    each 'INIT[$F-victim]=$(task_pid $F-victim)'
    each 'SHIM_PID[$F-victim]=$(ppid_of "${INIT[$F-victim]}")'
    each 'CGROUPS[$F]=$(cgroup_dirs "${INIT[$F-victim]}" $F-victim | tr "\n" " ")'
    both "the victim has cgroups" 'test -n "${CGROUPS[$F]}"'
    both "the victim's cgroup holds its three processes" \
        'eventually 10 victim_procs_are 3'
    each 'PROCS[$F]=$(procs_in ${CGROUPS[$F]} | tr "\n" " ")'
    both "the runtime holds the victim's state" 'test -d "$(runtime_state $F-victim)"'
    both "the victim's rootfs is mounted" 'mounted "$TASK_STATE/$NS/$F-victim/rootfs"'
}

kill_shim() {
    each 'kill -KILL "${SHIM_PID[$F-victim]}"'
    both "the SIGKILLed shim is gone" 'eventually 10 gone "${SHIM_PID[$F-victim]}"'
    both "containerd's cleanup (the shim's delete) ends the container's processes" \
        'eventually 20 none_exist $(printf "/proc/%s " ${PROCS[$F]})'
    both "ctr task ls shows no task for it" \
        'eventually 20 out_is "" c tasks ls -q'
    both "the runtime's state is gone" 'eventually 10 none_exist "$(runtime_state $F-victim)"'
    both "the container's cgroups are gone" 'eventually 10 none_exist ${CGROUPS[$F]}'
    both "the rootfs is unmounted" 'not_mounted "$TASK_STATE/$NS/$F-victim/rootfs"'
    both "the bundle is gone" 'eventually 10 none_exist "$TASK_STATE/$NS/$F-victim"'
    both "ctr container rm" 'c containers rm $F-victim'
}

# --- main -----------------------------------------------------------------

declare -A PROCS
restart_setup
restart_down && restart_back
kill_setup
kill_shim

both "no containers left" 'out_is "" c containers ls -q'
both "no tasks left" 'out_is "" c tasks ls -q'
both "no runtime state left" 'out_is "" entries "$(runtime_state "")"'
both "no container cgroups left" 'out_is "" cgroups_below $NS'
both "no bundles left" 'out_is "" entries "$TASK_STATE/$NS"'
expect_out "no rootfs mounts left" "" mounts_under_tmp
printf '%s: %d skipped (failing on the reference too)\n' "$E2E_NAME" "$SKIPPED"
e2e_finish
