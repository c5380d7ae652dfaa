//! Waiting for a process of ours while forwarding signals to it, as `run`
//! and `exec` do in the foreground. The signals are blocked before the clone
//! (so none is lost and an early exit is never missed) and read from a
//! signalfd; the exit comes from the pidfd.

use std::os::fd::AsRawFd;

use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};

use crate::error::{Context, Result};
use crate::sys::{poll, pollin, PidFd};

/// Signals forwarded to the payload: everything catchable except what the
/// kernel sends us about ourselves (faults), SIGCHLD, SIGURG and SIGWINCH.
pub fn forwarded() -> SigSet {
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

/// The calling thread's signal mask (what a payload gets back before exec).
pub fn current_mask() -> SigSet {
    SigSet::thread_get_mask().unwrap_or_else(|_| SigSet::empty())
}

/// For a foreground run/exec: returns (the mask to restore in the payload,
/// the forwarded set), the latter blocked now when `foreground` — before the
/// clone, so a payload that exits at once is never missed and no signal
/// meant for it is lost.
pub fn prepare(foreground: bool) -> Result<(SigSet, SigSet)> {
    let original = current_mask();
    let fwd = forwarded();
    if foreground {
        fwd.thread_block().ctx(|| "block signals".into())?;
    }
    Ok((original, fwd))
}

/// Waits for our child `pidfd` to exit, forwarding every signal of `fwd`
/// (already blocked) to it; returns its exit status (128 + signal if killed).
pub fn wait(pidfd: &PidFd, fwd: &SigSet) -> Result<i32> {
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
                .ctx(|| "wait for container process".into());
        }
    }
}
