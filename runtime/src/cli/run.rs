//! `berth run`: create + start, then (unless detached) wait for the payload,
//! forwarding signals to it and relaying its terminal, delete the
//! container, and exit with the payload's status (128 + signal when it was
//! killed). With NOTIFY_SOCKET set, the container's READY is forwarded.

use nix::sys::signal::SigmaskHow;

use super::create::CreateFlags;
use crate::container::{self, Created};
use crate::error::{Error, Result};
use crate::notify::{self, Listener};
use crate::process::forward::{self, Extras};
use crate::tty::relay::Relay;

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
    let (original, fwd) = forward::prepare(!a.detach).map_err(wrap)?;
    let mut opts = a.flags.opts(&a.id, g).map_err(wrap)?;
    opts.sigmask = Some(original);
    opts.detach = a.detach;
    let created = container::create(&g.root, &opts).map_err(wrap)?;
    let Created {
        dir,
        saved,
        pidfd,
        master,
    } = created;
    let io = (|| -> Result<(Option<Listener>, Option<Relay>)> {
        let listener = match notify::host_socket() {
            Some(host) => Listener::bind(&dir.path, host)?,
            None => None,
        };
        Ok((listener, master.map(Relay::new).transpose()?))
    })();
    let (mut listener, mut relay) =
        match io.and_then(|io| container::start_locked(&dir, &saved).map(|_| io)) {
            Ok(io) => io,
            Err(e) => {
                let _ = container::delete_locked(dir, &saved, true);
                return Err(wrap(e));
            }
        };
    // Let kill/state/delete from other processes in while we wait.
    drop(dir);
    if a.detach {
        if let Some(l) = listener.as_mut() {
            if let Err(e) = l.wait_ready(&pidfd, saved.pid) {
                tracing::warn!("{e}");
            }
        }
        return Ok(0);
    }
    let extras = Extras {
        tty: relay.as_mut(),
        notify: listener.as_mut(),
    };
    let status = forward::wait(&pidfd, &fwd, extras)?;
    if !a.keep {
        if let Ok(dir) = g.root.open(&a.id) {
            container::delete_locked(dir, &saved, true)?;
        }
    }
    // Restores the terminal.
    drop(relay);
    let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&original), None);
    Ok(status)
}
