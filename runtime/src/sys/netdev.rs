//! Network interface flags (`SIOCGIFFLAGS` / `SIOCSIFFLAGS`), enough to bring
//! an interface up.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

/// An `ifreq` naming `name` (shorter than IFNAMSIZ, no NUL), all else zero.
fn request(name: &str) -> io::Result<libc::ifreq> {
    if name.len() >= libc::IFNAMSIZ || name.bytes().any(|b| b == 0) {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    // SAFETY: `ifreq` is a char array and a union of integers, integer
    // arrays, sockaddrs and a pointer: all-zero bytes are a valid value of
    // every one of them (the pointer is then null).
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (d, s) in req.ifr_name.iter_mut().zip(name.bytes()) {
        *d = s as libc::c_char;
    }
    Ok(req)
}

/// The flags (IFF_*) of interface `name`; `sock` is any socket (AF_INET,
/// SOCK_DGRAM will do) in the network namespace to look in.
pub fn flags(sock: BorrowedFd, name: &str) -> io::Result<libc::c_short> {
    let mut req = request(name)?;
    // SAFETY: SIOCGIFFLAGS reads the NUL-terminated name in `req` and writes
    // the flags into it; `req` is a live, writable `ifreq`.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: every byte of the union is initialised (zeroed, then written
    // by the kernel), so reading it as a c_short is a valid value; after
    // SIOCGIFFLAGS it is the flags.
    Ok(unsafe { req.ifr_ifru.ifru_flags })
}

/// Sets the flags (IFF_*) of interface `name` to `flags`.
pub fn set_flags(sock: BorrowedFd, name: &str, flags: libc::c_short) -> io::Result<()> {
    let mut req = request(name)?;
    req.ifr_ifru.ifru_flags = flags;
    // SAFETY: SIOCSIFFLAGS only reads `req`, a live `ifreq` with a
    // NUL-terminated name and the flags.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_must_fit() {
        assert!(request("lo").is_ok());
        assert!(request(&"x".repeat(libc::IFNAMSIZ)).is_err());
        assert!(request("l\0o").is_err());
    }
}
