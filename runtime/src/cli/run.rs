//! `berth run`: create + start, then (unless detached) wait for the payload,
//! forwarding signals to it, delete the container, and exit with the
//! payload's status (128 + signal when it was killed).

use std::os::fd::AsRawFd;

use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};

use super::create::CreateFlags;
use crate::container::{self, Created};
use crate::error::{Context, Error, Result};
use crate::sys::{poll, pollin, PidFd};

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

/// Signals that are forwarded to the payload (all runc forwards).
fn forwarded() -> SigSet {
    let mut set = SigSet::empty();
    for sig in Signal::iterator() {
        if !matches!(
            sig,
            Signal::SIGKILL
                | Signal::SIGSTOP
                | Signal::SIGCHLD
                | Signal::SIGURG
                | Signal::SIGWINCH
                | Signal::SIGSEGV
                | Signal::SIGBUS
                | Signal::SIGILL
                | Signal::SIGFPE
                | Signal::SIGTRAP
                | Signal::SIGSYS
        ) {
            set.add(sig);
        }
    }
    set
}

pub fn run(a: Args, g: &super::Global) -> Result<i32> {
    let wrap = |e: Error| e.wrap("berth run failed");
    crate::binary::ensure_protected().map_err(wrap)?;
    let original = SigSet::thread_get_mask().unwrap_or_else(|_| SigSet::empty());
    // Block before the clone: a payload that exits at once is never missed,
    // and no signal meant for it is lost.
    let fwd = forwarded();
    if !a.detach {
        fwd.thread_block()
            .ctx(|| "block signals".into())
            .map_err(wrap)?;
    }
    let mut opts = a.flags.opts(&a.id).map_err(wrap)?;
    opts.sigmask = Some(original);
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
    let status = wait(&pidfd, &fwd)?;
    if !a.keep {
        if let Ok(dir) = g.root.open(&a.id) {
            container::delete_locked(dir, &saved, true)?;
        }
    }
    let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&original), None);
    Ok(status)
}

/// Waits for the init to exit, forwarding every blocked signal to it.
fn wait(pidfd: &PidFd, fwd: &SigSet) -> Result<i32> {
    let sfd = SignalFd::with_flags(fwd, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
        .ctx(|| "signalfd".into())?;
    loop {
        let mut fds = [pollin(pidfd.as_raw_fd()), pollin(sfd.as_raw_fd())];
        poll(&mut fds, -1).ctx(|| "poll".into())?;
        if fds[1].revents & libc::POLLIN != 0 {
            while let Ok(Some(info)) = sfd.read_signal() {
                let _ = pidfd.signal(info.ssi_signo as i32);
            }
        }
        if fds[0].revents != 0 {
            return pidfd
                .wait()
                .map(|s| s.code())
                .ctx(|| "wait for container init".into());
        }
    }
}
