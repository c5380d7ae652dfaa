//! The two ends of the sync channel, typed by direction: the runtime's end
//! sends only `ToInit` and receives only `FromInit`, the init's the
//! converse, so neither side can send the other's message.

use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};

use nix::sys::socket::{socketpair, AddressFamily, MsgFlags, SockFlag, SockType};

use super::{FromInit, Peer, SyncError, ToInit};

/// Room for the longest message: an init's error text.
const MAX_MSG: usize = 65536;

/// The runtime's end, talking to `peer` (an init or an exec'd process).
#[derive(Debug)]
pub struct RuntimeEnd {
    fd: OwnedFd,
    peer: Peer,
}

/// The end of the init (or the exec'd process), talking to the runtime.
#[derive(Debug)]
pub struct InitEnd(OwnedFd);

/// A connected pair (SOCK_SEQPACKET: one packet per message), both ends
/// close-on-exec: the child's end closing is how an exec'd process's
/// execve shows.
pub fn pair(peer: Peer) -> io::Result<(RuntimeEnd, InitEnd)> {
    let (a, b) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )?;
    Ok((RuntimeEnd { fd: a, peer }, InitEnd(b)))
}

/// Sends one packet; MSG_NOSIGNAL: a vanished peer is an error (EPIPE),
/// not a SIGPIPE.
fn send(fd: &OwnedFd, data: &[u8]) -> io::Result<()> {
    nix::sys::socket::send(fd.as_raw_fd(), data, MsgFlags::MSG_NOSIGNAL)
        .map(|_| ())
        .map_err(io::Error::from)
}

/// The length of the next packet, without taking it (0 at EOF). Peeking
/// with no room for ancillary data installs none of its fds.
fn next_len(fd: &OwnedFd) -> io::Result<usize> {
    loop {
        let flags = MsgFlags::MSG_PEEK | MsgFlags::MSG_TRUNC;
        match nix::sys::socket::recv(fd.as_raw_fd(), &mut [], flags) {
            Err(nix::errno::Errno::EINTR) => continue,
            other => return other.map_err(io::Error::from),
        }
    }
}

impl RuntimeEnd {
    pub fn peer(&self) -> Peer {
        self.peer
    }

    pub fn send(&self, m: ToInit) -> Result<(), SyncError> {
        let context = match m {
            ToInit::Placed => "sync after placing the container in its cgroup",
            ToInit::Mapped => "sync after writing the container's uid and gid maps",
            ToInit::NetDevicesMoved => "sync after moving the network devices",
            ToInit::HooksDone => "sync with container init",
            ToInit::Ack => "release container init",
            ToInit::SeccompDone => "sync after handing the seccomp listener fd to the agent",
        };
        send(&self.fd, &m.encode()).map_err(SyncError::io(context))
    }

    /// The next message, `None` when the peer closed its end (whether that
    /// is legitimate is the caller's call). `context` names a failed read.
    /// The peer's log records, which may come at any time, are written here
    /// (crate::log) and never returned.
    pub fn recv(&self, context: &'static str) -> Result<Option<FromInit>, SyncError> {
        loop {
            // A buffer of the packet's size, not MAX_MSG: zeroing 64 KiB
            // (and faulting its pages in) for each few-byte message was a
            // measurable part of a `run`.
            let len = next_len(&self.fd).map_err(SyncError::io(context))?;
            let mut buf = vec![0u8; len.clamp(1, MAX_MSG)];
            let (n, fds) = crate::sys::scm::recv_with_fds(self.fd.as_fd(), &mut buf)
                .map_err(SyncError::io(context))?;
            if n == 0 && fds.is_empty() {
                // Every message has a tag: an empty packet is the peer's close.
                return Ok(None);
            }
            match FromInit::decode(self.peer, &buf[..n], fds)? {
                FromInit::Log(level, text) => crate::log::replay(level, &text),
                m => return Ok(Some(m)),
            }
        }
    }

    /// Sends raw bytes, for tests that play a broken runtime.
    #[cfg(test)]
    pub(super) fn send_raw(&self, data: &[u8]) -> io::Result<()> {
        send(&self.fd, data)
    }

