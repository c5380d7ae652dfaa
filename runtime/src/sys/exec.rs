//! execve/execveat wrappers and signal state reset before exec.

use std::ffi::CString;
use std::io;
use std::os::fd::RawFd;

/// `execveat(fd, "", argv, envp, AT_EMPTY_PATH)`: runs the file `fd` refers
/// to. Returns only on failure.
pub fn execveat_fd(fd: RawFd, argv: &[CString], envp: &[CString]) -> io::Error {
    let mut a: Vec<*const libc::c_char> = argv.iter().map(|s| s.as_ptr()).collect();
    a.push(std::ptr::null());
    let mut e: Vec<*const libc::c_char> = envp.iter().map(|s| s.as_ptr()).collect();
    e.push(std::ptr::null());
    // SAFETY: argv/envp are NULL-terminated arrays of pointers into CStrings
    // that outlive the call; on success the call does not return.
    unsafe {
        libc::syscall(
            libc::SYS_execveat,
            fd,
            c"".as_ptr(),
            a.as_ptr(),
            e.as_ptr(),
            libc::AT_EMPTY_PATH,
        )
    };
    io::Error::last_os_error()
}

/// Restores default dispositions for every catchable signal, so the payload
/// does not inherit the caller's ignored signals.
pub fn reset_signal_dispositions() {
    for sig in 1..libc::SIGRTMIN() {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        // SAFETY: installing SIG_DFL involves no handler code and is
        // async-signal-safe; the process is single-threaded.
        unsafe { libc::signal(sig, libc::SIG_DFL) };
    }
}
