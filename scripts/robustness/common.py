"""Shared helpers for scripts/robustness/{faults,churn,ownership}.py.

Python 3.11 standard library only. Everything here works on pids, cgroups,
mounts and directories the calling test created itself: cleanup never kills
by name, never touches a cgroup it did not make (or that berth did not make
for one of the test's container ids), and never unmounts anything that does
not mention the test's own temp dir.
"""

import atexit
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "scripts"))
from release_dir import release_dir  # noqa: E402 (scripts/ is not a package)

DEFAULT_BERTH = os.path.join(release_dir(), "berth")
BUSYBOX_SH = os.path.join(REPO, "bundles/busybox.sh")
CMD_TIMEOUT = 15.0  # seconds; no berth command legitimately takes longer


# --------------------------------------------------------------------------
# child subreaper: the test adopts (and promptly reaps) orphaned container
# processes, as containerd's shim does. This VM's pid 1 reaps orphans only
# about every 2 s, and the kernel keeps a pid namespace's init from finishing
# until every process of the namespace has been reaped, so without this a
# `delete` after a killed `exec` waits up to 2 s for pid 1.
# Every process the test itself starts goes through spawn(), under a lock the
# reaper also takes, so the reaper never steals a child subprocess waits for.

REAP_LOCK = threading.Lock()
_KNOWN = set()
REAPED = []  # (pid, comm) of adopted orphans we reaped
_SUBREAPER = False


def spawn(argv, **kw):
    with REAP_LOCK:
        p = subprocess.Popen(argv, **kw)
        _KNOWN.add(p.pid)
    return p


def forget(p):
    with REAP_LOCK:
        _KNOWN.discard(p.pid)


def _children():
    kids = set()
    try:
        tids = os.listdir("/proc/self/task")
    except OSError:
        return kids
    for t in tids:
        try:
            with open(f"/proc/self/task/{t}/children") as f:
                kids.update(int(x) for x in f.read().split())
        except OSError:
            pass
    return kids


def _reap_once():
    with REAP_LOCK:
        for pid in _children() - _KNOWN:
            st = proc_stat(pid)
            if st and st[1] == "Z":
                try:
                    os.waitpid(pid, os.WNOHANG)
                    REAPED.append((pid, st[0]))
                except ChildProcessError:
                    pass


def start_subreaper():
    global _SUBREAPER
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(36, 1, 0, 0, 0) != 0:  # PR_SET_CHILD_SUBREAPER
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")
    _SUBREAPER = True

    def loop():
        while True:
            _reap_once()
            time.sleep(0.005)

    threading.Thread(target=loop, daemon=True, name="reaper").start()


def run_cmd(argv, timeout=60):
    """subprocess.run(capture_output=True, text=True) through spawn()."""
    p = spawn(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
              stderr=subprocess.PIPE, text=True)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
    forget(p)
    return subprocess.CompletedProcess(argv, p.returncode, out, err)


def log(*a):
    print(*a, flush=True)


# --------------------------------------------------------------------------
# signals: SIGTERM/SIGHUP act like Ctrl-C, so every finally/atexit runs


def _raise_exit(signum, _frame):
    raise KeyboardInterrupt(f"signal {signum}")


def install_signal_handlers():
    for s in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, _raise_exit)


# --------------------------------------------------------------------------
# cgroup hierarchies


class Hier:
    def __init__(self, mount, version, ctrls):
        self.mount = mount
        self.version = version
        self.ctrls = ctrls  # frozenset of controller names (v1), empty for v2
        self.self_path = "/"  # the test's own cgroup in this hierarchy

    @property
    def name(self):
        return os.path.basename(self.mount) if self.version == 1 else "unified"

    def dir(self, path):
        return os.path.join(self.mount, path.lstrip("/"))

    def procs_file(self, path):
        return os.path.join(self.dir(path), "cgroup.procs")

    def __repr__(self):
        return f"Hier({self.mount})"


