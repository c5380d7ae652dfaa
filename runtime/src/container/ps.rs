//! `ps`: the container's processes, from its cgroup (for containers made
//! before cgroups were recorded: its pid namespace).

use crate::error::Result;
use crate::state::{Root, Status};

/// Host pids of the container's processes, sorted; empty once stopped.
pub fn pids(root: &Root, id: &str) -> Result<Vec<i32>> {
    let v = super::view(root, id)?;
    if v.status == Status::Stopped {
        return Ok(Vec::new());
    }
    if let Some(rec) = &v.saved.cgroup {
        return crate::cgroups::Manager::open(rec)?.pids();
    }
    if v.saved.own_pid_ns {
        super::namespace_pids(v.saved.pid)
    } else {
        Ok(vec![v.saved.pid])
    }
}
