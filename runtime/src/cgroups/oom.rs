//! OOM notifications: an fd to poll plus a counter to read.
//!
//! v1: an eventfd registered through cgroup.event_control for
//! memory.oom_control; it becomes readable (POLLIN) on every OOM in the
//! cgroup (and once more when the cgroup is removed). v2: memory.events,
//! whose fd signals POLLPRI on any change; the `oom_kill` counter says how
//! many processes the OOM killer took.

use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::error::{Context, Result};
use super::fs;
use crate::sys::eventfd;

/// A source of OOM events for one cgroup.
#[derive(Debug)]
pub enum OomWatch {
    V1 {
        efd: OwnedFd,
        dir: PathBuf,
    },
    V2 {
        events: File,
        dir: PathBuf,
        last: u64,
    },
}

impl OomWatch {
    /// Registers an eventfd for memory.oom_control in the v1 memory cgroup `dir`.
    pub fn v1(dir: &Path) -> Result<OomWatch> {
        let what = || format!("OOM notification for {}", dir.display());
        let efd = eventfd::eventfd().ctx(what)?;
        let ctl = File::open(dir.join("memory.oom_control")).ctx(what)?;
        let line = format!("{} {}", efd.as_raw_fd(), ctl.as_raw_fd());
        fs::write(dir, "cgroup.event_control", &line, "OOM notification")?;
        Ok(OomWatch::V1 {
            efd,
            dir: dir.to_path_buf(),
        })
    }

    /// Watches memory.events of the v2 cgroup `dir`; events before now are
    /// not reported.
    pub fn v2(dir: &Path) -> Result<OomWatch> {
        let p = dir.join("memory.events");
        let events = File::open(&p).ctx(|| format!("open {}", p.display()))?;
        let mut w = OomWatch::V2 {
            events,
            dir: dir.to_path_buf(),
            last: 0,
        };
        w.check()?;
        Ok(w)
    }

    /// The fd to poll, with `poll_events()`.
    pub fn fd(&self) -> BorrowedFd<'_> {
        match self {
            OomWatch::V1 { efd, .. } => efd.as_fd(),
            OomWatch::V2 { events, .. } => events.as_fd(),
        }
    }

    /// POLLIN for the v1 eventfd, POLLPRI for v2's memory.events.
    pub fn poll_events(&self) -> libc::c_short {
        match self {
            OomWatch::V1 { .. } => libc::POLLIN,
            OomWatch::V2 { .. } => libc::POLLPRI,
        }
    }

    /// The number of OOM events since the last call (never blocks). A v1
    /// wake-up caused by the cgroup's removal counts as none.
    pub fn check(&mut self) -> Result<u64> {
        match self {
            OomWatch::V1 { efd, dir } => {
                let n = eventfd::read_counter(efd.as_fd()).ctx(|| "read OOM eventfd".into())?;
                Ok(if n > 0 && !dir.exists() { 0 } else { n })
            }
            OomWatch::V2 { events, dir, last } => {
                let mut buf = [0u8; 512];
                let n = events
                    .read_at(&mut buf, 0)
                    .ctx(|| format!("read {}/memory.events", dir.display()))?;
                let text = String::from_utf8_lossy(&buf[..n]);
                let now = fs::keyed(&text, "oom_kill").unwrap_or(0);
                let new = now.saturating_sub(*last);
                *last = now;
                Ok(new)
            }
        }
    }

    /// Waits up to `timeout_ms` (-1: forever) for an OOM; returns how many
    /// happened (0 on timeout).
    pub fn wait(&mut self, timeout_ms: i32) -> Result<u64> {
        let n = self.check()?;
        if n > 0 {
            return Ok(n);
        }
        eventfd::poll_one(self.fd(), self.poll_events(), timeout_ms)
            .ctx(|| "poll OOM notification".into())?;
        self.check()
    }
}

/// The OOM-kill counter of a memory cgroup (v1 memory.oom_control or v2
/// memory.events, key `oom_kill`).
#[cfg(test)]
pub fn kill_count(dir: &Path, v2: bool) -> Result<u64> {
    let file = if v2 {
        "memory.events"
    } else {
        "memory.oom_control"
    };
    Ok(fs::keyed(&fs::read_ctx(dir, file)?, "oom_kill").unwrap_or(0))
}
