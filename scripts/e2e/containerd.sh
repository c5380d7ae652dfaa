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
E2E_CLEANUPS+=("ctr_cleanup_containers" "remove_ns_cgroups $NS")

# ctr run with berth as the runc binary.
ctr_run() { c run --runc-binary "$BERTH" --runc-root "$RUNC_ROOT" "$@"; }

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
ctr_detached_checks ctr_run
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
