#!/usr/bin/env python3
"""Fault injection: SIGKILL berth create/start/exec/run -d/run/delete mid-way.

For every kill: a seeded random delay after the berth process started, then
kill -9 of that pid (our own child). Afterwards `berth delete --force ID` must
exit 0 and leave nothing behind (state dir, cgroup in any hierarchy, mounts
mentioning the test's temp dir, processes in the container's cgroup or rooted
in the test rootfs, zombie children of ours, fds into the temp dir), and the
id must be reusable (create + delete -f of the same id).

Delays are adapted to each command: its wall time is measured first, and 80%
of the delays fall uniformly in [0, that time] (at most 30 ms), the
rest uniformly in [0, 30 ms]; the first range then adapts (shrinks when a
kill came after the command had exited, widens when it came in time). Each kill is classified from what existed when
the killed process was gone:
  create        before: no state dir, no cgroup   after: state.json + init   while: else
  start         before: exec.fifo, no payload     after: payload, no fifo    while: else
  exec          before: only the init in cgroup   after: exec'd `sleep` runs while: else
  run-d, run    before: no state dir, no cgroup   after: payload runs        while: else
  delete        before: payload still runs        after: nothing left        while: else
  done: the command had already exited on its own when the kill came.

  python3 scripts/robustness/faults.py [--berth PATH] [--kills N] [--seed S]
          [--only CMD[,CMD]] [--delay-ms D] [--time-limit SECONDS]
"""

import argparse
import os
import signal
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import log  # noqa: E402

COMMANDS = ["create", "start", "exec", "run-d", "run", "delete"]
MAX_DELAY = 0.030


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--berth", default=common.DEFAULT_BERTH)
    ap.add_argument("--kills", type=int, default=540, help="total kills (default 540)")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--only", default=",".join(COMMANDS),
                    help="comma-separated subset of " + ",".join(COMMANDS))
    ap.add_argument("--delay-ms", type=float, default=None,
                    help="use this fixed delay for every kill (replay one case)")
    ap.add_argument("--time-limit", type=float, default=300.0,
                    help="stop (and fail) after this many seconds (default 300)")
    ap.add_argument("--max-details", type=int, default=8,
                    help="failures printed in full per command")
    ap.add_argument("--no-subreaper", action="store_true",
                    help="leave orphans to pid 1 (slow on this VM: it reaps every ~2 s)")
    a = ap.parse_args()
    cmds = [c for c in a.only.split(",") if c]
    for c in cmds:
        if c not in COMMANDS:
            ap.error(f"unknown command {c}")

    seed, rng = common.seeded_rng(a.seed)
    w = common.World("faults", a.berth, subreaper=not a.no_subreaper)
    t_start = time.monotonic()
    try:
        return run(a, cmds, seed, rng, w, t_start)
    finally:
        w.cleanup()
        log(f"wall time {time.monotonic() - t_start:.1f}s")


def run(a, cmds, seed, rng, w, t_start):
    return Faults(a, cmds, seed, rng, w, t_start).run()


