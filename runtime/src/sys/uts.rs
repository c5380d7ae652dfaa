//! The UTS namespace's NIS domain name (`nix` has `sethostname` only).

use std::io;

/// `setdomainname(2)`: the kernel copies `name` (not NUL-terminated; at most
/// 64 bytes, else EINVAL).
pub fn set_domainname(name: &[u8]) -> io::Result<()> {
    // SAFETY: the kernel reads exactly `name.len()` bytes from `name`, a
    // live slice, and keeps no pointer to it.
    if unsafe { libc::setdomainname(name.as_ptr().cast(), name.len()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
