#!/usr/bin/env bash
# berth under podman: Debian's podman 4.3 (with conmon) using berth as its OCI
# runtime (containers.conf), with private storage, run dir and config files.
#
#   scripts/e2e/podman.sh        (as root; make e2e runs it)
#
# The host's hard limits cannot be raised here (no CAP_SYS_RESOURCE, nofile
# hard 20000), so every run asks for limits below them, as podman's default
# (nofile 1048576) would fail on any runtime.
E2E_NAME=podman
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CGROUP_PARENT=berth-e2e-podman
e2e_setup

p=$E2E_TMP/podman
mkdir -p "$p/tmp"
cat >"$p/containers.conf" <<EOF
[containers]
cgroupns = "private"
netns = "none"
[engine]
runtime = "berth"
# As README.md documents: podman passes --log-format json only to these.
runtime_supports_json = ["crun", "runc", "kata", "runsc", "krun", "berth"]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$p/events.log"
tmp_dir = "$p/tmp"
[engine.runtimes]
berth = ["$BERTH"]
EOF
podman_private_store "$p"
export CONTAINERS_CONF=$p/containers.conf
E2E_CLEANUPS+=("cleanup_containers" "pm system reset --force" "remove_ns_cgroups $CGROUP_PARENT")
forget_if_new /var/lib/containers   # podman's blob-info cache

# berth is the default runtime of this containers.conf (as README.md documents).
pm() { timeout 60 podman "$@"; }
RUN_FLAGS=(--cgroup-parent "/$CGROUP_PARENT" --ulimit nofile=1024:1024 --ulimit nproc=4096:4096)
run() { pm run "${RUN_FLAGS[@]}" "$@"; }
in_pty() { pty_run "podman $*"; }

cleanup_containers() { pm rm -af -t 0; }
state_of() { pm inspect -f '{{.State.Status}}' "$1"; }
state_is() { [[ $(state_of "$1") == "$2" ]]; }

ok "podman load the busybox image" pm load -i "$E2E_IMAGE_TAR"

expect_out "podman run echo" "Hello World!" run --rm busybox echo "Hello World!"
expect_status "podman run exit status 7" 7 run --rm busybox sh -c 'exit 7'
expect_fail_match "podman run /nonexistent shows berth's error" \
    'berth create failed: .*/nonexistent' run --rm busybox /nonexistent
# podman maps runc's "no such file or directory" text to 127.
expect_status "podman run /nonexistent exits 127" 127 run --rm busybox /nonexistent
# Two lines typed into `podman run -it … sh`.
it_session() { printf 'echo marker-$((1+2))\nexit\n' | in_pty run "${RUN_FLAGS[@]}" --rm -it busybox sh; }
expect_match "podman run -it relays stdin" 'marker-3' it_session
expect_out "--memory 64m" 67108864 \
    run --rm --memory 64m busybox cat /sys/fs/cgroup/memory/memory.limit_in_bytes

ok "podman run -d" run -d --name life busybox sh -c 'trap "exit 0" TERM; while :; do sleep 0.1; done'
wait_for "container running" 20 state_is life running
expect_out "podman exec" "exec-ok" pm exec life echo exec-ok
expect_status "podman exec exit status 5" 5 pm exec life sh -c 'exit 5'
expect_match "podman exec -it" 'tty=/dev/pts/[0-9]+' in_pty exec -it life sh -c "'echo tty=\$(tty)'"
expect_match "podman ran it with berth" "berth" pm inspect -f '{{.OCIRuntime}}' life
# User namespaces (issue 13): podman's --uidmap gives berth linux.uidMappings
# and gidMappings; root inside is 100000 on the host, on a volume too.
vol=$E2E_TMP/uvol
mkdir -p "$vol" && chown 100000:100000 "$vol"
expect_out "podman run --uidmap: root inside, the map" "0 0 100000 65536" \
    run --rm --uidmap 0:100000:65536 --gidmap 0:100000:65536 -v "$vol:/data" busybox \
    sh -c 'touch /data/f; echo $(id -u) $(cat /proc/self/uid_map)'
expect_out "a file made through --uidmap is 100000's on the host" "100000:100000" \
    stat -c %u:%g "$vol/f"

# --userns=auto takes its ranges from the "containers" entries of
# /etc/subuid and /etc/subgid: added for this run, the files restored after.
add_sub_range() {  # add_sub_range FILE LINE
    restore_at_exit "$1"
    echo "$2" >>"$1"
}
add_sub_range /etc/subuid "containers:2000000:1000000"
add_sub_range /etc/subgid "containers:2000000:1000000"
expect_match "podman run --userns=auto: root inside, a map from the containers range" \
    '^0 0 2[0-9]{6} [0-9]+$' \
    run --rm --userns=auto busybox sh -c 'echo $(id -u) $(cat /proc/self/uid_map)'

ok "podman stop" pm stop -t 10 life
expect_out "state exited after stop" exited state_of life
ok "podman rm" pm rm life

expect_out "no containers left" "" pm ps -aq
# podman keeps conmon in <parent>/conmon; that one is podman's, not a container's.
container_cgroups() { cgroups_below "$CGROUP_PARENT" | grep -v '/conmon$' || true; }
expect_out "no container cgroups left" "" container_cgroups
e2e_finish
