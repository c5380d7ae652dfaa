//! `--pidfd-socket` (runc 1.2+, create, run and exec): the caller gets a
//! pidfd of the container's init, or of the exec'd process, over an
//! AF_UNIX socket it listens on, as one SCM_RIGHTS message. The message's
//! bytes name the kind of process as current runc's do ("standard" for an
//! init, "setns" for an exec'd process); a receiver written for runc works
//! unchanged. runc opens and sends the pidfd from inside the new process;
//! berth sends the pidfd it got from clone3, from the runtime, before
//! `create`/`exec` return: the receiver sees the same thing, at the same
//! point of the protocol. runc 1.1 has no such flag.

use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

use crate::error::{Context, Result};
use crate::sys::PidFd;

/// Which process the pidfd refers to (the message runc sends with it).
#[derive(Clone, Copy, Debug)]
pub enum Kind {
    Init,
    Exec,
}

impl Kind {
    fn message(self) -> &'static [u8] {
        match self {
            Kind::Init => b"standard",
            Kind::Exec => b"setns",
        }
    }
}

/// Connects to the socket, before anything is started (a bad path leaves
/// nothing behind).
pub fn connect(path: &Path) -> Result<OwnedFd> {
    let s = UnixStream::connect(path)
        .ctx(|| format!("--pidfd-socket: connect to {}", path.display()))?;
    Ok(s.into())
}

/// Sends `pidfd` over the connected socket.
pub fn send(sock: &OwnedFd, pidfd: &PidFd, kind: Kind) -> Result<()> {
    crate::sys::scm::send_with_fds(sock.as_fd(), kind.message(), &[pidfd.as_fd()])
        .ctx(|| "--pidfd-socket: send the pidfd".into())
}
