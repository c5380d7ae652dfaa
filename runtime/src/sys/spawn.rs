//! `clone3(2)` with fork semantics: the container init (and an exec'd
//! process) is born here, already inside its new namespaces and cgroup; and
//! what such a child does with what it inherited: closing the runtime's fds
//! and ending without running the runtime's exit path.
//!
//! A forked child runs ordinary Rust code (allocation, locks) until it execs.
//! That is sound only if the parent was single-threaded when it forked: a
//! lock held by another thread at that moment would stay locked forever in
//! the child, and state it was changing would stay half-changed. `clone3`
//! checks this itself, without a syscall (glibc's `__libc_single_threaded`),
//! so its callers need no `unsafe`.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicI8, Ordering};

use super::pidfd::PidFd;

/// CLONE_INTO_CGROUP (libc declares it with a type too narrow for clone3).
const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// The only flags a caller may ask for: new namespaces, and CLONE_PARENT
/// (the child is its grandparent's: the init made in a joined user
/// namespace stays the runtime's child). Anything else (CLONE_VM,
/// CLONE_THREAD, CLONE_SETTLS, ...) would make the child share our memory
/// or run on our stack, which fork semantics rule out.
const NAMESPACE_FLAGS: u64 = (libc::CLONE_PARENT
    | libc::CLONE_NEWNS
    | libc::CLONE_NEWCGROUP
    | libc::CLONE_NEWUTS
    | libc::CLONE_NEWIPC
    | libc::CLONE_NEWUSER
    | libc::CLONE_NEWPID
    | libc::CLONE_NEWNET
    | libc::CLONE_NEWTIME) as u64;

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

/// Set in the child right after the fork (its own copy of this memory); the
/// fd-closing functions below refuse to run anywhere else.
static IN_FORKED_CHILD: AtomicBool = AtomicBool::new(false);

extern "C" {
    /// glibc ≥ 2.32 (`<sys/single_threaded.h>`): non-zero while the process
    /// is certainly single-threaded; glibc clears it in `pthread_create`,
    /// before the new thread exists, and never sets it again.
    static __libc_single_threaded: libc::c_char;
}

/// Whether this process has never had a second thread. Reads one byte of
/// glibc's memory: no syscall, so it costs nothing on the create path.
fn single_threaded() -> bool {
    // SAFETY: `__libc_single_threaded` is a `char` glibc defines for the
    // whole life of the process; `AtomicI8` has the size and alignment of a
    // `char`. The only writer is `pthread_create`, and a concurrent one can
    // only exist once a second thread does, by which time the byte is
    // already 0 and is written 0 again: the load cannot see a torn value.
    let byte = unsafe { &*std::ptr::addr_of!(__libc_single_threaded).cast::<AtomicI8>() };
    byte.load(Ordering::Relaxed) != 0
}

