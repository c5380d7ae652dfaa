#!/usr/bin/env python3
"""Churn: many create/start/wait/delete cycles in parallel streams.

Each cycle: `create` a container running `true` (even cycles) or `sleep 0.01`
(odd ones), read its pid from `state`, `start` it, wait until the init has
exited (pidfd), check `state` says stopped, `delete` it. The streams (threads)
each use their own ids and share one --root. Afterwards nothing may be left:
no state dir, no cgroup of any of the ids in any hierarchy, no mount mentioning
the temp dir, no process in a container cgroup or rooted in the rootfs, no
zombie child, and the test's own fd count must not have grown.

  python3 scripts/robustness/churn.py [--berth PATH] [--cycles 1000]
          [--streams 3] [--time-limit 240] [--no-subreaper]
"""

import argparse
import os
import select
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import log  # noqa: E402


def own_fds():
    """This process's fds, listed while the reaper thread (which opens
    /proc files every few ms) holds none: a transient fd of its own would
    otherwise show as a leak."""
    with common.REAP_LOCK:
        return sorted(os.listdir("/proc/self/fd"))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--berth", default=common.DEFAULT_BERTH)
    ap.add_argument("--cycles", type=int, default=1000)
    ap.add_argument("--streams", type=int, default=3)
    ap.add_argument("--time-limit", type=float, default=240.0)
    ap.add_argument("--no-subreaper", action="store_true",
                    help="leave orphaned inits to pid 1 instead of reaping them here")
    a = ap.parse_args()
    w = common.World("churn", a.berth, subreaper=not a.no_subreaper)
    t_start = time.monotonic()
    try:
        return run(a, w, t_start)
    finally:
        w.cleanup()
        log(f"wall time {time.monotonic() - t_start:.1f}s")


def run(a, w, t_start):
    return Churn(a, w, t_start).run()


