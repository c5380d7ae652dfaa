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
    // SAFETY: the kernel only reads: "" and argv/envp, NULL-terminated arrays
    // of pointers into CStrings that outlive the call. On success this
    // process image is replaced and nothing of ours runs again; on failure
    // nothing changed.
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
        // SAFETY: SIG_DFL installs no handler, so no code of ours can be
        // made to run asynchronously; a default action can only end, stop or
        // ignore, never touch memory. No pointers are passed.
        unsafe { libc::signal(sig, libc::SIG_DFL) };
    }
}
