#!/usr/bin/env python3
"""Interleaved latency/RSS benchmark of berth against runc and crun.

Usage: bench.py BUNDLE OUT_MD   (normally through scripts/bench.sh)

Every iteration runs each runtime in turn (rotating who goes first), so
drift on the host (other jobs, page cache, CPU frequency) hits all of them
alike. Each runtime has its own --root in a temp dir; every container is
deleted and the dir removed at exit.

Env: BERTH, RUNC, CRUN (binaries); BENCH_ITERS (single ops, default 30);
BENCH_SEQ_ITERS (rounds of 100 sequential runs, default 3);
BENCH_PAR_ITERS (rounds of 10 parallel runs, default 10).
"""
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from release_dir import release_dir  # scripts/release_dir.py, beside this file

SEQ_N, PAR_N = 100, 10
SLEEP_BUNDLE = os.environ.get("BENCH_SLEEP_BUNDLE", "")
LIMITS_BUNDLE = os.environ.get("BENCH_LIMITS_BUNDLE", "")
SECCOMP_BUNDLE = os.environ.get("BENCH_SECCOMP_BUNDLE", "")
USERNS_BUNDLE = os.environ.get("BENCH_USERNS_BUNDLE", "")
DOCKER_BUNDLE = os.environ.get("BENCH_DOCKER_BUNDLE", "")
TIME = "/usr/bin/time"  # Debian package `time`


class OpFailed(Exception):
    pass


