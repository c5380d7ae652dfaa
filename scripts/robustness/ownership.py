#!/usr/bin/env python3
"""Ownership: berth only kills, moves or removes what it created or placed.

A "foreign" `sleep 1000` (a child of this test, outside any container) must
survive every scenario; each scenario is one check:

  a  default / relative / absolute cgroupsPath, the sleeper in the parent
     cgroup of the container's (in every hierarchy): run -d, kill --all KILL,
     delete -f -> sleeper alive, still there, the parent cgroup still exists
  b  cgroupsPath naming an existing cgroup holding the sleeper (in every
     hierarchy; extra variants: only in the v2 one, only in memory) -> create
     fails (exit 1, "not empty"), nothing left, sleeper alive and not moved
  c  linux.resources.unified {"cgroup.procs": "<sleeper>"} and the keys
     cgroup.threads, tasks, cgroup.subtree_control, cgroup.kill, cgroup.freeze,
     cgroup.type, ../x -> create refused, nothing left, sleeper not moved
  d  host pid namespace: kill --all / delete -f kill the container's processes
     (checked gone), not the sleeper
  e  init exited (private pid ns), then the sleeper moved by us into the
     container's cgroup -> delete -f (and plain delete) exit 0 and do not
     kill it; what stayed is printed (the cgroup may stay; we remove it)
  f  A (private pid ns) stopped, not deleted; B created in the same
     cgroupsPath runs sleep -> delete A (plain, and -f) does not kill B

  python3 scripts/robustness/ownership.py [--berth PATH] [--only a,b,...]
"""

import argparse
import os
import select
import subprocess
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import log  # noqa: E402


