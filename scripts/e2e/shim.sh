#!/usr/bin/env bash
# berth's own containerd shim: a private containerd (Debian's 1.6) runs
# containers with `ctr run --runtime io.containerd.berth.v2`; containerd
# finds containerd-shim-berth-v2 on PATH (the build dir) and the shim finds
# berth next to itself. Options go through `--runtime-config-path FILE` (a
# TOML file with the runc option names): our own runtime root, and runc as
# BinaryName for the same shim driving runc.
#
#   scripts/e2e/shim.sh        (as root; make e2e runs it)
E2E_NAME=shim
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

NS=berth-shim-e2e
RT=io.containerd.berth.v2
BIN_DIR=$(dirname "$BERTH")
SHIM=$BIN_DIR/containerd-shim-berth-v2
RUNC=/usr/sbin/runc
[[ -x $SHIM ]] || { e2e_log "no shim at $SHIM (make build)"; exit 1; }

e2e_setup
export PATH=$BIN_DIR:$PATH   # containerd looks the shim up on PATH
start_containerd
BERTH_ROOT=$E2E_TMP/berth-root
RUNC_ROOT=$E2E_TMP/runc-root
cat >"$E2E_TMP/berth.toml" <<EOF
# berth (the default binary) with a private root
Root = "$BERTH_ROOT"
EOF
cat >"$E2E_TMP/runc.toml" <<EOF
BinaryName = "$RUNC"
Root = "$RUNC_ROOT"
EOF
# One run uses the default root, as a plain `--runtime` user would.
DEFAULT_ROOT=/run/containerd/berth/$NS
forget_if_new /run/containerd/berth
E2E_CLEANUPS+=("ctr_cleanup_containers" "remove_ns_cgroups $NS")

# ctr run through our shim, berth with a private root.
shim_run() { c run --runtime "$RT" --runtime-config-path "$E2E_TMP/berth.toml" "$@"; }
# The same shim driving runc.
runc_run() { c run --runtime "$RT" --runtime-config-path "$E2E_TMP/runc.toml" "$@"; }
ctr_tty() { echo "ctr --address $CTRD_SOCK -n $NS"; }

# ctr tasks rm warns with the exit status of the deleted task.
task_rm() { c tasks rm "$1" 2>&1; }
# Live processes running our shim binary.
shim_pids() {
    local p
    for p in /proc/[0-9]*; do
        [[ $(readlink "$p/exe" 2>/dev/null) == "$SHIM" ]] && echo "${p#/proc/}"
    done
    return 0
}
no_shims() { [[ -z $(shim_pids) ]]; }
# Entries DEPTH levels below DIR (none when DIR does not exist).
entries() { [[ -d $1 ]] || return 0; find "$1" -mindepth "$2" -maxdepth "$2"; }
runc_lists() { "$RUNC" --root "$RUNC_ROOT/$NS" list -q | grep -qx "$1"; }

ok "import the busybox image" c images import "$E2E_IMAGE_TAR"
# Every event containerd receives, to count TaskExit and see TaskOOM.
start_daemon "ctr events" "$E2E_TMP/events" ctr --address "$CTRD_SOCK" events
# count_events TOPIC JSON-FRAGMENT: how many TOPIC events contain it.
count_events() { grep -F " $1 " "$E2E_TMP/events" | grep -cF -- "$2"; }

# Foreground runs: output, exit status, namespaces.
expect_out "ctr run echo (default options)" "Hello World!" \
    c run --rm --runtime "$RT" "$E2E_IMAGE" r0 echo "Hello World!"
expect_out "ctr run echo" "Hello World!" shim_run --rm "$E2E_IMAGE" r1 echo "Hello World!"
expect_status "ctr run exit status 7" 7 shim_run --rm "$E2E_IMAGE" r2 sh -c 'exit 7'
expect_match "ctr run sees its own pid namespace" '^1$' \
    shim_run --rm "$E2E_IMAGE" r3 sh -c 'echo $$'
big_output() { shim_run --rm "$E2E_IMAGE" big1 seq 1 200000 | md5sum; }
expect_out "1.3 MB of output arrives whole" "$(seq 1 200000 | md5sum)" big_output
expect_out "ctr run stdin reaches the container" "piped" \
    bash -c "echo piped | timeout 60 $(ctr_tty) run --rm --runtime $RT \
        --runtime-config-path $E2E_TMP/berth.toml $E2E_IMAGE r4 cat"
expect_match "ctr run --tty gets a pty" 'tty=/dev/pts/0' \
    pty_run "$(ctr_tty) run --rm --tty --runtime $RT --runtime-config-path $E2E_TMP/berth.toml \
        $E2E_IMAGE t1 sh -c 'echo tty=\$(tty)'"

# Log URIs: a file, and a logging binary (fds 3 and 4, ready on fd 5).
ok "ctr run --log-uri file://" shim_run --rm --log-uri "file://$E2E_TMP/logs/f1.log" \
    "$E2E_IMAGE" f1 sh -c 'echo to-file; echo err-to-file >&2'
