//! `pause` and `resume`: freeze and thaw the container's cgroup.

use crate::cgroups::Manager;
use crate::error::{Error, Result};
use crate::state::{Root, Saved, Status};

fn manager(saved: &Saved) -> Result<Manager> {
    let rec = saved
        .cgroup
        .as_ref()
        .ok_or_else(|| Error::msg("container has no cgroup to freeze"))?;
    Manager::open(rec)
}

pub fn pause(root: &Root, id: &str) -> Result<()> {
    let dir = root.open(id)?;
    let saved = dir.load()?;
    match super::status_of(&dir, &saved) {
        Status::Running | Status::Created => manager(&saved)?.freeze(),
        _ => Err(Error::NotRunning),
    }
}

pub fn resume(root: &Root, id: &str) -> Result<()> {
    let dir = root.open(id)?;
    let saved = dir.load()?;
    match super::status_of(&dir, &saved) {
        Status::Paused => manager(&saved)?.thaw(),
        _ => Err(Error::msg("container not paused")),
    }
}

/// Thaws a paused container so a SIGKILL can take effect (delete --force,
/// kill KILL).
pub fn thaw_if_paused(saved: &Saved) -> Result<()> {
    match &saved.cgroup {
        Some(rec) if crate::cgroups::is_frozen(&rec.dirs) => Manager::open(rec)?.thaw(),
        _ => Ok(()),
    }
}
