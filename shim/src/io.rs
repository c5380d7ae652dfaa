//! A process's stdio: containerd hands the shim fifo paths (or a `file://`
//! or `binary://` log URI, see `logger`); the process gets pipes. Output
//! and stdin are copied by the shim's single io thread (`pump`), where
//! containerd's runc shim runs a goroutine per stream.
//!
//! - stdout/stderr: the fifo is opened read-write, which never blocks and
//!   never fails with EPIPE when the client went away (`ctr run -d`); it is
//!   closed when the pipe reaches EOF, which is the client's EOF.
//! - stdin: the fifo is opened read-only and non-blocking (see `pump` for
//!   how the client's EOF is told from "not opened yet"); EOF from the
//!   client, or CloseIO, closes the pipe's write end, which is the
//!   process's EOF.
//!
//! With a terminal the same machinery copies between the fifos and the pty
//! master (see `console`).

use std::fs::{File, OpenOptions};
use std::os::fd::OwnedFd;
use std::os::unix::fs::OpenOptionsExt;
use std::sync::Arc;

use nix::unistd::{fchown, pipe2, Gid, Uid};

use crate::error::{IoContext, Result};
use crate::logger;
use crate::process::{ProcessIo, StdinWriter, StdioPaths};
use crate::pump::{self, Pump};
use crate::reaper::Reaper;
use crate::runtime::ProcStdio;

/// Who the process is, for `binary://` loggers.
pub struct Owner<'a> {
    pub id: &'a str,
    pub namespace: &'a str,
    pub reaper: &'a Reaper,
    pub uid: u32,
    pub gid: u32,
}

/// Pipes for a process without a terminal, and their copies (or a
/// `binary://` logger reading them). Returns the runtime command's stdio
/// (inherited by the process).
pub fn pipes(paths: &StdioPaths, owner: &Owner, pump: &Pump) -> Result<(ProcStdio, ProcessIo)> {
    let (uid, gid) = (owner.uid, owner.gid);
    let io = ProcessIo::default();
    let mut stdio = ProcStdio {
        stdin: std::process::Stdio::null(),
        stdout: std::process::Stdio::null(),
        stderr: std::process::Stdio::null(),
    };
    if !paths.stdin.is_empty() {
        let (r, w) = pipe(uid, gid)?;
        stdio.stdin = r.into();
        *io.stdin.lock().unwrap_or_else(|p| p.into_inner()) = Some(File::from(w));
        copy_stdin(pump, paths.stdin.clone(), Arc::clone(&io.stdin));
    }
    if paths.stdout.starts_with("binary://") {
        let (out, err) = logger::start(&paths.stdout, owner.id, owner.namespace, owner.reaper)?;
        stdio.stdout = out.into();
        stdio.stderr = err.into();
        return Ok((stdio, io));
    }
    if !paths.stdout.is_empty() {
        let (r, w) = pipe(uid, gid)?;
        stdio.stdout = w.into();
        copy_out(pump, File::from(r), paths.stdout.clone());
    }
    if !paths.stderr.is_empty() {
        let (r, w) = pipe(uid, gid)?;
        stdio.stderr = w.into();
        copy_out(pump, File::from(r), paths.stderr.clone());
    }
    Ok((stdio, io))
}

fn pipe(uid: u32, gid: u32) -> Result<(OwnedFd, OwnedFd)> {
    let (r, w) = pipe2(nix::fcntl::OFlag::O_CLOEXEC).ctx(|| "pipe2".into())?;
    if uid != 0 || gid != 0 {
        for fd in [&r, &w] {
            fchown(fd, Some(Uid::from_raw(uid)), Some(Gid::from_raw(gid)))
                .ctx(|| format!("chown the stdio pipes to {uid}:{gid}"))?;
        }
    }
    Ok((r, w))
}

/// Opens an output destination: a fifo (read-write, see the module doc) or
/// a `file://` log URI (appended to).
fn open_out(dest: &str) -> std::io::Result<File> {
    if let Some(path) = dest.strip_prefix("file://") {
        if let Some(dir) = std::path::Path::new(path).parent() {
            std::fs::create_dir_all(dir)?;
        }
        return OpenOptions::new()
            .append(true)
            .create(true)
            .custom_flags(libc::O_CLOEXEC)
            .open(path);
    }
    OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_CLOEXEC)
        .open(dest)
}

