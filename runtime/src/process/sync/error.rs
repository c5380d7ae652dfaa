//! What can go wrong on the sync channel, on either side. The texts a user
//! sees are the ones berth has always printed (runc's "unable to start
//! container process: …" for a failed init); the protocol violations,
//! which our own init never commits, name what was expected and what came.

use std::fmt;
use std::io;

use super::Kind;

/// Who is at the other end of the channel, as errors name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Peer {
    /// The container's init, during `create`.
    Init,
    /// A process being started by `exec`, until its execve.
    Exec,
    /// The runtime, as the init (or the exec'd process) sees it.
    Runtime,
}

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Peer::Init => "container init",
            Peer::Exec => "exec process",
            Peer::Runtime => "the runtime",
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// A send or receive failed; `context` says which.
    #[error("{context}: {source}")]
    Io {
        context: &'static str,
        #[source]
        source: io::Error,
    },
    /// The peer failed and said why (its `Error` message).
    #[error("{}{message}", reported_prefix(.peer))]
    Reported { peer: Peer, message: String },
    /// The peer closed its end while `waiting_for` (or another message that
    /// may come at that point) was due: it died, or went on without us.
    #[error("{}", eof_text(.waiting_for))]
    Eof { waiting_for: Kind },
    /// A tag that is not a message of the peer's direction.
    #[error("unknown message tag {tag:#04x} from {peer}")]
    UnknownTag { peer: Peer, tag: u8 },
    /// A message that is not legal at this point of the protocol.
    #[error("unexpected message from {peer}: expected {expected}, got {got}")]
    Unexpected {
        peer: Peer,
        expected: &'static str,
        got: Kind,
    },
    /// `Seccomp` came without its listener fd.
    #[error("seccomp: the process reported a listener fd, but there is none or no listenerPath")]
    MissingFd,
    /// fds came with a message that carries none (or more than one).
    #[error("{count} fds attached to a {kind} message from {peer}")]
    StrayFds {
        peer: Peer,
        kind: Kind,
        count: usize,
    },
    /// A packet without even a tag.
    #[error("empty message from {peer}")]
    Empty { peer: Peer },
}

/// A failed init or exec'd process is reported as runc does (`exec` then
/// adds "exec failed: " in front, as runc); the runtime's message, seen by
/// the init, stands alone.
fn reported_prefix(peer: &Peer) -> &'static str {
    match peer {
        Peer::Init | Peer::Exec => "unable to start container process: ",
        Peer::Runtime => "",
    }
}

/// What a closed channel means depends on what was due.
fn eof_text(waiting_for: &Kind) -> String {
    match waiting_for {
        // The runtime, waiting for Hooks, Seccomp or Ready.
        Kind::Ready => {
            "unable to start container process: container init exited without reporting".into()
        }
        Kind::Detached => {
            "unable to start container process: container init exited during create".into()
        }
        // The init, waiting for a reply.
        Kind::Placed => "the runtime did not start the container's systemd unit".into(),
        Kind::HooksDone => "the runtime did not finish its hooks".into(),
        Kind::Ack => "the runtime went away before saving the state".into(),
        Kind::SeccompDone => "the runtime did not hand the seccomp listener fd to the agent".into(),
        other => format!("the sync channel closed while {other} was due"),
    }
}

impl SyncError {
    pub(super) fn io(context: &'static str) -> impl FnOnce(io::Error) -> SyncError {
        move |source| SyncError::Io { context, source }
    }
}
