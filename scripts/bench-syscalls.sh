#!/usr/bin/env bash
# System calls, page faults and context switches of `run true` and
# `exec true` (in a running container): berth vs crun vs runc.
#   scripts/bench-syscalls.sh        (as root; prints a Markdown table,
#                                     also written to build/bench-syscalls.md)
# strace -c -f: every call of the runtime and of the processes it starts
# (the container's `true` included: the same busybox for all three), the
# median of SYSCALL_RUNS runs. /usr/bin/time -v: faults and switches of the
# runtime and the children it reaped, the median of TIME_RUNS runs.
# Env: BERTH, RUNC, CRUN, SYSCALL_RUNS (default 3), TIME_RUNS (default 9).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
[[ $EUID -eq 0 ]] || { echo "bench-syscalls.sh: must run as root" >&2; exit 1; }
bash scripts/install-deps.sh strace   # time is in the base set

bundle=$repo/build/bench-bundle
sleep_bundle=$repo/build/bench-bundle-sleep
bash bundles/busybox.sh "$bundle" true
bash bundles/busybox.sh "$sleep_bundle" sleep 1000

# crun needs hugetlb on v1 on this hybrid host (see crun-hugetlb.sh).
source scripts/crun-hugetlb.sh
trap restore_hugetlb EXIT
hugetlb_v1_for_crun

python3 - "$bundle" "$sleep_bundle" build/bench-syscalls.md <<'PY'
import os, shutil, statistics, subprocess, sys, tempfile, time
sys.path.insert(0, "scripts")
from release_dir import release_dir

bundle, sleep_bundle, out_md = sys.argv[1:4]
syscall_runs = int(os.environ.get("SYSCALL_RUNS", "3"))
time_runs = int(os.environ.get("TIME_RUNS", "9"))
runtimes = [(n, p) for n, p in [
    ("berth", os.environ.get("BERTH") or os.path.join(release_dir(), "berth")),
    ("crun", os.environ.get("CRUN", "/usr/bin/crun")),
    ("runc", os.environ.get("RUNC", "/usr/sbin/runc")),
] if os.access(p, os.X_OK)]
TIME_KEYS = {"Minor (reclaiming a frame) page faults": "minor faults",
             "Major (requiring I/O) page faults": "major faults",
             "Voluntary context switches": "voluntary switches",
             "Involuntary context switches": "involuntary switches"}
tmp = tempfile.mkdtemp(prefix="berth-syscalls-")
seq = 0


def quiet(argv):
    """Runs argv; stderr through a file, not a pipe: a detached container
    (run -d) would inherit a pipe and hold it open."""
    with tempfile.TemporaryFile("w+", dir=tmp) as err:
        r = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=err)
        err.seek(0)
        r.stderr = err.read()
    return r


def strace_counts(argv):
    out = os.path.join(tmp, "strace")
    r = quiet(["strace", "-c", "-f", "-o", out, *argv])
    if r.returncode != 0:
        raise RuntimeError(f"{argv[3:5]} under strace: {r.stderr.strip()[-300:]}")
    counts = {}
    for line in open(out):
        f = line.split()
        if len(f) in (5, 6) and f[3].isdigit() and f[-1] != "total":
            counts[f[-1]] = int(f[3])
    return counts


def time_v(argv):
    out = os.path.join(tmp, "time")
    r = quiet(["/usr/bin/time", "-v", "-o", out, *argv])
    if r.returncode != 0:
        raise RuntimeError(f"{argv[3:5]}: {r.stderr.strip()[-300:]}")
    got = {}
    for line in open(out):
        k, _, v = line.strip().rpartition(": ")
        if k in TIME_KEYS:
            got[TIME_KEYS[k]] = int(v)
    return got


def measure(name, path, op):
    """op: run or exec; returns (median syscall counts, median time -v)."""
    root = os.path.join(tmp, name)
    def argv():
        global seq
        seq += 1
        cid = f"sys-{os.getpid()}-{seq}"
        if op == "run":
            return [path, "--root", root, "run", "--bundle", bundle, cid], None
        r = quiet([path, "--root", root, "run", "-d", "--bundle", sleep_bundle, cid])
        if r.returncode != 0:
            raise RuntimeError(f"{name} run -d: {r.stderr.strip()[-300:]}")
        return [path, "--root", root, "exec", cid, "true"], cid
    def once(fn):
        a, cid = argv()
        try:
            return fn(a)
        finally:
            if cid:
                quiet([path, "--root", root, "delete", "--force", cid])
    once(time_v)   # warm-up
    traces = [once(strace_counts) for _ in range(syscall_runs)]
    times = [once(time_v) for _ in range(time_runs)]
    names = set().union(*traces)
    counts = {s: statistics.median_low([t.get(s, 0) for t in traces]) for s in names}
    tv = {k: statistics.median_low([t[k] for t in times]) for k in TIME_KEYS.values()}
    return counts, tv


def main():
    res = {}
    for name, path in runtimes:
        for op in ("run", "exec"):
            res[name, op] = measure(name, path, op)
    cols = [(n, op) for op in ("run", "exec") for n, _ in runtimes]
    lines = ["| | " + " | ".join(f"{n} `{op} true`" for n, op in cols) + " |",
             "|" + "---|" * (len(cols) + 1)]
    lines.append("| system calls (strace -c -f) | "
                 + " | ".join(str(sum(res[c][0].values())) for c in cols) + " |")
    lines.append("| distinct system calls | "
                 + " | ".join(str(len(res[c][0])) for c in cols) + " |")
    for k in TIME_KEYS.values():
        lines.append(f"| {k} (time -v) | " + " | ".join(str(res[c][1][k]) for c in cols) + " |")
    lines += ["", "Top system calls by count:", ""]
    for c in cols:
        top = sorted(res[c][0].items(), key=lambda kv: (-kv[1], kv[0]))[:8]
        lines.append(f"- {c[0]} `{c[1]} true`: "
                     + ", ".join(f"{s} {n}" for s, n in top))
    head = (f"{time.strftime('%Y-%m-%d %H:%M')}: medians of {syscall_runs} traced and "
            f"{time_runs} timed runs each; busybox `true` bundle.")
    text = head + "\n\n" + "\n".join(lines) + "\n"
    print(text)
    os.makedirs(os.path.dirname(os.path.abspath(out_md)), exist_ok=True)
    with open(out_md, "w") as f:
        f.write(text)


try:
    main()
finally:
    for name, path in runtimes:
        root = os.path.join(tmp, name)
        if os.path.isdir(root):
            ids = subprocess.run([path, "--root", root, "list", "-q"],
                                 capture_output=True, text=True).stdout.split()
            for cid in ids:
                quiet([path, "--root", root, "delete", "--force", cid])
    shutil.rmtree(tmp, ignore_errors=True)
PY
