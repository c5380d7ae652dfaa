//! berth as a library: the small surface that code outside this crate (the
//! containerd shim) builds on. Everything else in the crate is private, so
//! the shim cannot come to depend on internals that change with the
//! runtime; what it needs is re-exported or wrapped here.
//!
//! - `Cgroup`: a running container's cgroup, found from one of its
//!   processes: resource usage (`stats`) and OOM notifications
//!   (`oom_watch`), read with berth's own cgroup code, whichever runtime
//!   made the cgroup.
//! - `join_cgroup`: moves a process into a cgroup named by its path in
//!   every hierarchy (the shim's ShimCgroup option).
//! - `poll`, `pollin`: poll(2).
//! - `tty`: receiving a pty master over a console socket, resizing it.

use std::os::fd::BorrowedFd;
use std::path::{Path, PathBuf};

use crate::cgroups::hierarchy::{self, Hierarchies, Mode};
use crate::cgroups::{self, CgroupRecord, CgroupsPath, Manager};
use crate::error::Context;

pub use crate::cgroups::stats::{
    Blkio, BlkioEntry, Cpu, CpuUsage, Hugetlb, Memory, MemoryEntry, Pids, Stats, Throttling,
};
pub use crate::error::{Error, Result};
pub use crate::sys::{poll, pollin};

/// Terminals: what a console socket's receiver needs.
pub mod tty {
    pub use crate::sys::tty::{recv_fd, set_size};
}

/// The cgroup a process lives in, across every mounted hierarchy.
#[derive(Debug)]
pub struct Cgroup {
    manager: Manager,
}

impl Cgroup {
    /// The cgroup of `pid` (from /proc/PID/cgroup, each hierarchy's entry
    /// taken relative to its mount's root, as berth places its own).
    pub fn of_pid(pid: i32) -> Result<Cgroup> {
        let proc = PathBuf::from(format!("/proc/{pid}/cgroup"));
        let text = std::fs::read_to_string(&proc).ctx(|| format!("read {}", proc.display()))?;
        let hs = Hierarchies::detect()?;
        let all = hs.v1.iter().map(|h| (h, false));
        let mut dirs = Vec::new();
        for (h, unified) in all.chain(hs.unified.iter().map(|h| (h, true))) {
            if let Some(rel) = hierarchy::own_path(h, unified, &text) {
                dirs.push(CgroupsPath::Absolute(rel.into()).dir_in(&h.mount, None)?);
            }
        }
        let record = CgroupRecord {
            dirs,
            created: Vec::new(),
            unit: None,
        };
        Ok(Cgroup {
            manager: Manager::open(&record)?,
        })
    }

    /// Its directory in every hierarchy (v1 ones first).
    pub fn dirs(&self) -> Vec<PathBuf> {
        self.manager.dirs()
    }

    /// True on a pure cgroup v2 host (no v1 hierarchy at all), where
    /// `stats` reads the v2 files.
    pub fn is_unified_host(&self) -> bool {
        self.manager.mode() == Mode::V2
    }

    /// Resource usage, in runc's `events --stats` shape.
    pub fn stats(&self) -> Result<Stats> {
        Ok(self.manager.stats()?)
    }

    /// OOM notifications of its memory cgroup.
    pub fn oom_watch(&self) -> Result<OomWatch> {
        Ok(OomWatch {
            inner: self.manager.oom_watch()?,
        })
    }
}

/// OOM notifications of one memory cgroup: an fd to poll with
/// `poll_events`, then `check` says how many OOM kills happened.
#[derive(Debug)]
pub struct OomWatch {
    inner: cgroups::OomWatch,
}

impl OomWatch {
    /// The fd to poll.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.inner.fd()
    }

    /// The poll(2) events to wait for on `fd`.
    pub fn poll_events(&self) -> libc::c_short {
        self.inner.poll_events()
    }

    /// True when `fd` does not wake up on the cgroup's removal (cgroup v2),
    /// so `cgroup_removed` has to be looked at periodically.
    pub fn needs_periodic_check(&self) -> bool {
        matches!(self.inner, cgroups::OomWatch::V2 { .. })
    }

    /// OOM kills since the last call (never blocks).
    pub fn check(&mut self) -> Result<u64> {
        Ok(self.inner.check()?)
    }

    /// The cgroup is gone: the watch has nothing more to report.
    pub fn cgroup_removed(&self) -> bool {
        let dir = match &self.inner {
            cgroups::OomWatch::V1 { dir, .. } | cgroups::OomWatch::V2 { dir, .. } => dir,
        };
        !dir.exists()
    }
}

/// Moves `pid` into the cgroup at `path` (from each hierarchy's root, as
/// runc's absolute cgroupsPath) in every hierarchy where that cgroup
/// exists. Every hierarchy is tried; the error lists those that failed.
pub fn join_cgroup(path: &str, pid: u32) -> Result<()> {
    let path = Path::new("/").join(path.trim_start_matches('/'));
    let target = CgroupsPath::Absolute(path);
    let hs = Hierarchies::detect()?;
    let mut failed = Vec::new();
    for h in hs.v1.iter().chain(hs.unified.iter()) {
        let procs = target.dir_in(&h.mount, None)?.join("cgroup.procs");
        if !procs.exists() {
            continue;
        }
        if let Err(e) = std::fs::write(&procs, pid.to_string()) {
            failed.push(format!("write {pid} to {}: {e}", procs.display()));
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(Error::msg(failed.join("; ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_cgroup_is_found() {
        let cg = Cgroup::of_pid(std::process::id() as i32).unwrap();
        let dirs = cg.dirs();
        assert!(!dirs.is_empty());
        assert!(dirs.iter().all(|d| d.starts_with("/sys/fs/cgroup")));
        assert!(dirs.iter().all(|d| d.is_dir()), "{dirs:?}");
    }

    #[test]
    fn missing_process_is_an_error() {
        let e = Cgroup::of_pid(i32::MAX).unwrap_err().to_string();
        assert!(e.contains("/proc/2147483647/cgroup"), "{e}");
    }
}
