#!/usr/bin/env python3
"""berth, runc and crun at node scale (normally through scripts/bench-scale.sh).

Usage: bench_scale.py BUNDLE POP_BUNDLE OUT_MD

1. Containers: `create`, `state`, `list`, `kill`, `delete` of one more
   container (BUNDLE) under a --root with 1 and under one with
   BENCH_SCALE_N (default 1000) containers running `sleep` (POP_BUNDLE,
   started in parallel), the two roots measured interleaved.
2. Mounts: `run` of BUNDLE in the host's mount namespace and in a private
   one holding as many extra mounts as fs.mount-max allows (less a margin
   for the container's own mounts), made by binding a tmpfs onto itself
   recursively (each bind doubles the count). Iterations alternate
   between the two namespaces with setns(2).

Same interleaving and medians as bench.py (whose Runtime class it uses),
with a pause before each measured `create` (SETTLE_S, below).
Cleanup, also on failure or SIGTERM: every container is deleted (in
parallel), any cgroup directory still named after this run's containers
is emptied (SIGKILL of the processes in it, which are this run's) and
removed, and the namespace with the mounts goes with the fds that hold it.

Env: BERTH, RUNC, CRUN; BERTH_BEFORE (another berth binary, measured as
"berth-before" for an A/B); BENCH_ITERS (default 20); BENCH_SCALE_N.
"""
import ctypes
import os
import re
import shutil
import signal
import sys
import tempfile
import time

import bench
from bench import OpFailed, Runtime, interleave, percentile, fmt
from release_dir import release_dir

PARALLEL = 4            # concurrent `run -d` / `delete` while populating
MOUNT_MARGIN = 300      # mounts left for the container's own (runc makes ~40)
# Pause before each measured `create`: the previous runtime's `delete` leaves
# the kernel tearing its cgroups down in a worker (memcg offline walks every
# list_lru of every superblock on the node, so it grows with the containers
# that exist; cpuset offline rebuilds the scheduler domains). Without the
# pause that work lands on whichever condition the rotation puts next.
SETTLE_S = 0.2
CLONE_NEWNS = 0x00020000
MS_BIND, MS_REC, MS_PRIVATE = 0x1000, 0x4000, 0x40000
CGROUP_ROOT = "/sys/fs/cgroup"
libc = ctypes.CDLL(None, use_errno=True)


def check(ret, what):
    if ret != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"{what}: {os.strerror(e)}")


def mount(src, dst, fstype, flags, data=None):
    enc = lambda s: s.encode() if s is not None else None
    check(libc.mount(enc(src), enc(dst), enc(fstype), flags, enc(data)),
          f"mount {dst}")


# --- 1. many containers under one root ----------------------------------

def in_parallel(rt, argvs, what):
    """Runs rt's commands PARALLEL at a time; raises on the first failure."""
    pending, running, errors = list(argvs), [], []
    while pending or running:
        while pending and len(running) < PARALLEL:
            running.append(rt.spawn(*pending.pop()))
        pid = running.pop(0)
        try:
            rt.reap(pid, what)
        except OpFailed as e:
            errors.append(str(e))
    if errors:
        raise OpFailed(f"{len(errors)} × {errors[0]}")


def populate(rt, pop_bundle, n):
    """Adds containers running `sleep` until rt has n; returns seconds."""
    have = len(rt.quiet("list", "-q").stdout.split())
    t0 = time.perf_counter()
    in_parallel(rt, [("run", "-d", "--bundle", pop_bundle, rt.new_id("pop"))
                     for _ in range(n - have)], "run -d")
    return time.perf_counter() - t0


def depopulate(rt):
    """Deletes every container of rt (in parallel); returns seconds."""
    t0 = time.perf_counter()
    ids = rt.quiet("list", "-q").stdout.split()
    try:
        in_parallel(rt, [("delete", "--force", i) for i in ids], "delete")
    except OpFailed as e:
        print(f"  {rt.name}: {e}", file=sys.stderr)
    return time.perf_counter() - t0


def op_one_more(rt):
    """The five commands on one more container, each timed."""
    cid = rt.new_id("one")
    time.sleep(SETTLE_S)
    out = {"create": rt.timed("create", "--bundle", rt.bundle, cid)}
    out["state"] = rt.timed("state", cid)
    out["kill"] = rt.timed("kill", cid, "KILL")
    rt.wait_stopped(cid)
    out["delete"] = rt.timed("delete", cid)
    # Last: its work over every container must not slow the next command.
    out["list"] = rt.timed("list")
    return out


