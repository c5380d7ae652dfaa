#!/usr/bin/env bash
# berth on a Kubernetes node's CRI path: a private containerd (Debian's 1.6)
# with its CRI plugin and a real CNI bridge (Debian's
# containernetworking-plugins), driven by the project's CRI client
# (spec-tests/cri-client: one CRI call per invocation, as kubelet makes
# them). RuntimeClass handlers:
#   berth -> runtime_type io.containerd.berth.v2 and no options at all (what
#            containerd 1.6 gives a non-runc runtime type without ConfigPath):
#            the shim finds berth next to itself, state in /run/containerd/berth;
#   runc  -> io.containerd.runc.v2 with /usr/sbin/runc, the reference;
#   berth-cfg -> our shim with ConfigPath (an options file with its own Root);
#   berth-bad -> an options file with an unknown key: a clear error.
# The same pod scenario runs on berth and runc, and so does a pod of three
# containers stopped and removed as a whole (its shim exits with it).
#
#   scripts/e2e/cri.sh        (as root; make e2e runs it)
E2E_NAME=cri
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

BIN_DIR=$(dirname "$BERTH")
SHIM=$BIN_DIR/containerd-shim-berth-v2
CRI_CLIENT=$BIN_DIR/cri-client
ROOTFS=${E2E_ROOTFS:-$E2E_REPO/build/bundles/busybox/rootfs}
CNI_BIN=/usr/lib/cni   # Debian's containernetworking-plugins
PAUSE_IMAGE=docker.io/library/berth-pause:e2e
BRIDGE=berthcri0
# The pods' subnet lives only on the bridge and in the pods' netns: no
# traffic leaves the host (no gateway, no masquerading, no forwarding).
SUBNET=10.250.77.0/24
CG_TOP=berth-cri   # the pods' cgroup parents are /berth-cri/<pod>
BERTH_STATE=/run/containerd/berth/k8s.io   # the shim's default root, CRI's namespace
for f in "$SHIM" "$CRI_CLIENT" "$ROOTFS/bin/busybox" "$CNI_BIN/bridge" "$CNI_BIN/host-local"; do
    [[ -x $f ]] || { e2e_log "missing $f (make build e2e-image deps-e2e)"; exit 1; }
done

e2e_setup
export PATH=$BIN_DIR:$PATH   # containerd looks the shim up on PATH
RUNC_ROOT=$E2E_TMP/runc-root
CFG_ROOT=$E2E_TMP/berth-cfg-root
CNI=$E2E_TMP/cni
mkdir -p "$CNI/conf" "$CNI/ipam" "$E2E_TMP/logs"
cat >"$CNI/conf/10-berth-cri.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "berth-cri-e2e",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$BRIDGE",
      "isGateway": false,
      "ipMasq": false,
      "ipam": {
        "type": "host-local",
        "dataDir": "$CNI/ipam",
        "ranges": [[{"subnet": "$SUBNET"}]]
      }
    }
  ]
}
EOF
echo "Root = \"$CFG_ROOT\"" >"$E2E_TMP/berth-shim.toml"
printf 'Root = "%s"\nBogus = 1\n' "$CFG_ROOT" >"$E2E_TMP/bad-shim.toml"
# restrict_oom_score_adj: CRI gives the pod sandbox oom_score_adj -998, and
# lowering a score needs CAP_SYS_RESOURCE, which this host's root lacks
# (the sandbox's create would fail with EACCES); restricted, CRI clamps the
# value to containerd's own (0 here).
CTRD_CRI_CONFIG=$(cat <<EOF
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.berth]
      runtime_type = "io.containerd.berth.v2"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.berth-cfg]
      runtime_type = "io.containerd.berth.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.berth-cfg.options]
        ConfigPath = "$E2E_TMP/berth-shim.toml"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.berth-bad]
      runtime_type = "io.containerd.berth.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.berth-bad.options]
        ConfigPath = "$E2E_TMP/bad-shim.toml"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "/usr/sbin/runc"
        Root = "$RUNC_ROOT"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$CNI_BIN"
    conf_dir = "$CNI/conf"
    max_conf_num = 1
EOF
)
forget_if_new /run/containerd/berth
forget_if_new /var/lib/cni    # libcni's result cache
forget_if_new /var/run/netns  # CRI's network namespaces
E2E_CLEANUPS+=("cri_cleanup" "remove_ns_cgroups $CG_TOP" "ip link del $BRIDGE")
start_containerd
CTRD_PID=${E2E_PIDS[0]}   # the daemon start_containerd just started

