//! Loading a program into the kernel for the calling thread.

use std::os::fd::OwnedFd;

use super::{Program, SeccompError};

/// Loads `program` with `seccomp(SECCOMP_SET_MODE_FILTER, program.flags, ..)`.
///
/// The caller must hold CAP_SYS_ADMIN or have set no_new_privs. Returns the
/// user-notification listener fd when the program has NOTIFY rules. Does not
/// allocate, so it is safe in a child forked from a threaded process.
pub fn install(program: &Program) -> Result<Option<OwnedFd>, SeccompError> {
    let flags = program.flags;
    if u16::try_from(program.filter.len()).is_err() {
        return Err(SeccompError::TooLong {
            len: program.filter.len(),
        });
    }
    // With NOTIFY rules, and only then, `flags` holds NEW_LISTENER (see
    // `compile_for`): the listener comes back exactly when `program.notify`.
    crate::sys::seccomp::set_mode_filter(flags, &program.filter)
        .map_err(|source| SeccompError::Install { flags, source })
}
