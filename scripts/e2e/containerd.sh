#!/usr/bin/env bash
# berth under containerd: a private containerd (Debian's 1.6) whose own runc
# shim (io.containerd.runc.v2) drives berth through `ctr --runc-binary`.
#
#   scripts/e2e/containerd.sh        (as root; make e2e runs it)
E2E_NAME=containerd
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

NS=berth-e2e
e2e_setup
start_containerd
RUNC_ROOT=$E2E_TMP/runc-root
E2E_CLEANUPS+=("cleanup_containers" "remove_ns_cgroups $NS")

c() { ctrd -n "$NS" "$@"; }
# ctr run with berth as the runc binary.
ctr_run() { c run --runc-binary "$BERTH" --runc-root "$RUNC_ROOT" "$@"; }

# Kill and remove whatever a failed check left running.
cleanup_containers() {
    local id
    for id in $(c tasks ls -q 2>/dev/null); do
        c tasks kill -s KILL "$id"
        c tasks rm -f "$id"
    done
    for id in $(c containers ls -q 2>/dev/null); do
        c containers rm "$id"
    done
}

task_status() { c tasks ls | awk -v id="$1" '$1 == id { print $3 }'; }
status_is() { [[ $(task_status "$1") == "$2" ]]; }

ok "import the busybox image" c images import "$E2E_IMAGE_TAR"

# Foreground runs: output, exit status.
expect_out "ctr run echo" "Hello World!" ctr_run --rm "$E2E_IMAGE" r1 echo "Hello World!"
expect_status "ctr run exit status 7" 7 ctr_run --rm "$E2E_IMAGE" r2 sh -c 'exit 7'
expect_match "ctr run sees its own pid namespace" '^1$' \
    ctr_run --rm "$E2E_IMAGE" r3 sh -c 'echo $$'

# With a terminal: ctr needs one itself, so `script` gives it a pty.
expect_match "ctr run --tty gets a pty" 'tty=/dev/pts/0' \
    pty_run "ctr --address $CTRD_SOCK -n $NS run --rm --tty --runc-binary $BERTH \
        --runc-root $RUNC_ROOT $E2E_IMAGE t1 sh -c 'echo tty=\$(tty)'"

# A detached task: exec, ps, pause/resume, metrics, kill.
ok "ctr run -d" ctr_run -d "$E2E_IMAGE" d1 sleep 1000
wait_for "task d1 running" 20 status_is d1 RUNNING
expect_out "ctr task exec" "exec-ok" c tasks exec --exec-id e1 d1 echo exec-ok
expect_status "ctr task exec exit status 5" 5 c tasks exec --exec-id e2 d1 sh -c 'exit 5'
expect_match "ctr task exec --tty" 'tty=/dev/pts/[0-9]+' \
    pty_run "ctr --address $CTRD_SOCK -n $NS tasks exec --tty --exec-id e3 d1 \
        sh -c 'echo tty=\$(tty)'"
d1_pid=$(c tasks ls | awk '$1 == "d1" { print $2 }')
expect_match "ctr task ps lists the init (pid $d1_pid)" "(^|[[:space:]])$d1_pid([[:space:]]|\$)" c tasks ps d1
ok "ctr task pause" c tasks pause d1
expect_out "task is PAUSED" "PAUSED" task_status d1
expect_status "exec into a paused task fails" 1 c tasks exec --exec-id e4 d1 true
ok "ctr task resume" c tasks resume d1
expect_out "task is RUNNING again" "RUNNING" task_status d1
expect_match "ctr task metrics" 'pids|memory|cpu' c tasks metrics d1
ok "ctr task kill -s KILL" c tasks kill -s KILL d1
wait_for "task d1 stopped" 20 status_is d1 STOPPED
ok "ctr task rm" c tasks rm d1
ok "ctr container rm" c containers rm d1

# A broken command surfaces berth's error through containerd.
expect_fail_match "missing command shows berth's error" \
    'berth create failed: .*exec: "/nonexistent": stat /nonexistent: no such file or directory' \
    ctr_run --rm "$E2E_IMAGE" bad1 /nonexistent

expect_out "no containers left" "" c containers ls -q
expect_out "no berth state left" "" find "$RUNC_ROOT" -mindepth 2 -maxdepth 2
expect_out "no container cgroups left" "" cgroups_below $NS
e2e_finish
