//! `prlimit(2)`: the resource limits of another process (or the caller's,
//! pid 0), which `setrlimit` cannot reach.

use std::io;

use nix::sys::resource::Resource;

/// (soft, hard) of `res` for `pid`.
pub fn get(pid: libc::pid_t, res: Resource) -> io::Result<(u64, u64)> {
    let mut old = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: no new limit; the kernel fills `old`, which we own.
    if unsafe { libc::prlimit(pid, res as _, std::ptr::null(), &mut old) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((old.rlim_cur, old.rlim_max))
}

/// Sets `res` of `pid` to (soft, hard).
pub fn set(pid: libc::pid_t, res: Resource, soft: u64, hard: u64) -> io::Result<()> {
    let new = libc::rlimit {
        rlim_cur: soft,
        rlim_max: hard,
    };
    // SAFETY: `new` is a valid rlimit we own; no old value asked.
    if unsafe { libc::prlimit(pid, res as _, &new, std::ptr::null_mut()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn get_matches_getrlimit_and_set_keeps_it() {
        let want = nix::sys::resource::getrlimit(Resource::RLIMIT_NOFILE).unwrap();
        assert_eq!(get(0, Resource::RLIMIT_NOFILE).unwrap(), want);
        set(0, Resource::RLIMIT_NOFILE, want.0, want.1).unwrap();
        assert_eq!(get(0, Resource::RLIMIT_NOFILE).unwrap(), want);
        assert!(get(-1, Resource::RLIMIT_NOFILE).is_err());
    }
}
