#!/usr/bin/env bash
# make bench-shim: berth's containerd shim against containerd's runc shim.
# - `ctr run --rm busybox true`, interleaved: our shim + berth, the runc shim
#   + berth, the runc shim + runc (medians, p90);
# - memory and threads of the shim processes with 1 and 10 detached
#   containers (one shim each): RSS, PSS and USS from /proc/PID/smaps_rollup.
# Results go to stdout and build/bench-shim.md.
#   Env: BENCH_SHIM_ITERS (default 30).
E2E_NAME=bench-shim
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ITERS=${BENCH_SHIM_ITERS:-30}
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

export BERTH RUNC ITERS NS E2E_IMAGE E2E_TMP E2E_REPO CTRD_SOCK SHIM RUNC_SHIM
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

mem_rows = []
for label, cfg, exe in (("berth shim", "berth shim + berth", env["SHIM"]),
                        ("containerd-shim-runc-v2", "runc shim + berth", env["RUNC_SHIM"])):
    for count in (1, 10):
        ids = [f"m{count}-{i}" for i in range(count)]
        for cid in ids:
            run(ctr + ["run", "-d"] + configs[cfg] + [image, cid, "sleep", "1000"])
        time.sleep(1)
        stats = [memory(p) for p in shim_pids(exe)]
        avg = [sum(s[k] for s in stats) / len(stats) for k in range(4)]
        mem_rows.append((label, count, len(stats), avg))
        for cid in ids:
            run(ctr + ["tasks", "kill", "-s", "KILL", cid])
        for cid in ids:
            for _ in range(100):
                st = subprocess.run(ctr + ["tasks", "ls"], capture_output=True, text=True).stdout
                if any(l.split()[:1] == [cid] and "STOPPED" in l for l in st.splitlines()):
                    break
                time.sleep(0.1)
            run(ctr + ["tasks", "rm", cid])
            run(ctr + ["containers", "rm", cid])
        for _ in range(100):
            if not shim_pids(exe):
                break
            time.sleep(0.1)

med = {n: statistics.median(v) for n, v in samples.items()}
p90 = {n: percentile(v, 90) for n, v in samples.items()}
out = [f"`ctr run --rm busybox true`, {iters} interleaved iterations, median (p90) in ms", "",
       "| shim + runtime | median | p90 |", "|---|---|---|"]
for n in names:
    out.append(f"| {n} | {med[n]:.1f} | {p90[n]:.1f} |")
out += ["", "Shim processes with N detached containers (one shim each), mean per shim",
        "", "| shim | containers | shims | RSS MiB | PSS MiB | USS MiB | threads |",
        "|---|---|---|---|---|---|---|"]
for label, count, nshims, (rss, pss, uss, thr) in mem_rows:
    out.append(f"| {label} | {count} | {nshims} | {rss/1024:.2f} | {pss/1024:.2f} | {uss/1024:.2f} | {thr:.0f} |")
text = "\n".join(out) + "\n"
print(text)
os.makedirs(os.path.dirname(sys.argv[1]), exist_ok=True)
open(sys.argv[1], "w").write(text)
PY
