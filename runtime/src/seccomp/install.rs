//! Loading a program into the kernel for the calling thread.

use std::os::fd::{FromRawFd, OwnedFd};

use super::{Program, SeccompError};

/// Loads `program` with `seccomp(SECCOMP_SET_MODE_FILTER, program.flags, ..)`.
///
/// The caller must hold CAP_SYS_ADMIN or have set no_new_privs. Returns the
/// user-notification listener fd when the program has NOTIFY rules. Does not
/// allocate, so it is safe in a child forked from a threaded process.
pub fn install(program: &Program) -> Result<Option<OwnedFd>, SeccompError> {
    let flags = program.flags;
    let Ok(len) = u16::try_from(program.filter.len()) else {
        return Err(SeccompError::TooLong {
            len: program.filter.len(),
        });
    };
    let fprog = libc::sock_fprog {
        len,
        // `Insn` is `#[repr(C)]` with the same fields, size and alignment as
        // `struct sock_filter` (asserted at compile time in bpf.rs).
        filter: program.filter.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: `fprog` points at `len` valid instructions that outlive the call;
    // the kernel copies the filter and does not keep the pointer.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            libc::c_ulong::from(flags),
            &fprog as *const libc::sock_fprog,
        )
    };
    if ret < 0 {
        return Err(SeccompError::Install {
            flags,
            source: std::io::Error::last_os_error(),
        });
    }
    if !program.notify {
        return Ok(None);
    }
    let Ok(fd) = i32::try_from(ret) else {
        return Err(SeccompError::Internal(format!("seccomp returned fd {ret}")));
    };
    // SAFETY: with SECCOMP_FILTER_FLAG_NEW_LISTENER the kernel returns a new
    // fd that nothing else owns.
    Ok(Some(unsafe { OwnedFd::from_raw_fd(fd) }))
}
