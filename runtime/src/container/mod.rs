//! Container operations: the lifecycle of runtime.md on top of the state
//! directory, the process model and the subsystems.

pub mod create;
pub mod delete;
pub mod exec;
pub mod kill;
pub mod pause;
mod pidfd_socket;
pub mod ps;
pub mod start;

use std::path::PathBuf;

use crate::error::{Error, Result, StateError};
use crate::state::{self, ContainerDir, OciState, Root, Saved, Status};
use crate::sys::PidFd;

pub use create::{create, CreateOpts, Created};
pub use delete::{delete, delete_locked};
pub use exec::{exec, ExecOpts, Execd};
pub use kill::{kill, parse_signal};
pub use pause::{pause, resume};
pub use ps::pids;
pub use start::{start, start_locked};

/// A container as `state` and `list` see it.
#[derive(Debug)]
pub struct View {
    pub dir: PathBuf,
    pub saved: Saved,
    pub status: Status,
}

impl View {
    pub fn oci_state<'a>(&'a self, owner: &'a str) -> OciState<'a> {
        OciState {
            oci_version: state::OCI_VERSION,
            id: &self.saved.id,
            pid: if self.status == Status::Stopped {
                0
            } else {
                self.saved.pid
            },
            status: self.status.as_str(),
            bundle: &self.saved.bundle,
            rootfs: &self.saved.rootfs,
            created: &self.saved.created,
            owner,
            annotations: &self.saved.annotations,
        }
    }
}

/// Reads a container's state without locking.
pub fn view(root: &Root, id: &str) -> Result<View> {
    state::validate_id(id).map_err(|_| StateError::NotExist)?;
    let dir = root.path.join(id);
    let saved = state::load_saved(&dir)?;
    let status = state::status(&dir, &saved);
    Ok(View { dir, saved, status })
}

/// Every container, sorted by id.
pub fn list(root: &Root) -> Result<Vec<View>> {
    let mut out = Vec::new();
    for id in root.list()? {
        match view(root, &id) {
            Ok(v) => out.push(v),
            Err(e) if e.is_not_exist() => {}
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// A pidfd for the container's init, verified to still be the process we
/// started (same start time) after the pidfd was opened.
pub fn init_pidfd(saved: &Saved) -> Result<PidFd> {
    if saved.pid <= 0 {
        return Err(Error::NotRunning);
    }
    let fd = PidFd::open(saved.pid).map_err(|_| Error::NotRunning)?;
    if !state::init_alive(saved) {
        return Err(Error::NotRunning);
    }
    Ok(fd)
}

/// Status of a locked container directory.
pub fn status_of(dir: &ContainerDir, saved: &Saved) -> Status {
    state::status(&dir.path, saved)
}
