//! The processes of a cgroup: placement, listing, freezing, signalling,
//! and the final destroy (kill all, wait until empty, remove directories).

use std::collections::BTreeSet;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::error::{CgroupError, Result};
use super::freezer::{Freezer, FreezerState};
use super::manager::Manager;
use super::oom::OomWatch;
use super::stats::{self, Stats};
use super::{convert, fs};
use crate::sys::PidFd;

/// How long `destroy` waits for the killed processes to leave.
const EMPTY_TIMEOUT: Duration = Duration::from_secs(5);
/// How long `destroy` waits, with a private pid namespace, for the
/// namespace's last processes to leave before it takes what is left for
/// processes that are not the container's.
const FOREIGN_GRACE: Duration = Duration::from_millis(500);
/// How long a busy directory is retried.
const RMDIR_TIMEOUT: Duration = Duration::from_secs(2);

/// Sleeps with a doubling delay (100 µs … 10 ms) until `deadline`; false
/// when the deadline has passed.
fn backoff(delay: &mut Duration, start: Instant, limit: Duration) -> bool {
    if start.elapsed() > limit {
        return false;
    }
    std::thread::sleep(*delay);
    *delay = (*delay * 2).min(Duration::from_millis(10));
    true
}

/// The files through which a freshly forked process moves itself into its
/// cgroups: opened by the runtime before the fork, written by the child
/// before it does anything else (`enter`).
///
/// Why the child, and why v1's `tasks`: a pid written to `cgroup.procs`
/// takes the kernel's global threadgroup lock for writing, and that waits
/// for an RCU grace period — measured 5–12 ms here for the first write, on
/// every create and exec. A single-threaded process writing "0" (itself) to
/// `tasks` moves its only thread without that lock (about 20 µs a
/// hierarchy). The fds are opened by the host's root, so the kernel's
/// permission check (made with the opener's credentials) holds whatever
/// namespaces the child is in. They are close-on-exec.
///
/// A child forked before its cgroup exists (`Manager::placement_after_clone`)
/// opens the files itself, as the host's root, once the runtime made them.
pub struct Placement {
    pub(super) files: Vec<(PathBuf, File)>,
    /// Opened by `enter` itself.
    later: Vec<PathBuf>,
}

impl Placement {
    /// In the child, first thing: joins every cgroup. The process must be
    /// single-threaded (a fresh fork of the runtime is).
    pub fn enter(&self) -> Result<()> {
        let late = Placement::open(self.later.iter().cloned())?;
        for (path, file) in self.files.iter().chain(&late.files) {
            let mut f: &File = file;
            f.write_all(b"0").map_err(|source| CgroupError::Io {
                context: format!("join cgroup: write 0 to {}", path.display()),
                source,
            })?;
        }
        Ok(())
    }

    /// Opens the files `paths` (each a `tasks` or `cgroup.procs`) for
    /// writing.
    pub(super) fn open(paths: impl Iterator<Item = PathBuf>) -> Result<Placement> {
        let files = paths
            .map(|path| {
                let f = OpenOptions::new()
                    .write(true)
                    .custom_flags(libc::O_CLOEXEC)
                    .open(&path)
                    .map_err(|source| CgroupError::Io {
                        context: format!("open {}", path.display()),
                        source,
                    })?;
                Ok((path, f))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Placement {
            files,
            later: Vec::new(),
        })
    }
}

impl Manager {
    /// Opens the placement files: `tasks` of every v1 leaf, and the v2
    /// leaf's `cgroup.procs` unless the process is born there (`in_v2`:
    /// clone3 with CLONE_INTO_CGROUP).
    pub fn placement(&self, in_v2: bool) -> Result<Placement> {
        Placement::open(self.placement_paths(in_v2))
    }

    /// The placement of a child forked before `make`: it opens the files
    /// in `Placement::enter` (`in_v2` as for `placement`).
    pub fn placement_after_clone(&self, in_v2: bool) -> Placement {
        Placement {
            files: Vec::new(),
            later: self.placement_paths(in_v2).collect(),
        }
    }

