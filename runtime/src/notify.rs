//! sd_notify from inside the container (runc's notify socket): when berth
//! itself runs with `NOTIFY_SOCKET` (a systemd `Type=notify` service),
//! `create`/`run` make `<state dir>/notify/`, bind it read-only at
//! /run/notify in the container (an ordinary config mount: the target is
//! resolved inside the rootfs and mounted by fd) and give the process
//! `NOTIFY_SOCKET=/run/notify/notify.sock`. `run` and `start` listen on that
//! socket; the first `READY=` line is forwarded to the host's socket with
//! `MAINPID=` (the container's init, or berth itself in a foreground `run`,
//! whose life is the service's), and `start`/`run -d` return only then, or
//! when the container exits first.

use std::ffi::{OsStr, OsString};
use std::os::fd::AsRawFd;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::path::Path;

use oci_spec::runtime::{MountBuilder, Spec};

use crate::error::{Context, Error, Result};
use crate::sys::{poll, pollin, PidFd};

/// The directory in the state dir, and where the container sees it.
const DIR: &str = "notify";
const IN_CONTAINER: &str = "/run/notify";
const SOCKET: &str = "notify.sock";

/// The host's notify socket, from berth's environment.
pub fn host_socket() -> Option<OsString> {
    std::env::var_os("NOTIFY_SOCKET").filter(|s| !s.is_empty())
}

/// Makes `<state_dir>/notify` and adds its mount and NOTIFY_SOCKET to the
/// in-memory spec (the saved config copy stays as the bundle has it, so
/// `exec` does not get NOTIFY_SOCKET, as with runc).
pub fn prepare(spec: &mut Spec, state_dir: &Path) -> Result<()> {
    let dir = state_dir.join(DIR);
    std::fs::create_dir(&dir).ctx(|| format!("mkdir {}", dir.display()))?;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755))
        .ctx(|| format!("chmod {}", dir.display()))?;
    let mount = MountBuilder::default()
        .destination(IN_CONTAINER)
        .source(dir)
        .options(
            ["bind", "nosuid", "noexec", "nodev", "ro"]
                .map(String::from)
                .to_vec(),
        )
        .build()
        .map_err(|e| Error::msg(format!("notify socket mount: {e}")))?;
    let mut mounts = spec.mounts().clone().unwrap_or_default();
    mounts.push(mount);
    spec.set_mounts(Some(mounts));
    let process = spec
        .process_mut()
        .as_mut()
        .ok_or_else(|| Error::config("process: missing"))?;
    let mut env = process.env().clone().unwrap_or_default();
    env.push(format!("NOTIFY_SOCKET={IN_CONTAINER}/{SOCKET}"));
    process.set_env(Some(env));
    Ok(())
}

/// berth's end of the container's notify socket.
#[derive(Debug)]
pub struct Listener {
    sock: UnixDatagram,
    host: OsString,
    /// READY was forwarded: nothing more to do.
    done: bool,
}

impl Listener {
    /// Binds `<state_dir>/notify/notify.sock` (mode 0777, so any container
    /// user may send), if the container was created with a notify dir.
    pub fn bind(state_dir: &Path, host: OsString) -> Result<Option<Listener>> {
        let dir = state_dir.join(DIR);
        if !dir.is_dir() {
            tracing::debug!("NOTIFY_SOCKET is set but the container was created without it");
            return Ok(None);
        }
        // Through an fd of the directory, so a long --root cannot exceed
        // the 108 bytes of a socket address.
        let dfd = crate::sys::open_host(&dir, libc::O_PATH | libc::O_DIRECTORY)
            .ctx(|| format!("open {}", dir.display()))?;
        let path = format!("/proc/self/fd/{}/{SOCKET}", dfd.as_raw_fd());
        let sock = UnixDatagram::bind(&path)
            .ctx(|| format!("bind notify socket {}/{SOCKET}", dir.display()))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o777))
            .ctx(|| format!("chmod {}/{SOCKET}", dir.display()))?;
        sock.set_nonblocking(true)
            .ctx(|| "notify socket: set non-blocking".into())?;
        Ok(Some(Listener {
            sock,
            host,
            done: false,
        }))
    }

    /// For poll; an fd of -1 (ignored by poll) once READY was forwarded.
    pub fn pollfd(&self) -> libc::pollfd {
        pollin(if self.done { -1 } else { self.sock.as_raw_fd() })
    }

    /// Reads what the container sent; forwards READY with `mainpid`.
    /// Failures to reach the host are logged (the foreground loop goes on).
    pub fn on_ready(&mut self, mainpid: i32) {
        if let Err(e) = self.read_and_forward(mainpid) {
            tracing::warn!("{e}");
        }
    }

    fn read_and_forward(&mut self, mainpid: i32) -> Result<()> {
        let mut buf = [0u8; 4096];
        while !self.done {
            let n = match self.sock.recv(&mut buf) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e).ctx(|| "read the notify socket".into()),
            };
            if let Some(line) = ready_line(&buf[..n]) {
                self.done = true;
                forward(&self.host, line, mainpid)?;
            }
        }
        Ok(())
    }

    /// `start` and `run -d`: waits until READY was forwarded (MAINPID is
    /// the init) or the init exited.
    pub fn wait_ready(&mut self, init: &PidFd, mainpid: i32) -> Result<()> {
        while !self.done {
            let mut fds = [self.pollfd(), pollin(init.as_raw_fd())];
            poll(&mut fds, -1).ctx(|| "poll the notify socket".into())?;
            if fds[0].revents != 0 {
                self.read_and_forward(mainpid)?;
            } else if fds[1].revents != 0 {
                return Ok(());
            }
        }
        Ok(())
    }
}

/// The first `READY=` line of a datagram.
fn ready_line(msg: &[u8]) -> Option<&[u8]> {
    msg.split(|&b| b == b'\n')
        .find(|l| l.starts_with(b"READY="))
}

/// Sends `line` and `MAINPID=<mainpid>` to the host's socket, one datagram
/// each (as runc). A leading `@` names an abstract socket (sd_notify's rule).
fn forward(host: &OsStr, line: &[u8], mainpid: i32) -> Result<()> {
    let what = || format!("forward READY to NOTIFY_SOCKET {}", host.to_string_lossy());
    let bytes = host.as_bytes();
    let addr = match bytes.strip_prefix(b"@") {
        Some(name) => SocketAddr::from_abstract_name(name),
        None => SocketAddr::from_pathname(Path::new(host)),
    }
    .ctx(what)?;
    let s = UnixDatagram::unbound().ctx(what)?;
    let mut ready = line.to_vec();
    ready.push(b'\n');
    s.send_to_addr(&ready, &addr).ctx(what)?;
    s.send_to_addr(format!("MAINPID={mainpid}\n").as_bytes(), &addr)
        .ctx(what)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_ready_line() {
        assert_eq!(ready_line(b"READY=1"), Some(&b"READY=1"[..]));
        assert_eq!(ready_line(b"STATUS=up\nREADY=1\n"), Some(&b"READY=1"[..]));
        assert_eq!(ready_line(b"STATUS=starting"), None);
    }

    #[test]
    fn forwards_ready_and_mainpid() {
        let dir = std::env::temp_dir().join(format!("berth-notify-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let host = dir.join("host.sock");
        let _ = std::fs::remove_file(&host);
        let rx = UnixDatagram::bind(&host).unwrap();
        forward(host.as_os_str(), b"READY=1", 42).unwrap();
        let mut buf = [0u8; 64];
        let n = rx.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1\n");
        let n = rx.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"MAINPID=42\n");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