expect_out "file:// log holds stdout and stderr" $'to-file\nerr-to-file' sort -r "$E2E_TMP/logs/f1.log"
cat >"$E2E_TMP/logger.sh" <<'EOF'
#!/bin/sh
# $1 $2 = dir DIR (from the URI query): fd 3 and 4 to files named after the container.
exec 5>&-
cat <&3 >"$2/$CONTAINER_ID.$CONTAINER_NAMESPACE.out" &
cat <&4 >"$2/$CONTAINER_ID.$CONTAINER_NAMESPACE.err" &
wait
EOF
chmod +x "$E2E_TMP/logger.sh"
ok "ctr run --log-uri binary://" shim_run --rm --log-uri "binary://$E2E_TMP/logger.sh?dir=$E2E_TMP/logs" \
    "$E2E_IMAGE" b1 sh -c 'echo to-binary; echo err-to-binary >&2'
wait_for "the logger wrote stdout" 10 grep -qx to-binary "$E2E_TMP/logs/b1.$NS.out" &&
    pass "the logger wrote stdout"
wait_for "the logger wrote stderr" 10 grep -qx err-to-binary "$E2E_TMP/logs/b1.$NS.err" &&
    pass "the logger wrote stderr"

# A detached task: exec, ps, pause/resume, metrics, kill.
ctr_detached_checks shim_run
expect_match "berth holds the state of d1" '"status": *"running"' \
    "$BERTH" --root "$BERTH_ROOT/$NS" state d1
ok "ctr task kill -s KILL" c tasks kill -s KILL d1
wait_for "task d1 stopped" 20 status_is d1 STOPPED
expect_match "ctr task rm reports exit status 137" 'exit code 137' task_rm d1
ok "ctr container rm" c containers rm d1

# Each exit is published exactly once.
expect_out "one TaskExit for the init of d1" 1 count_events /tasks/exit '"container_id":"d1","id":"d1"'
expect_out "one TaskExit for exec e1" 1 count_events /tasks/exit '"container_id":"d1","id":"e1"'
expect_out "one TaskExit for exec e2 (status 5)" 1 count_events /tasks/exit '"id":"e2","pid":'
expect_out "one TaskExit for r2 (status 7)" 1 count_events /tasks/exit '"container_id":"r2"'

# The OOM killer in the container's memory cgroup: TaskOOM.
expect_status "ctr run with 16 MiB of memory is OOM-killed" 137 \
    shim_run --rm --memory-limit 16777216 "$E2E_IMAGE" oom1 tail /dev/zero
wait_for "TaskOOM published" 10 count_events /tasks/oom '"container_id":"oom1"' && pass "TaskOOM published"

# A broken command surfaces berth's error through containerd.
expect_fail_match "missing command shows berth's error" \
    'berth create failed: .*exec: "/nonexistent": stat /nonexistent: no such file or directory' \
    shim_run --rm "$E2E_IMAGE" bad1 /nonexistent

# SystemdCgroup = true in the options file reaches berth as --systemd-cgroup:
# this host's init is not systemd, so berth refuses with runc's text (the
# driver itself is tested under systemd: make test-systemd). A value of the
# wrong type is an error naming the file, the line and the key.
printf 'Root = "%s"\nSystemdCgroup = true\n' "$BERTH_ROOT" >"$E2E_TMP/systemd.toml"
expect_fail_match "SystemdCgroup = true passes --systemd-cgroup to berth" \
    'systemd not running on this host, cannot use systemd cgroups manager' \
    c run --rm --runtime "$RT" --runtime-config-path "$E2E_TMP/systemd.toml" \
    --cgroup system.slice:berth:sd1 "$E2E_IMAGE" sd1 true
printf 'Root = "%s"\nSystemdCgroup = "yes"\n' "$BERTH_ROOT" >"$E2E_TMP/bad-type.toml"
expect_fail_match "options file with a wrong type: file, line and key named" \
    'bad-type.toml: line 2: SystemdCgroup: .*expected a boolean' \
    c run --rm --runtime "$RT" --runtime-config-path "$E2E_TMP/bad-type.toml" \
    "$E2E_IMAGE" sd2 true

# The same shim driving runc (BinaryName).
expect_out "shim + runc: ctr run echo" "hi from runc" \
    runc_run --rm "$E2E_IMAGE" u1 echo "hi from runc"
ok "shim + runc: ctr run -d" runc_run -d "$E2E_IMAGE" u2 sleep 1000
wait_for "task u2 running" 20 status_is u2 RUNNING
ok "runc itself lists u2 (runc made it)" runc_lists u2
expect_out "shim + runc: exec" "exec-runc" c tasks exec --exec-id e1 u2 echo exec-runc
ok "shim + runc: kill" c tasks kill -s KILL u2
wait_for "task u2 stopped" 20 status_is u2 STOPPED
expect_match "shim + runc: rm reports exit status 137" 'exit code 137' task_rm u2
ok "shim + runc: container rm" c containers rm u2
expect_fail_match "shim + runc: missing command shows runc's error" \
    'runc create failed: .*/nonexistent' runc_run --rm "$E2E_IMAGE" bad2 /nonexistent

# Nothing left behind.
expect_out "no containers left" "" c containers ls -q
expect_out "no tasks left" "" c tasks ls -q
wait_for "no shim processes left" 20 no_shims
expect_out "no shim processes left" "" shim_pids
expect_out "no berth state left" "" entries "$BERTH_ROOT" 2
expect_out "no berth state left in the default root" "" entries "$DEFAULT_ROOT" 1
expect_out "no runc state left" "" entries "$RUNC_ROOT" 2
expect_out "no container cgroups left" "" cgroups_below $NS
expect_out "no rootfs mounts left" "" mounts_under_tmp
expect_out "no console sockets left" "" find /tmp -maxdepth 1 -name 'berth-shim-pty-*'
e2e_finish
