//! A terminal relayed in the foreground (`run`, `exec -t` without
//! `--console-socket`), as runc does it: berth holds the pty master and
//! copies its own stdin to it and its output to its own stdout, with the
//! host terminal (if berth has one) in raw mode, so keys reach the
//! container's line discipline untouched. The pty gets the host terminal's
//! size before the process starts and again on every SIGWINCH. The copying
//! is driven from `process::forward::wait`'s poll loop: single-threaded.

use std::io::{self, IsTerminal};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::time::Duration;

use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, OutputFlags, SetArg, Termios};

use crate::error::{Context, Result};
use crate::sys::{poll, pollin, tty};

/// How long the output is still drained once the process has exited and
/// the pty is quiet but still open (a background process may hold it).
const DRAIN_QUIET: Duration = Duration::from_millis(50);

/// The terminal berth itself runs on: the first of stdin, stdout, stderr
/// that is one, else the controlling terminal (/dev/tty), as runc looks
/// for it. Its settings are restored when this is dropped.
#[derive(Debug)]
pub struct HostTerminal {
    fd: OwnedFd,
    saved: Option<Termios>,
}

impl HostTerminal {
    pub fn find() -> Option<HostTerminal> {
        let (stdin, stdout, stderr) = (io::stdin(), io::stdout(), io::stderr());
        let std_fds = [stdin.as_fd(), stdout.as_fd(), stderr.as_fd()];
        let fd = match std_fds.into_iter().find(|fd| fd.is_terminal()) {
            Some(fd) => fd.try_clone_to_owned().ok()?,
            None => {
                use std::os::unix::fs::OpenOptionsExt;
                let f = std::fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .custom_flags(libc::O_NOCTTY)
                    .open("/dev/tty")
                    .ok()?;
                f.into()
            }
        };
        Some(HostTerminal { fd, saved: None })
    }

    /// (rows, cols), when the terminal knows its size.
    pub fn size(&self) -> Option<(u16, u16)> {
        tty::get_size(self.fd.as_fd())
            .ok()
            .filter(|&(r, c)| r > 0 && c > 0)
    }

    /// Raw mode, keeping output processing (containerd/console's SetRaw):
    /// the container's pty does no NL→CRNL, the host terminal does.
    fn make_raw(&mut self) -> Result<()> {
        let saved = tcgetattr(&self.fd).ctx(|| "read the terminal's settings".into())?;
        let mut raw = saved.clone();
        cfmakeraw(&mut raw);
        raw.output_flags |= OutputFlags::OPOST;
        tcsetattr(&self.fd, SetArg::TCSANOW, &raw).ctx(|| "put the terminal in raw mode".into())?;
        self.saved = Some(saved);
        Ok(())
    }
}

impl Drop for HostTerminal {
    fn drop(&mut self) {
        if let Some(saved) = &self.saved {
            if let Err(e) = tcsetattr(&self.fd, SetArg::TCSANOW, saved) {
                tracing::warn!("restore the terminal's settings: {e}");
            }
        }
    }
}

/// The relay between berth's stdio and the pty master.
#[derive(Debug)]
pub struct Relay {
    master: OwnedFd,
    host: Option<HostTerminal>,
    /// Still reading our stdin (false after EOF or an error).
    stdin_open: bool,
    /// Still reading the master (false once every peer closed: EIO).
    master_open: bool,
    /// False after a write to our stdout failed: output is then dropped,
    /// so the container never blocks on a full pty.
    stdout_ok: bool,
    /// Input read from stdin, not yet accepted by the master.
    pending: Vec<u8>,
}

impl Relay {
    /// Takes over the master: gives the pty the host terminal's size and
    /// puts the host terminal in raw mode (restored when dropped).
    pub fn new(master: OwnedFd) -> Result<Relay> {
        let flags = fcntl(&master, FcntlArg::F_GETFL).ctx(|| "fcntl pty master".into())?;
        let flags = OFlag::from_bits_truncate(flags) | OFlag::O_NONBLOCK;
        fcntl(&master, FcntlArg::F_SETFL(flags)).ctx(|| "fcntl pty master".into())?;
        let mut r = Relay {
            master,
            host: HostTerminal::find(),
            stdin_open: true,
            master_open: true,
            stdout_ok: true,
            pending: Vec::new(),
        };
        r.resize();
        if let Some(h) = r.host.as_mut() {
            h.make_raw()?;
        }
        Ok(r)
    }

