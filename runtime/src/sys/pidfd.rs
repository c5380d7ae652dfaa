//! Process file descriptors: race-free signalling and waiting.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use super::check;

/// An owned pidfd.
#[derive(Debug)]
pub struct PidFd(OwnedFd);

/// How a waited-for process ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitStatus {
    Exited(i32),
    Signaled(i32),
}

impl ExitStatus {
    /// The shell convention: the exit code, or 128 + signal number.
    pub fn code(self) -> i32 {
        match self {
            ExitStatus::Exited(c) => c,
            ExitStatus::Signaled(s) => 128 + s,
        }
    }
}

impl PidFd {
    /// `pidfd_open(2)` for `pid`.
    pub fn open(pid: i32) -> io::Result<PidFd> {
        // SAFETY: pidfd_open takes two integers; no memory of ours is
        // involved.
        let ret = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        let fd = check(ret)? as RawFd;
        // SAFETY: a non-negative return is a new fd the kernel just
        // installed for us; nothing else refers to it.
        Ok(PidFd(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    /// Wraps a pidfd obtained from `clone3(CLONE_PIDFD)`.
    pub fn into_owned(self) -> OwnedFd {
        self.0
    }

    pub fn from_owned(fd: OwnedFd) -> PidFd {
        PidFd(fd)
    }

    /// `pidfd_send_signal(2)`.
    pub fn signal(&self, sig: i32) -> io::Result<()> {
        // SAFETY: the only pointer is a NULL siginfo, which the kernel takes
        // as "like kill(2)"; the fd is ours (borrowed through `self`).
        let ret = unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                self.0.as_raw_fd(),
                sig,
                std::ptr::null::<libc::siginfo_t>(),
                0,
            )
        };
        check(ret).map(|_| ())
    }

    /// Reaps the process (it must be our child) and returns how it ended.
    pub fn wait(&self) -> io::Result<ExitStatus> {
        loop {
            // SAFETY: siginfo_t is integers, padding and a union of integers
            // and pointers: all-zero bytes are a valid value.
            let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
            // SAFETY: the kernel writes one siginfo_t into `info`, a live
            // local we hold mutably; P_PIDFD takes our fd as the id.
            let ret = unsafe {
                libc::waitid(
                    libc::P_PIDFD,
                    self.0.as_raw_fd() as libc::id_t,
                    &mut info,
                    libc::WEXITED,
                )
            };
            if ret < 0 {
                let e = io::Error::last_os_error();
                if e.raw_os_error() == Some(libc::EINTR) {
                    continue;
                }
                return Err(e);
            }
            // SAFETY: waitid succeeded with WEXITED (and without WNOHANG),
            // so the kernel filled in the child fields of the union, which
            // si_status reads; every byte was initialised anyway (zeroed).
            let status = unsafe { info.si_status() };
            return Ok(if info.si_code == libc::CLD_EXITED {
                ExitStatus::Exited(status)
            } else {
                ExitStatus::Signaled(status)
            });
        }
    }

    /// Waits up to `timeout_ms` (-1: forever) for the process to exit, without
    /// reaping it. Returns true when it has exited.
    pub fn wait_exit_timeout(&self, timeout_ms: i32) -> io::Result<bool> {
        let mut fds = [super::pollin(self.0.as_raw_fd())];
        Ok(super::poll(&mut fds, timeout_ms)? > 0)
    }
}

impl AsFd for PidFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

impl AsRawFd for PidFd {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}
