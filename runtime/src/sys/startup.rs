//! Process start-up: the parts of Rust's `lang_start` that berth needs,
//! done by the binary's own C `main` (src/main.rs), which skips the rest.

use std::ffi::c_int;
use std::io;

/// Opens /dev/null on any of fds 0–2 that is closed and ignores SIGPIPE,
/// as Rust's runtime does before `main`. Aborts if a standard fd cannot be
/// opened (as Rust's runtime does): a later open would otherwise take its
/// number and a host file would become a standard stream.
pub fn prepare_process() {
    for fd in closed_std_fds() {
        if reopen_null(fd).is_err() {
            std::process::abort();
        }
    }
    // SAFETY: SIG_IGN installs no handler; only the disposition changes.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
}

/// Which of fds 0–2 are closed: one poll(2), or fcntl(2) per fd if poll
/// fails.
fn closed_std_fds() -> Vec<c_int> {
    let mut fds = [0, 1, 2].map(|fd| libc::pollfd {
        fd,
        events: 0,
        revents: 0,
    });
    // SAFETY: `fds` is a valid array of three pollfd for the call.
    let r = unsafe { libc::poll(fds.as_mut_ptr(), 3, 0) };
    if r >= 0 {
        return fds
            .iter()
            .filter(|p| p.revents & libc::POLLNVAL != 0)
            .map(|p| p.fd)
            .collect();
    }
    (0..3).filter(|&fd| is_closed(fd)).collect()
}

fn is_closed(fd: c_int) -> bool {
    // SAFETY: F_GETFD reads the fd's flags; it touches no memory.
    let r = unsafe { libc::fcntl(fd, libc::F_GETFD) };
    r == -1 && io::Error::last_os_error().raw_os_error() == Some(libc::EBADF)
}

/// Opens /dev/null read-write as `fd` (the lowest free number is the closed
/// standard fd itself when the ones below it are open; otherwise dup2).
fn reopen_null(fd: c_int) -> io::Result<()> {
    // SAFETY: the path is a NUL-terminated literal.
    let got = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR) };
    if got < 0 {
        return Err(io::Error::last_os_error());
    }
    if got != fd {
        // SAFETY: `got` is the fd just opened; dup2 onto a closed fd.
        let r = unsafe { libc::dup2(got, fd) };
        // SAFETY: `got` is ours and no longer needed.
        unsafe { libc::close(got) };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_std_fds_are_not_reported_closed() {
        // The test harness runs with its standard fds open.
        assert!(closed_std_fds().is_empty());
    }
}
