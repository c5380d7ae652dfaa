//! `process.terminal`: the pty comes from the container's own devpts
//! (docs/architecture.md §10) and its master goes either to the caller's console socket
//! (`--console-socket`) or, for a foreground `run`/`exec`, back to berth,
//! which relays it to its own stdio (`relay`), as runc does.
//!
//! The runtime connects to the console socket (a host path), or makes a
//! socketpair, before clone. After pivot_root the process opens the
//! container's /dev/ptmx, checks it is devpts, gets the peer with
//! TIOCGPTPEER (never by path), chowns it to the process's uid, applies
//! consoleSize, bind-mounts the peer onto /dev/console by fd (the init
//! only), sends the master over the socket, and makes the peer its
//! controlling terminal and stdio.

pub mod relay;

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

use nix::sys::statfs::{fstatfs, DEVPTS_SUPER_MAGIC};
use oci_spec::runtime::Process;

use crate::error::{Context, Error, Result};
use crate::rootfs::resolve::{Kind, RootDir};
use crate::sys::{tty, TreeFd};

/// Where the pty master of a process with a terminal goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode<'a> {
    /// No terminal.
    None,
    /// To the caller's console socket.
    Socket(&'a Path),
    /// Back to berth, which relays it (foreground run/exec).
    Relay,
}

/// Checks the terminal flags against the process, with runc's rules and
/// messages: a console socket needs a terminal and a detached caller, and a
/// detached terminal needs a console socket; a foreground terminal is
/// relayed.
pub fn mode<'a>(p: &Process, socket: Option<&'a Path>, detach: bool) -> Result<Mode<'a>> {
    match (p.terminal() == Some(true), socket, detach) {
        (false, Some(_), _) | (true, Some(_), false) => Err(Error::config(
            "cannot use console socket if berth will not detach or allocate tty",
        )),
        (true, None, true) => Err(Error::config(
            "cannot allocate tty if berth will detach without setting console socket",
        )),
        (true, None, false) => Ok(Mode::Relay),
        (true, Some(s), true) => Ok(Mode::Socket(s)),
        (false, None, _) => Ok(Mode::None),
    }
}

/// The socket the process sends its pty master over (in the runtime's
/// namespaces, inherited through the fork).
#[derive(Debug)]
pub struct ConsoleSocket {
    fd: OwnedFd,
    /// berth relays the master itself: the pty gets `-onlcr` first, since
    /// the host terminal does that translation (runc's ClearONLCR).
    relay: bool,
}

/// The process's end of the console socket and, for `Mode::Relay`, ours
/// (to receive the master from once the process has sent it).
pub fn sockets(mode: Mode) -> Result<(Option<ConsoleSocket>, Option<OwnedFd>)> {
    match mode {
        Mode::None => Ok((None, None)),
        Mode::Socket(path) => {
            let s = UnixStream::connect(path)
                .ctx(|| format!("connect to console socket {}", path.display()))?;
            let fd = s.into();
            Ok((Some(ConsoleSocket { fd, relay: false }), None))
        }
        Mode::Relay => {
            let (ours, theirs) = UnixStream::pair().ctx(|| "console socketpair".into())?;
            let theirs = ConsoleSocket {
                fd: theirs.into(),
                relay: true,
            };
            Ok((Some(theirs), Some(ours.into())))
        }
    }
}

/// The pty master the process sent on our end of the socketpair.
pub fn receive_master(ours: &OwnedFd) -> Result<OwnedFd> {
    tty::recv_fd(ours.as_fd()).ctx(|| "receive the pty master from the container".into())
}

/// Gives the pty peer to the process's user, as runc does for a process's
/// stdio (init and exec): the uid only, the group stays the one devpts gives
/// (`tty`, gid 5, with the usual `gid=5` mount option). Like runc, EPERM and
/// EROFS leave the peer as it is.
fn own_peer(peer: &OwnedFd, uid: u32) -> Result<()> {
    match nix::unistd::fchown(peer, Some(nix::unistd::Uid::from_raw(uid)), None) {
        Err(nix::errno::Errno::EPERM | nix::errno::Errno::EROFS) | Ok(()) => Ok(()),
        Err(e) => Err(e).ctx(|| format!("chown the pty peer to uid {uid}")),
    }
}