    fn placement_paths(&self, in_v2: bool) -> impl Iterator<Item = PathBuf> + '_ {
        let v1 = self.v1.iter().map(|l| l.dir.join("tasks"));
        let v2 = self.v2.iter().filter(move |_| !in_v2);
        v1.chain(v2.map(|l| l.dir.join("cgroup.procs")))
    }

    /// Every process in the cgroup and its sub-cgroups (`exec --cgroup`),
    /// across hierarchies, sorted, no duplicates.
    pub fn pids(&self) -> Result<Vec<i32>> {
        let mut set = BTreeSet::new();
        for l in self.v1.iter().chain(self.v2.iter()) {
            procs_under(&l.dir, &mut set)?;
        }
        Ok(set.into_iter().collect())
    }

    /// The freezer: v1's where mounted, else the v2 leaf's cgroup.freeze.
    fn freezer(&self) -> Option<Freezer<'_>> {
        self.v1_dir("freezer")
            .map(Freezer::V1)
            .or_else(|| self.v2_dir().map(Freezer::V2))
    }

    fn need_freezer(&self) -> Result<Freezer<'_>> {
        if self.v1.is_empty() && self.v2.is_none() {
            // A rootless container without a cgroup (`super::rootless`).
            return Err(CgroupError::NoCgroup);
        }
        self.freezer().ok_or(CgroupError::Unavailable {
            controller: "freezer",
        })
    }

    /// Freezes every process (pause); waits until frozen.
    pub fn freeze(&self) -> Result<()> {
        self.need_freezer()?.freeze()
    }

    /// Thaws (resume).
    pub fn thaw(&self) -> Result<()> {
        self.need_freezer()?.thaw()
    }

    /// Thawed, Freezing or Frozen (Thawed without any freezer).
    #[cfg(test)]
    pub fn state(&self) -> Result<FreezerState> {
        match self.freezer() {
            Some(f) => f.state(),
            None => Ok(FreezerState::Thawed),
        }
    }

    /// Signals every process (`kill --all`) of `scope`. SIGKILL to a whole
    /// cgroup uses v2's cgroup.kill where present; otherwise the cgroup is
    /// frozen so no process can fork or exit (and its pid be reused) between
    /// listing and signalling, each pid is signalled through a pidfd, and
    /// the cgroup is thawed again unless it was paused before.
    pub fn signal_all(&self, sig: i32, scope: &Scope) -> Result<()> {
        self.signal_all_count(sig, scope).map(|_| ())
    }

    /// `signal_all`, returning how many processes were signalled.
    fn signal_all_count(&self, sig: i32, scope: &Scope) -> Result<usize> {
        if sig == libc::SIGKILL && *scope == Scope::Cgroup {
            self.cgroup_kill();
        }
        let pids = self.members(scope)?;
        if pids.is_empty() {
            return Ok(0);
        }
        let found = pids.len();
        let frz = self.freezer();
        let was_frozen = frz.is_some_and(|f| f.state().ok() == Some(FreezerState::Frozen));
        let frozen = match frz {
            Some(f) if !was_frozen => f
                .freeze()
                .map_err(|e| tracing::debug!("freeze before signal: {e}"))
                .is_ok(),
            _ => was_frozen,
        };
        let pids = if frozen { self.members(scope)? } else { pids };
        for pid in pids {
            match PidFd::open(pid).and_then(|fd| fd.signal(sig)) {
                Ok(()) => {}
                Err(e) if e.raw_os_error() == Some(libc::ESRCH) => {}
                Err(e) => tracing::warn!(pid, sig, "signal cgroup member: {e}"),
            }
        }
        if let Some(f) = frz {
            // A frozen v1 task only dies once thawed: thaw for SIGKILL even
            // if the container was paused.
            if frozen && (!was_frozen || sig == libc::SIGKILL) {
                match f.thaw() {
                    // Every member died and the cgroup went with them
                    // (systemd removes an empty scope's): nothing to thaw.
                    Err(e) if !self.dirs().iter().any(|d| d.exists()) => {
                        tracing::debug!("thaw after signal: the cgroup is gone: {e}");
                    }
                    other => other?,
                }
            }
        }
        Ok(found)
    }

    /// The processes of the cgroup that `scope` lets berth act on.
    fn members(&self, scope: &Scope) -> Result<Vec<i32>> {
        let pids = self.pids()?;
        Ok(match scope {
            Scope::Cgroup => pids,
            Scope::PidNs(ns) => pids
                .into_iter()
                .filter(|p| pid_ns_of(*p).as_deref() == Some(ns.as_str()))
                .collect(),
        })
    }

    /// Writes 1 to the v2 leaf's cgroup.kill (kernel ≥ 5.14), if it has one.
    fn cgroup_kill(&self) {
        if let Some(d) = self.v2_dir() {
            if let Err(e) = fs::write_io(d, "cgroup.kill", "1") {
                tracing::debug!(dir = %d.display(), "cgroup.kill: {e}");
            }
        }
    }

    /// Removes the cgroup of a container whose init is gone. With
    /// `Scope::Cgroup` whatever is left is killed first (a container in the
    /// host's or another pid namespace, or a create killed half-way). With a
    /// private pid namespace nothing is killed: the kernel ended every
    /// process of the namespace with the init, so anything still in the
    /// cgroup came from elsewhere and is not berth's to kill; the cgroup is
    /// then left in place with a warning. Otherwise the leaves go (retrying
    /// while busy), then the parents berth created, each only if empty.
    /// A failed create whose systemd unit systemd did not start for it
    /// (`owns_unit`) touches no unit, process or leaf: they may be another
    /// container's of the same unit name; only what it made goes, if empty.
    pub fn destroy(&mut self, scope: &Scope) -> Result<()> {
        if self.unit.is_some() && !self.owns_unit.get() {
            tracing::debug!(dirs = ?self.created, "the unit is not this container's: removing only the directories it made");
            self.remove_created();
            return Ok(());
        }
        let mut leaves_gone = false;
        let foreign = match scope {
            Scope::Cgroup => {
                if self.signal_all_count(libc::SIGKILL, scope)? > 0 {
                    self.wait_empty(true, EMPTY_TIMEOUT)?;
                }
                false
            }
            // The usual case: the leaves are empty and go at the first
            // rmdir; the members are read only when one is busy.
            Scope::PidNs(_) if self.unit.is_none() && self.remove_empty_leaves() => {
                leaves_gone = true;
                false
            }
            Scope::PidNs(_) => self.wait_empty(false, FOREIGN_GRACE).is_err(),
        };
        if foreign {
            tracing::warn!(
                dirs = ?self.dirs(),
                pids = ?self.pids().unwrap_or_default(),
                "the container's cgroup holds processes that are not the container's; berth leaves them and the cgroup in place"
            );
        }
        if !foreign {
            // systemd removes the scope's cgroups; the rest below is ENOENT.
            self.stop_unit()?;
        }
        let leaves = self.dirs();
        let mut results = Vec::new();
        // The leaves go whoever made them (runc removes them too: a leaf
        // taken empty at create was the container's for its life); the
        // parents only if berth made them and nothing else uses them.
        if !foreign && !leaves_gone {
            for d in &leaves {
                results.push(remove_leaf(d));
            }
        }
        for d in self.created.iter().rev().filter(|d| !leaves.contains(d)) {
            results.push(rmdir_if_empty(d));
        }
        let first_err = results.into_iter().find_map(|r| r.err());
        // The default parent of berth before it took runc's (/berth) goes
        // too once empty, whichever container created it.
        for l in self.v1.iter().chain(self.v2.iter()) {
            let own_parent = l.mount.join(&super::path::OLD_DEFAULT_PARENT[1..]);
            // One this container made was tried with the parents above.
            if l.dir.parent() == Some(own_parent.as_path()) && !self.created.contains(&own_parent) {
                let _ = rmdir_if_empty(&own_parent);
            }
        }
        self.remove_empty_slices();
        match first_err {
            None => {
                self.created.clear();
                Ok(())
            }
            Some(e) => Err(e),
        }
    }

    /// rmdir of every leaf, stopping at the first that is busy (a process
    /// or a sub-cgroup in it: the kernel refuses to remove it) or fails;
    /// true when all are gone. An empty cgroup is removed whoever looks at
    /// it, so nothing is read first.
    fn remove_empty_leaves(&self) -> bool {
        self.dirs().iter().all(|d| match std::fs::remove_dir(d) {
            Ok(()) => true,
            Err(e) => e.kind() == io::ErrorKind::NotFound,
        })
    }

    /// Polls (bounded) until no process is left; with `kill`, SIGKILLs late
    /// forks again on every round.
    fn wait_empty(&self, kill: bool, limit: Duration) -> Result<()> {
        let start = Instant::now();
        let mut delay = Duration::from_micros(100);
        loop {
            let left = self.pids()?;
            if left.is_empty() {
                return Ok(());
            }
            if !backoff(&mut delay, start, limit) {
                return Err(CgroupError::NotEmptied {
                    dir: self.first_dir(),
                    pids: left,
                    after: limit,
                });
            }
            if kill {
                self.signal_all(libc::SIGKILL, &Scope::Cgroup)?;
            }
        }
    }

    /// Resource usage in runc's `events --stats` shape.
    pub fn stats(&self) -> Result<Stats> {
        let mut s = Stats::default();
        let v2 = |c: &str| {
            self.v2
                .as_ref()
                .filter(|l| l.has(c))
                .map(|l| l.dir.as_path())
        };
        match self.v1_dir("cpuacct") {
            Some(d) => stats::v1_cpuacct(d, &mut s.cpu),
            None => {
                if let Some(d) = self.v2_dir() {
                    stats::v2_cpu(d, &mut s.cpu);
                }
            }
        }
        if let Some(d) = self.v1_dir("cpu") {
            stats::v1_throttling(d, &mut s.cpu);
        }
        if let Some(d) = self.v1_dir("cpuset").or_else(|| v2("cpuset")) {
            stats::cpuset(d, &mut s.cpuset);
        }
        match (self.v1_dir("memory"), v2("memory")) {
            (Some(d), _) => stats::v1_memory(d, &mut s.memory),
            (None, Some(d)) => stats::v2_memory(d, &mut s.memory),
            _ => {}
        }
        if let Some(d) = self.v1_dir("pids").or_else(|| v2("pids")) {
            stats::pids(d, &mut s.pids);
        }
        match (self.v1_dir("blkio"), v2("io")) {
            (Some(d), _) => stats::v1_blkio(d, &mut s.blkio),
            (None, Some(d)) => stats::v2_io(d, &mut s.blkio),
            _ => {}
        }
        let sizes = || convert::hugepage_sizes();
        match (self.v1_dir("hugetlb"), v2("hugetlb")) {
            (Some(d), _) => stats::hugetlb(d, false, &sizes(), &mut s.hugetlb),
            (None, Some(d)) => stats::hugetlb(d, true, &sizes(), &mut s.hugetlb),
            _ => {}
        }
        Ok(s)
    }

    fn memory_dir(&self) -> Result<(&Path, bool)> {
        if let Some(d) = self.v1_dir("memory") {
            return Ok((d, false));
        }
        match self.v2.as_ref().filter(|l| l.has("memory")) {
            Some(l) => Ok((&l.dir, true)),
            None => Err(CgroupError::Unavailable {
                controller: "memory",
            }),
        }
    }

    /// A pollable source of OOM events (the shim's TaskOOM, `events`).
    pub fn oom_watch(&self) -> Result<OomWatch> {
        match self.memory_dir()? {
            (d, false) => OomWatch::v1(d),
            (d, true) => OomWatch::v2(d),
        }
    }

    /// How many processes the OOM killer has killed in this cgroup.
    #[cfg(test)]
    pub fn oom_kill_count(&self) -> Result<u64> {
        let (d, v2) = self.memory_dir()?;
        super::oom::kill_count(d, v2)
    }
}

