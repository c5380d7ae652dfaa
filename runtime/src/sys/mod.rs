//! Thin, safe wrappers over the Linux system calls that neither `nix` nor
//! `std` expose. This is the only module that contains `unsafe` code; every
//! block states why it is sound.

pub mod bpf;
pub mod eventfd;
pub mod exec;
pub mod fd;
pub mod keyring;
pub mod mount_api;
pub mod pidfd;
pub mod proc;
pub mod scm;
pub mod spawn;
pub mod tty;

pub use fd::{close_range_cloexec, open_host, openat2, ResolveMode};
pub use mount_api::{FsContext, MountAttrs, TreeFd};
pub use pidfd::PidFd;

use std::io;

/// `poll(2)` over `fds`, retried on EINTR; returns how many are ready.
/// `timeout_ms` of -1 waits forever.
pub fn poll(fds: &mut [libc::pollfd], timeout_ms: i32) -> io::Result<usize> {
    loop {
        // SAFETY: `fds` is a valid slice of pollfds of the length we pass.
        let r = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) };
        if r >= 0 {
            return Ok(r as usize);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// A pollfd waiting for input on `fd`.
pub fn pollin(fd: std::os::fd::RawFd) -> libc::pollfd {
    libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    }
}

/// Converts a raw syscall return value into an `io::Result`.
pub(crate) fn check(ret: libc::c_long) -> io::Result<libc::c_long> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}
