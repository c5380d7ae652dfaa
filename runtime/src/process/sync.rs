//! The create-time channel between the runtime and the container's init: a
//! SOCK_SEQPACKET socketpair, one message per packet.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};

/// A message on the sync channel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Msg {
    /// init → runtime: mounts are done; run prestart/createRuntime hooks.
    Hooks,
    /// runtime → init: hooks ran.
    HooksDone,
    /// init → runtime: setup is complete; about to wait for `start`.
    Ready,
    /// runtime → init: state is saved; you may outlive me.
    Ack,
    /// init → runtime: no longer tied to the runtime's life (PDEATHSIG off).
    Detached,
    /// init → runtime: the seccomp listener fd is attached (SCM_RIGHTS);
    /// hand it to the agent at `linux.seccomp.listenerPath`.
    Seccomp,
    /// runtime → init: the agent has the listener fd.
    SeccompDone,
    /// init → runtime: setup failed with this message.
    Error(String),
}

impl Msg {
    fn encode(&self) -> Vec<u8> {
        match self {
            Msg::Hooks => vec![b'H'],
            Msg::HooksDone => vec![b'h'],
            Msg::Ready => vec![b'R'],
            Msg::Ack => vec![b'A'],
            Msg::Detached => vec![b'D'],
            Msg::Seccomp => vec![b'S'],
            Msg::SeccompDone => vec![b's'],
            Msg::Error(m) => {
                let mut v = vec![b'E'];
                v.extend_from_slice(m.as_bytes());
                v
            }
        }
    }

    fn decode(b: &[u8]) -> Option<Msg> {
        Some(match *b.first()? {
            b'H' => Msg::Hooks,
            b'h' => Msg::HooksDone,
            b'R' => Msg::Ready,
            b'A' => Msg::Ack,
            b'D' => Msg::Detached,
            b'S' => Msg::Seccomp,
            b's' => Msg::SeccompDone,
            b'E' => Msg::Error(String::from_utf8_lossy(&b[1..]).into_owned()),
            _ => return None,
        })
    }
}

/// One end of the channel.
#[derive(Debug)]
pub struct Channel(OwnedFd);

impl Channel {
    pub fn as_raw_fd(&self) -> std::os::fd::RawFd {
        std::os::fd::AsRawFd::as_raw_fd(&self.0)
    }

    pub fn pair() -> io::Result<(Channel, Channel)> {
        let (a, b) = socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .map_err(io::Error::from)?;
        Ok((Channel(a), Channel(b)))
    }

    pub fn send(&self, m: &Msg) -> io::Result<()> {
        let data = m.encode();
        // MSG_NOSIGNAL: a vanished peer is an error, not a SIGPIPE.
        nix::sys::socket::send(
            self.0.as_raw_fd(),
            &data,
            nix::sys::socket::MsgFlags::MSG_NOSIGNAL,
        )
        .map(|_| ())
        .map_err(io::Error::from)
    }

    /// Sends `m` with `fd` attached (SCM_RIGHTS).
    pub fn send_fd(&self, m: &Msg, fd: BorrowedFd) -> io::Result<()> {
        crate::sys::scm::send_with_fds(self.0.as_fd(), &m.encode(), &[fd])
    }

    /// The next message and the fd attached to it, if any; `None` when the
    /// peer closed its end. More than one fd is a protocol error.
    pub fn recv_fd(&self) -> io::Result<Option<(Msg, Option<OwnedFd>)>> {
        let mut buf = vec![0u8; 65536];
        let (n, mut fds) = crate::sys::scm::recv_with_fds(self.0.as_fd(), &mut buf)?;
        if n == 0 && fds.is_empty() {
            return Ok(None);
        }
        if fds.len() > 1 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{} fds attached to one sync message", fds.len()),
            ));
        }
        Ok(Msg::decode(&buf[..n]).map(|m| (m, fds.pop())))
    }

    /// The next message; `None` when the peer closed its end.
    pub fn recv(&self) -> io::Result<Option<Msg>> {
        let mut buf = vec![0u8; 65536];
        loop {
            match nix::unistd::read(&self.0, &mut buf) {
                Ok(0) => return Ok(None),
                Ok(n) => return Ok(Msg::decode(&buf[..n])),
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let (a, b) = Channel::pair().unwrap();
        for m in [
            Msg::Hooks,
            Msg::HooksDone,
            Msg::Ready,
            Msg::Ack,
            Msg::Detached,
            Msg::Seccomp,
            Msg::SeccompDone,
            Msg::Error("boom: x".into()),
        ] {
            a.send(&m).unwrap();
            assert_eq!(b.recv().unwrap(), Some(m));
        }
        drop(a);
        assert_eq!(b.recv().unwrap(), None);
    }

    #[test]
    fn carries_an_fd() {
        let (a, b) = Channel::pair().unwrap();
        let file = std::fs::File::open("/proc/self/stat").unwrap();
        a.send_fd(&Msg::Seccomp, file.as_fd()).unwrap();
        let (m, fd) = b.recv_fd().unwrap().unwrap();
        assert_eq!(m, Msg::Seccomp);
        assert!(fd.is_some());
        a.send(&Msg::Ready).unwrap();
        assert_eq!(
            b.recv_fd().unwrap().map(|(m, f)| (m, f.is_none())),
            Some((Msg::Ready, true))
        );
        drop(a);
        assert!(b.recv_fd().unwrap().is_none());
    }
}
