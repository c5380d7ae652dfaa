//! `ps`: the container's processes, from its cgroup.

use crate::error::Result;
use crate::state::{Root, Status};

/// Host pids of the container's processes, sorted; empty once stopped.
pub fn pids(root: &Root, id: &str) -> Result<Vec<i32>> {
    let v = super::view(root, id)?;
    if v.status == Status::Stopped {
        return Ok(Vec::new());
    }
    Ok(crate::cgroups::Manager::open(&v.saved.cgroup)?.pids()?)
}
