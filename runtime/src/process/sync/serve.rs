//! The runtime's side of the protocol: which message is legal when, and
//! the reply to each. What the replies stand for (running hooks, handing
//! the listener fd to the agent) is the `Host`'s, so that a test can drive
//! these loops against a scripted peer.

use std::os::fd::{AsFd, BorrowedFd};

use super::{FromInit, Kind, Peer, RuntimeEnd, SyncError, ToInit};
use crate::error::Error;

/// What the runtime does at its peer's requests.
pub trait Host {
    /// Whether the init asks for its user namespace's maps (it has a new
    /// one); it does so first, before anything else.
    fn mapping_wanted(&self) -> bool {
        false
    }

    /// Writes the new user namespace's uid_map and gid_map.
    fn write_mappings(&mut self) -> Result<(), Error> {
        Ok(())
    }

    /// Whether the init asks for linux.netDevices to be moved into its
    /// network namespace (the config has some); it does so after Mappings.
    fn net_devices_wanted(&self) -> bool {
        false
    }

    /// Moves linux.netDevices into the init's network namespace.
    fn move_net_devices(&mut self) -> Result<(), Error> {
        Ok(())
    }

    /// Whether the init asks for the runtime's hooks (prestart,
    /// createRuntime); it does exactly when there are some.
    fn hooks_wanted(&self) -> bool {
        false
    }

    /// Runs the prestart and createRuntime hooks.
    fn run_hooks(&mut self) -> Result<(), Error> {
        Ok(())
    }

    /// Hands a NOTIFY filter's listener fd to the seccomp agent. The fd is
    /// closed once the peer has been told.
    fn hand_listener(&mut self, fd: BorrowedFd<'_>) -> Result<(), Error>;
}

/// Why serving the peer stopped short.
#[derive(Debug, thiserror::Error)]
pub enum Stopped {
    /// The peer failed, went away or broke the protocol.
    #[error(transparent)]
    Sync(#[from] SyncError),
    /// The runtime's own part failed (a hook, the agent).
    #[error(transparent)]
    Host(Error),
}

impl Stopped {
    /// The peer reported its failure, and so exits by itself.
    pub fn reported(&self) -> bool {
        matches!(self, Stopped::Sync(SyncError::Reported { .. }))
    }
}

impl From<Stopped> for Error {
    fn from(s: Stopped) -> Error {
        match s {
            Stopped::Sync(e) => e.into(),
            Stopped::Host(e) => e,
        }
    }
}

/// Serves a new init until it reports `Ready`: first `Mappings` when it
/// has a new user namespace (then, and only then), then `NetDevices` when
/// the config moves some (likewise), then `Hooks` when there are hooks
/// (likewise), then at most one `Seccomp`, then `Ready`. The init blocks
/// until the `Ack` of `release`.
pub fn until_ready(chan: &RuntimeEnd, host: &mut impl Host) -> Result<(), Stopped> {
    let mut mapping_due = host.mapping_wanted();
    let mut devices_due = host.net_devices_wanted();
    let mut hooks_due = host.hooks_wanted();
    let mut listener_handed = false;
    loop {
        let m = chan
            .recv("read from container init")?
            .ok_or(SyncError::Eof {
                waiting_for: Kind::Ready,
            })?;
        match m {
            FromInit::Mappings if mapping_due => {
                host.write_mappings().map_err(Stopped::Host)?;
                chan.send(ToInit::Mapped)?;
                mapping_due = false;
            }
            _ if mapping_due => return Err(refused(chan.peer(), m, "Mappings").into()),
            FromInit::NetDevices if devices_due => {
                host.move_net_devices().map_err(Stopped::Host)?;
                chan.send(ToInit::NetDevicesMoved)?;
                devices_due = false;
            }
            _ if devices_due => return Err(refused(chan.peer(), m, "NetDevices").into()),
            FromInit::Hooks if hooks_due => {
                host.run_hooks().map_err(Stopped::Host)?;
                chan.send(ToInit::HooksDone)?;
                hooks_due = false;
            }
            FromInit::Seccomp(fd) if !hooks_due && !listener_handed => {
                hand_listener(chan, host, fd.as_fd())?;
                listener_handed = true;
            }
            FromInit::Ready if !hooks_due => return Ok(()),
            m => {
                let expected = match (hooks_due, listener_handed) {
                    (true, _) => "Hooks",
                    (false, false) => "Seccomp or Ready",
                    (false, true) => "Ready",
                };
                return Err(refused(chan.peer(), m, expected).into());
            }
        }
    }
}

/// The first message of a child that joins a user namespace and forks the
/// init into its new pid namespace: that init's pidfd and pid.
pub fn until_reborn(chan: &RuntimeEnd) -> Result<(std::os::fd::OwnedFd, i32), Stopped> {
    match chan.recv("read from container init")? {
        Some(FromInit::Reborn(fd, pid)) => Ok((fd, pid)),
        Some(m) => Err(refused(chan.peer(), m, "Reborn").into()),
        None => Err(SyncError::Eof {
            waiting_for: Kind::Reborn,
        }
        .into()),
    }
}

/// Lets a ready init go on (the state is saved) and waits until it no
/// longer dies with the runtime, so the runtime may exit.
pub fn release(chan: &RuntimeEnd) -> Result<(), SyncError> {
    chan.send(ToInit::Ack)?;
    match chan.recv("release container init")? {
        Some(FromInit::Detached) => Ok(()),
        Some(m) => Err(refused(chan.peer(), m, "Detached")),
        None => Err(SyncError::Eof {
            waiting_for: Kind::Detached,
        }),
    }
}

/// Serves a process being exec'd until its execve, which closes its
/// close-on-exec end: EOF is success here. Before that it may send one
/// `Seccomp`.
pub fn until_exec(chan: &RuntimeEnd, host: &mut impl Host) -> Result<(), Stopped> {
    let mut listener_handed = false;
    loop {
        match chan.recv("read from exec process")? {
            None => return Ok(()),
            Some(FromInit::Seccomp(fd)) if !listener_handed => {
                hand_listener(chan, host, fd.as_fd())?;
                listener_handed = true;
            }
            Some(m) => {
                let expected = match listener_handed {
                    false => "Seccomp or execve",
                    true => "execve",
                };
                return Err(refused(chan.peer(), m, expected).into());
            }
        }
    }
}

fn hand_listener(chan: &RuntimeEnd, host: &mut impl Host, fd: BorrowedFd) -> Result<(), Stopped> {
    host.hand_listener(fd).map_err(Stopped::Host)?;
    chan.send(ToInit::SeccompDone)?;
    Ok(())
}

/// A message not legal where it came: the peer's own failure report, or a
/// protocol error naming what was expected.
fn refused(peer: Peer, m: FromInit, expected: &'static str) -> SyncError {
    match m {
        FromInit::Error(message) => SyncError::Reported { peer, message },
        m => SyncError::Unexpected {
            peer,
            expected,
            got: m.kind(),
        },
    }
}