/// The pids in `dir`'s cgroup.procs and in those of its sub-cgroups.
pub(super) fn procs_under(dir: &Path, set: &mut BTreeSet<i32>) -> Result<()> {
    match fs::read(dir, "cgroup.procs") {
        Ok(t) => set.extend(fs::parse_pids(&t)),
        Err(e) if fs::is_missing(&e) => return Ok(()),
        Err(source) => {
            return Err(CgroupError::Io {
                context: format!("read {}/cgroup.procs", dir.display()),
                source,
            })
        }
    }
    for sub in sub_dirs(dir) {
        procs_under(&sub, set)?;
    }
    Ok(())
}

/// The sub-cgroups (child directories) of `dir`.
fn sub_dirs(dir: &Path) -> Vec<std::path::PathBuf> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    rd.filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .collect()
}

/// Removes a leaf and the sub-cgroups below it. The usual leaf has none:
/// one rmdir, and the sub-cgroups are looked for only when that fails.
fn remove_leaf(d: &Path) -> Result<()> {
    match std::fs::remove_dir(d) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(_) => remove_subs(d).and_then(|_| rmdir_retry(d)),
    }
}

/// Removes the sub-cgroups below a leaf, deepest first (runc removes them
/// too: the container may have made them, or `exec --cgroup` used them).
fn remove_subs(dir: &Path) -> Result<()> {
    for sub in sub_dirs(dir) {
        remove_subs(&sub)?;
        rmdir_retry(&sub)?;
    }
    Ok(())
}

