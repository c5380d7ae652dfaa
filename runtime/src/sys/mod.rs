//! Thin, safe wrappers over the Linux system calls that neither `nix` nor
//! `std` expose. This is the only module of the library that contains
//! `unsafe` code (the crate denies the `unsafe_code` lint everywhere else,
//! see Cargo.toml; the binary's src/main.rs exports the C `main`);
//! every block states why it is sound. A wrapper that is sound only under a
//! condition Rust cannot check either checks it itself (`spawn::clone3`) or
//! is an `unsafe fn` whose callers are all in here.
#![allow(unsafe_code)]

pub mod bpf;
pub mod caps;
#[cfg(target_arch = "x86_64")]
pub mod entry;
pub mod eventfd;
pub mod exec;
pub mod fd;
pub mod keyring;
pub mod mount_api;
pub mod netdev;
pub mod pidfd;
pub mod prctl;
pub mod prlimit;
pub mod proc;
pub mod sched;
pub mod scm;
pub mod seccomp;
pub mod spawn;
pub mod startup;
pub mod statmount;
#[cfg(test)]
pub mod testing;
pub mod tty;
pub mod uts;

pub use fd::{close_range_cloexec, open_host, openat2, ResolveMode};
pub use mount_api::{FsContext, MountAttrs, TreeFd};
pub use pidfd::PidFd;

use std::io;

/// The effective uid this process was started with (the auxiliary
/// vector's AT_EUID), read without a system call; it is the euid as long as
/// the process has not changed its ids, which berth's own process never
/// does (only its children do).
pub fn exec_euid() -> u32 {
    // SAFETY: getauxval only reads the auxiliary vector the kernel placed
    // in this process's memory at exec (never changed afterwards); it takes
    // and returns plain integers, and AT_EUID is always present on Linux
    // (0, root, would only mean the checks for non-root are skipped).
    let v = unsafe { libc::getauxval(libc::AT_EUID) };
    u32::try_from(v).unwrap_or(u32::MAX)
}

/// `poll(2)` over `fds`, retried on EINTR; returns how many are ready.
/// `timeout_ms` of -1 waits forever.
pub fn poll(fds: &mut [libc::pollfd], timeout_ms: i32) -> io::Result<usize> {
    loop {
        // SAFETY: the kernel reads and writes (revents) exactly `fds.len()`
        // pollfds, the slice we hold mutably for the call.
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
