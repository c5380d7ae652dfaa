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
    b = w.berth
    bundle = common.make_bundle(os.path.join(w.tmp, "bundle"), ["sleep", "1000"])
    rootfs = os.path.join(bundle, "rootfs")
    log(f"berth: {w.berth_binary}")
    log(f"seed: {seed}   (replay: --seed {seed})")
    log(f"temp dir: {w.tmp}")
    prefix = f"f{os.getpid()}"
    counter = [0]

    def new_id(cmd):
        counter[0] += 1
        return w.track(f"{prefix}-{cmd}-{counter[0]}")

    def argv(cmd, cid, measuring=False):
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

    def setup(cmd, cid):
        steps = {"create": [], "start": ["create"], "exec": ["create", "start"],
                 "run-d": [], "run": [], "delete": ["create", "start"]}[cmd]
        for s in steps:
            rc, err = b.run(*argv(s, cid))
            if rc != 0:
                return f"setup `{s}` exit {rc}: {err}"
        return None

    # ---- measure where each command spends its time
    timing = {}
    for cmd in cmds:
        ts = []
        for _ in range(7):
            cid = new_id(cmd + "-m")
            err = setup(cmd, cid)
            if err:
                log(f"measuring {cmd}: {err}")
                w.force_clean(cid)
                continue
            p = common.spawn(b.argv(*argv(cmd, cid, measuring=True)),
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
            t0 = time.monotonic()
            try:
                rc = common.wait(p, common.CMD_TIMEOUT)
            except subprocess.TimeoutExpired:
                p.kill()
                rc = p.wait()
            common.forget(p)
            ts.append(time.monotonic() - t0)
            if rc != 0:
                log(f"measuring {cmd}: exit {rc}")
            b.run("delete", "--force", cid)
            if w.leftovers(cid, [rootfs], check_procs=False):
                w.force_clean(cid)
        med = statistics.median(ts) if ts else 0.01
        hi = min(MAX_DELAY, max(0.002, med))
        timing[cmd] = (med, hi)
        log(f"{cmd:7s} takes {med * 1000:6.2f} ms (median of {len(ts)}); "
            f"delays: 80% in [0, {hi * 1000:.2f}] ms, 20% in [0, 30] ms")

    # ---- the kills
    per = {c: a.kills // len(cmds) + (1 if i < a.kills % len(cmds) else 0)
           for i, c in enumerate(cmds)}
    stats = {c: {"kills": 0, "before": 0, "while": 0, "after": 0, "done": 0,
                 "failed": 0, "setup": 0} for c in cmds}
    failures = {c: [] for c in cmds}
    hi_used = {c: [] for c in cmds}
    order = []
    for i in range(max(per.values(), default=0)):
        order += [c for c in cmds if per[c] > i]
    timed_out = False
    for n, cmd in enumerate(order):
        if time.monotonic() - t_start > a.time_limit:
            timed_out = True
            log(f"time limit {a.time_limit}s reached after {n} of {len(order)} kills")
            break
        med, hi = timing[cmd]
        hi_used[cmd].append(hi)
        if a.delay_ms is not None:
            delay = a.delay_ms / 1000
        else:
            delay = rng.uniform(0, hi) if rng.random() < 0.8 else rng.uniform(0, MAX_DELAY)
        cid = new_id(cmd)
        st = stats[cmd]
        err = setup(cmd, cid)
        if err:
            st["setup"] += 1
            st["failed"] += 1
            failures[cmd].append((cid, delay, "setup", [err] + w.force_clean(cid)))
            continue
        p = common.spawn(b.argv(*argv(cmd, cid)), stdin=subprocess.DEVNULL,
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
        st["kills"] += 1
        cls = "done" if rc != -signal.SIGKILL else classify(cmd, w, cid)
        # keep about a quarter of the kills after the command's end: shrink the
        # delay range when a kill came too late, widen it when it came in time
        timing[cmd] = (med, min(MAX_DELAY, max(0.00005, hi * (0.94 if cls == "done" else 1.02))))
        st[cls] += 1

        problems = []
        rc2, err2 = b.run("delete", "--force", cid)
        if rc2 != 0:
            problems.append(f"delete --force exit {rc2}: {err2}")
        problems += w.leftovers(cid, [rootfs])
        if not problems:
            rc3, err3 = b.run(*argv("create", cid))
            if rc3 != 0:
                problems.append(f"reuse: create {cid} exit {rc3}: {err3}")
            rc4, err4 = b.run("delete", "--force", cid)
            if rc4 != 0:
                problems.append(f"reuse: delete --force {cid} exit {rc4}: {err4}")
            left = w.leftovers(cid, [rootfs])
            if left:
                problems.append("after reuse create/delete: " + "; ".join(left))
        else:
            rc3, err3 = b.run(*argv("create", cid))
            problems.append(f"reuse: create {cid} exit {rc3}" + (f": {err3}" if err3 else ""))
        if problems:
            st["failed"] += 1
            fixed = w.force_clean(cid)
            failures[cmd].append((cid, delay, cls, problems + ["cleanup by the test: "
                                                             + (", ".join(fixed) or "nothing")]))
        else:
            w.ids.discard(cid)

    # ---- report
    log("")
    log(f"{'command':8s} {'kills':>5s} {'before':>6s} {'while':>6s} {'after':>6s} "
        f"{'done':>5s} {'failed':>6s}")
    passed = failed = 0
    for cmd in cmds:
        st = stats[cmd]
        log(f"{cmd:8s} {st['kills']:5d} {st['before']:6d} {st['while']:6d} {st['after']:6d} "
            f"{st['done']:5d} {st['failed']:6d}")
    for cmd in cmds:
        st = stats[cmd]
        passed += st["kills"] - (st["failed"] - st["setup"])
        failed += st["failed"]
        if failures[cmd]:
            log(f"\n{cmd}: {len(failures[cmd])} failure(s)")
            for cid, delay, cls, probs in failures[cmd][:a.max_details]:
                log(f"  FAIL {cmd} id={cid} delay={delay * 1000:.2f}ms killed={cls}")
                for pr in probs:
                    log(f"       {pr}")
                log(f"       replay: {sys.argv[0]} --berth {w.berth_binary} --only {cmd} "
                    f"--delay-ms {delay * 1000:.2f} --kills 20")
            if len(failures[cmd]) > a.max_details:
                log(f"  … {len(failures[cmd]) - a.max_details} more")
    # ---- the test is not vacuous: most kills landed while the command ran
    log("")
    total = sum(stats[c]["kills"] for c in cmds)
    for cmd in cmds:
        st = stats[cmd]
        k = st["kills"]
        if k < 10 or a.delay_ms is not None:
            continue
        mid = k - st["done"]
        ok = mid >= 0.35 * k and st["while"] + st["before"] >= 0.1 * k
        log(f"{'ok  ' if ok else 'FAIL'} {cmd}: {mid}/{k} kills landed before the "
            f"command exited ({st['before']} before, {st['while']} while, "
            f"{st['after']} after the interesting part; delay range ended at "
            f"[0, {timing[cmd][1] * 1000:.1f}] ms)")
        if ok:
            passed += 1
        else:
            failed += 1
    if timed_out:
        failed += 1
        log(f"FAIL time limit: only {total} of {len(order)} kills in {a.time_limit}s")
    elif a.delay_ms is None and total < a.kills:
        failed += 1
    log(f"orphaned container processes adopted and reaped by the test: {len(common.REAPED)}")
    log(f"{total} kills in {time.monotonic() - t_start:.1f}s, seed {seed}")
    log(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


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
