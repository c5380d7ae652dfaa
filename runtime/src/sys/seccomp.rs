//! `seccomp(SECCOMP_SET_MODE_FILTER)`: loading a classic BPF program for the
//! calling thread. The program's instruction type lives here because its
//! layout is the kernel's.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

/// One cBPF instruction, laid out exactly like the kernel's `struct
/// sock_filter`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Insn {
    pub code: u16,
    pub jt: u8,
    pub jf: u8,
    pub k: u32,
}

const _: () = assert!(std::mem::size_of::<Insn>() == std::mem::size_of::<libc::sock_filter>());
const _: () = assert!(std::mem::align_of::<Insn>() == std::mem::align_of::<libc::sock_filter>());

impl Insn {
    pub const fn new(code: u16, jt: u8, jf: u8, k: u32) -> Self {
        Insn { code, jt, jf, k }
    }
}

/// Loads `filter` with `seccomp(SECCOMP_SET_MODE_FILTER, flags, ..)`. With
/// SECCOMP_FILTER_FLAG_NEW_LISTENER in `flags` the result is the
/// user-notification listener fd. Allocates nothing (safe in a child forked
/// from a threaded process). EINVAL for more than 65535 instructions.
pub fn set_mode_filter(flags: u32, filter: &[Insn]) -> io::Result<Option<OwnedFd>> {
    let len =
        u16::try_from(filter.len()).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    let fprog = libc::sock_fprog {
        len,
        // The kernel only reads through this pointer (the cast to *mut is
        // the C declaration's).
        filter: filter.as_ptr().cast::<libc::sock_filter>().cast_mut(),
    };
    // SAFETY: `fprog` points at `len` instructions of `filter`, live for the
    // call; `Insn` has the fields, size and alignment of `struct
    // sock_filter` (asserted above). The kernel copies the program and keeps
    // no pointer.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            libc::c_ulong::from(flags),
            &fprog as *const libc::sock_fprog,
        )
    };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    if flags & libc::SECCOMP_FILTER_FLAG_NEW_LISTENER as u32 == 0 {
        return Ok(None);
    }
    // SAFETY: with SECCOMP_FILTER_FLAG_NEW_LISTENER a successful call returns
    // a new fd (an int, so the cast is lossless) the kernel just installed
    // for us; nothing else refers to it.
    Ok(Some(unsafe { OwnedFd::from_raw_fd(ret as RawFd) }))
}
