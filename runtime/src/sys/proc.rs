//! procfs access: a verified handle for writes under /proc (docs/architecture.md §4), and
//! the start time of a pid (so a recycled pid is never mistaken for ours).
//!
//! We read /proc/PID/stat by hand rather than through the `procfs` crate: we
//! need two fields, on the hot path of every command.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
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

    /// Reopens `fd`, one of the caller's own fds, through `self/fd/N` of
    /// this procfs with `flags`, and checks that what opened is that very
    /// file (same device and inode).
    ///
    /// CVE-2025-52881: on the container's own /proc, a mount over
    /// /proc/PID/fd (a config bind, or one made later by a process exec'd
    /// into the created container) puts some other file at `self/fd/N`, and
    /// a write meant for the fd (the exec fifo's start byte) would land in
    /// it. The check costs two fstat calls.
    pub fn reopen_own(&self, fd: RawFd, flags: libc::c_int) -> io::Result<OwnedFd> {
        let new = self.reopen(&format!("self/fd/{fd}"), flags)?;
        let (want, got) = (file_id(fd)?, file_id(new.as_raw_fd())?);
        if want != got {
            return Err(io::Error::other(format!(
                "self/fd/{fd} on this procfs is not the runtime's fd {fd} (a mount covers it)"
            )));
        }
        Ok(new)
    }

    pub fn as_raw_fd(&self) -> i32 {
        self.0.as_raw_fd()
    }
}

/// Device and inode of the file `fd` refers to.
fn file_id(fd: RawFd) -> io::Result<(u64, u64)> {
    // SAFETY: fstat only writes into `st`, a zeroed stat we own and that
    // outlives the call; a closed or invalid fd is reported as EBADF.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    if unsafe { libc::fstat(fd, &mut st) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((st.st_dev, st.st_ino))
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
    parse_stat(&read_pseudo(Path::new(&format!("/proc/{pid}/stat"))).ok()?)
}

/// Reads a pseudo-file (procfs, cgroupfs) whole with plain read(2)s into a
/// stack buffer: std's read_to_string first asks for the size (statx +
/// lseek), which on these file systems is always 0 or 4096, then reads in
/// growing steps from 32 bytes (six reads for a /proc/PID/stat line).
pub fn read_pseudo(path: &Path) -> io::Result<String> {
    let mut f = File::open(path)?;
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    String::from_utf8(out).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
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
    fn reopen_own_gives_the_same_file() {
        let proc = ProcHandle::open(Path::new("/proc")).unwrap();
        let f = File::open("/proc/self/exe").unwrap();
        let again = proc.reopen_own(f.as_raw_fd(), libc::O_RDONLY).unwrap();
        assert_eq!(
            file_id(again.as_raw_fd()).unwrap(),
            file_id(f.as_raw_fd()).unwrap()
        );
        assert!(proc.reopen_own(-1, libc::O_RDONLY).is_err());
    }

    #[test]
    fn own_process_is_alive() {
        let st = stat(std::process::id() as i32).unwrap();
        assert!(!st.exited());
        assert!(st.start_time > 0);
    }
}
