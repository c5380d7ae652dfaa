//! `process.terminal` with `--console-socket` (DESIGN §4): the pty comes
//! from the container's own devpts, the master goes to the caller's socket.
//!
//! The runtime connects to the console socket (a host path) before clone.
//! After pivot_root the process opens the container's /dev/ptmx, checks it
//! is devpts, gets the peer with TIOCGPTPEER (never by path), applies
//! consoleSize, bind-mounts the peer onto /dev/console by fd (the init
//! only), sends the master over the socket, and makes the peer its
//! controlling terminal and stdio.

use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

use nix::sys::statfs::{fstatfs, DEVPTS_SUPER_MAGIC};
use oci_spec::runtime::Process;

use crate::error::{Context, Error, Result};
use crate::rootfs::resolve::{Kind, RootDir};
use crate::sys::{tty, TreeFd};

/// Checks the terminal flags against the process, with runc's rules and
/// messages: a console socket needs a terminal and a detached caller, and a
/// detached terminal needs a console socket.
pub fn check(p: &Process, socket: Option<&Path>, detach: bool) -> Result<()> {
    match (p.terminal() == Some(true), socket.is_some(), detach) {
        (false, true, _) | (true, true, false) => Err(Error::config(
            "cannot use console socket if berth will not detach or allocate tty",
        )),
        (true, false, true) => Err(Error::config(
            "cannot allocate tty if berth will detach without setting console socket",
        )),
        (true, false, false) => Err(Error::config(
            "process.terminal: relaying a terminal without --console-socket (foreground run/exec) is not implemented yet",
        )),
        _ => Ok(()),
    }
}

/// Connects to the caller's console socket (in the runtime's namespaces).
pub fn connect(path: &Path) -> Result<OwnedFd> {
    let s = UnixStream::connect(path)
        .ctx(|| format!("connect to console socket {}", path.display()))?;
    Ok(s.into())
}

/// Sets up the terminal of the calling process, already inside the
/// container's root. `console` also mounts it on /dev/console.
pub fn setup(socket: &OwnedFd, p: &Process, console: bool) -> Result<()> {
    let root = RootDir::open(Path::new("/"))?;
    let master = root
        .open_in(Path::new("/dev/ptmx"), libc::O_RDWR | libc::O_NOCTTY)
        .ctx(|| "open /dev/ptmx in the container".into())?;
    let fs = fstatfs(&master).ctx(|| "fstatfs /dev/ptmx".into())?;
    if fs.filesystem_type() != DEVPTS_SUPER_MAGIC {
        return Err(Error::msg("/dev/ptmx in the container is not on devpts"));
    }
    let (peer, n) = tty::open_peer(&master).ctx(|| "open the pty peer".into())?;
    if let Some(size) = p.console_size() {
        tty::set_size(&peer, size.height() as u16, size.width() as u16)
            .ctx(|| "set consoleSize".into())?;
    }
    if console {
        let target = root.ensure(Path::new("/dev/console"), Kind::File)?;
        let tree = TreeFd::clone_fd(peer.as_raw_fd(), false)
            .ctx(|| "bind the pty to /dev/console".into())?;
        tree.move_to(target.as_raw_fd())
            .ctx(|| "bind the pty to /dev/console".into())?;
    }
    tty::send_fd(socket, master.as_raw_fd(), &format!("/dev/pts/{n}"))
        .ctx(|| "send the pty master to the console socket".into())?;
    drop(master);
    tty::make_controlling_stdio(&peer).ctx(|| "make the pty the controlling terminal".into())
}
