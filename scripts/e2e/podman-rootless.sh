#!/usr/bin/env bash
# berth under rootless podman (issue 13): a test user made for this run, with
# subordinate ids in /etc/subuid and /etc/subgid and a $XDG_RUNTIME_DIR,
# runs `berth spec --rootless` + `berth run`, then Debian's podman 4.3 with
# `--runtime berth` (and the same podman checks with runc as the reference).
#
#   scripts/e2e/podman-rootless.sh        (as root; make e2e runs it)
#
# Podman rootless runs the runtime as root of its own user namespace (the
# pause process's), with no user namespace in config.json and no cgroup on
# this cgroup v1 host. Everything the user starts runs in a private mount
# namespace (a holder process): when the host's /dev/net/tun is not open to
# users (0600: no udev rule here; Debian's udev makes it 0666), a 0666 node
# is bound over it there, so slirp4netns, podman's default rootless network,
# works without touching the host's node. At the end every process of the
# user and its subordinate ids is killed, the user removed (userdel -r), the
# two files restored byte for byte, and /run/user/<uid> removed.
E2E_NAME=podman-rootless
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

RL_USER=${RL_USER:-berthrl}
RL_SUB=5000000     # first subordinate id: apart from the other tests' ranges
RL_COUNT=65536
RUNC=${RUNC:-/usr/sbin/runc}
RL_UID=-1 RL_GID=-1 RL_HOLDER=""   # set below; cleanups run whatever was reached
e2e_setup

for tool in newuidmap newgidmap slirp4netns podman useradd setpriv nsenter; do
    command -v "$tool" >/dev/null || { e2e_log "$tool is missing (make deps-e2e)"; exit 1; }
done
if id "$RL_USER" >/dev/null 2>&1; then
    e2e_log "user $RL_USER exists already (left by a run?); not touching it"
    exit 1
fi

# --- the user, its ranges and runtime dir ---------------------------------

