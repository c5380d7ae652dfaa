//! `berth run`: create + start, then (unless detached) wait for the payload,
//! forwarding signals to it, delete the container, and exit with the
//! payload's status (128 + signal when it was killed).

use nix::sys::signal::SigmaskHow;

use super::create::CreateFlags;
use crate::container::{self, Created};
use crate::error::{Error, Result};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub flags: CreateFlags,
    /// detach from the container's process
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// do not delete the container after it exits
    #[arg(long)]
    pub keep: bool,
    /// the container id
    pub id: String,
}

pub fn run(a: Args, g: &super::Global) -> Result<i32> {
    let wrap = |e: Error| e.wrap("berth run failed");
    crate::binary::ensure_protected().map_err(wrap)?;
    let (original, fwd) = crate::process::forward::prepare(!a.detach).map_err(wrap)?;
    let mut opts = a.flags.opts(&a.id, g).map_err(wrap)?;
    opts.sigmask = Some(original);
    opts.detach = a.detach;
    let created = container::create(&g.root, &opts).map_err(wrap)?;
    let Created { dir, saved, pidfd } = created;
    if let Err(e) = container::start_locked(&dir, &saved) {
        let _ = container::delete_locked(dir, &saved, true);
        return Err(wrap(e));
    }
    if a.detach {
        return Ok(0);
    }
    // Let kill/state/delete from other processes in while we wait.
    drop(dir);
    let status = crate::process::forward::wait(&pidfd, &fwd)?;
    if !a.keep {
        if let Ok(dir) = g.root.open(&a.id) {
            container::delete_locked(dir, &saved, true)?;
        }
    }
    let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&original), None);
    Ok(status)
}
