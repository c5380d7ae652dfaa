//! `delete`: destroy a stopped (or, with --force, any) container, then run
//! its poststop hooks.

use std::fs;

use crate::error::{Error, Result};
use crate::hooks;
use crate::state::{ContainerDir, Root, Saved, Status};

/// How long to wait for a SIGKILLed init to be gone.
const KILL_WAIT_MS: i32 = 10_000;

pub fn delete(root: &Root, id: &str, force: bool) -> Result<()> {
    let dir = root.open(id)?;
    let saved = dir.load()?;
    delete_locked(dir, &saved, force)
}

pub fn delete_locked(dir: ContainerDir, saved: &Saved, force: bool) -> Result<()> {
    let status = super::status_of(&dir, saved);
    match status {
        Status::Stopped => {}
        Status::Created => kill_wait(saved)?,
        _ if force => kill_wait(saved)?,
        s => {
            return Err(Error::msg(format!(
                "cannot delete container {} that is not stopped: {}",
                saved.id,
                s.as_str()
            )))
        }
    }
    // Kills whatever is left in the cgroup, waits for it to empty and
    // removes the directories; on failure the state stays for a retry.
    crate::cgroups::Manager::open(&saved.cgroup)?.destroy()?;
    let config = fs::read(dir.config_path())
        .ok()
        .and_then(|raw| crate::spec::parse(&raw).ok());
    dir.remove()?;
    if let Some(spec) = config {
        let post = hooks::of_kind(spec.hooks().as_ref(), "poststop");
        if !post.is_empty() {
            let state = hooks::state_json(
                &saved.id,
                Status::Stopped,
                0,
                &saved.bundle,
                Some(&saved.annotations),
            );
            hooks::run_warn("poststop", post, &state);
        }
    }
    Ok(())
}

/// SIGKILLs the init (thawing a paused container first) and waits until it
/// has exited.
fn kill_wait(saved: &Saved) -> Result<()> {
    super::pause::thaw_if_paused(saved)?;
    let pidfd = match super::init_pidfd(saved) {
        Ok(fd) => fd,
        Err(Error::NotRunning) => return Ok(()),
        Err(e) => return Err(e),
    };
    let _ = pidfd.signal(libc::SIGKILL);
    match pidfd.wait_exit_timeout(KILL_WAIT_MS) {
        Ok(true) => Ok(()),
        _ => Err(Error::msg(format!(
            "container init (pid {}) did not exit after SIGKILL",
            saved.pid
        ))),
    }
}
