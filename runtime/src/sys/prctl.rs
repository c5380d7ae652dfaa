//! `prctl(2)` for the options berth uses, all of which take integers only.

use std::io;

/// The options `set` accepts: each takes its argument as an integer (arg2)
/// and wants the remaining arguments zero, so none makes the kernel read or
/// write our memory.
const INTEGER_OPTIONS: [libc::c_int; 5] = [
    libc::PR_SET_PDEATHSIG,
    libc::PR_SET_NO_NEW_PRIVS,
    libc::PR_SET_DUMPABLE,
    libc::PR_SET_KEEPCAPS,
    libc::PR_CAPBSET_DROP,
];

/// `prctl(option, arg, 0, 0, 0)` for one of PR_SET_PDEATHSIG,
/// PR_SET_NO_NEW_PRIVS, PR_SET_DUMPABLE, PR_SET_KEEPCAPS and PR_CAPBSET_DROP;
/// EINVAL, without a syscall, for any other option (some take pointers).
pub fn set(option: libc::c_int, arg: libc::c_ulong) -> io::Result<()> {
    if !INTEGER_OPTIONS.contains(&option) {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    // SAFETY: `option` is one of INTEGER_OPTIONS (checked above): the kernel
    // treats `arg` as a number and touches none of our memory.
    let r = unsafe { libc::prctl(option, arg, 0, 0, 0) };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// PR_CAP_AMBIENT_RAISE of capability `cap`.
pub fn ambient_raise(cap: u32) -> io::Result<()> {
    // SAFETY: PR_CAP_AMBIENT with PR_CAP_AMBIENT_RAISE takes the capability
    // as a number; no pointers.
    let r = unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_RAISE as libc::c_ulong,
            libc::c_ulong::from(cap),
            0,
            0,
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointer_options_are_refused_without_a_syscall() {
        let e = set(libc::PR_GET_PDEATHSIG, 0).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EINVAL));
    }
}
