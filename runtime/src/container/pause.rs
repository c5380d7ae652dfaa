//! `pause` and `resume`: freeze and thaw the container's cgroup.

use crate::cgroups::Manager;
use crate::error::{Error, Result};
use crate::state::{Root, Saved, Status};

pub fn pause(root: &Root, id: &str) -> Result<()> {
    let dir = root.open(id)?;
    let saved = dir.load()?;
    match super::status_of(&dir, &saved) {
        Status::Running | Status::Created => Ok(Manager::open(&saved.cgroup)?.freeze()?),
        _ => Err(Error::NotRunning),
    }
}

pub fn resume(root: &Root, id: &str) -> Result<()> {
    let dir = root.open(id)?;
    let saved = dir.load()?;
    match super::status_of(&dir, &saved) {
        Status::Paused => Ok(Manager::open(&saved.cgroup)?.thaw()?),
        _ => Err(Error::NotPaused),
    }
}

/// Thaws a paused container so a SIGKILL can take effect (delete --force,
/// kill KILL).
pub fn thaw_if_paused(saved: &Saved) -> Result<()> {
    if crate::cgroups::is_frozen(&saved.cgroup.dirs) {
        Manager::open(&saved.cgroup)?.thaw()?;
    }
    Ok(())
}
