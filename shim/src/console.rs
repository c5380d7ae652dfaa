//! Terminals: the runtime sends the pty master over a console socket
//! (SCM_RIGHTS, runc's protocol); the shim copies stdin fifo → master and
//! master → stdout fifo, and ResizePty sets the window size on the master.

use std::fs::File;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use berth::api::tty;

use crate::error::{Error, IoContext, Result};
use crate::io::{copy_out, copy_stdin};
use crate::process::{ProcessIo, StdioPaths};
use crate::pump::Pump;

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A listening console socket in a private directory (removed on drop).
pub struct ConsoleSocket {
    dir: PathBuf,
    pub path: PathBuf,
    listener: UnixListener,
}

impl ConsoleSocket {
    pub fn new() -> Result<ConsoleSocket> {
        use std::os::unix::fs::DirBuilderExt;
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("berth-shim-pty-{}-{n}", std::process::id()));
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .ctx(|| format!("mkdir {}", dir.display()))?;
        let path = dir.join("pty.sock");
        let listener = match UnixListener::bind(&path) {
            Ok(l) => l,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(Error::io(format!("listen on {}", path.display()), e));
            }
        };
        Ok(ConsoleSocket {
            dir,
            path,
            listener,
        })
    }

    /// The master the runtime sent (call once the runtime command
    /// succeeded: the message is already queued).
    pub fn receive(&self) -> Result<OwnedFd> {
        self.listener
            .set_nonblocking(true)
            .ctx(|| "console socket".into())?;
        let deadline = Instant::now() + Duration::from_secs(5);
        let conn = loop {
            match self.listener.accept() {
                Ok((c, _)) => break c,
                Err(e)
                    if e.kind() == std::io::ErrorKind::WouldBlock && Instant::now() < deadline =>
                {
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(e) => {
                    return Err(Error::io("the runtime did not send the pty master", e));
                }
            }
        };
        conn.set_nonblocking(false)
            .ctx(|| "console socket".into())?;
        tty::recv_fd(conn.as_fd()).ctx(|| "receive the pty master".into())
    }
}

impl Drop for ConsoleSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Starts the copies between the fifos and the master; the master stays
/// with the process for ResizePty.
pub fn relay(master: &Arc<OwnedFd>, paths: &StdioPaths, pump: &Pump) -> Result<ProcessIo> {
    let io = ProcessIo::default();
    if !paths.stdout.is_empty() {
        let reader = master.try_clone().ctx(|| "dup the pty master".into())?;
        copy_out(pump, File::from(reader), paths.stdout.clone());
    }
    if !paths.stdin.is_empty() {
        let writer = master.try_clone().ctx(|| "dup the pty master".into())?;
        *io.stdin.lock().unwrap_or_else(|p| p.into_inner()) = Some(File::from(writer));
        copy_stdin(pump, paths.stdin.clone(), Arc::clone(&io.stdin));
    }
    Ok(io)
}

/// ResizePty.
pub fn resize(master: &OwnedFd, width: u32, height: u32) -> Result<()> {
    let clamp = |v: u32| u16::try_from(v).unwrap_or(u16::MAX);
    tty::set_size(master, clamp(height), clamp(width)).ctx(|| "resize the pty".into())
}
