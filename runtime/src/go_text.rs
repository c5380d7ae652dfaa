//! How runc, a Go program, spells an errno and a child's wait status, for
//! the few messages clients match word for word (`exec /run.sh: no such
//! file or directory`, `error running prestart hook #0: exit status 1`).
//! Go's errno table was generated from glibc's `strerror` with the first
//! letter lowercased, so the C library's text is the source here too.

use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;

/// An errno as Go prints it: `no such file or directory`, `permission
/// denied`, `exec format error`.
pub(crate) fn errno(code: i32) -> String {
    let text = std::io::Error::from_raw_os_error(code).to_string();
    let text = text
        .strip_suffix(&format!(" (os error {code})"))
        .unwrap_or(&text);
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => format!("errno {code}"),
    }
}

/// An I/O error as Go prints its errno, else as Rust does.
pub(crate) fn io(e: &std::io::Error) -> String {
    e.raw_os_error().map(errno).unwrap_or_else(|| e.to_string())
}

/// A wait status as Go's `ProcessState.String`: `exit status 1`,
/// `signal: killed`, `signal: aborted (core dumped)`.
pub(crate) fn exit_status(s: ExitStatus) -> String {
    if let Some(code) = s.code() {
        return format!("exit status {code}");
    }
    let Some(sig) = s.signal() else {
        return s.to_string();
    };
    let core = if s.core_dumped() {
        " (core dumped)"
    } else {
        ""
    };
    format!("signal: {}{core}", signal(sig))
}

/// Go's names of the common signals; others by number.
fn signal(sig: i32) -> String {
    let name = match sig {
        libc::SIGHUP => "hangup",
        libc::SIGINT => "interrupt",
        libc::SIGQUIT => "quit",
        libc::SIGILL => "illegal instruction",
        libc::SIGTRAP => "trace/breakpoint trap",
        libc::SIGABRT => "aborted",
        libc::SIGBUS => "bus error",
        libc::SIGFPE => "floating point exception",
        libc::SIGKILL => "killed",
        libc::SIGUSR1 => "user defined signal 1",
        libc::SIGSEGV => "segmentation fault",
        libc::SIGUSR2 => "user defined signal 2",
        libc::SIGPIPE => "broken pipe",
        libc::SIGALRM => "alarm clock",
        libc::SIGTERM => "terminated",
        _ => return format!("signal {sig}"),
    };
    name.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errnos_are_spelled_as_go_does() {
        assert_eq!(errno(libc::ENOENT), "no such file or directory");
        assert_eq!(errno(libc::EACCES), "permission denied");
        assert_eq!(errno(libc::ENOEXEC), "exec format error");
        assert_eq!(errno(libc::EISDIR), "is a directory");
        assert_eq!(errno(libc::ENOMEM), "cannot allocate memory");
        assert_eq!(errno(libc::ELOOP), "too many levels of symbolic links");
        assert_eq!(errno(libc::ECONNREFUSED), "connection refused");
        let e = std::io::Error::from_raw_os_error(libc::E2BIG);
        assert_eq!(io(&e), "argument list too long");
    }

    #[test]
    fn wait_statuses_are_spelled_as_go_does() {
        assert_eq!(exit_status(ExitStatus::from_raw(1 << 8)), "exit status 1");
        assert_eq!(exit_status(ExitStatus::from_raw(0)), "exit status 0");
        assert_eq!(
            exit_status(ExitStatus::from_raw(libc::SIGKILL)),
            "signal: killed"
        );
        assert_eq!(
            exit_status(ExitStatus::from_raw(libc::SIGABRT | 0x80)),
            "signal: aborted (core dumped)"
        );
        assert_eq!(exit_status(ExitStatus::from_raw(40)), "signal: signal 40");
    }
}