cri() { timeout 60 "$CRI_CLIENT" --socket "$CTRD_SOCK" "$@"; }
# The value of KEY in cri-client's `key value` lines on stdin.
field() { awk -v k="$1" '$1 == k { $1 = ""; sub(/^ /, ""); print }'; }
pod_field() { cri pod-status "$1" | field "$2"; }
ctr_field() { cri status "$1" | field "$2"; }
# Stop and remove every pod (an E2E_CLEANUPS entry, after a failed check).
cri_cleanup() {
    local p
    for p in $(cri pods); do
        cri stopp "$p"
        cri rmp "$p"
    done
}

# expect_run NAME RC STDOUT STDERR CMD...: CMD exits RC with exactly that
# stdout and stderr (CR stripped, trailing newlines trimmed).
expect_run() {
    local name=$1 want_rc=$2 want_out=$3 want_err=$4 rc out err
    shift 4
    "$@" >"$E2E_TMP/stdout" 2>"$E2E_TMP/stderr"
    rc=$?
    out=$(tr -d '\r' <"$E2E_TMP/stdout")
    err=$(tr -d '\r' <"$E2E_TMP/stderr")
    if [[ $rc -eq $want_rc && $out == "$want_out" && $err == "$want_err" ]]; then
        pass "$name"
    else
        fail "$name" "command: $*" "exit $rc (want $want_rc)" "stdout: ${out:0:400}" \
            "want: $want_out" "stderr: ${err:0:400}" "want: $want_err"
    fi
}

# expect_rc_match NAME RC REGEX CMD...: CMD exits RC, stdout matches REGEX.
expect_rc_match() {
    local name=$1 want_rc=$2 re=$3 rc out
    shift 3
    "$@" >"$E2E_TMP/stdout" 2>"$E2E_TMP/stderr"
    rc=$?
    out=$(tr -d '\r' <"$E2E_TMP/stdout")
    if [[ $rc -eq $want_rc && $out =~ $re ]]; then
        pass "$name"
    else
        fail "$name" "command: $*" "exit $rc (want $want_rc)" "stdout: ${out:0:600}" \
            "want match: $re" "stderr: $(tail -c 400 "$E2E_TMP/stderr")"
    fi
}

# --- host-side observations ----------------------------------------------

