#!/usr/bin/env bash
# berth under Docker: a private dockerd (Debian's docker.io 20.10) on a
# private containerd, berth registered as runtime "berth" (daemon.json), no
# bridge and no iptables. Drives the docker CLI through the container
# lifecycle.
#
#   scripts/e2e/docker.sh        (as root; make e2e runs it)
E2E_NAME=docker
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CGROUP_PARENT=berth-e2e-docker

e2e_setup
start_containerd
start_dockerd berth-e2e-docker "$CGROUP_PARENT" "berth=$BERTH"
E2E_CLEANUPS+=("cleanup_containers" "remove_ns_cgroups $CGROUP_PARENT")

run() { dk run --runtime berth "$@"; }
# A docker command under a pty of its own (for -t / -it).
in_pty() { pty_run "$DOCKER_CLI -H $DOCKER_HOST $*"; }

cleanup_containers() {
    local ids
    ids=$(dk ps -aq)
    [[ -n $ids ]] && dk rm -f $ids
}

state_of() { dk inspect -f '{{.State.Status}}' "$1"; }
state_is() { [[ $(state_of "$1") == "$2" ]]; }

ok "docker load the busybox image" dk load -i "$E2E_IMAGE_TAR"

# The seed scenario.
expect_out "docker run echo" "Hello World!" run --rm busybox echo "Hello World!"
expect_status "docker run exit status 7" 7 run --rm busybox sh -c 'exit 7'
expect_fail_match "docker run /nonexistent shows berth's error" \
    'OCI runtime create failed: berth create failed: .*exec: "/nonexistent": stat /nonexistent: no such file or directory' \
    run --rm busybox /nonexistent
expect_status "docker run /nonexistent exits 127 (as with runc)" 127 run --rm busybox /nonexistent
expect_match "docker run -t has a pty" 'tty=/dev/pts/0' \
    in_pty run --rm -t --runtime berth busybox sh -c "'echo tty=\$(tty)'"
# Two lines typed into `docker run -it … sh`.
it_session() { printf 'echo marker-$((1+2))\nexit\n' | in_pty run --rm -it --runtime berth busybox sh; }
expect_match "docker run -it relays stdin" 'marker-3' it_session

# Resources and security options, seen from inside.
expect_out "--memory 64m" 67108864 \
    run --rm --memory 64m busybox cat /sys/fs/cgroup/memory/memory.limit_in_bytes
expect_out "--pids-limit 20" 20 \
    run --rm --pids-limit 20 busybox cat /sys/fs/cgroup/pids/pids.max
expect_fail_match "--read-only rootfs" 'Read-only file system' \
    run --rm --read-only busybox touch /x
expect_out "--cap-drop ALL" "CapEff:	0000000000000000" \
    run --rm --cap-drop ALL busybox grep CapEff /proc/self/status
expect_out "--user 1000" "1000" run --rm --user 1000 busybox id -u
expect_out "default seccomp profile applied" "Seccomp:	2" \
    run --rm busybox grep '^Seccomp:' /proc/self/status
expect_out "seccomp=unconfined" "Seccomp:	0" \
    run --rm --security-opt seccomp=unconfined busybox grep '^Seccomp:' /proc/self/status
expect_fail_match "default profile refuses unshare" 'Operation not permitted' \
    run --rm busybox unshare -m true

# A detached container through its lifecycle.
ok "docker run -d" run -d --name life busybox sh -c 'trap "exit 0" TERM; while :; do sleep 0.1; done'
wait_for "container running" 20 state_is life running
expect_out "docker exec" "exec-ok" dk exec life echo exec-ok
expect_status "docker exec exit status 5" 5 dk exec life sh -c 'exit 5'
expect_match "docker exec -t" 'tty=/dev/pts/[0-9]+' in_pty exec -t life sh -c "'echo tty=\$(tty)'"
expect_match "docker top" 'sleep|sh' dk top life
expect_match "docker stats --no-stream" '^life [0-9.]+[KMG]?i?B / ' \
    dk stats --no-stream --format '{{.Name}} {{.MemUsage}}' life
ok "docker pause" dk pause life
expect_out "state paused" paused state_of life
ok "docker unpause" dk unpause life
expect_out "state running" running state_of life
ok "docker stop" dk stop -t 10 life
expect_out "state exited after stop" exited state_of life
expect_out "exit code 0 after TERM" 0 dk inspect -f '{{.State.ExitCode}}' life
ok "docker start" dk start life
wait_for "running again" 20 state_is life running
ok "docker kill" dk kill life
wait_for "exited after kill" 20 state_is life exited
expect_out "exit code 137 after KILL" 137 dk inspect -f '{{.State.ExitCode}}' life
expect_out "the container ran on berth" berth dk inspect -f "{{.HostConfig.Runtime}}" life
ok "docker rm" dk rm life

expect_out "no containers left" "" dk ps -aq
expect_out "no container cgroups left" "" cgroups_below $CGROUP_PARENT
e2e_finish