class Faults:
    """One fault-injection run: the bundle, the ids, each command's timing and
    tallies, shared by the measuring, killing and reporting steps."""

    def __init__(self, a, cmds, seed, rng, w, t_start):
        self.a = a
        self.cmds = cmds
        self.seed = seed
        self.rng = rng
        self.w = w
        self.b = w.berth
        self.t_start = t_start
        self.bundle = common.make_bundle(os.path.join(w.tmp, "bundle"), ["sleep", "1000"])
        self.rootfs = os.path.join(self.bundle, "rootfs")
        self.prefix = f"f{os.getpid()}"
        self.counter = 0
        self.timing = {}  # cmd -> (median wall time, upper end of the adaptive delay range)
        self.stats = {c: {"kills": 0, "before": 0, "while": 0, "after": 0, "done": 0,
                          "failed": 0, "setup": 0} for c in cmds}
        self.failures = {c: [] for c in cmds}
        self.order = []  # the command of each kill, round-robin
        self.timed_out = False

    def run(self):
        w = self.w
        log(f"berth: {w.berth_binary}")
        log(f"seed: {self.seed}   (replay: --seed {self.seed})")
        log(f"temp dir: {w.tmp}")
        for cmd in self.cmds:
            self.measure(cmd)
        self.kill_all()
        return self.report()

    # ---- container ids and command lines
    def new_id(self, cmd):
        self.counter += 1
        return self.w.track(f"{self.prefix}-{cmd}-{self.counter}")

    def argv(self, cmd, cid, measuring=False):
        bundle = self.bundle
        if cmd == "create":
            return ["create", "--bundle", bundle, cid]
        if cmd == "start":
            return ["start", cid]
        if cmd == "exec":
            return ["exec", cid] + (["true"] if measuring else ["sleep", "1000"])
        if cmd == "run-d":
            return ["run", "--detach", "--bundle", bundle, cid]
        if cmd == "run":
            # foreground run never returns (sleep 1000): measure run -d
            return (["run", "--detach", "--bundle", bundle, cid] if measuring
                    else ["run", "--bundle", bundle, cid])
        if cmd == "delete":
            return ["delete", "--force", cid]
        raise ValueError(cmd)

    def setup(self, cmd, cid):
        """Brings cid to where cmd starts from; an error text or None."""
        steps = {"create": [], "start": ["create"], "exec": ["create", "start"],
                 "run-d": [], "run": [], "delete": ["create", "start"]}[cmd]
        for s in steps:
            rc, err = self.b.run(*self.argv(s, cid))
            if rc != 0:
                return f"setup `{s}` exit {rc}: {err}"
        return None

    # ---- measure where each command spends its time
    def measure(self, cmd):
        ts = []
        for _ in range(7):
            t = self.measure_once(cmd)
            if t is not None:
                ts.append(t)
        med = statistics.median(ts) if ts else 0.01
        hi = min(MAX_DELAY, max(0.002, med))
        self.timing[cmd] = (med, hi)
        log(f"{cmd:7s} takes {med * 1000:6.2f} ms (median of {len(ts)}); "
            f"delays: 80% in [0, {hi * 1000:.2f}] ms, 20% in [0, 30] ms")

    def measure_once(self, cmd):
        """Wall time of one unkilled cmd; None when its setup failed."""
        w, b = self.w, self.b
        cid = self.new_id(cmd + "-m")
        err = self.setup(cmd, cid)
        if err:
            log(f"measuring {cmd}: {err}")
            w.force_clean(cid)
            return None
        p = common.spawn(b.argv(*self.argv(cmd, cid, measuring=True)),
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
        t0 = time.monotonic()
        try:
            rc = common.wait(p, common.CMD_TIMEOUT)
        except subprocess.TimeoutExpired:
            p.kill()
            rc = p.wait()
        common.forget(p)
        elapsed = time.monotonic() - t0
        if rc != 0:
            log(f"measuring {cmd}: exit {rc}")
        b.run("delete", "--force", cid)
        if w.leftovers(cid, [self.rootfs], check_procs=False):
            w.force_clean(cid)
        return elapsed

    # ---- the kills
    def kill_all(self):
        a, cmds = self.a, self.cmds
        per = {c: a.kills // len(cmds) + (1 if i < a.kills % len(cmds) else 0)
               for i, c in enumerate(cmds)}
        for i in range(max(per.values(), default=0)):
            self.order += [c for c in cmds if per[c] > i]
        for n, cmd in enumerate(self.order):
            if time.monotonic() - self.t_start > a.time_limit:
                self.timed_out = True
                log(f"time limit {a.time_limit}s reached after {n} of {len(self.order)} kills")
                break
            self.kill_one(cmd)

    def kill_one(self, cmd):
        """One kill of cmd at a seeded delay, classified and checked."""
        w, rng = self.w, self.rng
        med, hi = self.timing[cmd]
        if self.a.delay_ms is not None:
            delay = self.a.delay_ms / 1000
        else:
            delay = rng.uniform(0, hi) if rng.random() < 0.8 else rng.uniform(0, MAX_DELAY)
        cid = self.new_id(cmd)
        st = self.stats[cmd]
        err = self.setup(cmd, cid)
        if err:
            st["setup"] += 1
            st["failed"] += 1
            self.failures[cmd].append((cid, delay, "setup", [err] + w.force_clean(cid)))
            return
        rc = self.spawn_and_kill(cmd, cid, delay)
        st["kills"] += 1
        cls = "done" if rc != -signal.SIGKILL else classify(cmd, w, cid)
        # keep about a quarter of the kills late (after the command's end or
        # after its interesting part): shrink the delay range when a kill came
        # late, widen it when it came in time. `exec` and `run` never end on
        # their own (their payload sleeps or is waited for), so their end
        # cannot steer the range; judged by `done` alone, exec's range only
        # widened (3 -> 18 ms over 90 kills) and the kills landing before the
        # exec'd process ran fell under the coverage check's 10 %.
        late = cls in ("done", "after")
        hi = min(MAX_DELAY, max(0.00005, hi * (0.94 if late else 1.02)))
        self.timing[cmd] = (med, hi)
        st[cls] += 1

        problems = self.after_kill_problems(cid)
        if problems:
            st["failed"] += 1
            fixed = w.force_clean(cid)
            problems.append("cleanup by the test: " + (", ".join(fixed) or "nothing"))
            self.failures[cmd].append((cid, delay, cls, problems))
        else:
            w.ids.discard(cid)

    def spawn_and_kill(self, cmd, cid, delay):
        """Runs cmd, SIGKILLs it after delay; its exit status (or a text)."""
        w = self.w
        p = common.spawn(self.b.argv(*self.argv(cmd, cid)), stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        w.children.append(p)
        time.sleep(delay)
        os.kill(p.pid, signal.SIGKILL)  # not reaped yet: the pid is still ours
        try:
            rc = common.wait(p, common.CMD_TIMEOUT)
        except subprocess.TimeoutExpired:
            rc = "no exit after SIGKILL"
        else:
            common.forget(p)
        w.children.remove(p)
        return rc

    def after_kill_problems(self, cid):
        """delete --force must clean up after the kill, and the id be reusable."""
        w, b, rootfs = self.w, self.b, self.rootfs
        problems = []
        rc2, err2 = b.run("delete", "--force", cid)
        if rc2 != 0:
            problems.append(f"delete --force exit {rc2}: {err2}")
        problems += w.leftovers(cid, [rootfs])
        if not problems:
            rc3, err3 = b.run(*self.argv("create", cid))
            if rc3 != 0:
                problems.append(f"reuse: create {cid} exit {rc3}: {err3}")
            rc4, err4 = b.run("delete", "--force", cid)
            if rc4 != 0:
                problems.append(f"reuse: delete --force {cid} exit {rc4}: {err4}")
            left = w.leftovers(cid, [rootfs])
            if left:
                problems.append("after reuse create/delete: " + "; ".join(left))
        else:
            rc3, err3 = b.run(*self.argv("create", cid))
            problems.append(f"reuse: create {cid} exit {rc3}" + (f": {err3}" if err3 else ""))
        return problems

    # ---- report
    def report(self):
        a = self.a
        self.report_table()
        passed, failed = self.report_failures()
        # the test is not vacuous: most kills landed while the command ran
        log("")
        total = sum(self.stats[c]["kills"] for c in self.cmds)
        p, f = self.report_coverage()
        passed += p
        failed += f
        if self.timed_out:
            failed += 1
            log(f"FAIL time limit: only {total} of {len(self.order)} kills in {a.time_limit}s")
        elif a.delay_ms is None and total < a.kills:
            failed += 1
        log(f"orphaned container processes adopted and reaped by the test: {len(common.REAPED)}")
        log(f"{total} kills in {time.monotonic() - self.t_start:.1f}s, seed {self.seed}")
        log(f"{passed} passed, {failed} failed")
        return 1 if failed else 0

    def report_table(self):
        log("")
        log(f"{'command':8s} {'kills':>5s} {'before':>6s} {'while':>6s} {'after':>6s} "
            f"{'done':>5s} {'failed':>6s}")
        for cmd in self.cmds:
            st = self.stats[cmd]
            log(f"{cmd:8s} {st['kills']:5d} {st['before']:6d} {st['while']:6d} {st['after']:6d} "
                f"{st['done']:5d} {st['failed']:6d}")

    def report_failures(self):
        """Prints the failures of each command; (passed, failed) kill counts."""
        a = self.a
        passed = failed = 0
        for cmd in self.cmds:
            st = self.stats[cmd]
            fails = self.failures[cmd]
            passed += st["kills"] - (st["failed"] - st["setup"])
            failed += st["failed"]
            if fails:
                log(f"\n{cmd}: {len(fails)} failure(s)")
                for cid, delay, cls, probs in fails[:a.max_details]:
                    log(f"  FAIL {cmd} id={cid} delay={delay * 1000:.2f}ms killed={cls}")
                    for pr in probs:
                        log(f"       {pr}")
                    log(f"       replay: {sys.argv[0]} --berth {self.w.berth_binary} --only {cmd} "
                        f"--delay-ms {delay * 1000:.2f} --kills 20")
                if len(fails) > a.max_details:
                    log(f"  … {len(fails) - a.max_details} more")
        return passed, failed

    def report_coverage(self):
        """One check per command: enough kills landed before it exited."""
        passed = failed = 0
        for cmd in self.cmds:
            st = self.stats[cmd]
            k = st["kills"]
            if k < 10 or self.a.delay_ms is not None:
                continue
            mid = k - st["done"]
            ok = mid >= 0.35 * k and st["while"] + st["before"] >= 0.1 * k
            log(f"{'ok  ' if ok else 'FAIL'} {cmd}: {mid}/{k} kills landed before the "
                f"command exited ({st['before']} before, {st['while']} while, "
                f"{st['after']} after the interesting part; delay range ended at "
                f"[0, {self.timing[cmd][1] * 1000:.1f}] ms)")
            if ok:
                passed += 1
            else:
                failed += 1
        return passed, failed


def classify(cmd, w, cid):
    sd = os.path.join(w.root, cid)
    has_sd = os.path.isdir(sd)
    has_sj = os.path.exists(os.path.join(sd, "state.json"))
    has_fifo = os.path.exists(os.path.join(sd, "exec.fifo"))
    has_cg = bool(w.cg_dirs(cid))
    pids = w.cg_pids(cid)
    nsleep = sum(1 for p in pids if (common.proc_stat(p) or ("",))[0] == "sleep")
    if cmd == "create":
        if not has_sd and not has_cg:
            return "before"
        return "after" if has_sj and pids else "while"
    if cmd == "start":
        if has_fifo and nsleep == 0:
            return "before"
        return "after" if nsleep >= 1 and not has_fifo else "while"
    if cmd == "exec":
        if len(pids) <= 1:
            return "before"
        return "after" if nsleep >= 2 else "while"
    if cmd in ("run-d", "run"):
        if not has_sd and not has_cg:
            return "before"
        return "after" if nsleep >= 1 else "while"
    if cmd == "delete":
        if nsleep >= 1:
            return "before"
        return "after" if not has_sd and not has_cg else "while"
    raise ValueError(cmd)


if __name__ == "__main__":
    common.run_main(main)