/// rmdir, retried while the kernel still reports the cgroup busy.
fn rmdir_retry(d: &Path) -> Result<()> {
    let start = Instant::now();
    let mut delay = Duration::from_micros(100);
    loop {
        match std::fs::remove_dir(d) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e)
                if e.raw_os_error() == Some(libc::EBUSY)
                    && backoff(&mut delay, start, RMDIR_TIMEOUT) => {}
            Err(source) => {
                return Err(CgroupError::Remove {
                    path: d.to_path_buf(),
                    source,
                })
            }
        }
    }
}

/// rmdir of a parent berth created: left alone while other containers use it.
fn rmdir_if_empty(d: &Path) -> Result<()> {
    match std::fs::remove_dir(d) {
        Ok(()) => Ok(()),
        Err(e)
            if e.kind() == io::ErrorKind::NotFound
                || matches!(e.raw_os_error(), Some(libc::EBUSY) | Some(libc::ENOTEMPTY)) =>
        {
            Ok(())
        }
        Err(source) => Err(CgroupError::Remove {
            path: d.to_path_buf(),
            source,
        }),
    }
}

/// Which processes of a container's cgroup berth may signal or kill. The
/// rule (docs: "ownership"): berth acts only on what it started or placed
/// itself. A cgroup is only ever taken when it holds no process
/// (`Manager::check_usable`) and `unified` cannot move processes in, so
/// its members are the container's — but with a private pid namespace the
/// container's processes are exactly that namespace's, and that is the
/// stricter test berth applies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Every process in the cgroup (host or joined pid namespace, or a
    /// create that died before the init was known).
    Cgroup,
    /// Only the processes in this pid namespace (`pid:[inode]`, as the
    /// /proc/PID/ns/pid link reads), the container's own.
    PidNs(String),
}

/// The pid namespace of `pid`, as the /proc/PID/ns/pid link reads.
pub fn pid_ns_of(pid: i32) -> Option<String> {
    std::fs::read_link(format!("/proc/{pid}/ns/pid"))
        .ok()
        .map(|p| p.to_string_lossy().into_owned())
}
