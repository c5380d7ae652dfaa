//! `delete`: destroy a stopped (or, with --force, any) container, then run
//! its poststop hooks.

use std::fs;

use crate::error::{Error, Result, StateError};
use crate::hooks;
use crate::state::{ContainerDir, Root, Saved, Status};

/// How long to wait for a SIGKILLed init to be gone.
const KILL_WAIT_MS: i32 = 10_000;

pub fn delete(root: &Root, id: &str, force: bool) -> Result<()> {
    let dir = root.open_any(id)?;
    match dir.load() {
        Ok(saved) => delete_locked(dir, &saved, force),
        Err(StateError::NotExist) => {
            // As runc, a directory left by a create that died before it
            // saved the state is removed; only with --force is that success.
            remove_half_created(dir)?;
            Err(StateError::NotExist.into())
        }
        Err(e) => Err(e.into()),
    }
}

/// Removes what a create killed half-way left: its cgroup (as recorded
/// before it was made: `ContainerDir::save_creating`) and its directory.
/// The init died with its runtime (PR_SET_PDEATHSIG); hooks it ran may
/// linger, and the cgroup is one berth made, or took empty, a moment ago,
/// so every process in it is the container's and is killed.
fn remove_half_created(dir: ContainerDir) -> Result<()> {
    let rec = dir.load_creating().unwrap_or_else(|e| {
        // Written atomically before any cgroup: an unreadable one was not
        // written by berth, and the directory must still go.
        tracing::warn!("{e}; removing the container directory only");
        None
    });
    if let Some(rec) = rec {
        crate::cgroups::Manager::open(&rec)?.destroy(&crate::cgroups::Scope::Cgroup)?;
    }
    Ok(dir.remove()?)
}

pub fn delete_locked(dir: ContainerDir, saved: &Saved, force: bool) -> Result<()> {
    let status = super::status_of(&dir, saved);
    match status {
        Status::Stopped => {}
        Status::Created => kill_wait(saved)?,
        _ if force => kill_wait(saved)?,
        status => {
            return Err(Error::NotStopped {
                id: saved.id.clone(),
                status,
            })
        }
    }
    // Ownership (`cgroups::Scope`): berth kills only the container's
    // processes. With a private pid namespace the init's death ended them
    // all and nothing more is killed; otherwise whatever is left in the
    // cgroup is. Then the directories go; on failure the state stays for a
    // retry.
    crate::cgroups::Manager::open(&saved.cgroup)?.destroy(&saved.scope())?;
    tracing::debug!(
        "delete {}: cgroup removed: {:?}",
        saved.id,
        saved.cgroup.dirs
    );
    let config_hooks = fs::read(dir.config_path())
        .ok()
        .and_then(|raw| crate::spec::hooks_of_copy(&raw).ok());
    let root = dir.path.parent().map(std::path::Path::to_path_buf);
    dir.remove()?;
    tracing::debug!("delete {}: state removed", saved.id);
    if let Some(root) = root {
        crate::rootfs::compact::release_if_unused(&root);
    }
    if let Some(config_hooks) = config_hooks {
        let post = hooks::of_kind(config_hooks.as_ref(), "poststop");
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
