//! What the conformance runner (`src/main.rs`) and its helper binaries
//! (`src/bin/`) share, compiled once as this crate's library target.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd};

/// Receives one message with one fd attached (SCM_RIGHTS) from a connected
/// unix socket: the message's bytes and the fd (close-on-exec).
pub fn recv_fd(sock: i32) -> io::Result<(Vec<u8>, OwnedFd)> {
    let mut data = [0u8; 256];
    let mut iov = libc::iovec {
        iov_base: data.as_mut_ptr().cast(),
        iov_len: data.len(),
    };
    let mut cbuf = [0u64; 8];
    // SAFETY: an all-zero msghdr is valid; it then points at our buffers,
    // which outlive the call.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&cbuf);
    // SAFETY: recvmsg writes only into the buffers `msg` describes.
    let n = unsafe { libc::recvmsg(sock, &mut msg, libc::MSG_CMSG_CLOEXEC) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: CMSG_FIRSTHDR walks the control buffer the kernel filled.
    let cmsg = unsafe { libc::CMSG_FIRSTHDR(&msg) };
    // SAFETY: a non-null cmsg points into `cbuf`.
    if cmsg.is_null() || unsafe { (*cmsg).cmsg_type } != libc::SCM_RIGHTS {
        return Err(io::Error::other("no SCM_RIGHTS message"));
    }
    // SAFETY: an SCM_RIGHTS payload holds at least one int fd.
    let fd = unsafe { std::ptr::read_unaligned(libc::CMSG_DATA(cmsg) as *const i32) };
    // SAFETY: the kernel installed this fd for us; nothing else owns it.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    Ok((data[..n as usize].to_vec(), fd))
}
