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
pub mod spawn;

pub use fd::{close_range_cloexec, open_host, openat2, ResolveMode};
pub use mount_api::{FsContext, MountAttrs, TreeFd};
pub use pidfd::PidFd;

use std::io;

/// Converts a raw syscall return value into an `io::Result`.
pub(crate) fn check(ret: libc::c_long) -> io::Result<libc::c_long> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}