class Runtime:
    def __init__(self, name, path, tmp, bundle):
        self.name, self.path, self.bundle = name, path, bundle
        self.root = os.path.join(tmp, name)
        self.err = open(os.path.join(tmp, name + ".stderr"), "w+")
        self.failed = None
        self.live = set()   # pids spawned and not yet reaped
        self.seq = 0

    def argv(self, *args):
        return [self.path, "--root", self.root, *args]

    def new_id(self, tag):
        self.seq += 1
        return f"bench-{tag}-{os.getpid()}-{self.seq}"

    def spawn(self, *args, prefix=()):
        os.ftruncate(self.err.fileno(), 0)
        os.lseek(self.err.fileno(), 0, os.SEEK_SET)
        actions = [
            (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
            (os.POSIX_SPAWN_OPEN, 1, "/dev/null", os.O_WRONLY, 0),
            (os.POSIX_SPAWN_DUP2, self.err.fileno(), 2),
        ]
        argv = [*prefix, *self.argv(*args)]
        pid = os.posix_spawn(argv[0], argv, os.environ, file_actions=actions)
        self.live.add(pid)
        return pid

    def reap(self, pid, what):
        """Wait for pid; raise if it failed."""
        _, status = os.waitpid(pid, 0)
        self.live.discard(pid)
        code = os.waitstatus_to_exitcode(status)
        if code != 0:
            self.err.seek(0)
            msg = self.err.read().strip().splitlines()[-1:] or ["no stderr"]
            raise OpFailed(f"{what} exited {code}: {msg[0]}")

    def timed(self, *args):
        """Run one command; return its wall time in milliseconds."""
        t0 = time.perf_counter()
        self.reap(self.spawn(*args), args[0])
        return (time.perf_counter() - t0) * 1000

    def peak_rss(self, *args):
        """Peak RSS (KiB) of a command and the children it reaps.

        Measured through /usr/bin/time: a child forked from this Python
        process would start with Python's RSS as its high-water mark.
        """
        out = os.path.join(os.path.dirname(self.root), self.name + ".rss")
        self.reap(self.spawn(*args, prefix=(TIME, "-f", "%M", "-o", out)),
                  args[0])
        with open(out) as f:
            return int(f.read().split()[-1])

    def quiet(self, *args):
        return subprocess.run(self.argv(*args), stdin=subprocess.DEVNULL,
                              capture_output=True, text=True)

    def wait_stopped(self, cid, timeout=10):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            out = self.quiet("state", cid)
            try:
                status = json.loads(out.stdout)["status"]
            except (ValueError, KeyError, TypeError):
                raise OpFailed(f"state {cid}: exit {out.returncode}, "
                               f"no state JSON: {out.stderr.strip()[-200:]}")
            if status == "stopped":
                return
            time.sleep(0.002)
        raise OpFailed(f"{cid} did not stop within {timeout}s")

    def version(self):
        try:
            out = subprocess.run([self.path, "--version"], capture_output=True,
                                 text=True, timeout=10).stdout
            return out.splitlines()[0] if out else "?"
        except OSError:
            return "?"

    def cleanup(self):
        for pid in list(self.live):          # only pids we spawned
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except OSError:
                pass
        self.live.clear()
        if os.path.isdir(self.root):
            ids = self.quiet("list", "-q").stdout.split()
            for cid in ids:
                self.quiet("delete", "--force", cid)
        self.err.close()


# --- one measurement of each kind; each returns {metric: value} ------------

def op_run(rt):
    return {"run": rt.timed("run", "--bundle", rt.bundle, rt.new_id("run"))}


def op_variants(rt):
    """run `true` with memory+pids limits, Docker's seccomp profile, a userns,
    Docker's whole config."""
    out = {}
    if LIMITS_BUNDLE:
        out["run_limits"] = rt.timed("run", "--bundle", LIMITS_BUNDLE, rt.new_id("lim"))
    if SECCOMP_BUNDLE:
        out["run_seccomp"] = rt.timed("run", "--bundle", SECCOMP_BUNDLE, rt.new_id("sec"))
    if USERNS_BUNDLE:
        out["run_userns"] = rt.timed("run", "--bundle", USERNS_BUNDLE, rt.new_id("usr"))
    if DOCKER_BUNDLE:
        out["run_docker"] = rt.timed("run", "--bundle", DOCKER_BUNDLE, rt.new_id("dkr"))
    return out


def op_rss(rt):
    kib = rt.peak_rss("run", "--bundle", rt.bundle, rt.new_id("rss"))
    return {"rss": kib / 1024}


def op_lifecycle(rt):
    cid = rt.new_id("cycle")
    create = rt.timed("create", "--bundle", rt.bundle, cid)
    start = rt.timed("start", cid)
    rt.wait_stopped(cid)
    delete = rt.timed("delete", cid)
    return {"create": create, "start": start, "delete": delete}


def op_exec(rt):
    """`exec true` in a running container (started and removed untimed)."""
    cid = rt.new_id("exec")
    # Not through pipes: the detached container would inherit and hold them.
    started = subprocess.run(rt.argv("run", "-d", "--bundle", SLEEP_BUNDLE, cid),
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    if started.returncode != 0:
        raise OpFailed(f"run -d for exec exited {started.returncode}")
    try:
        return {"exec": rt.timed("exec", cid, "true")}
    finally:
        rt.quiet("delete", "--force", cid)


def op_seq(rt):
    t0 = time.perf_counter()
    for _ in range(SEQ_N):
        rt.timed("run", "--bundle", rt.bundle, rt.new_id("seq"))
    return {"seq": (time.perf_counter() - t0) * 1000}


def op_par(rt):
    t0 = time.perf_counter()
    pids = [rt.spawn("run", "--bundle", rt.bundle, rt.new_id("par"))
            for _ in range(PAR_N)]
    errors = []
    for pid in pids:
        try:
            rt.reap(pid, "run")
        except OpFailed as e:
            errors.append(str(e))
    if errors:
        raise OpFailed(errors[0])
    return {"par": (time.perf_counter() - t0) * 1000}


METRICS = [  # key, label, unit
    ("run", "run `true`", "ms"),
    ("run_limits", "run `true`, memory 64M + pids 20", "ms"),
    ("run_seccomp", "run `true`, Docker's seccomp profile", "ms"),
    ("run_userns", "run `true`, user namespace 0:100000:65536", "ms"),
    ("run_docker", "run `true`, Docker 20.10's whole config", "ms"),
    ("create", "create", "ms"),
    ("start", "start", "ms"),
    ("delete", "delete", "ms"),
    ("exec", "exec `true`", "ms"),
    ("seq", f"{SEQ_N} sequential runs", "ms"),
    ("par", f"{PAR_N} parallel runs", "ms"),
    ("rss", "peak RSS of run", "MiB"),
]


def percentile(values, p):
    s = sorted(values)
    k = max(0, -(-len(s) * p // 100) - 1)   # nearest rank
    return s[int(k)]


def interleave(runtimes, op, iters, label):
    samples = {rt.name: {} for rt in runtimes}
    tty = sys.stderr.isatty()
    for i in range(iters):
        if tty or i == 0:
            print(f"\r  {label}: {i + 1}/{iters}", end="", file=sys.stderr,
                  flush=True)
        # Rotate who goes first: a runtime's leftovers (e.g. the kernel
        # tearing down its network namespace) must not always hit the same
        # successor.
        for rt in runtimes[i % len(runtimes):] + runtimes[:i % len(runtimes)]:
            if rt.failed:
                continue
            try:
                for key, val in op(rt).items():
                    samples[rt.name].setdefault(key, []).append(val)
            except OpFailed as e:
                rt.failed = f"{label}: {e}"
                print(f"\n  {rt.name} FAILED ({rt.failed}); excluded",
                      file=sys.stderr)
    print(file=sys.stderr)
    return samples


def fmt(v):
    return f"{v:.1f}" if v < 100 else f"{v:.0f}"


def table(runtimes, samples):
    names = [rt.name for rt in runtimes]
    head = ["metric"] + [f"{n} (median / p90)" for n in names]
    ratios = [(a, b) for a, b in (("berth", "crun"), ("berth", "runc"))
              if a in names and b in names]
    head += [f"{a}/{b}" for a, b in ratios]
    lines = ["| " + " | ".join(head) + " |",
             "|" + "---|" * len(head)]
    for key, label, unit in METRICS:
        row, med = [f"{label} ({unit})"], {}
        for n in names:
            vals = samples[n].get(key)
            if vals:
                med[n] = percentile(vals, 50)
                row.append(f"{fmt(med[n])} / {fmt(percentile(vals, 90))}")
            else:
                row.append("—")
        for a, b in ratios:
            ok = a in med and b in med and med[b] > 0
            row.append(f"{med[a] / med[b]:.2f}×" if ok else "—")
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def main():
    bundle, out_md = os.path.abspath(sys.argv[1]), sys.argv[2]
    iters = int(os.environ.get("BENCH_ITERS", "30"))
    seq_iters = int(os.environ.get("BENCH_SEQ_ITERS", "3"))
    par_iters = int(os.environ.get("BENCH_PAR_ITERS", "10"))
    candidates = [
        ("berth", os.environ.get("BERTH") or os.path.join(release_dir(), "berth")),
        ("runc", os.environ.get("RUNC", "/usr/sbin/runc")),
        ("crun", os.environ.get("CRUN", "/usr/bin/crun")),
    ]
    # SIGTERM/SIGHUP unwind like Ctrl-C so the finally block cleans up.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.default_int_handler)

    tmp = tempfile.mkdtemp(prefix="berth-bench-")
    runtimes, notes = [], []
    try:
        for name, path in candidates:
            if not os.access(path, os.X_OK):
                notes.append(f"{name}: {path} not found — excluded")
                continue
            rt = Runtime(name, path, tmp, bundle)
            runtimes.append(rt)
            try:  # warm-up: fills the page cache and proves it works
                op_run(rt)
                op_lifecycle(rt)
            except OpFailed as e:
                rt.failed = f"warm-up failed: {e}"
        for rt in runtimes:
            if rt.failed:
                notes.append(f"{rt.name}: {rt.failed} — excluded")
        for n in notes:
            print("  " + n, file=sys.stderr)
        active = [rt for rt in runtimes if not rt.failed]
        if not active:
            sys.exit("bench: no runtime works; nothing to measure")

        samples = {rt.name: {} for rt in active}
        plan = [(op_run, iters, "run"),
                (op_variants, iters, "run with limits / seccomp / userns / Docker config"),
                (op_lifecycle, iters, "create/start/delete"),
                (op_exec, iters, "exec"),
                (op_seq, seq_iters, f"{SEQ_N} sequential"),
                (op_par, par_iters, f"{PAR_N} parallel")]
        if os.access(TIME, os.X_OK):
            plan.append((op_rss, iters, "peak RSS"))
        else:
            notes.append(f"{TIME} missing (package `time`): no RSS figures")
        for op, n, label in plan:
            for name, got in interleave(active, op, n, label).items():
                samples[name].update(got)
        for rt in active:
            if rt.failed:
                notes.append(f"{rt.name}: {rt.failed}")

        report = [
            "# berth benchmark",
            "",
            f"{time.strftime('%Y-%m-%d %H:%M')}, kernel {platform.release()},"
            f" {os.cpu_count()} CPUs; bundle: busybox `true`; interleaved;"
            f" {iters} iterations of single ops, {seq_iters} × {SEQ_N}"
            f" sequential, {par_iters} × {PAR_N} parallel.",
            "",
        ]
        report += [f"- {rt.name}: `{rt.path}` ({rt.version()})"
                   for rt in active]
        report += [f"- {n}" for n in notes]
        report += ["", table(active, samples), ""]
        text = "\n".join(report)
        print(text)
        os.makedirs(os.path.dirname(os.path.abspath(out_md)), exist_ok=True)
        with open(out_md, "w") as f:
            f.write(text)
    finally:
        for rt in runtimes:
            rt.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit("bench: interrupted")