/// The mount target for the pty at /dev/console (made if missing).
///
/// CVE-2025-52565: the image's /dev/console may be a symlink, and binding
/// the pty through it would cover whatever it leads to in the container
/// (a file of the image, a procfs file the masks or read-only paths have
/// already dealt with). The last component is therefore never followed (a
/// symlink in /dev's own path still resolves inside the rootfs), and a link
/// there refuses the config, as current runc does (it opens the target
/// with O_NOFOLLOW: ELOOP; runc 1.1 followed the link, truncating and
/// covering its target).
fn console_target(root: &RootDir) -> Result<OwnedFd> {
    let target = root.ensure_nofollow(Path::new("/dev/console"), Kind::File)?;
    let st = nix::sys::stat::fstat(&target).ctx(|| "stat /dev/console".into())?;
    if st.st_mode & libc::S_IFMT == libc::S_IFLNK {
        return Err(Error::msg(
            "create /dev/console mount target: open /dev/console: too many levels of symbolic links",
        ));
    }
    Ok(target)
}

/// Sets up the terminal of the calling process, already inside the
/// container's root. `console` also mounts it on /dev/console.
pub fn setup(socket: &ConsoleSocket, p: &Process, console: bool) -> Result<()> {
    let root = RootDir::open(Path::new("/"))?;
    let master = root
        .open_in(Path::new("/dev/ptmx"), libc::O_RDWR | libc::O_NOCTTY)
        .ctx(|| "open /dev/ptmx in the container".into())?;
    let fs = fstatfs(&master).ctx(|| "fstatfs /dev/ptmx".into())?;
    if fs.filesystem_type() != DEVPTS_SUPER_MAGIC {
        return Err(Error::msg("/dev/ptmx in the container is not on devpts"));
    }
    let (peer, n) = tty::open_peer(&master).ctx(|| "open the pty peer".into())?;
    own_peer(&peer, p.user().uid())?;
    if let Some(size) = p.console_size() {
        tty::set_size(&peer, size.height() as u16, size.width() as u16)
            .ctx(|| "set consoleSize".into())?;
    }
    if console {
        let target = console_target(&root)?;
        let tree = TreeFd::clone_fd(peer.as_raw_fd(), false)
            .ctx(|| "bind the pty to /dev/console".into())?;
        tree.move_to(target.as_raw_fd())
            .ctx(|| "bind the pty to /dev/console".into())?;
    }
    if socket.relay {
        tty::set_onlcr(&master, false).ctx(|| "clear onlcr on the pty".into())?;
    }
    tty::send_fd(&socket.fd, master.as_raw_fd(), &format!("/dev/pts/{n}"))
        .ctx(|| "send the pty master to the console socket".into())?;
    drop(master);
    tty::make_controlling_stdio(&peer).ctx(|| "make the pty the controlling terminal".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn console_target_refuses_a_symlink() {
        let base = std::env::temp_dir().join(format!("berth-console-{}", std::process::id()));
        let (linked, plain) = (base.join("linked"), base.join("plain"));
        std::fs::create_dir_all(linked.join("dev")).unwrap();
        std::fs::create_dir_all(plain.join("dev")).unwrap();
        std::fs::write(linked.join("decoy"), "x").unwrap();
        std::os::unix::fs::symlink("/decoy", linked.join("dev/console")).unwrap();
        let e = console_target(&RootDir::open(&linked).unwrap()).unwrap_err();
        assert!(
            e.to_string().contains("create /dev/console mount target"),
            "{e}"
        );
        assert_eq!(std::fs::read_to_string(linked.join("decoy")).unwrap(), "x");
        // A missing /dev/console is made, as a file.
        console_target(&RootDir::open(&plain).unwrap()).unwrap();
        assert!(plain.join("dev/console").is_file());
        std::fs::remove_dir_all(&base).unwrap();
    }
}
