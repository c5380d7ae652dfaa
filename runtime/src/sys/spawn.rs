//! `clone3(2)` with fork semantics: the container init is born here, already
//! inside its new namespaces (and, later, its cgroup).

use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

use super::pidfd::PidFd;

/// CLONE_INTO_CGROUP (libc declares it with a type too narrow for clone3).
const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// Which side of the clone we are on.
#[derive(Debug)]
pub enum Forked {
    Child,
    Parent { pid: i32, pidfd: PidFd },
}

/// Forks with `clone3`, creating the namespaces in `flags` (CLONE_NEW*) and
/// returning a pidfd for the child. `cgroup` places the child in that cgroup
/// v2 directory (CLONE_INTO_CGROUP).
///
/// The caller must be single-threaded: berth never starts threads (docs/architecture.md §2),
/// so the child's copy of the address space holds no lock another thread
/// owned, and it may run ordinary Rust code until it execs or exits.
pub fn clone3(flags: u64, cgroup: Option<RawFd>) -> io::Result<Forked> {
    let mut pidfd: libc::c_int = -1;
    let mut args = CloneArgs {
        flags: flags | libc::CLONE_PIDFD as u64,
        pidfd: &mut pidfd as *mut libc::c_int as u64,
        exit_signal: libc::SIGCHLD as u64,
        ..CloneArgs::default()
    };
    if let Some(fd) = cgroup {
        args.flags |= CLONE_INTO_CGROUP;
        args.cgroup = fd as u64;
    }
    // SAFETY: without CLONE_VM this is fork(2): the child gets a private copy
    // of our memory and continues on this stack. `args` and `pidfd` outlive
    // the call. The process is single-threaded (see above), so the child may
    // keep running Rust code.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &mut args as *mut CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    match ret {
        r if r < 0 => Err(io::Error::last_os_error()),
        0 => Ok(Forked::Child),
        pid => {
            // SAFETY: CLONE_PIDFD made the kernel store a new fd in `pidfd`.
            let fd = unsafe { OwnedFd::from_raw_fd(pidfd) };
            Ok(Forked::Parent {
                pid: pid as i32,
                pidfd: PidFd::from_owned(fd),
            })
        }
    }
}