def sweep_cgroups():
    """Removes cgroup dirs (depth 1–2 in every hierarchy) named after this
    run's containers, SIGKILLing what is left in them first (theirs only)."""
    ours = re.compile(rf"bench-[a-z]+-{os.getpid()}-[0-9]+")
    left = []
    for h in os.scandir(CGROUP_ROOT):
        if not h.is_dir(follow_symlinks=False):
            continue
        for d, subdirs, _ in os.walk(h.path):
            depth = d[len(h.path):].count("/")
            if depth >= 2:
                subdirs.clear()
            if ours.fullmatch(os.path.basename(d)):
                left.append(d)
                subdirs.clear()
    for d in sorted(left, key=len, reverse=True):
        try:
            with open(os.path.join(d, "cgroup.procs")) as f:
                for pid in f.read().split():
                    os.kill(int(pid), signal.SIGKILL)
        except OSError:
            pass
        for _ in range(100):
            try:
                os.rmdir(d)
                break
            except FileNotFoundError:
                break
            except OSError:
                time.sleep(0.05)
    return left


# --- 2. a mount namespace with many mounts -------------------------------

class MountNs:
    """A private mount namespace with `count` extra mounts, entered and left
    with setns(2); it disappears with the last fd (and process) in it."""

    def __init__(self):
        self.host = os.open("/proc/self/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)
        self.base = tempfile.mkdtemp(prefix="berth-bench-mounts-")
        self.fd, self.count = None, 0

    def build(self):
        with open("/proc/sys/fs/mount-max") as f:
            limit = int(f.read())
        with open("/proc/self/mountinfo") as f:
            existing = sum(1 for _ in f)
        target = limit - existing - MOUNT_MARGIN
        check(libc.unshare(CLONE_NEWNS), "unshare")
        try:
            mount(None, "/", None, MS_REC | MS_PRIVATE)
            mount("tmpfs", self.base, "tmpfs", 0, "size=1m,mode=700")
            have, k = 1, 0
            # base/dK holds a copy of base with 2^K mounts.
            while have * 2 <= target:
                os.mkdir(f"{self.base}/d{k}")
                mount(self.base, f"{self.base}/d{k}", None, MS_BIND | MS_REC)
                have, k = have * 2, k + 1
            for j in range(k):
                if (target - have) >> j & 1 and have + (1 << j) <= target:
                    os.mkdir(f"{self.base}/e{j}")
                    mount(f"{self.base}/d{j}", f"{self.base}/e{j}", None,
                          MS_BIND | MS_REC)
                    have += 1 << j
            self.fd = os.open("/proc/self/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)
            with open("/proc/self/mountinfo") as f:
                self.count = sum(1 for _ in f)
        finally:
            self.leave()
        return self.count, existing, limit

    def enter(self):
        check(libc.setns(self.fd, CLONE_NEWNS), "setns")

    def leave(self):
        check(libc.setns(self.host, CLONE_NEWNS), "setns back")

    def close(self):
        self.leave()
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
        os.close(self.host)
        os.rmdir(self.base)   # an empty dir on the host side


def op_run_both(ns):
    def op(rt):
        out = {"run_plain": rt.timed("run", "--bundle", rt.bundle, rt.new_id("plain"))}
        ns.enter()
        try:
            out["run_mounts"] = rt.timed("run", "--bundle", rt.bundle,
                                         rt.new_id("mnt"))
        finally:
            ns.leave()
        return out
    return op


# --- report ---------------------------------------------------------------

def cell(samples, name, a, b, unit="ms"):
    va, vb = samples[name].get(a), samples[name].get(b)
    if not va or not vb:
        return "—"
    ma, mb = percentile(va, 50), percentile(vb, 50)
    return f"{fmt(ma)} → {fmt(mb)} {unit} ({mb / ma:.2f}×)"


def tables(active, small, big, n, mounts_note):
    names = [rt.name for rt in active]
    head = "| command | " + " | ".join(names) + " |"
    sep = "|" + "---|" * (len(names) + 1)
    lines = [f"Containers: median with 1 → with {n} containers under the root"
             " (ratio):", "", head, sep]
    for key in ("create", "state", "list", "kill", "delete"):
        row = [f"`{key}`"]
        for nm in names:
            merged = {"a": small[nm].get(key), "b": big[nm].get(key)}
            row.append(cell({nm: merged}, nm, "a", "b"))
        lines.append("| " + " | ".join(row) + " |")
    lines += ["", f"Mounts: median `run true` with the normal mount table → "
              f"with {mounts_note} (ratio):", "", head, sep,
              "| `run true` | " + " | ".join(
                  cell(big, nm, "run_plain", "run_mounts") for nm in names) + " |"]
    return "\n".join(lines)


def main():
    bundle, pop_bundle, out_md = map(os.path.abspath, sys.argv[1:4])
    iters = int(os.environ.get("BENCH_ITERS", "20"))
    n = int(os.environ.get("BENCH_SCALE_N", "1000"))
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.default_int_handler)
    tmp = tempfile.mkdtemp(prefix="berth-bench-scale-")
    runtimes, notes, ns = [], [], None
    small, big = {}, {}
    try:
        for name, path in [
            ("berth", os.environ.get("BERTH") or os.path.join(release_dir(), "berth")),
            ("runc", os.environ.get("RUNC", "/usr/sbin/runc")),
            ("crun", os.environ.get("CRUN", "/usr/bin/crun")),
            # An A/B of a change: another berth build, interleaved.
            ("berth-before", os.environ.get("BERTH_BEFORE", "")),
        ]:
            if name == "berth-before" and not path:
                continue
            if os.access(path, os.X_OK):
                rt = Runtime(name, path, tmp, bundle)
                # Ids unique across runtimes: two berth builds share the
                # default cgroup (ID below the caller's own cgroup).
                rt.seq = len(runtimes) * 1_000_000
                runtimes.append(rt)
            else:
                notes.append(f"{name}: {path} not found — excluded")
        # Each runtime twice: a root with 1 container and one with n, measured
        # interleaved (a drift of the host's load hits both alike).
        ones = []
        for rt in list(runtimes):
            one = Runtime(rt.name + "-1", rt.path, tmp, bundle)
            one.seq = rt.seq + 500_000
            ones.append(one)
        runtimes += ones
        for rt in runtimes:
            try:
                bench.op_lifecycle(rt)     # warm-up
                populate(rt, pop_bundle, 1)
            except OpFailed as e:
                rt.failed = f"warm-up: {e}"
        for rt in runtimes:
            if not rt.failed and rt not in ones:
                try:
                    secs = populate(rt, pop_bundle, n)
                    notes.append(f"{rt.name}: {n - 1} more containers started"
                                 f" in {secs:.1f} s ({PARALLEL} at a time)")
                except OpFailed as e:
                    rt.failed = f"populate: {e}"
        both = interleave([rt for rt in runtimes if not rt.failed], op_one_more,
                          iters, f"1 and {n} containers")
        active = [rt for rt in runtimes if rt not in ones and not rt.failed]
        small = {rt.name: both.get(rt.name + "-1", {}) for rt in active}
        big = {rt.name: both.get(rt.name, {}) for rt in active}
        for rt in runtimes:
            secs = depopulate(rt)
            if rt not in ones:
                notes.append(f"{rt.name}: {n} containers deleted in {secs:.1f} s")
        active = [rt for rt in active if not rt.failed]
        ns = MountNs()
        count, existing, limit = ns.build()
        mounts_note = (f"{count} mounts ({count - existing} made by the bench;"
                       f" fs.mount-max {limit})")
        print(f"  mount namespace: {mounts_note}", file=sys.stderr)
        for name, got in interleave(active, op_run_both(ns), iters,
                                    "run, normal / many mounts").items():
            big[name].update(got)
        for rt in runtimes:
            if rt.failed:
                notes.append(f"{rt.name}: {rt.failed}")
        report = ["# berth at node scale", "",
                  f"{time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} CPUs;"
                  f" {iters} interleaved iterations per condition.", ""]
        report += [f"- {rt.name}: `{rt.path}` ({rt.version()})" for rt in active]
        report += [f"- {x}" for x in notes]
        report += ["", tables(active, small, big, n, mounts_note), ""]
        text = "\n".join(report)
        print(text)
        os.makedirs(os.path.dirname(out_md), exist_ok=True)
        with open(out_md, "w") as f:
            f.write(text)
    finally:
        if ns is not None:
            ns.close()
        for rt in runtimes:
            depopulate(rt)
            rt.cleanup()
        left = sweep_cgroups()   # ids: bench-TAG-PID-SEQ (Runtime.new_id)
        if left:
            print(f"  removed {len(left)} leftover cgroup dirs", file=sys.stderr)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit("bench-scale: interrupted")