class Churn:
    """One churn run: the bundles, the streams' shared error list and
    counters, and the final checks' tally."""

    def __init__(self, a, w, t_start):
        self.a = a
        self.w = w
        self.b = w.berth
        self.t_start = t_start
        rootfs_bundle = common.make_bundle(os.path.join(w.tmp, "b-true"), ["true"])
        self.rootfs = os.path.join(rootfs_bundle, "rootfs")
        b_sleep = common.make_bundle(os.path.join(w.tmp, "b-sleep"), ["sleep", "0.01"],
                                     rootfs=self.rootfs)
        self.bundles = [rootfs_bundle, b_sleep]
        self.prefix = f"c{os.getpid()}"
        self.errors = []
        self.errlock = threading.Lock()
        self.done = [0] * a.streams
        self.stop = threading.Event()
        self.timed_out = threading.Event()
        self.passed = 0
        self.failed = 0

    def run(self):
        a, w = self.a, self.w
        log(f"berth: {w.berth_binary}")
        log(f"{a.cycles} cycles in {a.streams} streams, temp dir {w.tmp}")
        warm = 5
        # warm-up (one stream) so that lazily opened fds of the test exist before
        # the fd count is taken
        for i in range(warm):
            self.cycle(0, 10_000 + i)
        fds0 = own_fds()
        fd0 = len(fds0)
        elapsed = self.run_streams()
        total_ok = sum(self.done)
        log(f"{total_ok} of {a.cycles} cycles ok in {elapsed:.1f}s: "
            f"{total_ok / elapsed:.1f} cycles/s ({a.streams} streams)")
        self.final_checks(total_ok, fd0, fds0)
        log(f"orphaned container processes adopted and reaped by the test: {len(common.REAPED)}")
        log(f"{self.passed} passed, {self.failed} failed")
        return 1 if self.failed else 0

    def fail(self, msg):
        with self.errlock:
            self.errors.append(msg)

    # ---- one create/start/wait/delete cycle
    def cycle(self, s, i):
        w, b = self.w, self.b
        cid = f"{self.prefix}-s{s}-{i}"
        with self.errlock:
            w.track(cid)
        rc, err = b.run("create", "--bundle", self.bundles[i % 2], cid)
        if rc != 0:
            self.fail(f"{cid}: create exit {rc}: {err}")
            return False
        st = b.state(cid)
        if not st or st.get("status") != "created" or not st.get("pid"):
            self.fail(f"{cid}: state after create: {st}")
            return False
        if not self.start_and_wait(cid, st["pid"]):
            return False
        if not self.stopped(cid):
            return False
        rc, err = b.run("delete", cid)
        if rc != 0:
            self.fail(f"{cid}: delete exit {rc}: {err}")
            return False
        if os.path.lexists(os.path.join(w.root, cid)) or w.cg_dirs(cid):
            self.fail(f"{cid}: after delete: state dir or cgroup left: {w.cg_dirs(cid)}")
            return False
        with self.errlock:
            w.ids.discard(cid)
        return True

    def start_and_wait(self, cid, pid):
        """`start` cid, then wait (pidfd) until its init pid has exited."""
        try:
            pidfd = os.pidfd_open(pid)
        except OSError as e:
            self.fail(f"{cid}: pidfd_open({pid}): {e}")
            return False
        try:
            rc, err = self.b.run("start", cid)
            if rc != 0:
                self.fail(f"{cid}: start exit {rc}: {err}")
                return False
            pl = select.poll()
            pl.register(pidfd, select.POLLIN)
            if not pl.poll(10_000):
                self.fail(f"{cid}: init {pid} still running 10 s after start")
                return False
        finally:
            os.close(pidfd)
        return True

    def stopped(self, cid):
        """`state` says stopped once the init has exited."""
        st2 = self.b.state(cid)
        if not st2 or st2.get("status") != "stopped":
            # the init is gone; berth may need a moment to see it
            time.sleep(0.05)
            st2 = self.b.state(cid)
            if not st2 or st2.get("status") != "stopped":
                self.fail(f"{cid}: state after the init exited: {st2 and st2.get('status')}")
                return False
        return True

    # ---- the parallel streams
    def run_streams(self):
        """Runs every stream to its end (or the time limit); the wall time."""
        a = self.a
        share = [a.cycles // a.streams + (1 if s < a.cycles % a.streams else 0)
                 for s in range(a.streams)]
        t0 = time.monotonic()
        threads = [threading.Thread(target=self.stream, args=(s, share[s]), daemon=True)
                   for s in range(a.streams)]
        try:
            for t in threads:
                t.start()
            for t in threads:
                while t.is_alive():
                    t.join(0.5)
        finally:
            self.stop.set()
        return time.monotonic() - t0

    def stream(self, s, cycles):
        for i in range(cycles):
            if self.stop.is_set():
                return
            if time.monotonic() - self.t_start > self.a.time_limit:
                self.timed_out.set()
                self.stop.set()
                return
            if self.cycle(s, i):
                self.done[s] += 1

    # ---- checks
    def check(self, ok, what, detail=""):
        if ok:
            self.passed += 1
            log(f"ok   {what}")
        else:
            self.failed += 1
            log(f"FAIL {what}" + (f": {detail}" if detail else ""))

    def final_checks(self, total_ok, fd0, fds0):
        a, w, check, errors = self.a, self.w, self.check, self.errors
        check(not errors, f"every cycle succeeded ({len(errors)} errors)",
              "\n       " + "\n       ".join(errors[:15]) + (f"\n       … {len(errors) - 15} more"
                                                              if len(errors) > 15 else ""))
        check(not self.timed_out.is_set(), f"all {a.cycles} cycles ran within {a.time_limit}s",
              f"only {total_ok} ok")
        # leftovers: state dirs, cgroups, mounts, processes, zombies
        try:
            sdirs = sorted(os.listdir(w.root))
        except OSError:
            sdirs = []
        check(not sdirs, "no state dir left under --root", str(sdirs[:10]))
        cg_left = []
        for h in w.hs:
            d = h.dir("/berth")
            if os.path.isdir(d):
                cg_left += [os.path.join(d, n) for n in os.listdir(d) if n.startswith(self.prefix)]
        check(not cg_left, "no cgroup of ours left in any hierarchy", str(cg_left[:10]))
        mounts = w.new_mounts()
        check(not mounts, "no mount mentioning the temp dir", str(mounts[:5]))
        time.sleep(0.1)  # let the reaper collect the last orphans
        procs = w.scan_procs([c for c in w.cgpaths], [self.rootfs])
        check(not procs, "no process in a container cgroup, in the rootfs, with an fd into "
              "the temp dir, and no zombie child", "; ".join(procs[:10]))
        fds1 = own_fds()
        fd1 = len(fds1)
        check(fd1 <= fd0, f"the test's fd count did not grow ({fd0} -> {fd1})",
              f"new fds: {[(x, _readlink(x)) for x in fds1 if x not in fds0]}")


def _readlink(fd):
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return "?"


if __name__ == "__main__":
    common.run_main(main)