# /etc/subuid and /etc/subgid as they were (restore_at_exit), restored after userdel (which
# edits them too); useradd may allocate a range of its own: replaced by ours.
set_sub_file() {  # set_sub_file FILE: the saved text plus our range
    local f=$1 saved=$E2E_TMP/${1##*/}.orig
    { [[ -e $saved ]] && cat "$saved"; echo "$RL_USER:$RL_SUB:$RL_COUNT"; } >"$f"
}

RL_HOME=$E2E_TMP/home
# Cleanups run in order: containers, then every process, then the user.
E2E_CLEANUPS+=("rl_remove_containers" "rl_kill_all")
restore_at_exit /etc/subuid
restore_at_exit /etc/subgid
useradd -M -d "$RL_HOME" -U -s /bin/sh "$RL_USER" || { e2e_log "useradd failed"; exit 1; }
# Before the files' restore in the list: userdel first.
E2E_CLEANUPS=("${E2E_CLEANUPS[@]:0:2}" "userdel -r -f '$RL_USER'" "${E2E_CLEANUPS[@]:2}")
set_sub_file /etc/subuid
set_sub_file /etc/subgid
RL_UID=$(id -u "$RL_USER")
RL_GID=$(id -g "$RL_USER")
mkdir -m 700 "$RL_HOME" && chown "$RL_USER:$RL_USER" "$RL_HOME"

forget_if_new /run/user
RL_XDG=/run/user/$RL_UID
if [[ -e $RL_XDG ]]; then
    e2e_log "$RL_XDG exists already; not touching it"
    exit 1
fi
mkdir -p /run/user && mkdir -m 700 "$RL_XDG" && chown "$RL_USER:$RL_USER" "$RL_XDG"
E2E_CLEANUPS+=("rm -rf '$RL_XDG'")

# Every pid of the user or of its subordinate ids (conmon, the pause
# process, slirp4netns, containers): all started by this test.
rl_pids() {
    ps -e -o pid=,uid= | awk -v u="$RL_UID" -v s="$RL_SUB" -v n="$RL_COUNT" \
        '$2 == u || ($2 >= s && $2 < s + n) { print $1 }'
}
rl_kill_all() {
    local i pids
    ((RL_UID >= 0)) || return 0
    for ((i = 0; i < 100; i++)); do
        pids=$(rl_pids)
        [[ -z $pids ]] && return 0
        # shellcheck disable=SC2086
        kill -KILL $pids 2>/dev/null
        sleep 0.1
    done
    e2e_log "processes of $RL_USER left: $(rl_pids | tr '\n' ' ')"
}

# The holder of the user's private mount namespace.
start_holder() {
    local node="" ready=$E2E_TMP/holder.ready
    if ! setpriv --reuid="$RL_UID" --regid="$RL_GID" --clear-groups \
        sh -c 'exec 3<>/dev/net/tun' 2>/dev/null; then
        node=$E2E_TMP/tun
        mknod -m 666 "$node" c 10 200
        e2e_log "/dev/net/tun is not open to users here: a 0666 node is bound over it for $RL_USER"
    fi
    # shellcheck disable=SC2016
    start_daemon "mount namespace holder" "$E2E_TMP/holder.log" \
        unshare --mount --propagation private sh -c \
        '[ -z "$1" ] || mount --bind "$1" /dev/net/tun || exit 1; : >"$2"; exec sleep infinity' \
        sh "$node" "$ready"
    RL_HOLDER=${E2E_PIDS[0]}
    wait_for "the mount namespace holder is ready" 10 test -e "$ready" || exit 1
}
start_holder

# u CMD...: CMD as the test user, in its mount namespace, with a login's
# environment (no systemd-logind here: XDG_RUNTIME_DIR is ours), from its home.
u() {
    timeout 60 nsenter -t "$RL_HOLDER" -m -- \
        setpriv --reuid="$RL_UID" --regid="$RL_GID" --init-groups \
        env -i -C "$RL_HOME" HOME="$RL_HOME" USER="$RL_USER" LOGNAME="$RL_USER" \
        XDG_RUNTIME_DIR="$RL_XDG" PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin "$@"
}

ok "berth is executable by $RL_USER" u test -x "$BERTH"

# --- podman's configuration, the image --------------------------------------

RL_DRIVER=${RL_DRIVER:-overlay}
u mkdir -p "$RL_HOME/.config/containers"
u sh -c "cat >'$RL_HOME/.config/containers/storage.conf'" <<EOF
[storage]
driver = "$RL_DRIVER"
EOF
u sh -c "cat >'$RL_HOME/.config/containers/containers.conf'" <<EOF
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
# podman asks runtimes in this list for JSON logs (--log-format json) and
# shows the msg of the error line; others' text lines are shown as they are.
runtime_supports_json = ["crun", "runc", "kata", "runsc", "krun", "berth"]
EOF
cp "$E2E_IMAGE_TAR" "$E2E_TMP/busybox.tar" && chmod 644 "$E2E_TMP/busybox.tar"

pm() { u podman "$@"; }
rl_remove_containers() {
    local rt
    [[ -n $RL_HOLDER ]] || return 0
    for rt in "$BERTH" "$RUNC"; do pm --runtime "$rt" rm -af -t 0; done
}

ok "podman load as $RL_USER" pm load -q -i "$E2E_TMP/busybox.tar"
expect_out "podman rootless storage driver" "$RL_DRIVER" pm info -f '{{.Store.GraphDriverName}}'

# --- berth spec --rootless + berth run, no podman -------------------------

u mkdir -p "$RL_HOME/bundle/rootfs"
ok "busybox rootfs in $RL_USER's home" u sh -c \
    "tar -xOf '$E2E_TMP/busybox.tar' --wildcards '*/layer.tar' | tar -x -C '$RL_HOME/bundle/rootfs'"
spec_and_run() {  # spec_and_run RUNTIME: spec --rootless, args id, run
    rm -f "$RL_HOME/bundle/config.json"
    u "$1" spec --rootless --bundle "$RL_HOME/bundle" || return 1
    u python3 -c 'import json, sys
p = sys.argv[1] + "/config.json"
c = json.load(open(p))
c["process"]["args"] = ["id"]
c["process"]["terminal"] = False
json.dump(c, open(p, "w"))' "$RL_HOME/bundle" || return 1
    u "$1" run --bundle "$RL_HOME/bundle" rl-spec
}
for rt in "$BERTH" "$RUNC"; do
    n=${rt##*/}
    expect_match "$n: spec --rootless + run as $RL_USER: root inside" \
        '^uid=0\(root\) gid=0\(root\)' spec_and_run "$rt"
    expect_out "$n: nothing left in \$XDG_RUNTIME_DIR/$n" "" u "$rt" list -q
done

# --- podman checks, on berth and on runc ------------------------------------

# A host listener on the host's first global IPv4 address: what a container
# on slirp4netns reaches through the user's sockets.
RL_HOST_IP=$(ip -4 -o addr show scope global | awk '{ sub("/.*", "", $4); print $4; exit }')
RL_TOKEN=berth-rl-$$
if [[ -n $RL_HOST_IP ]]; then
    start_daemon "tcp listener" "$E2E_TMP/listener.log" python3 -c '
import socket, sys
s = socket.socket()
s.bind((sys.argv[1], 0))
s.listen(8)
with open(sys.argv[2] + ".tmp", "w") as f:
    f.write(str(s.getsockname()[1]))
import os; os.rename(sys.argv[2] + ".tmp", sys.argv[2])
while True:
    c, _ = s.accept()
    c.sendall(sys.argv[3].encode() + b"\n")
    c.close()' "$RL_HOST_IP" "$E2E_TMP/port" "$RL_TOKEN"
    wait_for "the tcp listener is up" 10 test -s "$E2E_TMP/port" || exit 1
    RL_PORT=$(cat "$E2E_TMP/port")
fi

state_of() { pm inspect -f '{{.State.Status}}' "$1"; }
state_is() { [[ $(state_of "$1") == "$2" ]]; }
owner_of() { stat -c %U:%G "$1"; }

podman_checks() {  # podman_checks RUNTIME
    local rt=$1 n=${1##*/} vol
    local run=(pm --runtime "$rt" run --rm)
    expect_out "$n: podman run --network none id" "uid=0(root) gid=0(root)" \
        "${run[@]}" --network none busybox id
    expect_match "$n: podman run (slirp4netns): tap0 has 10.0.2.100" \
        'inet 10\.0\.2\.100/' "${run[@]}" busybox ip -o -4 addr show tap0
    if [[ -n $RL_HOST_IP ]]; then
        expect_out "$n: podman run (slirp4netns) reaches $RL_HOST_IP:$RL_PORT" "$RL_TOKEN" \
            "${run[@]}" busybox nc "$RL_HOST_IP" "$RL_PORT"
    else
        echo "skip $n: podman run (slirp4netns) reaches the host: no global IPv4 address here"
    fi
    # No cgroup of its own: the cgroup mount shows the ones it stays in.
    expect_match "$n: /sys/fs/cgroup shows the cgroup hierarchies" '(^| )(pids|cgroup\.procs)( |$)' \
        "${run[@]}" --network none busybox sh -c 'echo $(ls /sys/fs/cgroup)'
    vol=$RL_HOME/vol-$n
    u mkdir -p "$vol"
    expect_out "$n: podman run -v: write as root inside" "0" \
        "${run[@]}" --network none -v "$vol:/data" busybox sh -c 'touch /data/f && id -u'
    expect_out "$n: the file is $RL_USER's on the host" "$RL_USER:$RL_USER" owner_of "$vol/f"
    expect_status "$n: podman run exit status 7" 7 \
        "${run[@]}" --network none busybox sh -c 'exit 7'
    expect_fail_match "$n: podman run /nonexistent: runc's message" \
        "$n create failed: unable to start container process: exec: \"/nonexistent\": stat /nonexistent: no such file or directory" \
        "${run[@]}" --network none busybox /nonexistent
    expect_status "$n: podman run /nonexistent exits 127" 127 \
        "${run[@]}" --network none busybox /nonexistent

    ok "$n: podman run -d" pm --runtime "$rt" run -d --name "life-$n" --network none busybox \
        sh -c 'trap "exit 0" TERM; while :; do sleep 0.1; done'
    wait_for "$n: container running" 20 state_is "life-$n" running
    expect_out "$n: podman exec" "exec-ok 0" pm --runtime "$rt" exec "life-$n" sh -c 'echo exec-ok $(id -u)'
    expect_status "$n: podman exec exit status 5" 5 pm --runtime "$rt" exec "life-$n" sh -c 'exit 5'
    expect_out "$n: podman ran it with $n" "$rt" pm inspect -f '{{.OCIRuntime}}' "life-$n"
    ok "$n: podman stop" pm --runtime "$rt" stop -t 10 "life-$n"
    expect_out "$n: state exited 0 after stop" "exited 0" \
        pm inspect -f '{{.State.Status}} {{.State.ExitCode}}' "life-$n"
    ok "$n: podman rm" pm --runtime "$rt" rm "life-$n"
}

# Median wall time (ms) of 5 `podman run --rm --network none busybox true`.
median_run_ms() {
    local rt=$1 i t0 ts=()
    for ((i = 0; i < 5; i++)); do
        t0=$(date +%s%N)
        pm --runtime "$rt" run --rm --network none busybox true >/dev/null 2>&1 || return 1
        ts+=($((($(date +%s%N) - t0) / 1000000)))
    done
    printf '%s\n' "${ts[@]}" | sort -n | sed -n 3p
}

for rt in "$BERTH" "$RUNC"; do
    podman_checks "$rt"
done
for rt in "$BERTH" "$RUNC"; do
    e2e_log "${rt##*/}: podman run --rm --network none true, median of 5: $(median_run_ms "$rt") ms"
done

expect_out "no containers left" "" pm ps -aq
# Rootless podman on cgroup v1 makes no cgroup, nor may berth or runc: none
# in any hierarchy belongs to the user or its subordinate ids.
user_cgroups() {
    find /sys/fs/cgroup -mindepth 1 -type d \( -uid "$RL_UID" -o -uid "$RL_SUB" \) 2>/dev/null
}
expect_out "no cgroup of $RL_USER" "" user_cgroups
e2e_finish
