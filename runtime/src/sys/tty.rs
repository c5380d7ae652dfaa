//! Pseudo-terminal ioctls and fd passing over a unix socket.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use nix::sys::socket::{recvmsg, sendmsg, ControlMessage, ControlMessageOwned, MsgFlags};

fn ioctl_ret(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// Unlocks the pty behind `master` and returns (peer fd, pts number).
pub fn open_peer(master: &OwnedFd) -> io::Result<(OwnedFd, u32)> {
    let unlock: libc::c_int = 0;
    // SAFETY: TIOCSPTLCK reads one int from `unlock`, a live local.
    ioctl_ret(unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSPTLCK, &unlock) })?;
    let mut n: libc::c_uint = 0;
    // SAFETY: TIOCGPTN writes one unsigned int into `n`, a live local we
    // hold mutably.
    ioctl_ret(unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCGPTN, &mut n) })?;
    let flags = libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC;
    // SAFETY: TIOCGPTPEER takes the open flags as a number, not a pointer.
    let fd = ioctl_ret(unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCGPTPEER, flags) })?;
    // SAFETY: a non-negative return of TIOCGPTPEER is a new fd the kernel
    // just installed for us; nothing else refers to it.
    Ok((unsafe { OwnedFd::from_raw_fd(fd) }, n))
}

/// TIOCSWINSZ.
pub fn set_size(fd: &OwnedFd, rows: u16, cols: u16) -> io::Result<()> {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads one winsize from `ws`, a live local.
    ioctl_ret(unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSWINSZ, &ws) }).map(|_| ())
}

/// Makes `fd` the controlling terminal of a new session (setsid +
/// TIOCSCTTY) and the process's stdin, stdout and stderr.
pub fn make_controlling_stdio(fd: &OwnedFd) -> io::Result<()> {
    nix::unistd::setsid().map_err(io::Error::from)?;
    // SAFETY: TIOCSCTTY takes the number 0 (do not steal), no pointer.
    ioctl_ret(unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSCTTY, 0) })?;
    for target in 0..3 {
        // SAFETY: no pointers. Fds 0-2 belong to no object of ours (std
        // opens /dev/null on any of them closed at startup, so nothing we
        // open gets those numbers; std's stdio handles use them by number
        // and tolerate replacement), and dup2 replaces each atomically.
        ioctl_ret(unsafe { libc::dup2(fd.as_raw_fd(), target) })?;
    }
    Ok(())
}

/// Sends `fd` over the unix socket `sock` with SCM_RIGHTS and `name` as the
/// message body, as runc does (containerd's shim and conmon read it so).
pub fn send_fd(sock: &OwnedFd, fd: RawFd, name: &str) -> io::Result<()> {
    let fds = [fd];
    let iov = [io::IoSlice::new(name.as_bytes())];
    let cmsg = [ControlMessage::ScmRights(&fds)];
    sendmsg::<()>(sock.as_raw_fd(), &iov, &cmsg, MsgFlags::empty(), None)
        .map(|_| ())
        .map_err(io::Error::from)
}

/// TIOCGWINSZ: (rows, cols) of the terminal behind `fd`.
pub fn get_size(fd: BorrowedFd) -> io::Result<(u16, u16)> {
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one winsize into `ws`, a live local we hold
    // mutably.
    ioctl_ret(unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCGWINSZ, &mut ws) })?;
    Ok((ws.ws_row, ws.ws_col))
}

/// Receives one fd sent with SCM_RIGHTS on `sock` (close-on-exec), without
/// blocking: the sender has sent it before we are called.
pub fn recv_fd(sock: BorrowedFd) -> io::Result<OwnedFd> {
    let mut buf = [0u8; 256];
    let mut iov = [io::IoSliceMut::new(&mut buf)];
    let mut cmsg = nix::cmsg_space!([RawFd; 1]);
    let msg = recvmsg::<()>(
        sock.as_raw_fd(),
        &mut iov,
        Some(&mut cmsg),
        MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .map_err(io::Error::from)?;
    for c in msg.cmsgs().map_err(io::Error::from)? {
        if let ControlMessageOwned::ScmRights(fds) = c {
            let mut owned = fds.into_iter().map(|fd| {
                // SAFETY: the kernel installed these fds in this process while
                // receiving this message, and only this loop has seen their
                // numbers: nothing else refers to them.
                unsafe { OwnedFd::from_raw_fd(fd) }
            });
            if let Some(first) = owned.next() {
                return Ok(first);
            }
        }
    }
    Err(io::Error::new(
        io::ErrorKind::InvalidData,
        "no file descriptor in the message",
    ))
}

/// Sets or clears ONLCR (output NL → CR NL) on the terminal behind `fd`.
pub fn set_onlcr(fd: &OwnedFd, on: bool) -> io::Result<()> {
    use nix::sys::termios::{tcgetattr, tcsetattr, OutputFlags, SetArg};
    let mut t = tcgetattr(fd).map_err(io::Error::from)?;
    t.output_flags.set(OutputFlags::ONLCR, on);
    tcsetattr(fd, SetArg::TCSANOW, &t).map_err(io::Error::from)
}
