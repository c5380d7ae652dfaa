#!/usr/bin/env bash
# make bench-shim: berth's containerd shim against containerd's runc shim.
# - `ctr run --rm busybox true`, interleaved: our shim + berth, the runc shim
#   + berth, the runc shim + runc (medians, p90);
# - memory and threads per shim with BENCH_SHIM_PODS "pods" (default 20):
#   a sandbox container and a second container joined to its shim by the
#   io.kubernetes.cri.sandbox-id annotation (as CRI sets it), and one exec
#   running in the second: RSS, PSS, USS (Private_Clean + Private_Dirty)
#   from /proc/PID/smaps_rollup, threads from /proc/PID/status; our shim
#   next to containerd's runc shim (with runc);
# - growth with uptime: our shim's USS, threads and open fds after
#   BENCH_SHIM_EXECS (default 200) execs run one after another in one pod,
#   against after a warm-up of 20.
# Results go to stdout and build/bench-shim.md.
#   Env: BENCH_SHIM_ITERS (default 30), BENCH_SHIM_PODS, BENCH_SHIM_EXECS.
E2E_NAME=bench-shim
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ITERS=${BENCH_SHIM_ITERS:-30}
PODS=${BENCH_SHIM_PODS:-20}
EXECS=${BENCH_SHIM_EXECS:-200}
RUNC=${RUNC:-/usr/sbin/runc}
NS=berth-bench-shim
BIN_DIR=$(dirname "$BERTH")
SHIM=$BIN_DIR/containerd-shim-berth-v2
RUNC_SHIM=$(command -v containerd-shim-runc-v2)

e2e_setup
export PATH=$BIN_DIR:$PATH
start_containerd
forget_if_new /run/containerd/runc
forget_if_new /run/containerd/berth   # our shim's default root
E2E_CLEANUPS+=("cleanup_containers" "remove_ns_cgroups $NS")
cleanup_containers() {
    local id
    for id in $(ctrd -n "$NS" tasks ls -q 2>/dev/null); do
        ctrd -n "$NS" tasks kill -s KILL "$id"
        ctrd -n "$NS" tasks rm -f "$id"
    done
    for id in $(ctrd -n "$NS" containers ls -q 2>/dev/null); do
        ctrd -n "$NS" containers rm "$id"
    done
}
echo "Root = \"$E2E_TMP/root-shim\"" >"$E2E_TMP/berth.toml"
ctrd -n "$NS" images import "$E2E_IMAGE_TAR" >/dev/null

export BERTH RUNC ITERS PODS EXECS NS E2E_IMAGE E2E_TMP E2E_REPO CTRD_SOCK SHIM RUNC_SHIM
python3 - "$E2E_REPO/build/bench-shim.md" <<'PY'
import os, statistics, subprocess, sys, time
sys.path.insert(0, os.path.join(os.environ["E2E_REPO"], "scripts"))
from bench import percentile  # make bench's nearest-rank percentile

env = os.environ
iters, tmp, image, ns = int(env["ITERS"]), env["E2E_TMP"], env["E2E_IMAGE"], env["NS"]
ctr = ["ctr", "--address", env["CTRD_SOCK"], "-n", ns]
configs = {
    "berth shim + berth": ["--runtime", "io.containerd.berth.v2",
                           "--runtime-config-path", os.path.join(tmp, "berth.toml")],
    "runc shim + berth": ["--runc-binary", env["BERTH"], "--runc-root", os.path.join(tmp, "root-berth")],
    "runc shim + runc": ["--runc-binary", env["RUNC"], "--runc-root", os.path.join(tmp, "root-runc")],
}

def run(argv):
    p = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=60)
    if p.returncode != 0:
        raise SystemExit(f"bench-shim: {' '.join(argv)} failed: {p.stderr.decode()[-400:]}")

def timed(argv):
    t = time.perf_counter()
    run(argv)
    return (time.perf_counter() - t) * 1000

names = list(configs)
for n in names:  # warm-up
    timed(ctr + ["run", "--rm"] + configs[n] + [image, "warm", "true"])
samples = {n: [] for n in names}
for i in range(iters):
    order = names[i % 3:] + names[:i % 3]
    for n in order:
        samples[n].append(timed(ctr + ["run", "--rm"] + configs[n] + [image, f"b{i}", "true"]))

def shim_pids(exe):
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                if os.readlink(f"/proc/{d}/exe") == exe:
                    out.append(int(d))
            except OSError:
                pass
    return out

def memory(pid):
    kb = {}
    for line in open(f"/proc/{pid}/smaps_rollup"):
        parts = line.split()
        if len(parts) >= 2 and parts[0].endswith(":") and parts[1].isdigit():
            kb[parts[0][:-1]] = int(parts[1])
    threads = next(int(l.split()[1]) for l in open(f"/proc/{pid}/status") if l.startswith("Threads:"))
    uss = kb.get("Private_Clean", 0) + kb.get("Private_Dirty", 0)
    return kb.get("Rss", 0), kb.get("Pss", 0), uss, threads