class Sleeper:
    def __init__(self, w):
        self.w = w
        self.start()

    def start(self):
        p = common.spawn(["sleep", "1000"], stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.w.children.append(p)
        self.w.protected.add(p.pid)
        self.p = p
        self.pid = p.pid
        self.home = self.where()

    def alive(self):
        return self.p.poll() is None and common.alive(self.pid)

    def where(self):
        cg = common.read_cgroup_file(self.pid)
        return {h: common.path_in(cg, h) for h in self.w.hs}

    def move(self, paths):
        for h, path in paths.items():
            common.cg_move(h, path, self.pid)

    def go_home(self):
        if not self.alive():
            return
        for h, path in self.home.items():
            try:
                common.cg_move(h, path, self.pid)
            except OSError as e:
                log(f"     could not move the sleeper back to {h.dir(path)}: {e}")


class Ctx:
    def __init__(self, w, rootfs):
        self.w = w
        self.b = w.berth
        self.rootfs = rootfs
        self.tag = f"robust-{os.getpid()}"
        self.n = 0

    def cid(self, name):
        self.n += 1
        return f"o{os.getpid()}-{name}-{self.n}"

    def bundle(self, cid, args, cgroups_path=None, edit=None):
        def ed(cfg):
            if cgroups_path is not None:
                cfg["linux"]["cgroupsPath"] = cgroups_path
            if edit:
                edit(cfg)
        self.w.track(cid, cgroups_path)
        return common.make_bundle(os.path.join(self.w.tmp, "b-" + cid), args,
                                  rootfs=self.rootfs, edit=ed)

    def mkparents(self, paths):
        """mkdir {hier: path} (only where missing); returns what we made."""
        made = []
        for h, p in paths.items():
            if not os.path.isdir(h.dir(p)):
                common.cg_mkdir(h, p)
                made.append((h, p))
                self.w.own_cgroups.append((h, p))
        return made

    def rm_own(self, made):
        left = []
        for h, p in reversed(made):
            left += common.cg_rmtree(h, p)
        return left


def wait_gone(pids, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        live = [p for p in pids if common.alive(p)]
        if not live:
            return []
        time.sleep(0.02)
    return [p for p in pids if common.alive(p)]


def wait_exit(pid, timeout=10.0):
    try:
        fd = os.pidfd_open(pid)
    except OSError:
        return True
    try:
        pl = select.poll()
        pl.register(fd, select.POLLIN)
        return bool(pl.poll(timeout * 1000))
    finally:
        os.close(fd)


# ---------------------------------------------------------------- scenarios


def scen_a(c, s, kind):
    w, b = c.w, c.b
    probs, notes = [], []
    if kind == "default":
        cid = c.cid("a-def")
        parent = common.resolve(w.hs, "/berth")
        cgp = None
    elif kind == "relative":
        cid = c.cid("a-rel")
        parent = common.resolve(w.hs, f"{c.tag}-a-rel")
        cgp = f"{c.tag}-a-rel/{cid}"
    else:
        cid = c.cid("a-abs")
        parent = common.resolve(w.hs, f"/{c.tag}-a-abs")
        cgp = f"/{c.tag}-a-abs/{cid}"
    bundle = c.bundle(cid, ["sleep", "1000"], cgp)
    made = c.mkparents(parent)
    try:
        s.move(parent)
        where = s.where()
        bad = [h.name for h in w.hs if where[h] != parent[h]]
        if bad:
            return [f"setup: the sleeper is not in the parent cgroup in {bad}"], notes
        rc, err = b.run("run", "--detach", "--bundle", bundle, cid)
        if rc != 0:
            return [f"run -d exit {rc}: {err}"], notes
        st = b.state(cid) or {}
        init = st.get("pid")
        icg = common.read_cgroup_file(init) if init else None
        wrong = [h.name for h in w.hs if common.path_in(icg, h) != w.cgpaths[cid][h]]
        if not init or wrong:
            probs.append(f"the init {init} is not in the expected cgroup in {wrong}")
        cpids = sorted(w.cg_pids(cid))
        notes.append(f"container cgroup {w.cgpaths[cid][w.hs[-1]]}, pids {cpids}; "
                     f"sleeper {s.pid} in {parent[w.hs[-1]]}")
        rc, err = b.run("kill", "--all", cid, "KILL")
        if rc != 0:
            probs.append(f"kill --all KILL exit {rc}: {err}")
        gone = wait_gone(cpids)
        if gone:
            probs.append(f"container processes still alive after kill --all: {gone}")
        rc, err = b.run("delete", "--force", cid)
        if rc != 0:
            probs.append(f"delete -f exit {rc}: {err}")
        if not s.alive():
            probs.append(f"the sleeper {s.pid} was killed")
        else:
            where = s.where()
            moved = [h.name for h in w.hs if where[h] != parent[h]]
            if moved:
                probs.append(f"the sleeper was moved out of the parent in {moved}")
        missing = [h.dir(p) for h, p in parent.items() if not os.path.isdir(h.dir(p))]
        if missing:
            probs.append(f"the parent cgroup was removed: {missing}")
        left = w.leftovers(cid, [c.rootfs])
        if left:
            probs.append("left: " + "; ".join(left))
        return probs, notes
    finally:
        s.go_home()
        w.force_clean(cid)
        c.rm_own(made)


def scen_b(c, s, variant):
    w, b = c.w, c.b
    probs, notes = [], []
    cid = c.cid("b-" + variant)
    cgp = f"/{c.tag}-b-{variant}"
    target = common.resolve(w.hs, cgp)
    bundle = c.bundle(cid, ["sleep", "1000"], cgp)
    made = c.mkparents(target)
    try:
        if variant == "all":
            into = target
        elif variant == "v2-only":
            into = {h: p for h, p in target.items() if h.version == 2}
        else:
            into = {h: p for h, p in target.items() if "memory" in h.ctrls}
        s.move(into)
        before = s.where()
        bad = [h.name for h in into if before[h] != into[h]]
        if bad or not into:
            return [f"setup: the sleeper is not in {cgp} in {bad}"], notes
        notes.append(f"sleeper {s.pid} in {cgp} in {sorted(h.name for h in into)}")
        rc, err = b.run("create", "--bundle", bundle, cid)
        notes.append(f"create exit {rc}: {err[-200:]}")
        if rc != 1:
            probs.append(f"create exit {rc} (want 1)")
        if "not empty" not in err.lower():
            probs.append(f"error does not say the cgroup is not empty: {err!r}")
        if not s.alive():
            probs.append(f"the sleeper {s.pid} was killed by create")
        elif s.where() != before:
            probs.append(f"create moved the sleeper: {before} -> {s.where()}")
        if rc == 0:
            rc2, err2 = b.run("delete", "--force", cid)
            notes.append(f"delete -f after the wrong create: exit {rc2} {err2}")
            if not s.alive() and not any("killed by create" in p for p in probs):
                probs.append(f"the sleeper {s.pid} was killed by that delete -f")
        missing = [h.dir(p) for h, p in target.items() if not os.path.isdir(h.dir(p))]
        if missing:
            probs.append(f"the existing cgroup was removed: {missing}")
        left = w.leftovers(cid, [c.rootfs], allow_cgroup=True)
        extra = [p for p in w.cg_pids(cid) if p != s.pid]
        if extra:
            left.append(f"processes in {cgp}: {extra}")
        kids = [h.dir(p) + "/" + d for h, p in target.items() if os.path.isdir(h.dir(p))
                for d in os.listdir(h.dir(p)) if os.path.isdir(os.path.join(h.dir(p), d))]
        if kids:
            left.append(f"sub-cgroups created: {kids}")
        if left:
            probs.append("left: " + "; ".join(left))
        return probs, notes
    finally:
        s.go_home()
        w.force_clean(cid)
        c.rm_own(made)


def scen_c(c, s, key):
    w, b = c.w, c.b
    probs, notes = [], []
    cid = c.cid("c")
    value = {"cgroup.procs": str(s.pid), "cgroup.threads": str(s.pid),
             "tasks": str(s.pid), "cgroup.subtree_control": "+pids",
             "cgroup.kill": "1", "cgroup.freeze": "1", "cgroup.type": "threaded",
             "../x": "1"}[key]

    def edit(cfg):
        cfg["linux"].setdefault("resources", {})["unified"] = {key: value}
    bundle = c.bundle(cid, ["sleep", "1000"], None, edit)
    try:
        before = s.where()
        rc, err = b.run("create", "--bundle", bundle, cid)
        notes.append(f"unified {{{key!r}: {value!r}}}: create exit {rc}: {err[-200:]}")
        if rc == 0:
            probs.append("create succeeded (want refused)")
        elif rc != 1:
            probs.append(f"create exit {rc} (want 1)")
        elif "unified" not in err:
            probs.append("the error does not name linux.resources.unified (refused by "
                         "accident, not by validation?)")
        if not s.alive():
            probs.append(f"the sleeper {s.pid} was killed by create")
        elif s.where() != before:
            after = s.where()
            probs.append("create moved the sleeper: " + ", ".join(
                f"{h.name} {before[h]} -> {after[h]}" for h in w.hs if before[h] != after[h]))
        if rc == 0:
            st = b.state(cid) or {}
            notes.append(f"state {st.get('status')}")
            rc2, err2 = b.run("delete", "--force", cid)
            if rc2 != 0:
                probs.append(f"delete -f exit {rc2}: {err2}")
            if not s.alive() and not any("killed by create" in p for p in probs):
                probs.append(f"the sleeper {s.pid} was killed by that delete -f")
        left = w.leftovers(cid, [c.rootfs])
        if left:
            probs.append("left: " + "; ".join(left))
        return probs, notes
    finally:
        s.go_home()
        w.force_clean(cid)


def unified_control(c):
    """Does berth accept a harmless unified key here? If not, every c check
    passes whatever the key: say so."""
    w, b = c.w, c.b
    cid = c.cid("c-control")

    def edit(cfg):
        cfg["linux"].setdefault("resources", {})["unified"] = {"cgroup.max.descendants": "10"}
    bundle = c.bundle(cid, ["sleep", "1000"], None, edit)
    try:
        rc, err = b.run("create", "--bundle", bundle, cid)
        return rc, err
    finally:
        w.force_clean(cid)


def scen_d(c, s, how):
    w, b = c.w, c.b
    probs, notes = [], []
    cid = c.cid("d-" + how)

    def edit(cfg):
        cfg["linux"]["namespaces"] = [n for n in cfg["linux"]["namespaces"]
                                      if n["type"] != "pid"]
    bundle = c.bundle(cid, ["sh", "-c", "sleep 1000 & sleep 1000 & wait"], None, edit)
    try:
        rc, err = b.run("run", "--detach", "--bundle", bundle, cid)
        if rc != 0:
            return [f"run -d exit {rc}: {err}"], notes
        deadline = time.monotonic() + 5
        while len(w.cg_pids(cid)) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        cpids = sorted(w.cg_pids(cid))
        notes.append(f"container pids {cpids} (host pid ns), sleeper {s.pid}")
        if len(cpids) < 3:
            probs.append(f"setup: want 3 container processes, got {cpids}")
        if how == "kill-all":
            rc, err = b.run("kill", "--all", cid, "KILL")
            if rc != 0:
                probs.append(f"kill --all KILL exit {rc}: {err}")
            gone = wait_gone(cpids)
            if gone:
                probs.append(f"container processes alive after kill --all: {gone}")
        rc, err = b.run("delete", "--force", cid)
        if rc != 0:
            probs.append(f"delete -f exit {rc}: {err}")
        gone = wait_gone(cpids)
        if gone:
            probs.append(f"container processes alive after delete -f: {gone}")
        if not s.alive():
            probs.append(f"the sleeper {s.pid} was killed")
        left = w.leftovers(cid, [c.rootfs])
        if left:
            probs.append("left: " + "; ".join(left))
        return probs, notes
    finally:
        w.force_clean(cid)


def scen_e(c, s, how):
    w, b = c.w, c.b
    probs, notes = [], []
    cid = c.cid("e-" + how)
    bundle = c.bundle(cid, ["true"])
    cg = w.cgpaths[cid]
    try:
        rc, err = b.run("create", "--bundle", bundle, cid)
        if rc != 0:
            return [f"create exit {rc}: {err}"], notes
        init = (b.state(cid) or {}).get("pid")
        rc, err = b.run("start", cid)
        if rc != 0:
            return [f"start exit {rc}: {err}"], notes
        if not init or not wait_exit(init):
            return [f"setup: the init {init} did not exit"], notes
        st = (b.state(cid) or {}).get("status")
        if st != "stopped":
            probs.append(f"state {st} after the init exited (want stopped)")
        s.move(cg)
        where = s.where()
        bad = [h.name for h in w.hs if where[h] != cg[h]]
        if bad:
            return [f"setup: could not put the sleeper into the container cgroup in {bad}"], notes
        notes.append(f"sleeper {s.pid} moved into {cg[w.hs[-1]]} after the init exited")
        args = ["delete", "--force", cid] if how == "force" else ["delete", cid]
        rc, err = b.run(*args)
        notes.append(f"{' '.join(args[:-1])}: exit {rc} {err[-200:]}")
        if rc != 0:
            probs.append(f"{' '.join(args[:-1])} exit {rc}: {err}")
        if not s.alive():
            probs.append(f"the sleeper {s.pid} was killed")
        left = w.leftovers(cid, [c.rootfs], allow_cgroup=True)
        if left:
            probs.append("left: " + "; ".join(left))
        stay = w.cg_dirs(cid)
        notes.append("left (allowed): " + (f"{len(stay)} cgroup dirs, e.g. {stay[0]}"
                                          if stay else "nothing"))
        return probs, notes
    finally:
        s.go_home()
        w.force_clean(cid)


def scen_f(c, s, how):
    w, b = c.w, c.b
    probs, notes = [], []
    cgp = f"/{c.tag}-f-{how}/shared"
    a_id, b_id = c.cid("f-A"), c.cid("f-B")
    ba = c.bundle(a_id, ["true"], cgp)
    bb = c.bundle(b_id, ["sleep", "1000"], cgp)
    top = common.resolve(w.hs, f"/{c.tag}-f-{how}")
    w.own_cgroups += list(top.items())
    try:
        rc, err = b.run("create", "--bundle", ba, a_id)
        if rc != 0:
            return [f"create A exit {rc}: {err}"], notes
        init = (b.state(a_id) or {}).get("pid")
        rc, err = b.run("start", a_id)
        if rc != 0 or not init or not wait_exit(init):
            return [f"setup: A did not run and stop ({rc} {err})"], notes
        rc, err = b.run("create", "--bundle", bb, b_id)
        if rc != 0:
            notes.append(f"B refused in the same cgroup (allowed): {err}")
            return probs, notes
        rc, err = b.run("start", b_id)
        if rc != 0:
            return [f"start B exit {rc}: {err}"], notes
        bpids = sorted(w.cg_pids(b_id))
        binit = (b.state(b_id) or {}).get("pid")
        notes.append(f"A stopped; B running in {cgp}: pids {bpids} (init {binit})")
        if not bpids or binit not in bpids:
            probs.append(f"setup: B's init {binit} not in {cgp}: {bpids}")
        args = ["delete", "--force", a_id] if how == "force" else ["delete", a_id]
        rc, err = b.run(*args)
        notes.append(f"{' '.join(args[:-1])} A: exit {rc} {err[-200:]}")
        if rc != 0:
            probs.append(f"{' '.join(args[:-1])} A exit {rc}: {err}")
        time.sleep(0.1)
        dead = [p for p in bpids if not common.alive(p)]
        if dead:
            probs.append(f"deleting A killed B's processes {dead}")
        st = (b.state(b_id) or {}).get("status")
        if st != "running":
            probs.append(f"B is {st} after deleting A")
        if not s.alive():
            probs.append(f"the sleeper {s.pid} was killed")
        rc, err = b.run("delete", "--force", b_id)
        if rc != 0:
            probs.append(f"delete -f B exit {rc}: {err}")
        left = []
        for cid in (a_id, b_id):
            left += w.leftovers(cid, [c.rootfs])
        if left:
            probs.append("left after deleting both: " + "; ".join(sorted(set(left))))
        return probs, notes
    finally:
        w.force_clean(b_id)
        w.force_clean(a_id)
        for h, p in top.items():
            common.cg_rmtree(h, p)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--berth", default=common.DEFAULT_BERTH)
    ap.add_argument("--only", default="a,b,c,d,e,f")
    ap.add_argument("--no-subreaper", action="store_true")
    a = ap.parse_args()
    w = common.World("ownership", a.berth, subreaper=not a.no_subreaper)
    t0 = time.monotonic()
    try:
        return run(a, w)
    finally:
        w.cleanup()
        log(f"wall time {time.monotonic() - t0:.1f}s")


def run(a, w):
    rootfs = os.path.join(common.make_bundle(os.path.join(w.tmp, "base"), ["true"]), "rootfs")
    c = Ctx(w, rootfs)
    s = Sleeper(w)
    log(f"berth: {w.berth_binary}")
    log(f"foreign sleeper: pid {s.pid}; hierarchies: {', '.join(h.name for h in w.hs)}")
    only = set(a.only.split(","))
    plan = []
    if "a" in only:
        plan += [(f"a/{k}", scen_a, k) for k in ("default", "relative", "absolute")]
    if "b" in only:
        plan += [(f"b/{k}", scen_b, k) for k in ("all", "v2-only", "memory-only")]
    if "c" in only:
        rc, err = unified_control(c)
        if rc == 0:
            log("note: a harmless unified key (cgroup.max.descendants) is accepted: "
                "the c checks test key validation")
        else:
            log("note: berth refuses even a harmless unified key (cgroup.max.descendants) "
                f"on this host ({err[-120:]}): the c checks only show that nothing is "
                "written; key validation needs a cgroup v2 host (make test-cgroupv2)")
        plan += [(f"c/{k}", scen_c, k) for k in (
            "cgroup.procs", "cgroup.threads", "tasks", "cgroup.subtree_control",
            "cgroup.kill", "cgroup.freeze", "cgroup.type", "../x")]
    if "d" in only:
        plan += [(f"d/{k}", scen_d, k) for k in ("kill-all", "delete-force")]
    if "e" in only:
        plan += [(f"e/{k}", scen_e, k) for k in ("force", "plain")]
    if "f" in only:
        plan += [(f"f/{k}", scen_f, k) for k in ("plain", "force")]
    passed = failed = 0
    for name, fn, arg in plan:
        if not s.alive():
            s = Sleeper(w)
        try:
            probs, notes = fn(c, s, arg)
        except Exception:
            probs, notes = [f"exception: {traceback.format_exc()}"], []
        if not s.alive():
            if not any("sleeper" in p and "killed" in p for p in probs):
                probs.append(f"the sleeper {s.pid} died during the scenario")
        if probs:
            failed += 1
            log(f"FAIL {name}")
        else:
            passed += 1
            log(f"ok   {name}")
        for n in notes:
            log(f"       {n}")
        for p in probs:
            log(f"     ! {p}")
    log(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    common.run_main(main)