# The parent pid of PID (the field after the command name in its stat).
ppid_of() {
    local s
    s=$(<"/proc/$1/stat") || return 1
    s=${s##*) }
    set -- $s
    echo "$2"
}
# Shim processes serving our containerd (any runtime type).
our_shims() {
    local p
    for p in /proc/[0-9]*; do
        [[ $( { tr '\0' ' ' <"$p/cmdline"; } 2>/dev/null) == *"-address $CTRD_SOCK "* ]] &&
            echo "${p#/proc/}"
    done
    return 0
}
no_shims() { [[ -z $(our_shims) ]]; }
# Those of the pids PID... that still exist.
live_pids() {
    local p
    for p in "$@"; do [[ -e /proc/$p ]] && echo "$p"; done
    return 0
}
# cg_read CGROUPS_PATH V1_CONTROLLER V1_FILE V2_FILE: one value of the
# container's cgroup (v1 when the controller is mounted, else unified).
cg_read() {
    if [[ -d /sys/fs/cgroup/$2 ]]; then
        cat "/sys/fs/cgroup/$2$1/$3"
    else
        cut -d' ' -f1 "/sys/fs/cgroup$1/$4"
    fi
}
cg_memory_limit() { cg_read "$1" memory memory.limit_in_bytes memory.max; }
cg_cpu_quota() { cg_read "$1" cpu cpu.cfs_quota_us cpu.max; }
# log_has FILE STREAM TEXT: FILE has the CRI log line `<RFC 3339 time>
# STREAM F TEXT` (F: a full line; P would be a partial one).
log_has() {
    grep -Eq "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+(Z|[+-][0-9:]+) $2 F $3\$" "$1" 2>/dev/null
}
# IP leases host-local holds (one file per address).
leases() { find "$CNI/ipam" -type f -name '[0-9]*.[0-9]*' 2>/dev/null; }
veths_on_bridge() { ip -o link show master "$BRIDGE" 2>/dev/null; }
netns_list() { ls -A /var/run/netns 2>/dev/null; return 0; }
# libcni's cached results for our network.
cni_results() { find /var/lib/cni/results -name 'berth-cri-e2e-*' 2>/dev/null; return 0; }
entries() { [[ -d $1 ]] || return 0; find "$1" -mindepth 1 -maxdepth 1; }

# --- the pod scenario -----------------------------------------------------

# pod_start H: RunPodSandbox with handler H and two containers, c1 (prints a
# line on stdout and one on stderr, then sleeps; 64 MiB limit) and c2.
# Sets POD, C1, C2, PARGS.
pod_start() {
    local h=$1 pod=$1-pod
    LOGS=$E2E_TMP/logs/$h
    mkdir -p "$LOGS"   # kubelet makes the pod's log directory
    PARGS=(--pod-name "$pod" --log-dir "$LOGS" --cgroup-parent "/$CG_TOP/$pod")
    POD=$(cri runp --handler "$h" "${PARGS[@]}" 2>"$E2E_TMP/stderr")
    if [[ -z $POD ]]; then
        fail "[$h] RunPodSandbox" "$(cat "$E2E_TMP/stderr")"
        return 1
    fi
    pass "[$h] RunPodSandbox"
    expect_out "[$h] the pod is ready" SANDBOX_READY pod_field "$POD" state
    expect_out "[$h] the pod runs on its handler" "$h" pod_field "$POD" runtime_handler
    C1=$(cri create --pod "$POD" "${PARGS[@]}" --name c1 --image "$E2E_IMAGE" \
        --memory 67108864 -- sh -c 'echo started; echo to-stderr >&2; exec sleep inf')
    C2=$(cri create --pod "$POD" "${PARGS[@]}" --name c2 --image "$E2E_IMAGE" -- sleep inf)
    if [[ -z $C1 || -z $C2 ]]; then
        fail "[$h] CreateContainer" "c1=$C1 c2=$C2"
        return 1
    fi
    pass "[$h] CreateContainer c1, c2"
    ok "[$h] StartContainer c1" cri start "$C1"
    ok "[$h] StartContainer c2" cri start "$C2"
    expect_out "[$h] c1 is running" CONTAINER_RUNNING ctr_field "$C1" state
    expect_out "[$h] c2 is running" CONTAINER_RUNNING ctr_field "$C2" state
}

# pod_network H: the pod's netns (from CNI) and its address in the subnet.
pod_network() {
    local h=$1 ip netns
    ip=$(pod_field "$POD" ip)
    netns=$(pod_field "$POD" netns)
    POD_NETNS=$netns
    if [[ $ip == "${SUBNET%.*/*}".* ]]; then pass "[$h] the pod has an address ($ip)"; else
        fail "[$h] the pod has an address in $SUBNET" "ip: $ip"
    fi
    if [[ $netns == /var/run/netns/cni-* && -e $netns ]]; then
        pass "[$h] the pod's netns is $netns"
    else
        fail "[$h] the pod's netns is under /var/run/netns" "netns: $netns"
    fi
    expect_match "[$h] c1 sees the address on eth0" "inet $ip/" \
        cri exec-sync "$C1" -- ip -4 -o addr show eth0
    expect_out "[$h] c1's hostname is the pod's" "$h-pod" cri exec-sync "$C1" -- hostname
    expect_match "[$h] the pod's veth is on the bridge" "master $BRIDGE" veths_on_bridge
}

# pod_shim H SHIM_NAME STATE: the sandbox and both containers are children
# of one shim, SHIM_NAME, serving the whole pod; the runtime's state (with
# no options file for berth) is under STATE.
pod_shim() {
    local h=$1 name=$2 state=$3 sbx spid p1 p2 shims
    sbx=$(pod_field "$POD" pid)
    spid=$(ppid_of "$sbx")
    p1=$(ppid_of "$(ctr_field "$C1" pid)")
    p2=$(ppid_of "$(ctr_field "$C2" pid)")
    shims=$(our_shims | wc -l)
    if [[ -n $spid && $spid == "$p1" && $spid == "$p2" && $shims -eq 1 ]]; then
        pass "[$h] the pod's containers share one shim (pid $spid)"
    else
        fail "[$h] the pod's containers share one shim" \
            "parents: sandbox $spid, c1 $p1, c2 $p2; shims: $shims"
    fi
    expect_out "[$h] the shim is $name" "$name" basename "$(readlink "/proc/$spid/exe")"
    expect_out "[$h] the sandbox's oom_score_adj is containerd's (restricted), not -998" \
        "$(cat "/proc/$CTRD_PID/oom_score_adj")" cat "/proc/$sbx/oom_score_adj"
    expect_out "[$h] runtime state of the sandbox and both containers in $state" \
        "$(printf '%s\n' "$C1" "$C2" "$POD" | sort)" \
        bash -c "ls '$state' | sort"
}

# pod_exec H: ExecSync (status, stdout, stderr, timeout) and streaming exec
# (without a terminal, with stdin, with a terminal and a resize).
pod_exec() {
    local h=$1 start poll procs
    expect_run "[$h] ExecSync: exit status, stdout, stderr" 3 out err \
        cri exec-sync "$C1" -- sh -c 'echo out; echo err >&2; exit 3'
    start=$SECONDS
    expect_fail_match "[$h] ExecSync past its timeout fails" 'timeout 1s exceeded' \
        cri exec-sync "$C1" --timeout 1 -- sleep 30
    if ((SECONDS - start < 10)); then pass "[$h] ExecSync timeout returns early"; else
        fail "[$h] ExecSync timeout returns early" "took $((SECONDS - start)) s"
    fi
    procs=$(cri exec-sync "$C1" -- ps -o args)
    if [[ $procs == *"sleep inf"* && $procs != *"sleep 30"* ]]; then
        pass "[$h] the timed-out command was killed"
    else
        fail "[$h] the timed-out command was killed" "ps: $procs"
    fi
    expect_run "[$h] exec (stream): exit status, stdout, stderr" 5 out err \
        cri exec "$C1" -- sh -c 'echo out; echo err >&2; exit 5'
    expect_run "[$h] exec (stream): stdin" 0 piped "" \
        cri exec "$C1" --stdin $'piped\n' -- head -n 1
    # The resize reaches the pty asynchronously: poll for it (up to 5 s).
    poll='for i in $(seq 50); do s=$(stty size); [ "$s" = "30 100" ] && break; sleep 0.1; done'
    expect_rc_match "[$h] exec (stream) --tty: a pty, resized to 100x30, exit 4" 4 \
        '/dev/pts/[0-9]+.*size=30 100' \
        cri exec "$C1" --tty --resize 100x30 --stdin "tty; $poll; echo size=\$s; exit 4"$'\n' -- sh
}

# pod_stats_logs H: ContainerStats, PodSandboxStats, the CRI log file and
# ReopenContainerLog.
pod_stats_logs() {
    local h=$1 log=$LOGS/c1.log
    expect_match "[$h] ContainerStats: memory working set" \
        $'memory_working_set_bytes [1-9][0-9]*' cri stats "$C1"
    expect_match "[$h] ContainerStats: cpu usage" \
        $'cpu_usage_core_nano_seconds [1-9][0-9]*' cri stats "$C1"
    expect_match "[$h] PodSandboxStats: memory, and both containers" \
        $'memory_working_set_bytes [1-9][0-9]*\n(.*\n)*containers 2$' cri pod-stats "$POD"
    expect_out "[$h] ContainerStatus: the log path" "$log" ctr_field "$C1" log_path
    wait_for "[$h] c1's stdout in its log" 10 log_has "$log" stdout started &&
        pass "[$h] CRI log: c1's stdout line"
    # stdout and stderr are copied to the log independently: wait for each.
    wait_for "[$h] c1's stderr in its log" 10 log_has "$log" stderr to-stderr &&
        pass "[$h] CRI log: c1's stderr line"
    mv "$log" "$log.1"
    ok "[$h] ReopenContainerLog" cri reopen-log "$C1"
    ok "[$h] write to c1's stdout" cri exec-sync "$C1" -- sh -c 'echo reopened >/proc/1/fd/1'
    wait_for "[$h] the new line in the reopened log" 10 log_has "$log" stdout reopened &&
        pass "[$h] output after the reopen goes to the new log file"
    expect_status "[$h] ... not to the old one" 1 grep -q reopened "$log.1"
}

# pod_update H: UpdateContainerResources changes c1's cgroup.
pod_update() {
    local h=$1 cg
    cg=$(ctr_field "$C1" cgroups_path)
    expect_out "[$h] c1's cgroup is below the pod's" "/$CG_TOP/$h-pod/$C1" echo "$cg"
    expect_out "[$h] c1's memory limit is 64 MiB" 67108864 cg_memory_limit "$cg"
    ok "[$h] UpdateContainerResources" \
        cri update "$C1" --memory 134217728 --cpu-period 100000 --cpu-quota 50000
    expect_out "[$h] the memory limit is now 128 MiB" 134217728 cg_memory_limit "$cg"
    expect_out "[$h] the cpu quota is now 50 ms per 100 ms" 50000 cg_cpu_quota "$cg"
}

# pod_teardown H STATE: stop and remove c2, then the pod (c1 still running);
# nothing may be left.
pod_teardown() {
    local h=$1 state=$2
    ok "[$h] StopContainer c2 (sleep ignores SIGTERM: killed after 1 s)" cri stop "$C2" --timeout 1
    expect_out "[$h] c2 exited" CONTAINER_EXITED ctr_field "$C2" state
    expect_out "[$h] c2's exit code is 137 (SIGKILL)" 137 ctr_field "$C2" exit_code
    ok "[$h] RemoveContainer c2" cri rm "$C2"
    expect_out "[$h] c2 is gone" "$C1" cri ps
    ok "[$h] StopPodSandbox" cri stopp "$POD"
    expect_out "[$h] the pod is not ready" SANDBOX_NOTREADY pod_field "$POD" state
    expect_out "[$h] c1 was stopped with the pod" CONTAINER_EXITED ctr_field "$C1" state
    ok "[$h] RemovePodSandbox" cri rmp "$POD"
    expect_out "[$h] the pod is gone" "" cri pods
    expect_out "[$h] its containers are gone" "" cri ps
    wait_for "[$h] the pod's shim exits" 20 no_shims && pass "[$h] the pod's shim exited"
    expect_status "[$h] the pod's netns is gone" 1 test -e "$POD_NETNS"
    expect_out "[$h] no IP lease left" "" leases
    expect_out "[$h] no veth left on the bridge" "" veths_on_bridge
    expect_out "[$h] no container cgroups left" "" cgroups_below "$CG_TOP/$h-pod"
    remove_ns_cgroups "$CG_TOP/$h-pod"   # kubelet removes the pod's cgroup
    expect_out "[$h] no runtime state left" "" entries "$state"
}

pod_scenario() {
    local h=$1 shim=$2 state=$3
    pod_start "$h" || return
    pod_network "$h"
    pod_shim "$h" "$shim" "$state"
    pod_exec "$h"
    pod_stats_logs "$h"
    pod_update "$h"
    pod_teardown "$h" "$state"
}

# pod_of_three H STATE: a pod of three containers on handler H. StopPodSandbox
# alone stops all three, the pod's one shim exits once the last task is
# deleted (StopPodSandbox deletes them), RemovePodSandbox removes the
# containers; nothing is left.
pod_of_three() {
    local h=$1 state=$2 name=$1-pod3 pod id ids=() pids=() shim args
    args=(--pod-name "$name" --log-dir "$E2E_TMP/logs" --cgroup-parent "/$CG_TOP/$name")
    pod=$(cri runp --handler "$h" "${args[@]}" 2>"$E2E_TMP/stderr")
    [[ -n $pod ]] || { fail "[$h] pod of 3: RunPodSandbox" "$(cat "$E2E_TMP/stderr")"; return; }
    for id in p1 p2 p3; do
        id=$(cri create --pod "$pod" "${args[@]}" --name "$id" --image "$E2E_IMAGE" -- sleep inf)
        [[ -n $id ]] && cri start "$id" && ids+=("$id")
    done
    [[ ${#ids[@]} -eq 3 ]] && pass "[$h] pod of 3: three containers started" ||
        fail "[$h] pod of 3: three containers started" "started: ${ids[*]}"
    shim=$(ppid_of "$(pod_field "$pod" pid)")
    for id in "${ids[@]}"; do pids+=("$(ctr_field "$id" pid)"); done
    expect_out "[$h] pod of 3: one shim is the parent of all three" "$shim $shim $shim" \
        echo "$(ppid_of "${pids[0]}") $(ppid_of "${pids[1]}") $(ppid_of "${pids[2]}")"
    ok "[$h] pod of 3: StopPodSandbox" cri stopp "$pod"
    for id in "${!ids[@]}"; do
        expect_out "[$h] pod of 3: p$((id + 1)) was stopped with the pod" \
            CONTAINER_EXITED ctr_field "${ids[id]}" state
    done
    expect_out "[$h] pod of 3: their processes are gone" "" live_pids "${pids[@]}"
    wait_for "[$h] pod of 3: the shim (pid $shim) exits" 20 test ! -e "/proc/$shim" &&
        pass "[$h] pod of 3: the shim (pid $shim) exited with the last task"
    ok "[$h] pod of 3: RemovePodSandbox" cri rmp "$pod"
    expect_out "[$h] pod of 3: the containers are removed" "" cri ps
    expect_out "[$h] pod of 3: the pod is removed" "" cri pods
    expect_out "[$h] pod of 3: no container cgroups left" "" cgroups_below "$CG_TOP/$name"
    remove_ns_cgroups "$CG_TOP/$name"   # kubelet removes the pod's cgroup
    expect_out "[$h] pod of 3: no runtime state left" "" entries "$state"
}

# The options file still works (ConfigPath): berth-cfg's state is in its Root.
config_path_pod() {
    local pod
    pod=$(cri runp --handler berth-cfg --pod-name cfg-pod --log-dir "$E2E_TMP/logs" \
        --cgroup-parent "/$CG_TOP/cfg-pod")
    expect_out "[berth-cfg] RunPodSandbox: the state is under the file's Root" \
        "$CFG_ROOT/k8s.io/$pod/state.json" ls "$CFG_ROOT/k8s.io/$pod/state.json"
    ok "[berth-cfg] StopPodSandbox" cri stopp "$pod"
    ok "[berth-cfg] RemovePodSandbox" cri rmp "$pod"
    expect_out "[berth-cfg] no runtime state left" "" entries "$CFG_ROOT/k8s.io"
    wait_for "[berth-cfg] the shim exits" 20 no_shims && pass "[berth-cfg] the shim exited"
    remove_ns_cgroups "$CG_TOP/cfg-pod"
}

# A mistake in the options file fails RunPodSandbox with the file, line and
# key; nothing of the pod stays (the global checks below).
bad_config_pod() {
    expect_fail_match "[berth-bad] RunPodSandbox fails naming the file, line and key" \
        "$E2E_TMP/bad-shim.toml: line 2: unknown field \`Bogus\`" \
        cri runp --handler berth-bad --pod-name bad-pod --log-dir "$E2E_TMP/logs" \
        --cgroup-parent "/$CG_TOP/bad-pod"
    expect_out "[berth-bad] no pod left" "" cri pods
    wait_for "[berth-bad] the shim exits" 20 no_shims && pass "[berth-bad] the shim exited"
    remove_ns_cgroups "$CG_TOP/bad-pod"
}

# --- main -----------------------------------------------------------------

wait_for "CRI answers" 20 cri version || exit 1
pass "CRI answers: $(cri version | field runtime_version)"
ok "import the busybox image into k8s.io" ctrd -n k8s.io images import "$E2E_IMAGE_TAR"
python3 "$E2E_REPO/scripts/e2e/image.py" "$ROOTFS" "$E2E_TMP/pause.tar" \
    berth-pause:e2e sleep inf >/dev/null
ok "import the sandbox image (busybox, sleep inf)" \
    ctrd -n k8s.io images import "$E2E_TMP/pause.tar"

netns_before=$(netns_list)
pod_scenario berth containerd-shim-berth-v2 "$BERTH_STATE"
pod_scenario runc containerd-shim-runc-v2 "$RUNC_ROOT/k8s.io"
pod_of_three berth "$BERTH_STATE"
pod_of_three runc "$RUNC_ROOT/k8s.io"
config_path_pod
bad_config_pod

expect_out "no pods left" "" cri pods
expect_out "no containers left" "" cri ps
expect_out "no netns left in /var/run/netns" "$netns_before" netns_list
expect_out "no CNI results cached" "" cni_results
expect_out "no mounts under the scratch dir" "" mounts_under_tmp
expect_out "no IP leases left" "" leases
expect_out "no shims left" "" our_shims
ok "delete the bridge" ip link del "$BRIDGE"
expect_status "the bridge is gone" 1 ip link show "$BRIDGE"
e2e_finish