def hierarchies():
    hs = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, right = line.rstrip("\n").split(" - ", 1)
            lf = left.split()
            fstype, _src, superopts = right.split(" ", 2)
            if fstype == "cgroup":
                opts = set(superopts.split(","))
                known = {"cpu", "cpuacct", "cpuset", "memory", "devices", "freezer",
                         "net_cls", "blkio", "perf_event", "net_prio", "hugetlb",
                         "pids", "rdma", "misc"}
                ctrls = frozenset(o for o in opts if o in known or o.startswith("name="))
                hs.append(Hier(lf[4], 1, ctrls))
            elif fstype == "cgroup2":
                hs.append(Hier(lf[4], 2, frozenset()))
    own = read_cgroup_file("self")
    for h in hs:
        h.self_path = path_in(own, h) or "/"
    return hs


def read_cgroup_file(pid):
    """[(ctrls frozenset, path)] of /proc/PID/cgroup, or None if gone."""
    try:
        with open(f"/proc/{pid}/cgroup") as f:
            data = f.read()
    except OSError:
        return None
    out = []
    for line in data.splitlines():
        parts = line.split(":", 2)
        if len(parts) == 3:
            out.append((frozenset(c for c in parts[1].split(",") if c), parts[2]))
    return out


def path_in(cg, h):
    """The path of a parsed /proc/PID/cgroup in hierarchy h."""
    if cg is None:
        return None
    for ctrls, path in cg:
        if h.version == 2 and not ctrls:
            return path
        if h.version == 1 and ctrls and ctrls == h.ctrls:
            return path
    return None


def resolve(hs, cgroups_path):
    """{hier: absolute path} for a linux.cgroupsPath (relative = below the caller's)."""
    if cgroups_path.startswith("/"):
        return {h: os.path.normpath(cgroups_path) for h in hs}
    return {h: os.path.normpath(os.path.join(h.self_path, cgroups_path)) for h in hs}


def cg_mkdir(h, path):
    """mkdir a cgroup (cpuset gets its parent's cpus/mems so tasks can join)."""
    d = h.dir(path)
    os.mkdir(d)
    if "cpuset" in h.ctrls:
        for f in ("cpuset.cpus", "cpuset.mems"):
            with open(os.path.join(os.path.dirname(d), f)) as src:
                v = src.read().strip()
            with open(os.path.join(d, f), "w") as dst:
                dst.write(v)
    return d


def cg_procs(h, path):
    try:
        with open(h.procs_file(path)) as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def cg_move(h, path, pid):
    with open(h.procs_file(path), "w") as f:
        f.write(str(pid))


def cg_rmtree(h, path):
    """rmdir a cgroup and its children, deepest first; returns what stayed."""
    d = h.dir(path)
    left = []
    if not os.path.isdir(d):
        return left
    for root, _dirs, _files in os.walk(d, topdown=False):
        try:
            os.rmdir(root)
        except OSError as e:
            left.append(f"{root} ({e.strerror})")
    return left


# --------------------------------------------------------------------------
# processes


