//! OOM notifications: an fd to poll plus a counter to read.
//!
//! v1: an eventfd registered through cgroup.event_control for
//! memory.oom_control; it becomes readable (POLLIN) on every OOM in the
//! cgroup (and once more when the cgroup is removed). v2: memory.events,
//! whose fd signals POLLPRI on any change; the `oom_kill` counter says how
//! many processes the OOM killer took. systemd removes an emptied scope's
//! cgroup at once, so a killed init's cgroup may be gone (ENODEV) before
//! the kill is read: an OOM already read (`oom`) with no kill read after it
//! then counts as the kill.

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
        seen: V2Seen,
    },
}

/// What a v2 watch has read so far.
#[derive(Debug, Default)]
pub struct V2Seen {
    /// The cgroup's counters at the last read.
    last: V2Counts,
    /// An OOM was read and no kill after it yet.
    pending: bool,
    /// The parent's memory.events (hierarchical: it counts the kills in
    /// this cgroup too) and its `oom_kill` at the last read of this one.
    parent: Option<File>,
    parent_kills: u64,
}

/// memory.events' `oom` (times the cgroup hit its limit with nothing to
/// reclaim: the OOM killer runs) and `oom_kill` (processes it killed).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct V2Counts {
    pub oom: u64,
    pub oom_kill: u64,
}

impl V2Counts {
    fn parse(text: &str) -> V2Counts {
        V2Counts {
            oom: fs::keyed(text, "oom").unwrap_or(0),
            oom_kill: fs::keyed(text, "oom_kill").unwrap_or(0),
        }
    }

    /// Moves to `now`; returns the kills since, and keeps `pending` (an
    /// OOM read with no kill read after it) up to date.
    fn advance(&mut self, now: V2Counts, pending: &mut bool) -> u64 {
        let kills = now.oom_kill.saturating_sub(self.oom_kill);
        if kills > 0 {
            *pending = false;
        } else if now.oom > self.oom {
            *pending = true;
        }
        *self = now;
        kills
    }
}

/// The counters of the memory.events file `f`.
fn read_counts(f: &File) -> std::io::Result<V2Counts> {
    let mut buf = [0u8; 512];
    let n = f.read_at(&mut buf, 0)?;
    Ok(V2Counts::parse(&String::from_utf8_lossy(&buf[..n])))
}

/// The `oom_kill` counter of the memory.events file `f`.
fn read_kills(f: &File) -> std::io::Result<u64> {
    read_counts(f).map(|c| c.oom_kill)
}

impl V2Seen {
    /// The kills since the last call. systemd removes an emptied scope's
    /// cgroup at once: when the kill that emptied it was not read before
    /// (ENODEV), an OOM read with no kill after it, or else a kill the
    /// parent counted since this cgroup's last read, is that kill
    /// (reported once; the parent's count could also hold a sibling's
    /// kill of that short window).
    fn check(&mut self, events: &File, dir: &Path) -> Result<u64> {
        // The parent first: a kill between the two reads is then in this
        // cgroup's count, or after it in the parent's next one.
        let parent_before = self.parent.as_ref().and_then(|p| read_kills(p).ok());
        let now = match read_counts(events) {
            Ok(c) => c,
            Err(e) if e.raw_os_error() == Some(libc::ENODEV) => {
                let parent_kills = self.parent.as_ref().and_then(|p| read_kills(p).ok());
                let by_parent = parent_kills.is_some_and(|k| k > self.parent_kills);
                let pending = std::mem::take(&mut self.pending);
                if pending || by_parent {
                    tracing::debug!(
                        dir = %dir.display(),
                        pending,
                        by_parent,
                        "OOM kill counted: the cgroup was removed before its kill was read"
                    );
                    self.parent_kills = parent_kills.unwrap_or(self.parent_kills);
                    return Ok(1);
                }
                return Err(e).ctx(|| format!("read {}/memory.events", dir.display()));
            }
            Err(e) => return Err(e).ctx(|| format!("read {}/memory.events", dir.display())),
        };
        let kills = self.last.advance(now, &mut self.pending);
        // The kills just read are the parent's too, whether it counted
        // them before its read or not.
        let accounted = self.parent_kills + kills;
        self.parent_kills = parent_before.map_or(accounted, |p| p.max(accounted));
        Ok(kills)
    }
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
        // The root cgroup has no memory.events: no parent to fall back on.
        let parent = dir
            .parent()
            .and_then(|d| File::open(d.join("memory.events")).ok());
        let mut seen = V2Seen {
            parent,
            ..V2Seen::default()
        };
        seen.check(&events, dir)?;
        seen.pending = false;
        Ok(OomWatch::V2 {
            events,
            dir: dir.to_path_buf(),
            seen,
        })
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
            OomWatch::V2 { events, dir, seen } => seen.check(events, dir),
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

#[cfg(test)]
mod tests {
    use super::V2Counts;

    fn c(oom: u64, oom_kill: u64) -> V2Counts {
        V2Counts { oom, oom_kill }
    }

    #[test]
    fn an_oom_stays_pending_until_its_kill_is_read() {
        let (mut last, mut pending) = (V2Counts::default(), false);
        assert_eq!(last.advance(c(0, 0), &mut pending), 0);
        assert!(!pending);
        // The OOM is read before its kill: pending.
        assert_eq!(last.advance(c(1, 0), &mut pending), 0);
        assert!(pending);
        // Nothing new: still pending.
        assert_eq!(last.advance(c(1, 0), &mut pending), 0);
        assert!(pending);
        // The kill: reported, settled.
        assert_eq!(last.advance(c(1, 1), &mut pending), 1);
        assert!(!pending);
        // OOM and kill in one read: reported, not pending.
        assert_eq!(last.advance(c(3, 2), &mut pending), 1);
        assert!(!pending);
    }

    #[test]
    fn counters_parse_by_exact_key() {
        let t = "low 0\nhigh 0\nmax 52\noom 2\noom_kill 1\noom_group_kill 0\n";
        assert_eq!(V2Counts::parse(t), c(2, 1));
    }
}