SANDBOX = "io.kubernetes.cri.sandbox-id"
pods = int(env["PODS"])

def stopped(cid):
    st = subprocess.run(ctr + ["tasks", "ls"], capture_output=True, text=True).stdout
    return any(l.split()[:1] == [cid] and "STOPPED" in l for l in st.splitlines())

def remove(ids):
    """Kills and removes the containers, the sandboxes last (their shim
    exits with its last task)."""
    for cid in ids:
        run(ctr + ["tasks", "kill", "-s", "KILL", cid])
    for cid in ids:
        for _ in range(100):
            if stopped(cid):
                break
            time.sleep(0.1)
        run(ctr + ["tasks", "rm", cid])
        run(ctr + ["containers", "rm", cid])

def wait_no_shims(exe):
    for _ in range(100):
        if not shim_pids(exe):
            return
        time.sleep(0.1)
    raise SystemExit(f"bench-shim: shims of {exe} still running")

def start_pod(cfg, pod):
    """Sandbox + a container in its shim + one exec running in it."""
    ann = ["--annotation", f"{SANDBOX}={pod}"]
    run(ctr + ["run", "-d"] + ann + configs[cfg] + [image, pod, "sleep", "1000"])
    run(ctr + ["run", "-d"] + ann + configs[cfg] + [image, pod + "-c", "sleep", "1000"])
    run(ctr + ["tasks", "exec", "-d", "--exec-id", "x", pod + "-c", "sleep", "1000"])

mem_rows = []
for label, cfg, exe in (("berth shim + berth", "berth shim + berth", env["SHIM"]),
                        ("containerd-shim-runc-v2 + runc", "runc shim + runc", env["RUNC_SHIM"])):
    names_ = [f"p{i}" for i in range(pods)]
    for pod in names_:
        start_pod(cfg, pod)
    time.sleep(1)
    stats = [memory(p) for p in shim_pids(exe)]
    if len(stats) != pods:
        raise SystemExit(f"bench-shim: {label}: {len(stats)} shims for {pods} pods")
    avg = [sum(s[k] for s in stats) / len(stats) for k in range(4)]
    mx = [max(s[k] for s in stats) for k in range(4)]
    mem_rows.append((label, pods, len(stats), avg, mx))
    remove([p + "-c" for p in names_] + names_)
    wait_no_shims(exe)

# Growth with uptime: execs one after another in one pod.
execs = int(env["EXECS"])
start_pod("berth shim + berth", "g0")
time.sleep(0.5)
(gpid,) = shim_pids(env["SHIM"])
def exec_true(k):
    run(ctr + ["tasks", "exec", "--exec-id", f"t{k}", "g0-c", "true"])
for k in range(20):
    exec_true(k)
def fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))
base, base_fds = memory(gpid), fds(gpid)
for k in range(20, 20 + execs):
    exec_true(k)
after, after_fds = memory(gpid), fds(gpid)
remove(["g0-c", "g0"])
wait_no_shims(env["SHIM"])

med = {n: statistics.median(v) for n, v in samples.items()}
p90 = {n: percentile(v, 90) for n, v in samples.items()}
out = [f"`ctr run --rm busybox true`, {iters} interleaved iterations, median (p90) in ms", "",
       "| shim + runtime | median | p90 |", "|---|---|---|"]
for n in names:
    out.append(f"| {n} | {med[n]:.1f} | {p90[n]:.1f} |")
ratio = med["berth shim + berth"] / med["runc shim + runc"]
out += ["", f"Latency ratio, berth shim + berth / runc shim + runc (medians): {ratio:.2f}x"]
out += ["", f"Per pod shim with {pods} pods (sandbox + a container in its shim + one exec running): "
        "mean (max)",
        "", "| shim | pods | shims | RSS MiB | PSS MiB | USS MiB | threads |",
        "|---|---|---|---|---|---|---|"]
for label, count, nshims, avg, mx in mem_rows:
    cells = " | ".join(f"{a/1024:.2f} ({m/1024:.2f})" for a, m in zip(avg[:3], mx[:3]))
    out.append(f"| {label} | {count} | {nshims} | {cells} | {avg[3]:.1f} ({mx[3]}) |")
out += ["", f"berth shim after {execs} more execs, one after another (after a warm-up of 20): "
        f"USS {base[2]} -> {after[2]} KiB ({after[2] - base[2]:+d} KiB), "
        f"threads {base[3]} -> {after[3]}, open fds {base_fds} -> {after_fds}"]
text = "\n".join(out) + "\n"
print(text)
os.makedirs(os.path.dirname(sys.argv[1]), exist_ok=True)
open(sys.argv[1], "w").write(text)
PY