/// Copies `src` to the destination until EOF (or a terminal's EIO), then
/// closes both; served by the io thread (`pump`).
pub fn copy_out(pump: &Pump, src: File, dest: String) {
    match open_out(&dest) {
        Ok(dst) => pump.add(pump::Source::Out {
            src,
            dst,
            name: dest,
        }),
        Err(e) => tracing::warn!("open {dest}: {e}"),
    }
}

/// Copies the stdin fifo into the writer until the client's EOF, then
/// closes the writer; served by the io thread (`pump`). The fifo is opened
/// non-blocking, so this never waits for the client.
pub fn copy_stdin(pump: &Pump, fifo: String, writer: StdinWriter) {
    match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_CLOEXEC | libc::O_NONBLOCK)
        .open(&fifo)
    {
        Ok(src) => pump.add(pump::Source::In {
            src,
            dst: writer,
            name: fifo,
        }),
        Err(e) => tracing::warn!("open {fifo}: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    /// A fresh dir under the temp dir holding a `stdin` fifo: (dir, fifo).
    fn stdin_fifo(tag: &str) -> (std::path::PathBuf, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!("berth-shim-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let fifo = dir.join("stdin");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        (dir, fifo)
    }

    /// Before the client opens the fifo nothing is read (no false EOF);
    /// its data and then its EOF reach the process's end.
    #[test]
    fn stdin_waits_for_the_client_then_ends_at_its_eof() {
        let (dir, fifo) = stdin_fifo("stdin");
        let pump = Pump::start().unwrap();
        let (r, w) = pipe(0, 0).unwrap();
        let writer: StdinWriter = Arc::new(std::sync::Mutex::new(Some(File::from(w))));
        copy_stdin(&pump, fifo.display().to_string(), Arc::clone(&writer));
        std::thread::sleep(std::time::Duration::from_millis(200));
        assert!(
            writer.lock().unwrap().is_some(),
            "closed before the client came"
        );
        let mut client = OpenOptions::new().write(true).open(&fifo).unwrap();
        client.write_all(b"typed").unwrap();
        drop(client);
        let mut got = String::new();
        // EOF once the pump closed its end (we hold no other write end).
        File::from(r).read_to_string(&mut got).unwrap();
        assert_eq!(got, "typed");
        assert!(writer.lock().unwrap().is_none());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Whether this process has `path` open.
    fn holds_open(path: &std::path::Path) -> bool {
        std::fs::read_dir("/proc/self/fd")
            .unwrap()
            .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
            .any(|t| t == path)
    }

    /// A process gone before its client ever opened the stdin fifo: the
    /// copy ends and the fifo is closed (no fd kept per exec).
    #[test]
    fn stdin_copy_ends_when_the_process_end_is_closed() {
        let (dir, fifo) = stdin_fifo("stdin2");
        let pump = Pump::start().unwrap();
        let (_r, w) = pipe(0, 0).unwrap();
        let writer: StdinWriter = Arc::new(std::sync::Mutex::new(Some(File::from(w))));
        copy_stdin(&pump, fifo.display().to_string(), Arc::clone(&writer));
        assert!(holds_open(&fifo));
        writer.lock().unwrap().take();
        // Any activity makes the io thread look again.
        let (r2, w2) = pipe(0, 0).unwrap();
        copy_out(
            &pump,
            File::from(r2),
            format!("file://{}", dir.join("out").display()),
        );
        drop(w2);
        let mut open = true;
        for _ in 0..100 {
            open = holds_open(&fifo);
            if !open {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert!(!open, "the stdin fifo is still open");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn file_uri_output_is_appended() {
        let dir = std::env::temp_dir().join(format!("berth-shim-io-{}", std::process::id()));
        let path = dir.join("sub/out.log");
        let pump = Pump::start().unwrap();
        let (r, w) = pipe(0, 0).unwrap();
        copy_out(&pump, File::from(r), format!("file://{}", path.display()));
        let mut w = File::from(w);
        w.write_all(b"hello\n").unwrap();
        drop(w);
        for _ in 0..100 {
            if std::fs::read_to_string(&path).is_ok_and(|s| s == "hello\n") {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "hello\n");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
