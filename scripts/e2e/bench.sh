#!/usr/bin/env bash
# make bench-e2e: what a client sees. `docker run --rm busybox true` and
# `ctr run --rm busybox true` through berth, runc and crun, interleaved,
# against one private containerd + dockerd. Medians, p90 and ratios go to
# stdout and build/bench-e2e.md.
#   Env: BENCH_E2E_ITERS (default 30).
E2E_NAME=bench-e2e
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$E2E_REPO/scripts/crun-hugetlb.sh"

ITERS=${BENCH_E2E_ITERS:-30}
RUNC=${RUNC:-/usr/sbin/runc}
CRUN=${CRUN:-/usr/bin/crun}
NS=berth-bench
CGROUP_PARENT=berth-bench-docker

e2e_setup
E2E_CLEANUPS+=("restore_hugetlb" "remove_ns_cgroups $NS" "remove_ns_cgroups $CGROUP_PARENT")
hugetlb_v1_for_crun
start_containerd

start_dockerd "$NS-docker" "$CGROUP_PARENT" "berth=$BERTH" "ref-runc=$RUNC" "crun=$CRUN"
dk load -i "$E2E_IMAGE_TAR" >/dev/null
ctrd -n "$NS" images import "$E2E_IMAGE_TAR" >/dev/null

export BERTH RUNC CRUN ITERS NS E2E_IMAGE E2E_TMP E2E_REPO CTRD_SOCK DOCKER_HOST DOCKER_CLI
python3 - "$E2E_REPO/build/bench-e2e.md" <<'PY'
import os, statistics, subprocess, sys, time
sys.path.insert(0, os.path.join(os.environ["E2E_REPO"], "scripts"))
from bench import percentile  # make bench's nearest-rank percentile

iters = int(os.environ["ITERS"])
tmp, image = os.environ["E2E_TMP"], os.environ["E2E_IMAGE"]
bins = {"berth": os.environ["BERTH"], "runc": os.environ["RUNC"], "crun": os.environ["CRUN"]}
docker_name = {"berth": "berth", "runc": "ref-runc", "crun": "crun"}

def docker(rt, i):
    return [os.environ["DOCKER_CLI"], "-H", os.environ["DOCKER_HOST"], "run", "--rm",
            "--runtime", docker_name[rt], "busybox", "true"]

def ctr(rt, i):
    return ["ctr", "--address", os.environ["CTRD_SOCK"], "-n", os.environ["NS"], "run",
            "--rm", "--runc-binary", bins[rt], "--runc-root", os.path.join(tmp, "root-" + rt),
            image, f"bench-{rt}-{i}", "true"]

def timed(argv):
    t = time.perf_counter()
    p = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=60)
    if p.returncode != 0:
        raise SystemExit(f"bench-e2e: {' '.join(argv)} failed: {p.stderr.decode()[-400:]}")
    return (time.perf_counter() - t) * 1000

rows = []
for label, make in (("docker run --rm busybox true", docker), ("ctr run --rm busybox true", ctr)):
    runtimes = list(bins)
    for rt in runtimes:          # warm-up: image unpack, caches
        timed(make(rt, "warm"))
    samples = {rt: [] for rt in runtimes}
    for i in range(iters):
        order = runtimes[i % 3:] + runtimes[:i % 3]
        for rt in order:
            samples[rt].append(timed(make(rt, i)))
    med = {rt: statistics.median(v) for rt, v in samples.items()}
    p90 = {rt: percentile(v, 90) for rt, v in samples.items()}
    rows.append((label, med, p90))

out = [f"e2e bench: {iters} interleaved iterations, median (p90) in ms", "",
       "| command | berth | runc | crun | berth/runc | berth/crun |",
       "|---|---|---|---|---|---|"]
for label, med, p90 in rows:
    out.append(f"| {label} | {med['berth']:.1f} ({p90['berth']:.1f}) | {med['runc']:.1f} ({p90['runc']:.1f})"
               f" | {med['crun']:.1f} ({p90['crun']:.1f}) | {med['berth']/med['runc']:.2f}x"
               f" | {med['berth']/med['crun']:.2f}x |")
text = "\n".join(out) + "\n"
print(text)
os.makedirs(os.path.dirname(sys.argv[1]), exist_ok=True)
open(sys.argv[1], "w").write(text)
PY