def proc_pids():
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def proc_stat(pid):
    """(comm, state, ppid) or None."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            s = f.read()
    except OSError:
        return None
    r = s.rindex(")")
    comm = s[s.index("(") + 1:r]
    rest = s[r + 2:].split()
    return comm, rest[0], int(rest[1])


def alive(pid):
    st = proc_stat(pid)
    return st is not None and st[1] not in ("Z", "X")


def wait(p, timeout):
    """Popen.wait(timeout) without its sleep-polling (which rounds every wait
    up to tens of ms): poll a pidfd of our (unreaped, so still ours) child."""
    import select
    if p.returncode is not None:
        return p.returncode
    fd = os.pidfd_open(p.pid)
    try:
        pl = select.poll()
        pl.register(fd, select.POLLIN)
        if not pl.poll(timeout * 1000):
            raise subprocess.TimeoutExpired(p.args, timeout)
    finally:
        os.close(fd)
    return p.wait()


def pidfd_alive(pidfd):
    """True while the process behind pidfd has not exited (no pid reuse issue)."""
    import select
    p = select.poll()
    p.register(pidfd, select.POLLIN)
    return not p.poll(0)


# --------------------------------------------------------------------------
# berth


class Berth:
    def __init__(self, binary, root):
        self.binary = binary
        self.root = root

    def argv(self, *args):
        return [self.binary, "--root", self.root, *args]

    def run(self, *args, timeout=CMD_TIMEOUT):
        rc, _out, err = self.run_out(*args, timeout=timeout)
        return rc, err

    def run_out(self, *args, timeout=CMD_TIMEOUT):
        """Run berth; (rc, stderr text). stdout/stderr go to anonymous temp
        files, so container processes inheriting them can never block us."""
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            p = spawn(self.argv(*args), stdin=subprocess.DEVNULL,
                      stdout=out, stderr=err)
            try:
                rc = wait(p, timeout)
            except subprocess.TimeoutExpired:
                p.kill()  # our own child, not yet reaped: its pid is still ours
                p.wait()
                rc = "timeout"
            forget(p)
            err.seek(0)
            out.seek(0)
            text = err.read().decode(errors="replace").strip()
            stdout = out.read().decode(errors="replace")
        return rc, stdout, text

    def state(self, cid):
        import json
        rc, out, err = self.run_out("state", cid)
        if rc != 0:
            return None
        try:
            return json.loads(out)
        except ValueError:
            return None


def make_bundle(dest, args, rootfs=None, edit=None):
    """A busybox bundle in dest. With rootfs, config.json points at that shared
    rootfs (absolute root.path) instead of building a new one."""
    import json
    if rootfs is None:
        r = run_cmd(["bash", BUSYBOX_SH, dest, *args], timeout=120)
        if r.returncode != 0:
            raise RuntimeError(f"busybox.sh failed: {r.stderr}")
        cfgp = os.path.join(dest, "config.json")
        with open(cfgp) as f:
            cfg = json.load(f)
    else:
        os.makedirs(dest, exist_ok=True)
        with open(os.path.join(os.path.dirname(rootfs), "config.json")) as f:
            cfg = json.load(f)
        cfg["root"]["path"] = rootfs
        cfgp = os.path.join(dest, "config.json")
    cfg["process"]["args"] = list(args)
    cfg["process"]["terminal"] = False
    if edit:
        edit(cfg)
    with open(cfgp, "w") as f:
        json.dump(cfg, f, indent=1)
    return dest


# --------------------------------------------------------------------------
# the test's world: temp dir, snapshots, leftover scan, cleanup


class World:
    def __init__(self, name, berth_binary, subreaper=True):
        install_signal_handlers()
        if subreaper:
            start_subreaper()
        self.berth_binary = os.path.abspath(berth_binary)
        if not os.access(self.berth_binary, os.X_OK):
            sys.exit(f"{name}: {berth_binary} is not executable")
        self.tmp = tempfile.mkdtemp(prefix=f"berth-{name}-")
        self.root = os.path.join(self.tmp, "root")
        os.mkdir(self.root)
        self.berth = Berth(self.berth_binary, self.root)
        self.hs = hierarchies()
        self.mounts0 = self.mountinfo()
        self.ids = set()  # every container id the test used
        self.cgpaths = {}  # id -> {hier: path} where its cgroup lives
        self.protected = set()  # pids cleanup must never kill (foreign sleepers)
        self.children = []  # Popen objects of ours to kill at exit
        self.own_cgroups = []  # (hier, path) we made: removed at exit
        # /berth in each hierarchy: removed at exit if it did not exist before
        self.berth_parent_existed = {h: os.path.isdir(h.dir("/berth")) for h in self.hs}
        self._cleaned = False
        atexit.register(self.cleanup)

    # ---- snapshots
    def mountinfo(self):
        with open("/proc/self/mountinfo") as f:
            return [l.rstrip("\n") for l in f]

    def new_mounts(self):
        before = set(self.mounts0)
        return [l for l in self.mountinfo() if l not in before and self.tmp in l]

    def track(self, cid, cgroups_path=None):
        self.ids.add(cid)
        # No cgroupsPath: runc's default, the id below the caller's cgroup.
        self.cgpaths[cid] = resolve(self.hs, cgroups_path or cid)
        return cid

    def cg_dirs(self, cid):
        return [h.dir(p) for h, p in self.cgpaths[cid].items() if os.path.isdir(h.dir(p))]

    def cg_pids(self, cid):
        pids = set()
        for h, p in self.cgpaths[cid].items():
            if os.path.isdir(h.dir(p)):
                for root, _d, _f in os.walk(h.dir(p)):
                    try:
                        with open(os.path.join(root, "cgroup.procs")) as f:
                            pids.update(int(x) for x in f.read().split())
                    except OSError:
                        pass
        return pids

    def scan_procs(self, cids, rootfs_list, check_fds=True):
        """Processes tied to the test: in a cgroup of cids, root/cwd in a rootfs
        or the temp dir, zombie children of ours, fds into the temp dir."""
        found = []
        me = os.getpid()
        if _SUBREAPER:
            _reap_once()
        rootfs_ids = set()
        for r in rootfs_list:
            try:
                st = os.stat(r)
                rootfs_ids.add((st.st_dev, st.st_ino))
            except OSError:
                pass
        cgsets = []
        for cid in cids:
            for h, p in self.cgpaths[cid].items():
                cgsets.append(p)
        cgsets = set(cgsets)
        for pid in proc_pids():
            st = proc_stat(pid)
            if st is None:
                continue
            comm, state, ppid = st
            if pid in self.protected:
                continue
            if state == "Z":
                if ppid == me:
                    # an orphan we adopted (subreaper) is reaped by our reaper
                    # thread; a zombie the test started itself is a leak of ours
                    if pid in _KNOWN or not _SUBREAPER:
                        found.append(f"zombie child {pid} ({comm})")
                elif ppid != 1:
                    # pid 1 reaps orphans (at its own pace): not a leak. A
                    # zombie whose parent lives on is kept by that parent.
                    cg = read_cgroup_file(pid) or []
                    if any(p in cgsets or any(p.startswith(c + "/") for c in cgsets)
                           for _c, p in cg):
                        found.append(f"process {pid} ({comm}, state Z, ppid {ppid}) "
                                     f"in the container's cgroup")
                continue
            if pid == me:
                pass
            else:
                cg = read_cgroup_file(pid)
                if cg:
                    for _c, p in cg:
                        if p in cgsets or any(p.startswith(c + "/") for c in cgsets):
                            found.append(f"process {pid} ({comm}, state {state}, ppid {ppid}) in cgroup {p}")
                            break
                try:
                    rs = os.stat(f"/proc/{pid}/root")
                    if (rs.st_dev, rs.st_ino) in rootfs_ids:
                        found.append(f"process {pid} ({comm}) has its root in the test rootfs")
                except OSError:
                    pass
                try:
                    cwd = os.readlink(f"/proc/{pid}/cwd")
                    if cwd.startswith(self.tmp):
                        found.append(f"process {pid} ({comm}) has its cwd {cwd}")
                except OSError:
                    pass
            if check_fds:
                try:
                    fds = os.listdir(f"/proc/{pid}/fd")
                except OSError:
                    fds = []
                for fd in fds:
                    try:
                        t = os.readlink(f"/proc/{pid}/fd/{fd}")
                    except OSError:
                        continue
                    if t.startswith(self.tmp):
                        found.append(f"process {pid} ({comm}) fd {fd} -> {t}")
        return found

    def leftovers(self, cid, rootfs_list, check_procs=True, allow_cgroup=False):
        """What is left of cid. A zombie of the container that pid 1 has not
        reaped yet is not berth's doing: such findings get 2 s to go away."""
        deadline = time.monotonic() + 2.0
        while True:
            left = self._leftovers(cid, rootfs_list, check_procs, allow_cgroup)
            if not any(", state Z," in x for x in left) or time.monotonic() > deadline:
                return left
            time.sleep(0.05)

    def _leftovers(self, cid, rootfs_list, check_procs, allow_cgroup):
        left = []
        sd = os.path.join(self.root, cid)
        if os.path.lexists(sd):
            try:
                left.append(f"state dir {sd} {sorted(os.listdir(sd))}")
            except OSError:
                left.append(f"state dir {sd}")
        if not allow_cgroup:
            left += [f"cgroup {d}" for d in self.cg_dirs(cid)]
        left += [f"mount {m}" for m in self.new_mounts()]
        if check_procs:
            left += self.scan_procs([cid], rootfs_list)
        return left

    # ---- cleanup
    def force_clean(self, cid):
        """Remove everything berth might have left for cid; returns what we had
        to remove by hand (for reports)."""
        done = []
        if cid not in self.cgpaths:
            self.track(cid)
        self.berth.run("delete", "--force", cid, timeout=CMD_TIMEOUT)
        for h, p in self.cgpaths[cid].items():  # thaw, so SIGKILL takes effect
            for f, v in (("cgroup.freeze", "0"), ("freezer.state", "THAWED")):
                try:
                    with open(os.path.join(h.dir(p), f), "w") as fh:
                        fh.write(v)
                except OSError:
                    pass
        for _ in range(50):
            pids = [p for p in self.cg_pids(cid) if p not in self.protected]
            if not pids:
                break
            for p in pids:
                try:
                    os.kill(p, signal.SIGKILL)  # in this test's container cgroup: ours
                    done.append(f"killed {p}")
                except OSError:
                    pass
            time.sleep(0.02)
        for h, p in self.cgpaths[cid].items():
            if os.path.isdir(h.dir(p)):
                done.append(f"rmdir {h.dir(p)}")
                stay = cg_rmtree(h, p)
                if stay:
                    done.append(f"could not remove {stay}")
        self.umount_ours(done)
        sd = os.path.join(self.root, cid)
        if os.path.lexists(sd):
            done.append(f"rm -r {sd}")
            shutil.rmtree(sd, ignore_errors=True)
        return done

    def umount_ours(self, done=None):
        for m in reversed(self.new_mounts()):
            mp = m.split()[3]
            mp = mp.replace("\\040", " ")
            run_cmd(["umount", "-l", mp], timeout=30)
            if done is not None:
                done.append(f"umount {mp}")

    def cleanup(self):
        if self._cleaned:
            return
        self._cleaned = True
        old = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            for p in self.children:
                if p.poll() is None:
                    p.kill()
                try:
                    p.wait(timeout=10)
                except Exception:
                    pass
            for cid in sorted(self.ids):
                try:
                    self.force_clean(cid)
                except Exception as e:
                    log(f"cleanup of {cid}: {e}")
            for h, p in reversed(self.own_cgroups):
                cg_rmtree(h, p)
            for h in self.hs:
                if not self.berth_parent_existed[h]:
                    try:
                        os.rmdir(h.dir("/berth"))
                    except OSError:
                        pass
            self.umount_ours()
            shutil.rmtree(self.tmp, ignore_errors=True)
        finally:
            signal.signal(signal.SIGINT, old)


def seeded_rng(seed):
    if seed is None:
        seed = random.SystemRandom().randrange(1 << 32)
    return seed, random.Random(seed)


def run_main(main):
    """Runs a script's main(); Ctrl-C still ends with the closing count line
    (the cleanup handlers have run by then)."""
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        log("interrupted; cleaned up")
        log("0 passed, 1 failed")
        sys.exit(130)
