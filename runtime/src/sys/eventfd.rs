//! `eventfd(2)` (for cgroup v1 OOM notifications) and a blocking-with-timeout
//! read of its counter.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use super::check;

/// A new non-blocking, close-on-exec eventfd with counter 0.
pub fn eventfd() -> io::Result<OwnedFd> {
    // SAFETY: eventfd takes two integers; no memory of ours is involved.
    let ret = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
    let fd = check(ret as libc::c_long)? as RawFd;
    // SAFETY: a non-negative return is a new fd the kernel just installed
    // for us; nothing else refers to it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Reads and resets the counter of a non-blocking eventfd; 0 when nothing
/// was signalled.
pub fn read_counter(fd: BorrowedFd) -> io::Result<u64> {
    let mut buf = [0u8; 8];
    // SAFETY: the kernel writes at most `buf.len()` (8) bytes into `buf`, a
    // live local we hold mutably; `fd` is borrowed, so open.
    let ret = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
    if ret < 0 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::EAGAIN) {
            return Ok(0);
        }
        return Err(e);
    }
    Ok(u64::from_ne_bytes(buf))
}

/// Waits up to `timeout_ms` (-1: forever) for `events` on `fd`. Returns the
/// revents (0 on timeout).
pub fn poll_one(
    fd: BorrowedFd,
    events: libc::c_short,
    timeout_ms: i32,
) -> io::Result<libc::c_short> {
    let mut pfd = libc::pollfd {
        fd: fd.as_raw_fd(),
        events,
        revents: 0,
    };
    loop {
        // SAFETY: the kernel reads and writes (revents) exactly one pollfd,
        // `pfd`, a live local we hold mutably.
        let ret = unsafe { libc::poll(&mut pfd, 1, timeout_ms) };
        if ret < 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return Err(e);
        }
        return Ok(if ret == 0 { 0 } else { pfd.revents });
    }
}
