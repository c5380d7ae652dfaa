//! The messages of the sync channel, one type per direction, and their wire
//! form: one SOCK_SEQPACKET packet per message, a tag byte first, then the
//! payload (`Error`: its text, UTF-8; `Log`: a level byte, then the text).
//! `Seccomp` carries the listener fd as SCM_RIGHTS, `Reborn` the pidfd of
//! the init that replaces its sender (and its pid as text); no other
//! message carries an fd.

use std::fmt;
use std::os::fd::OwnedFd;

use super::{Peer, SyncError};

/// Every kind of message, both directions: its tag on the wire and its
/// name in errors ("expected Ready, got Hooks").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Placed,
    Reborn,
    Mappings,
    Mapped,
    NetDevices,
    NetDevicesMoved,
    Hooks,
    HooksDone,
    Ready,
    Ack,
    Detached,
    Seccomp,
    SeccompDone,
    Error,
    Log,
}

impl Kind {
    const ALL: [Kind; 15] = [
        Kind::Placed,
        Kind::Reborn,
        Kind::Mappings,
        Kind::Mapped,
        Kind::NetDevices,
        Kind::NetDevicesMoved,
        Kind::Hooks,
        Kind::HooksDone,
        Kind::Ready,
        Kind::Ack,
        Kind::Detached,
        Kind::Seccomp,
        Kind::SeccompDone,
        Kind::Error,
        Kind::Log,
    ];

    fn tag(self) -> u8 {
        match self {
            Kind::Placed => b'P',
            Kind::Reborn => b'B',
            Kind::Mappings => b'M',
            Kind::Mapped => b'm',
            Kind::NetDevices => b'N',
            Kind::NetDevicesMoved => b'n',
            Kind::Hooks => b'H',
            Kind::HooksDone => b'h',
            Kind::Ready => b'R',
            Kind::Ack => b'A',
            Kind::Detached => b'D',
            Kind::Seccomp => b'S',
            Kind::SeccompDone => b's',
            Kind::Error => b'E',
            Kind::Log => b'L',
        }
    }

    fn of_tag(tag: u8) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.tag() == tag)
    }

    /// Sent by the init (or the exec'd process), not by the runtime.
    fn sent_by_init(self) -> bool {
        !matches!(
            self,
            Kind::Placed
                | Kind::Mapped
                | Kind::NetDevicesMoved
                | Kind::HooksDone
                | Kind::Ack
                | Kind::SeccompDone
        )
    }
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Placed => "Placed",
            Kind::Reborn => "Reborn",
            Kind::Mappings => "Mappings",
            Kind::Mapped => "Mapped",
            Kind::NetDevices => "NetDevices",
            Kind::NetDevicesMoved => "NetDevicesMoved",
            Kind::Hooks => "Hooks",
            Kind::HooksDone => "HooksDone",
            Kind::Ready => "Ready",
            Kind::Ack => "Ack",
            Kind::Detached => "Detached",
            Kind::Seccomp => "Seccomp",
            Kind::SeccompDone => "SeccompDone",
            Kind::Error => "Error",
            Kind::Log => "Log",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// runtime → init (or the exec'd process): replies, each to one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ToInit {
    /// systemd made the container's scope with the init in it
    /// (`--systemd-cgroup`); sent unasked, first, right after the clone.
    Placed,
    /// The user namespace's uid_map and gid_map are written.
    Mapped,
    /// linux.netDevices are in the init's network namespace.
    NetDevicesMoved,
    /// The prestart and createRuntime hooks ran.
    HooksDone,
    /// The state is saved: the init may outlive the runtime.
    Ack,
    /// The seccomp agent has the listener fd.
    SeccompDone,
}

impl ToInit {
    pub fn kind(self) -> Kind {
        match self {
            ToInit::Placed => Kind::Placed,
            ToInit::Mapped => Kind::Mapped,
            ToInit::NetDevicesMoved => Kind::NetDevicesMoved,
            ToInit::HooksDone => Kind::HooksDone,
            ToInit::Ack => Kind::Ack,
            ToInit::SeccompDone => Kind::SeccompDone,
        }
    }

    pub(super) fn encode(self) -> [u8; 1] {
        [self.kind().tag()]
    }

    /// A packet from the runtime. Only the tag counts: every reply is one
    /// byte.
    pub(super) fn decode(b: &[u8]) -> Result<ToInit, SyncError> {
        let peer = Peer::Runtime;
        let &tag = b.first().ok_or(SyncError::Empty { peer })?;
        match Kind::of_tag(tag) {
            Some(Kind::Placed) => Ok(ToInit::Placed),
            Some(Kind::Mapped) => Ok(ToInit::Mapped),
            Some(Kind::NetDevicesMoved) => Ok(ToInit::NetDevicesMoved),
            Some(Kind::HooksDone) => Ok(ToInit::HooksDone),
            Some(Kind::Ack) => Ok(ToInit::Ack),
            Some(Kind::SeccompDone) => Ok(ToInit::SeccompDone),
            _ => Err(SyncError::UnknownTag { peer, tag }),
        }
    }
}

