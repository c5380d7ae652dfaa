//! procfs access: a verified handle for writes under /proc (docs/architecture.md §4), and
//! the start time of a pid (so a recycled pid is never mistaken for ours).
//!
//! We read /proc/PID/stat by hand rather than through the `procfs` crate: we
//! need two fields, on the hot path of every command.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

use nix::sys::statfs::{fstatfs, PROC_SUPER_MAGIC};

use super::fd::{openat2, ResolveMode};

/// An fd on a procfs root, checked to really be procfs.
#[derive(Debug)]
pub struct ProcHandle(OwnedFd);

impl ProcHandle {
    pub fn open(path: &Path) -> io::Result<ProcHandle> {
        let fd = super::fd::open_host(path, libc::O_DIRECTORY | libc::O_RDONLY)?;
        ensure_procfs(&fd)?;
        Ok(ProcHandle(fd))
    }

    /// Writes `data` to `rel` (e.g. `sys/net/ipv4/ip_forward`), refusing
    /// anything that is not a procfs file or that escapes the handle.
    pub fn write(&self, rel: &str, data: &[u8]) -> io::Result<()> {
        let fd = openat2(
            self.0.as_raw_fd(),
            Path::new(rel),
            libc::O_WRONLY,
            0,
            ResolveMode::Beneath,
        )?;
        ensure_procfs(&fd)?;
        File::from(fd).write_all(data)
    }

    /// Opens `rel` under this procfs with `flags` (it may be a magic link such
    /// as `self/fd/N`, which is why this is not `openat2`).
    pub fn reopen(&self, rel: &str, flags: libc::c_int) -> io::Result<OwnedFd> {
        let c =
            std::ffi::CString::new(rel).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
        nix::fcntl::openat(
            &self.0,
            c.as_c_str(),
            nix::fcntl::OFlag::from_bits_truncate(flags | libc::O_CLOEXEC),
            nix::sys::stat::Mode::empty(),
        )
        .map_err(io::Error::from)
    }

    pub fn as_raw_fd(&self) -> i32 {
        self.0.as_raw_fd()
    }
}

fn ensure_procfs(fd: &OwnedFd) -> io::Result<()> {
    let st = fstatfs(fd).map_err(io::Error::from)?;
    if st.filesystem_type() != PROC_SUPER_MAGIC {
        return Err(io::Error::other("not on procfs"));
    }
    Ok(())
}

/// What /proc/PID/stat tells us about a process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProcStat {
    pub state: char,
    pub start_time: u64,
}

impl ProcStat {
    /// A zombie or dead process has exited.
    pub fn exited(&self) -> bool {
        matches!(self.state, 'Z' | 'X' | 'x')
    }
}

/// Reads state and start time of `pid`; `None` when it does not exist.
pub fn stat(pid: i32) -> Option<ProcStat> {
    let mut buf = String::new();
    File::open(format!("/proc/{pid}/stat"))
        .and_then(|mut f| f.read_to_string(&mut buf))
        .ok()?;
    parse_stat(&buf)
}

fn parse_stat(buf: &str) -> Option<ProcStat> {
    // The command name may hold spaces and parentheses: fields start after the last ')'.
    let rest = &buf[buf.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    // Field 22 overall is starttime; `rest` starts at field 3.
    let start_time = fields.nth(22 - 4)?.parse().ok()?;
    Some(ProcStat { state, start_time })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_odd_comm() {
        let line = "42 (a) b (c) S 1 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10";
        let st = parse_stat(line).unwrap();
        assert_eq!(st.state, 'S');
        assert_eq!(st.start_time, 987654);
    }

    #[test]
    fn own_process_is_alive() {
        let st = stat(std::process::id() as i32).unwrap();
        assert!(!st.exited());
        assert!(st.start_time > 0);
    }
}
