//! Waiting for a process of ours while forwarding signals to it, as `run`
//! and `exec` do in the foreground. The signals are blocked before the clone
//! (so none is lost and an early exit is never missed) and read from a
//! signalfd; the exit comes from the pidfd. The same poll loop relays a
//! foreground terminal (`tty::relay`, resized on SIGWINCH) and forwards the
//! container's sd_notify READY (`notify`).

use std::os::fd::AsRawFd;

use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};

use crate::error::{Context, Result};
use crate::notify::Listener;
use crate::sys::{poll, pollin, PidFd};
use crate::tty::relay::Relay;

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
/// the forwarded set plus SIGWINCH), the latter blocked now when
/// `foreground` — before the clone, so a payload that exits at once is
/// never missed and no signal meant for it is lost.
pub fn prepare(foreground: bool) -> Result<(SigSet, SigSet)> {
    let original = current_mask();
    let mut fwd = forwarded();
    // Never forwarded (as runc): it resizes a relayed terminal.
    fwd.add(Signal::SIGWINCH);
    if foreground {
        fwd.thread_block().ctx(|| "block signals".into())?;
    }
    Ok((original, fwd))
}

/// What the wait loop serves besides signals.
#[derive(Default)]
pub struct Extras<'a> {
    /// A relayed terminal.
    pub tty: Option<&'a mut Relay>,
    /// The container's notify socket, until it reported READY.
    pub notify: Option<&'a mut Listener>,
}

/// Waits for our child `pidfd` to exit, forwarding every signal of `fwd`
/// (already blocked) to it but SIGWINCH; returns its exit status (128 +
/// signal if killed).
pub fn wait(pidfd: &PidFd, fwd: &SigSet, mut x: Extras) -> Result<i32> {
    let sfd = SignalFd::with_flags(fwd, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
        .ctx(|| "signalfd".into())?;
    let off = pollin(-1);
    loop {
        let [tty_in, tty_master] = x.tty.as_ref().map_or([off, off], |t| t.pollfds());
        let notify = x.notify.as_ref().map_or(off, |n| n.pollfd());
        let mut fds = [
            pollin(pidfd.as_raw_fd()),
            pollin(sfd.as_raw_fd()),
            tty_in,
            tty_master,
            notify,
        ];
        poll(&mut fds, -1).ctx(|| "poll".into())?;
        // Signals first: a resize that came before some input is applied
        // before that input reaches the container.
        if fds[1].revents & libc::POLLIN != 0 {
            while let Ok(Some(info)) = sfd.read_signal() {
                match (info.ssi_signo as i32, x.tty.as_ref()) {
                    (libc::SIGWINCH, Some(t)) => t.resize(),
                    (libc::SIGWINCH, None) => {}
                    (sig, _) => {
                        let _ = pidfd.signal(sig);
                    }
                }
            }
        }
        if let Some(t) = x.tty.as_deref_mut() {
            t.on_ready(&fds[2..4]);
        }
        if fds[4].revents != 0 {
            if let Some(n) = x.notify.as_deref_mut() {
                n.on_ready(std::process::id() as i32);
            }
        }
        if fds[0].revents != 0 {
            if let Some(t) = x.tty.as_deref_mut() {
                t.drain();
            }
            return pidfd
                .wait()
                .map(|s| s.code())
                .ctx(|| "wait for container process".into());
        }
    }
}
