//! Thin wrappers over the few raw syscalls the runner needs.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

fn check(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// Become the reaper of every orphan below us (container inits, hook children).
pub fn set_child_subreaper() -> io::Result<()> {
    // SAFETY: prctl with integer arguments only.
    check(unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) }).map(|_| ())
}

pub enum Forked {
    Child,
    Parent(libc::pid_t),
}

/// fork(2). The runner is single-threaded, so the child may run Rust code.
pub fn fork() -> io::Result<Forked> {
    // SAFETY: the process is single-threaded at every call site.
    let pid = check(unsafe { libc::fork() })?;
    Ok(if pid == 0 {
        Forked::Child
    } else {
        Forked::Parent(pid)
    })
}

/// Put the calling process into a new process group of its own.
pub fn new_process_group() -> io::Result<()> {
    // SAFETY: setpgid on ourselves.
    check(unsafe { libc::setpgid(0, 0) }).map(|_| ())
}

/// Reap any child without blocking: Some((pid, status)) or None.
pub fn reap_any() -> Option<(libc::pid_t, libc::c_int)> {
    let mut status = 0;
    // SAFETY: waitpid writes into a local.
    let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
    if pid > 0 {
        Some((pid, status))
    } else {
        None
    }
}

/// Exit code of a wait status, 128+signal for a signalled process.
pub fn exit_code(status: libc::c_int) -> i32 {
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else if libc::WIFSIGNALED(status) {
        128 + libc::WTERMSIG(status)
    } else {
        -1
    }
}

/// kill(2); errors (e.g. ESRCH) are ignored by callers that only tidy up.
pub fn kill(pid: libc::pid_t, sig: libc::c_int) -> io::Result<()> {
    // SAFETY: plain signal delivery.
    check(unsafe { libc::kill(pid, sig) }).map(|_| ())
}

/// Lazily detach the mount at `path`.
pub fn umount_detach(path: &Path) -> io::Result<()> {
    let c = CString::new(path.as_os_str().as_bytes()).map_err(io::Error::other)?;
    // SAFETY: umount2 with a valid C string.
    check(unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) }).map(|_| ())
}

/// Terminate the current (forked) process immediately.
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit never returns and skips the parent's atexit state.
    unsafe { libc::_exit(code) }
}

/// A new pty pair (master, slave), both close-on-exec, the terminal sized
/// `rows` x `cols`.
pub fn openpty(rows: u16, cols: u16) -> io::Result<(std::fs::File, std::fs::File)> {
    use std::os::fd::FromRawFd;
    let (mut m, mut s) = (-1, -1);
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: openpty writes two fds into our locals; name and termios are
    // NULL (not wanted), the winsize is read from a valid pointer.
    check(unsafe { libc::openpty(&mut m, &mut s, std::ptr::null_mut(), std::ptr::null(), &ws) })?;
    // SAFETY: both fds were just returned to us; we own them.
    let (m, s) = unsafe { (std::fs::File::from_raw_fd(m), std::fs::File::from_raw_fd(s)) };
    for f in [&m, &s] {
        use std::os::fd::AsRawFd;
        // SAFETY: fcntl on an fd we own.
        check(unsafe { libc::fcntl(f.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) })?;
    }
    Ok((m, s))
}

/// TIOCSWINSZ on a pty master (the kernel sends SIGWINCH to the terminal's
/// foreground process group).
pub fn set_winsize(fd: i32, rows: u16, cols: u16) -> io::Result<()> {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads one winsize from a valid pointer.
    check(unsafe { libc::ioctl(fd, libc::TIOCSWINSZ, &ws) }).map(|_| ())
}

/// The local-mode flags (c_lflag) of the terminal behind `fd`.
pub fn term_lflag(fd: i32) -> io::Result<libc::tcflag_t> {
    // SAFETY: an all-zero termios is a valid value for tcgetattr to fill.
    let mut t: libc::termios = unsafe { std::mem::zeroed() };
    // SAFETY: tcgetattr writes into our local.
    check(unsafe { libc::tcgetattr(fd, &mut t) })?;
    Ok(t.c_lflag)
}

/// In a forked child before exec: a new session whose controlling terminal
/// is stdin (setsid + TIOCSCTTY). Async-signal-safe.
pub fn controlling_tty_on_stdin() -> io::Result<()> {
    // SAFETY: setsid and ioctl with integer arguments.
    check(unsafe { libc::setsid() })?;
    // SAFETY: TIOCSCTTY with argument 0 on fd 0.
    check(unsafe { libc::ioctl(0, libc::TIOCSCTTY, 0) }).map(|_| ())
}

/// pidfd_send_signal(2).
pub fn pidfd_send_signal(pidfd: i32, sig: libc::c_int) -> io::Result<()> {
    // SAFETY: integer arguments and a NULL siginfo (like kill(2)).
    let r = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd,
            sig,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    check(r as libc::c_int).map(|_| ())
}

/// Whether `fd` becomes readable within `ms` milliseconds (a pidfd does
/// when its process exits).
pub fn readable_within(fd: i32, ms: i32) -> io::Result<bool> {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: poll reads and writes one pollfd, a live local.
    Ok(check(unsafe { libc::poll(&mut p, 1, ms) })? > 0)
}

/// Makes `cmd` join the cgroup whose cgroup.procs `procs` is open (when
/// given: written "0", the writer itself) and then become `uid`:`gid` with
/// no supplementary groups, in the child between fork and exec (std's own
/// `uid()` switches first, and a cgroup move after it needs the rights of
/// the common ancestor's cgroup.procs).
pub fn join_cgroup_then_become(
    cmd: &mut std::process::Command,
    procs: Option<std::fs::File>,
    uid: u32,
    gid: u32,
) {
    use std::os::fd::AsRawFd;
    use std::os::unix::process::CommandExt;
    let hook = move || -> io::Result<()> {
        if let Some(f) = &procs {
            // SAFETY: write of a static one-byte buffer to an open fd
            // (async-signal-safe).
            check(unsafe { libc::write(f.as_raw_fd(), b"0".as_ptr().cast(), 1) } as i32)?;
        }
        // SAFETY: plain credential syscalls (async-signal-safe); the
        // groups list is empty.
        unsafe {
            check(libc::setgroups(0, std::ptr::null()))?;
            check(libc::setresgid(gid, gid, gid))?;
            check(libc::setresuid(uid, uid, uid))?;
        }
        Ok(())
    };
    // SAFETY: the hook only makes async-signal-safe syscalls and touches
    // no lock or allocation.
    unsafe { cmd.pre_exec(hook) };
}