/// init (or the exec'd process) → runtime.
#[derive(Debug)]
pub enum FromInit {
    /// The process the runtime forked made the real init (in the new pid
    /// namespace of a joined user namespace) and exits: its pidfd and pid.
    Reborn(OwnedFd, i32),
    /// The init is in its new user namespace: write its uid and gid maps.
    Mappings,
    /// The init is in the container's network namespace: move
    /// linux.netDevices into it.
    NetDevices,
    /// Mounts are done: run the prestart and createRuntime hooks.
    Hooks,
    /// A NOTIFY filter is loaded: hand its listener fd (attached) to the
    /// agent at `linux.seccomp.listenerPath`.
    Seccomp(OwnedFd),
    /// Setup is complete; the init waits for `Ack`.
    Ready,
    /// No longer tied to the runtime's life (PDEATHSIG off).
    Detached,
    /// Setup failed with this message; the sender exits.
    Error(String),
    /// A log record of the sender, for the runtime to write (crate::log).
    Log(tracing::Level, String),
}

impl FromInit {
    pub fn kind(&self) -> Kind {
        match self {
            FromInit::Reborn(..) => Kind::Reborn,
            FromInit::Mappings => Kind::Mappings,
            FromInit::NetDevices => Kind::NetDevices,
            FromInit::Hooks => Kind::Hooks,
            FromInit::Seccomp(_) => Kind::Seccomp,
            FromInit::Ready => Kind::Ready,
            FromInit::Detached => Kind::Detached,
            FromInit::Error(_) => Kind::Error,
            FromInit::Log(..) => Kind::Log,
        }
    }

    /// The reply the runtime owes to this message, if any.
    pub fn reply(&self) -> Option<ToInit> {
        match self {
            FromInit::Reborn(..) => None,
            FromInit::Mappings => Some(ToInit::Mapped),
            FromInit::NetDevices => Some(ToInit::NetDevicesMoved),
            FromInit::Hooks => Some(ToInit::HooksDone),
            FromInit::Seccomp(_) => Some(ToInit::SeccompDone),
            FromInit::Ready => Some(ToInit::Ack),
            FromInit::Detached | FromInit::Error(_) | FromInit::Log(..) => None,
        }
    }

    /// The packet's bytes (the fd of `Seccomp` travels beside them).
    pub(super) fn encode(&self) -> Vec<u8> {
        let mut v = vec![self.kind().tag()];
        match self {
            FromInit::Error(m) => v.extend_from_slice(m.as_bytes()),
            FromInit::Reborn(_, pid) => v.extend_from_slice(pid.to_string().as_bytes()),
            FromInit::Log(l, m) => {
                v.push(crate::log::level_byte(*l));
                v.extend_from_slice(m.as_bytes());
            }
            _ => {}
        }
        v
    }

    /// A packet from `peer` and the fds that came with it: exactly one with
    /// `Seccomp`, none with anything else. A reply's tag is unknown here.
    pub(super) fn decode(
        peer: Peer,
        b: &[u8],
        mut fds: Vec<OwnedFd>,
    ) -> Result<FromInit, SyncError> {
        let &tag = b.first().ok_or(SyncError::Empty { peer })?;
        let Some(kind) = Kind::of_tag(tag).filter(|k| k.sent_by_init()) else {
            return Err(SyncError::UnknownTag { peer, tag });
        };
        let count = fds.len();
        Ok(match (kind, fds.pop()) {
            (Kind::Seccomp, None) => return Err(SyncError::MissingFd),
            (Kind::Seccomp, Some(fd)) if fds.is_empty() => FromInit::Seccomp(fd),
            (Kind::Reborn, None) => return Err(SyncError::MissingFd),
            (Kind::Reborn, Some(fd)) if fds.is_empty() => {
                match std::str::from_utf8(&b[1..])
                    .ok()
                    .and_then(|t| t.parse().ok())
                {
                    Some(pid) => FromInit::Reborn(fd, pid),
                    None => return Err(SyncError::UnknownTag { peer, tag }),
                }
            }
            (_, Some(_)) => return Err(SyncError::StrayFds { peer, kind, count }),
            (Kind::Mappings, None) => FromInit::Mappings,
            (Kind::NetDevices, None) => FromInit::NetDevices,
            (Kind::Hooks, None) => FromInit::Hooks,
            (Kind::Ready, None) => FromInit::Ready,
            (Kind::Detached, None) => FromInit::Detached,
            (Kind::Error, None) => FromInit::Error(String::from_utf8_lossy(&b[1..]).into_owned()),
            (Kind::Log, None) => match b.get(1).and_then(|&l| crate::log::level_of_byte(l)) {
                Some(l) => FromInit::Log(l, String::from_utf8_lossy(&b[2..]).into_owned()),
                None => return Err(SyncError::UnknownTag { peer, tag }),
            },
            (_, None) => return Err(SyncError::UnknownTag { peer, tag }),
        })
    }
}
