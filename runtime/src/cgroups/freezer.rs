//! Freezing (pause/resume): v1 freezer.state, v2 cgroup.freeze plus the
//! `frozen` key of cgroup.events. Both are asynchronous; we poll with a
//! short backoff, bounded.

use std::path::Path;
use std::time::{Duration, Instant};

use super::error::{CgroupError, Result};
use super::fs;

/// How long a freeze may take before we give up (and thaw again).
const FREEZE_TIMEOUT: Duration = Duration::from_secs(5);

/// The freezer state of a cgroup.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FreezerState {
    Thawed,
    Freezing,
    Frozen,
}

/// Which freezer a cgroup uses.
#[derive(Clone, Copy, Debug)]
pub enum Freezer<'a> {
    V1(&'a Path),
    V2(&'a Path),
}

impl Freezer<'_> {
    pub fn state(&self) -> Result<FreezerState> {
        match self {
            Freezer::V1(d) => {
                let s = fs::read_ctx(d, "freezer.state")?;
                Ok(match s.trim() {
                    "FROZEN" => FreezerState::Frozen,
                    "FREEZING" => FreezerState::Freezing,
                    _ => FreezerState::Thawed,
                })
            }
            Freezer::V2(d) => {
                let want = fs::read_ctx(d, "cgroup.freeze")?;
                if want.trim() != "1" {
                    return Ok(FreezerState::Thawed);
                }
                let ev = fs::read_ctx(d, "cgroup.events")?;
                Ok(if fs::keyed(&ev, "frozen") == Some(1) {
                    FreezerState::Frozen
                } else {
                    FreezerState::Freezing
                })
            }
        }
    }

    /// Freezes and waits until every task is frozen. On timeout the cgroup
    /// is thawed again and the error says so.
    pub fn freeze(&self) -> Result<()> {
        let start = Instant::now();
        let mut delay = Duration::from_micros(100);
        let mut round = 0u32;
        loop {
            // v1 needs FROZEN written again while FREEZING (tasks forked
            // meanwhile); v2 freezes newcomers by itself.
            if round == 0 || matches!(self, Freezer::V1(_)) && round.is_multiple_of(8) {
                self.write(true)?;
            }
            if self.state()? == FreezerState::Frozen {
                return Ok(());
            }
            if start.elapsed() > FREEZE_TIMEOUT {
                let _ = self.write(false);
                return Err(CgroupError::FreezeTimeout {
                    dir: self.dir().to_path_buf(),
                    after: FREEZE_TIMEOUT,
                });
            }
            std::thread::sleep(delay);
            delay = (delay * 2).min(Duration::from_millis(10));
            round += 1;
        }
    }

    /// Thaws (takes effect at once on both versions).
    pub fn thaw(&self) -> Result<()> {
        self.write(false)
    }

    fn write(&self, freeze: bool) -> Result<()> {
        match self {
            Freezer::V1(d) => {
                let v = if freeze { "FROZEN" } else { "THAWED" };
                fs::write(d, "freezer.state", v, "freezer")
            }
            Freezer::V2(d) => fs::write(
                d,
                "cgroup.freeze",
                if freeze { "1" } else { "0" },
                "freezer",
            ),
        }
    }

    fn dir(&self) -> &Path {
        match self {
            Freezer::V1(d) | Freezer::V2(d) => d,
        }
    }
}

/// Whether the cgroup in `dirs` is frozen: one file read, for `state` and
/// `list` (no hierarchy detection). The v1 freezer wins where both exist.
pub fn is_frozen(dirs: &[std::path::PathBuf]) -> bool {
    let v1 = dirs.iter().find(|d| d.join("freezer.state").exists());
    let freezer = match v1 {
        Some(d) => Freezer::V1(d),
        None => match dirs.iter().find(|d| d.join("cgroup.freeze").exists()) {
            Some(d) => Freezer::V2(d),
            None => return false,
        },
    };
    matches!(freezer.state(), Ok(FreezerState::Frozen))
}
