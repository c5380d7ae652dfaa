//! `start`: release the init through the exec fifo, then run the poststart
//! hooks.

use std::fs::{self, File};
use std::io::Read;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;

use crate::error::{Context, Error, Result};
use crate::hooks;
use crate::state::{ContainerDir, Root, Saved, Status};

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
    let mut fifo = File::options()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(dir.fifo_path())
        .ctx(|| "open exec fifo".into())?;
    wait_readable(&fifo, &pidfd)?;
    let mut byte = [0u8; 1];
    let n = fifo.read(&mut byte).ctx(|| "read exec fifo".into())?;
    if n != 1 {
        return Err(Error::msg("container init exited before start"));
    }
    fs::remove_file(dir.fifo_path()).ctx(|| "remove exec fifo".into())?;
    let config =
        crate::spec::parse(&fs::read(dir.config_path()).ctx(|| "read config copy".into())?)?;
    let post = hooks::of_kind(config.hooks().as_ref(), "poststart");
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

/// Waits until the fifo has the init's byte, or the init is gone.
fn wait_readable(fifo: &File, pidfd: &crate::sys::PidFd) -> Result<()> {
    let mut fds = [
        libc::pollfd {
            fd: fifo.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        },
        libc::pollfd {
            fd: pidfd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        },
    ];
    loop {
        // SAFETY: two valid pollfds, count 2.
        let r = unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) };
        if r < 0 {
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return Err(e).ctx(|| "poll exec fifo".into());
        }
        if fds[0].revents & libc::POLLIN != 0 {
            return Ok(());
        }
        if fds[1].revents != 0 {
            return Err(Error::msg("container init exited before start"));
        }
    }
}