    /// Stops sending: the peer reads EOF but may still send, as when the
    /// runtime dies after the peer's request went out.
    #[cfg(test)]
    pub(super) fn close_write(&self) {
        close_write(&self.fd);
    }
}

impl InitEnd {
    pub fn as_raw_fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }

    /// Sends this process's log records to the runtime (crate::log): the
    /// first thing a child does. The fd stays valid as long as it may be
    /// used: the child never drops its end before it execs or exits, and
    /// calls `log::silence` before the runtime stops reading (Detached) and
    /// before a seccomp filter may refuse the send. A record that cannot be
    /// sent is dropped.
    pub fn forward_logs(&self) {
        let fd = self.0.as_raw_fd();
        crate::log::forward(Box::new(move |level, text| {
            let mut end = text.len().min(MAX_MSG - 2);
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            let data = FromInit::Log(level, text[..end].to_string()).encode();
            let _ = nix::sys::socket::send(fd, &data, MsgFlags::MSG_NOSIGNAL);
        }));
    }

    /// Sends `m` (`Seccomp` with its fd attached, which is closed here once
    /// sent).
    pub fn send(&self, m: FromInit) -> Result<(), SyncError> {
        let data = m.encode();
        match m {
            FromInit::Seccomp(fd) => {
                crate::sys::scm::send_with_fds(self.0.as_fd(), &data, &[fd.as_fd()])
                    .map_err(SyncError::io("send the seccomp listener fd to the runtime"))
            }
            FromInit::Reborn(fd, _) => {
                crate::sys::scm::send_with_fds(self.0.as_fd(), &data, &[fd.as_fd()])
                    .map_err(SyncError::io("send the init's pidfd to the runtime"))
            }
            _ => send(&self.0, &data).map_err(SyncError::io("sync with runtime")),
        }
    }

    /// Sends `m` and waits for the reply it calls for. The runtime never
    /// closes its end while a reply is due, so EOF here is an error.
    pub fn request(&self, m: FromInit) -> Result<(), SyncError> {
        let Some(want) = m.reply() else {
            return self.send(m);
        };
        self.send(m)?;
        self.wait_for(want)
    }

    /// Waits for `want`: a reply, or `Placed`, which the runtime sends
    /// unasked.
    pub fn wait_for(&self, want: ToInit) -> Result<(), SyncError> {
        match self.recv()? {
            Some(got) if got == want => Ok(()),
            Some(got) => Err(SyncError::Unexpected {
                peer: Peer::Runtime,
                expected: want.kind().name(),
                got: got.kind(),
            }),
            None => Err(SyncError::Eof {
                waiting_for: want.kind(),
            }),
        }
    }

    /// The next reply; `None` when the runtime closed its end.
    pub(super) fn recv(&self) -> Result<Option<ToInit>, SyncError> {
        let mut buf = [0u8; 64];
        let n = loop {
            match nix::unistd::read(&self.0, &mut buf) {
                Ok(n) => break n,
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(SyncError::io("sync with runtime")(e.into())),
            }
        };
        if n == 0 {
            return Ok(None);
        }
        ToInit::decode(&buf[..n]).map(Some)
    }

    /// Sends raw bytes and fds, for tests that play a broken init.
    #[cfg(test)]
    pub(super) fn send_raw(&self, data: &[u8], fds: &[std::os::fd::BorrowedFd]) -> io::Result<()> {
        crate::sys::scm::send_with_fds(self.0.as_fd(), data, fds)
    }

    /// Stops sending: the runtime reads EOF but may still send, as when the
    /// init dies (or execs) after the runtime's reply went out.
    #[cfg(test)]
    pub(super) fn close_write(&self) {
        close_write(&self.0);
    }
}

#[cfg(test)]
fn close_write(fd: &OwnedFd) {
    nix::sys::socket::shutdown(fd.as_raw_fd(), nix::sys::socket::Shutdown::Write)
        .expect("shutdown(SHUT_WR) of a connected socket");
}