/// Forks with `clone3`, creating the namespaces in `flags` (CLONE_NEW*
/// and CLONE_PARENT only) and returning a pidfd for the child. `cgroup` places the child in
/// that cgroup v2 directory (CLONE_INTO_CGROUP).
///
/// Fails with EINVAL for any flag other than CLONE_NEW*, and refuses to fork
/// a process that has ever had a second thread (berth never starts one;
/// docs/architecture.md §2).
pub fn clone3(flags: u64, cgroup: Option<RawFd>) -> io::Result<Forked> {
    if flags & !NAMESPACE_FLAGS != 0 {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    if !single_threaded() {
        return Err(io::Error::other(
            "refusing to fork a multi-threaded process",
        ));
    }
    let mut pidfd: libc::c_int = -1;
    let mut args = CloneArgs {
        flags: flags | libc::CLONE_PIDFD as u64,
        pidfd: &mut pidfd as *mut libc::c_int as u64,
        // With CLONE_PARENT the kernel takes the caller's own exit signal
        // and insists on 0 here.
        exit_signal: match flags & libc::CLONE_PARENT as u64 {
            0 => libc::SIGCHLD as u64,
            _ => 0,
        },
        ..CloneArgs::default()
    };
    if let Some(fd) = cgroup {
        args.flags |= CLONE_INTO_CGROUP;
        args.cgroup = fd as u64;
    }
    // SAFETY: the process is single-threaded (checked above) and the flags
    // hold nothing but CLONE_NEW*, CLONE_PARENT, CLONE_PIDFD and
    // CLONE_INTO_CGROUP (CLONE_PARENT changes only who is told of the exit): no
    // CLONE_VM, no stack, no TLS. So this is fork(2): the child gets a
    // private copy of our memory, consistent because no other thread was
    // changing it, and returns here on its copy of this stack. `args` and
    // `pidfd` are live locals; the kernel reads the one and writes the other
    // (in the parent) before returning.
    let ret = unsafe { raw_clone3(&mut args) };
    match ret {
        r if r < 0 => Err(io::Error::last_os_error()),
        0 => {
            IN_FORKED_CHILD.store(true, Ordering::Relaxed);
            Ok(Forked::Child)
        }
        pid => {
            // SAFETY: with CLONE_PIDFD, a successful clone3 stored a new fd
            // in `pidfd` in the parent; nothing else refers to it.
            let fd = unsafe { OwnedFd::from_raw_fd(pidfd) };
            Ok(Forked::Parent {
                pid: pid as i32,
                pidfd: PidFd::from_owned(fd),
            })
        }
    }
}

/// The raw `clone3` syscall.
///
/// # Safety
/// Without CLONE_VM the child runs on a copy of the caller's memory and
/// returns from this call as if it were the caller: the process must be
/// single-threaded (or the child must only make async-signal-safe calls
/// until it execs or exits). Flags that share memory, a stack or TLS with
/// the child must come with a stack and code that can run on it. Every
/// address in `args` must be valid for the kernel to read or write.
unsafe fn raw_clone3(args: &mut CloneArgs) -> libc::c_long {
    // SAFETY: forwarded to the caller (see above); `args` is a live
    // `struct clone_args` of the size we pass.
    unsafe {
        libc::syscall(
            libc::SYS_clone3,
            args as *mut CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    }
}

/// Ends the calling process at once with `code` (`_exit(2)`): no
/// destructors, no atexit handlers, no stdio flush. What a forked child
/// calls instead of returning into the runtime's code.
pub fn exit_now(code: i32) -> ! {
    // SAFETY: `_exit` takes an integer and ends the process; skipping
    // destructors only leaks, which is safe.
    unsafe { libc::_exit(code) }
}

fn forked_child_only() -> io::Result<()> {
    if IN_FORKED_CHILD.load(Ordering::Relaxed) {
        Ok(())
    } else {
        Err(io::Error::from_raw_os_error(libc::EPERM))
    }
}

/// In the container's init (the child of `clone3`): closes its copy of the
/// runtime's state-dir lock `fd`, so that the init does not hold the lock for
/// the container's whole life. Fails with EPERM outside a forked child.
pub fn close_runtime_lock(fd: RawFd) -> io::Result<()> {
    forked_child_only()?;
    // SAFETY: we are in a child of `clone3` (checked above). The one owner
    // of `fd` is the runtime's `ContainerDir`, in a stack frame of the fork's
    // caller that the child never returns to: `process::init::run` returns
    // `!` and ends in execve or `exit_now`, and berth's release build aborts
    // on panic, so that copy is never dropped or used in the child. The
    // parent's copy, which holds the lock, is not affected.
    unsafe { libc::close(fd) };
    Ok(())
}

/// In the container's init: closes every fd from `first` upwards except
/// `keep` (one `close_range(2)` per gap). Fails with EPERM outside a forked
/// child.
pub fn close_runtime_fds(first: u32, keep: &[RawFd]) -> io::Result<()> {
    forked_child_only()?;
    // SAFETY: we are in a child of `clone3` (checked above), called by
    // `process::init`, which never returns into the runtime's frames (`run`
    // returns `!`, ends in execve or `exit_now`; release builds abort on
    // panic): the runtime's objects whose fds close here are never dropped
    // or used again in this process. Of the init's own objects, every one it
    // uses from here on has its fd in `keep` (the sync channel, the exec
    // fifo's O_PATH fd, the procfs handle) or below `first` (stdio, the
    // preserved fds).
    unsafe { super::fd::close_all_except(first, keep) }
}
