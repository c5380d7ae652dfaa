//! `ps`: the container's processes. Until cgroups are wired in, they are
//! the processes of the container's own pid namespace (just the init when
//! it shares the host's).

use crate::error::Result;
use crate::state::{Root, Status};

/// Host pids of the container's processes, sorted; empty once stopped.
pub fn pids(root: &Root, id: &str) -> Result<Vec<i32>> {
    let v = super::view(root, id)?;
    if v.status == Status::Stopped {
        return Ok(Vec::new());
    }
    if v.saved.own_pid_ns {
        super::namespace_pids(v.saved.pid)
    } else {
        Ok(vec![v.saved.pid])
    }
}
