//! A private session keyring per container (runc's default; skipped with
//! `--no-new-keyring`).

use std::ffi::CString;
use std::io;

use crate::error::{Context, Result};

const KEYCTL_JOIN_SESSION_KEYRING: libc::c_long = 1;

/// Joins a new anonymous-to-the-host session keyring named `name`.
pub fn join_session(name: &str) -> Result<()> {
    let c = CString::new(name).unwrap_or_default();
    // SAFETY: keyctl(JOIN_SESSION_KEYRING, name) only reads `c`, a
    // NUL-terminated string alive for the call; it returns a key serial
    // number, not an fd.
    let r = unsafe { libc::syscall(libc::SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, c.as_ptr()) };
    if r < 0 {
        let e = io::Error::last_os_error();
        // Kernels without keyrings: nothing to isolate.
        if e.raw_os_error() == Some(libc::ENOSYS) {
            return Ok(());
        }
        return Err(e).ctx(|| "create session keyring".into());
    }
    Ok(())
}