    /// Copies the host terminal's size to the pty (on SIGWINCH).
    pub fn resize(&self) {
        if let Some((rows, cols)) = self.host.as_ref().and_then(HostTerminal::size) {
            if let Err(e) = tty::set_size(&self.master, rows, cols) {
                tracing::debug!("resize the pty: {e}");
            }
        }
    }

    /// What to poll: [stdin, master]; an fd of -1 is ignored by poll.
    pub fn pollfds(&self) -> [libc::pollfd; 2] {
        let mut stdin = pollin(0);
        if !self.stdin_open || !self.pending.is_empty() {
            stdin.fd = -1;
        }
        let mut master = pollin(self.master.as_raw_fd());
        if !self.pending.is_empty() {
            master.events |= libc::POLLOUT;
        }
        if !self.master_open {
            master.fd = -1;
        }
        [stdin, master]
    }

    /// Moves what `pollfds` reported ready.
    pub fn on_ready(&mut self, fds: &[libc::pollfd]) {
        let ready = |i: usize| fds.get(i).is_some_and(|p| p.fd >= 0 && p.revents != 0);
        if ready(1) {
            self.flush_input();
            self.copy_output();
        }
        if ready(0) {
            self.read_input();
        }
    }

    /// After the process exited: copies what is left in the pty, until it
    /// reports every peer closed or stays quiet for `DRAIN_QUIET`.
    pub fn drain(&mut self) {
        while self.master_open {
            let mut fds = [pollin(self.master.as_raw_fd())];
            match poll(&mut fds, DRAIN_QUIET.as_millis() as i32) {
                Ok(n) if n > 0 => self.copy_output(),
                _ => break,
            }
        }
    }

    fn read_input(&mut self) {
        let mut buf = [0u8; 4096];
        match nix::unistd::read(io::stdin().as_fd(), &mut buf) {
            Ok(0) => self.stdin_open = false,
            Ok(n) => {
                self.pending.extend_from_slice(&buf[..n]);
                self.flush_input();
            }
            Err(Errno::EINTR) | Err(Errno::EAGAIN) => {}
            Err(e) => {
                tracing::debug!("read stdin: {e}");
                self.stdin_open = false;
            }
        }
    }

    fn flush_input(&mut self) {
        while !self.pending.is_empty() {
            match nix::unistd::write(&self.master, &self.pending) {
                Ok(n) => {
                    self.pending.drain(..n);
                }
                Err(Errno::EINTR) => {}
                Err(Errno::EAGAIN) => return,
                Err(e) => {
                    tracing::debug!("write to the pty: {e}");
                    self.pending.clear();
                    self.stdin_open = false;
                }
            }
        }
    }

    /// Reads what the master has now and writes it to our stdout.
    fn copy_output(&mut self) {
        let mut buf = [0u8; 16384];
        loop {
            match nix::unistd::read(&self.master, &mut buf) {
                Ok(0) => self.master_open = false,
                Ok(n) => {
                    if self.stdout_ok {
                        if let Err(e) = write_all(io::stdout().as_fd(), &buf[..n]) {
                            tracing::debug!("write stdout: {e}");
                            self.stdout_ok = false;
                        }
                    }
                    continue;
                }
                Err(Errno::EINTR) => continue,
                Err(Errno::EAGAIN) => {}
                // EIO: every peer of the pty is closed.
                Err(_) => self.master_open = false,
            }
            return;
        }
    }
}

/// Writes all of `buf` to `fd`, waiting when it is non-blocking and full.
fn write_all(fd: BorrowedFd, mut buf: &[u8]) -> io::Result<()> {
    while !buf.is_empty() {
        match nix::unistd::write(fd, buf) {
            Ok(n) => buf = &buf[n..],
            Err(Errno::EINTR) => {}
            Err(Errno::EAGAIN) => {
                let mut fds = [libc::pollfd {
                    fd: fd.as_raw_fd(),
                    events: libc::POLLOUT,
                    revents: 0,
                }];
                poll(&mut fds, -1)?;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// The size of the terminal berth runs on, if any (for a process that is
/// about to get a relayed terminal).
pub fn host_size() -> Option<(u16, u16)> {
    HostTerminal::find()?.size()
}
