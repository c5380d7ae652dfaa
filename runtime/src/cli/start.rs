//! `berth start`: with NOTIFY_SOCKET set, it listens on the container's
//! notify socket and returns once the container reported READY (forwarded
//! to the host with the init as MAINPID) or exited, as runc does.

use crate::container;
use crate::error::Result;
use crate::notify::{self, Listener};
use crate::state::Status;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// the container id
    pub id: String,
}

pub fn run(a: Args, g: &super::Global) -> Result<i32> {
    let Some(host) = notify::host_socket() else {
        container::start(&g.root, &a.id)?;
        return Ok(0);
    };
    let dir = g.root.open(&a.id)?;
    let saved = dir.load()?;
    // Bound before the payload runs; only a created container gets one
    // (start_locked reports the others).
    let listen = container::status_of(&dir, &saved) == Status::Created;
    let mut listener = match listen {
        true => Listener::bind(&dir.path, host)?,
        false => None,
    };
    let init = match listener {
        Some(_) => Some(container::init_pidfd(&saved)?),
        None => None,
    };
    container::start_locked(&dir, &saved)?;
    drop(dir);
    if let (Some(l), Some(init)) = (listener.as_mut(), init) {
        l.wait_ready(&init, saved.pid)?;
    }
    Ok(0)
}
