//! A console-socket receiver for the terminal tests (what containerd's shim
//! and conmon do): listens on SOCKET, takes one pty master sent with
//! SCM_RIGHTS, writes INPUT to it, and copies what the container writes to
//! stdout until the pty closes or SECS pass.
//!
//! Usage: berth-console-recv SOCKET INPUT SECS
//! Creates SOCKET.ready once it listens.

use std::io::{Read, Write};
use std::os::unix::io::AsRawFd;
use std::os::unix::net::UnixListener;
use std::time::{Duration, Instant};

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
    let (_, master) = spec_tests::recv_fd(conn.as_raw_fd()).map_err(|e| format!("recvmsg: {e}"))?;
    let master = std::fs::File::from(master);
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
