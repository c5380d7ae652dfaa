//! A console-socket receiver for the terminal tests (what containerd's shim
//! and conmon do): listens on SOCKET, takes one pty master sent with
//! SCM_RIGHTS, writes INPUT to it, and copies what the container writes to
//! stdout until the pty closes or SECS pass.
//!
//! Usage: berth-console-recv SOCKET INPUT SECS
//! Creates SOCKET.ready once it listens.

use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::io::AsRawFd;
use std::os::unix::net::UnixListener;
use std::time::{Duration, Instant};

fn recv_fd(sock: i32) -> Result<OwnedFd, String> {
    let mut data = [0u8; 256];
    let mut iov = libc::iovec {
        iov_base: data.as_mut_ptr().cast(),
        iov_len: data.len(),
    };
    let mut cbuf = [0u64; 8];
    // SAFETY: zeroed msghdr pointing at our buffers, which outlive the call.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&cbuf);
    // SAFETY: recvmsg into the buffers described by `msg`.
    if unsafe { libc::recvmsg(sock, &mut msg, 0) } < 0 {
        return Err(format!("recvmsg: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: CMSG_FIRSTHDR walks the control buffer the kernel filled.
    let cmsg = unsafe { libc::CMSG_FIRSTHDR(&msg) };
    // SAFETY: a non-null cmsg points into `cbuf`.
    if cmsg.is_null() || unsafe { (*cmsg).cmsg_type } != libc::SCM_RIGHTS {
        return Err("no SCM_RIGHTS message".into());
    }
    // SAFETY: an SCM_RIGHTS payload holds at least one int fd.
    let fd = unsafe { std::ptr::read_unaligned(libc::CMSG_DATA(cmsg) as *const i32) };
    // SAFETY: the kernel installed this fd for us.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().collect();
    let [_, path, input, secs] = args.as_slice() else {
        return Err("usage: berth-console-recv SOCKET INPUT SECS".into());
    };
    let secs: u64 = secs.parse().map_err(|_| "SECS must be a number")?;
    let _ = std::fs::remove_file(path);
    let listener = UnixListener::bind(path).map_err(|e| format!("bind {path}: {e}"))?;
    std::fs::write(format!("{path}.ready"), "").map_err(|e| e.to_string())?;
    let (conn, _) = listener.accept().map_err(|e| format!("accept: {e}"))?;
    let master = std::fs::File::from(recv_fd(conn.as_raw_fd())?);
    (&master)
        .write_all(input.as_bytes())
        .map_err(|e| format!("write: {e}"))?;
    let end = Instant::now() + Duration::from_secs(secs);
    let mut out = std::io::stdout();
    let mut buf = [0u8; 4096];
    while Instant::now() < end {
        let mut pfd = libc::pollfd {
            fd: master.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        if unsafe { libc::poll(&mut pfd, 1, 100) } <= 0 {
            continue;
        }
        match (&master).read(&mut buf) {
            Ok(0) | Err(_) => break, // EIO once every peer is closed
            Ok(n) => out.write_all(&buf[..n]).map_err(|e| e.to_string())?,
        }
    }
    Ok(())
}

fn main() {
    if let Err(e) = run() {
        eprintln!("berth-console-recv: {e}");
        std::process::exit(1);
    }
}
