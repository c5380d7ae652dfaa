//! `start`: release the init through the exec fifo, wait until the payload
//! is executing, then run the poststart hooks.
//!
//! The init blocks opening the fifo for writing; opening it here for reading
//! lets it go on to run the startContainer hooks. It writes "0" right before
//! execve, whose O_CLOEXEC closes the fifo (EOF here), or "E<message>" when
//! something failed before — so a failing startContainer hook fails
//! `start`. A failed execve does not: as current runc, the init prints it
//! on its stderr and exits 255.
//! The whole protocol is drawn in `process::sync`.

use std::fs::{self, File};
use std::io::{ErrorKind, Read};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;

use crate::error::{Context, Error, Result};
use crate::hooks;
use crate::state::{ContainerDir, Root, Saved, Status};
use crate::sys::{poll, pollin, PidFd};

pub fn start(root: &Root, id: &str) -> Result<()> {
    let dir = root.open(id)?;
    let saved = dir.load()?;
    start_locked(&dir, &saved)
}

pub fn start_locked(dir: &ContainerDir, saved: &Saved) -> Result<()> {
    match super::status_of(dir, saved) {
        Status::Created => {}
        Status::Stopped => return Err(Error::msg("cannot start a container that has stopped")),
        Status::Running => return Err(Error::msg("cannot start an already running container")),
        s => {
            return Err(Error::msg(format!(
                "cannot start a container in the {} state",
                s.as_str()
            )))
        }
    }
    let pidfd = super::init_pidfd(saved)?;
    tracing::debug!("start {}: releasing the init (pid {})", saved.id, saved.pid);
    let fifo = File::options()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(dir.fifo_path())
        .ctx(|| "open exec fifo".into())?;
    let report = read_report(fifo, &pidfd);
    fs::remove_file(dir.fifo_path()).ctx(|| "remove exec fifo".into())?;
    match report?.as_slice() {
        [b'0'] => {}
        [b'0', b'E', msg @ ..] | [b'E', msg @ ..] => {
            return Err(Error::msg(String::from_utf8_lossy(msg).into_owned()))
        }
        _ => return Err(Error::msg("container init exited before start")),
    }
    tracing::debug!("start {}: the process was exec'd", saved.id);
    let raw = fs::read(dir.config_path()).ctx(|| "read config copy".into())?;
    let config_hooks = crate::spec::hooks_of_copy(&raw)?;
    let post = hooks::of_kind(config_hooks.as_ref(), "poststart");
    if !post.is_empty() {
        let state = hooks::state_json(
            &saved.id,
            Status::Running,
            saved.pid,
            &saved.bundle,
            Some(&saved.annotations),
        );
        if let Err(e) = hooks::run("poststart", post, &state) {
            let _ = pidfd.signal(libc::SIGKILL);
            return Err(e);
        }
    }
    Ok(())
}

/// Everything the init writes before the fifo closes. Before the init has
/// opened its end, a read would see a false EOF, so this reads only once
/// poll reports data or a hang-up; if the init dies without ever opening
/// the fifo, its pidfd ends the wait.
fn read_report(mut fifo: File, pidfd: &PidFd) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let mut fds = [pollin(fifo.as_raw_fd()), pollin(pidfd.as_raw_fd())];
        poll(&mut fds, -1).ctx(|| "poll exec fifo".into())?;
        let fifo_ready = fds[0].revents & (libc::POLLIN | libc::POLLHUP) != 0;
        if fifo_ready && drain(&mut fifo, &mut out)? {
            return Ok(out);
        }
        if fds[1].revents != 0 && !fifo_ready {
            // The init is gone; take whatever it managed to write.
            let _ = drain(&mut fifo, &mut out);
            return Ok(out);
        }
    }
}

/// Reads what is available; true at EOF.
fn drain(fifo: &mut File, out: &mut Vec<u8>) -> Result<bool> {
    let mut buf = [0u8; 4096];
    loop {
        match fifo.read(&mut buf) {
            Ok(0) => return Ok(true),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(false),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e).ctx(|| "read exec fifo".into()),
        }
    }
}
