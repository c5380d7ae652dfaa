//! `kill`: signal the init (or, with --all, every process of the
//! container's pid namespace), by pidfd so a recycled pid is never hit.

use crate::error::{Error, Result};
use crate::state::{Root, Status};

/// runc's signal syntax: a number, or a name with or without SIG. 0 sends
/// no signal: `kill ID 0` only tells whether the container runs.
pub fn parse_signal(s: &str) -> Result<i32> {
    if let Ok(n) = s.parse::<i32>() {
        if (0..=64).contains(&n) {
            return Ok(n);
        }
        return Err(Error::msg(format!("unknown signal {s:?}")));
    }
    let name = s.to_ascii_uppercase();
    let name = name.strip_prefix("SIG").unwrap_or(&name);
    nix::sys::signal::Signal::iterator()
        .find(|sig| sig.as_str().strip_prefix("SIG") == Some(name))
        .map(|sig| sig as i32)
        .ok_or_else(|| Error::msg(format!("unknown signal {s:?}")))
}

pub fn kill(root: &Root, id: &str, sig: i32, all: bool) -> Result<()> {
    let v = super::view(root, id)?;
    // A rootless container may have no cgroup (`cgroups::rootless`): then
    // only its init can be signalled, as runc does.
    if sig == libc::SIGKILL && v.saved.pid_ns.is_none() && !v.saved.cgroup.dirs.is_empty() {
        return kill_cgroup(&v);
    }
    if !matches!(v.status, Status::Created | Status::Running | Status::Paused) {
        return Err(Error::NotRunning);
    }
    let pidfd = super::init_pidfd(&v.saved)?;
    if all {
        // Ownership: only the container's processes (`cgroups::Scope`): with
        // a private pid namespace, the cgroup's members in that namespace.
        crate::cgroups::Manager::open(&v.saved.cgroup)?.signal_all(sig, &v.saved.scope())?;
    }
    pidfd.signal(sig).or_else(|e| match e.raw_os_error() {
        // With --all every member of the cgroup was signalled first: an init
        // already gone (SIGKILL by cgroup.kill, then reaped by its
        // subreaper) was reached.
        Some(libc::ESRCH) if all => Ok(()),
        Some(libc::ESRCH) => Err(Error::NotRunning),
        _ => Err(Error::Io {
            context: format!("signal {sig} to pid {}", v.saved.pid),
            source: e,
        }),
    })?;
    if sig == libc::SIGKILL && v.status == Status::Paused {
        // A frozen process dies only once thawed.
        super::pause::thaw_if_paused(&v.saved)?;
    }
    Ok(())
}

/// SIGKILL to a container without a private pid namespace: killing the init
/// alone would leave its other processes running (no namespace teardown
/// ends them), so every process in the container's cgroup is killed, even
/// once the init is gone, as current runc (1.2+) does. Not running only
/// when the cgroup is gone too.
fn kill_cgroup(v: &super::View) -> Result<()> {
    if !v.saved.cgroup.dirs.iter().any(|d| d.exists()) {
        return Err(Error::NotRunning);
    }
    crate::cgroups::Manager::open(&v.saved.cgroup)?.signal_all(libc::SIGKILL, &v.saved.scope())?;
    if v.status == Status::Paused {
        // A frozen process dies only once thawed.
        super::pause::thaw_if_paused(&v.saved)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_signals_like_runc() {
        assert_eq!(parse_signal("9").unwrap(), 9);
        assert_eq!(parse_signal("KILL").unwrap(), 9);
        assert_eq!(parse_signal("SIGKILL").unwrap(), 9);
        assert_eq!(parse_signal("sigterm").unwrap(), 15);
        assert_eq!(parse_signal("usr1").unwrap(), libc::SIGUSR1);
        assert_eq!(
            parse_signal("FOO").unwrap_err().to_string(),
            "unknown signal \"FOO\""
        );
        assert_eq!(parse_signal("0").unwrap(), 0);
        assert!(parse_signal("65").is_err());
    }
}
