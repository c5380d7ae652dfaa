//! Thin wrappers over the few raw syscalls the runner needs.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

fn check(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// Become the reaper of every orphan below us (container inits, hook children).
pub fn set_child_subreaper() -> io::Result<()> {
    // SAFETY: prctl with integer arguments only.
    check(unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) }).map(|_| ())
}

pub enum Forked {
    Child,
    Parent(libc::pid_t),
}

/// fork(2). The runner is single-threaded, so the child may run Rust code.
pub fn fork() -> io::Result<Forked> {
    // SAFETY: the process is single-threaded at every call site.
    let pid = check(unsafe { libc::fork() })?;
    Ok(if pid == 0 {
        Forked::Child
    } else {
        Forked::Parent(pid)
    })
}

/// Put the calling process into a new process group of its own.
pub fn new_process_group() -> io::Result<()> {
    // SAFETY: setpgid on ourselves.
    check(unsafe { libc::setpgid(0, 0) }).map(|_| ())
}

/// Reap any child without blocking: Some((pid, status)) or None.
pub fn reap_any() -> Option<(libc::pid_t, libc::c_int)> {
    let mut status = 0;
    // SAFETY: waitpid writes into a local.
    let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
    if pid > 0 {
        Some((pid, status))
    } else {
        None
    }
}

/// Exit code of a wait status, 128+signal for a signalled process.
pub fn exit_code(status: libc::c_int) -> i32 {
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else if libc::WIFSIGNALED(status) {
        128 + libc::WTERMSIG(status)
    } else {
        -1
    }
}

/// kill(2); errors (e.g. ESRCH) are ignored by callers that only tidy up.
pub fn kill(pid: libc::pid_t, sig: libc::c_int) -> io::Result<()> {
    // SAFETY: plain signal delivery.
    check(unsafe { libc::kill(pid, sig) }).map(|_| ())
}

/// Lazily detach the mount at `path`.
pub fn umount_detach(path: &Path) -> io::Result<()> {
    let c = CString::new(path.as_os_str().as_bytes()).map_err(io::Error::other)?;
    // SAFETY: umount2 with a valid C string.
    check(unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) }).map(|_| ())
}

/// Terminate the current (forked) process immediately.
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit never returns and skips the parent's atexit state.
    unsafe { libc::_exit(code) }
}
