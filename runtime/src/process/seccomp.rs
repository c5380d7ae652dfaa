//! Loading a container process's seccomp filter at its moment (docs/architecture.md §8),
//! and for SCMP_ACT_NOTIFY, the hand-over of the listener fd: the process
//! sends it to the runtime over the sync channel (SCM_RIGHTS) and waits; the
//! runtime gives it to the seccomp agent with the container process state
//! and lets the process go on.

use std::os::fd::BorrowedFd;

use oci_spec::runtime::Process;

use super::sync::{FromInit, InitEnd};
use crate::error::{Error, Result};
use crate::seccomp::{Agent, Program};

/// When the seccomp filter is loaded: right before which step (docs/architecture.md §8).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Before {
    /// Without no_new_privs: while CAP_SYS_ADMIN is still held.
    User,
    /// no_new_privs with SCMP_ACT_NOTIFY: before the init reports ready, while
    /// the runtime is still there to take the listener fd to the agent.
    Handoff,
    /// no_new_privs otherwise: last, right before execve.
    Exec,
}

impl Before {
    pub(super) fn of(prog: &Program, p: &Process) -> Before {
        match (p.no_new_privileges() == Some(true), prog.notify) {
            (false, _) => Before::User,
            (true, true) => Before::Handoff,
            (true, false) => Before::Exec,
        }
    }
}

/// Loads the seccomp filter if this is its moment (one of `at`). A NOTIFY
/// filter's listener fd goes to the runtime, which hands it to the agent;
/// the process waits until the agent has it, so that its own notified
/// syscalls from here on are answered.
pub(super) fn load_seccomp(
    prog: Option<&Program>,
    p: &Process,
    at: &[Before],
    chan: &InitEnd,
) -> Result<()> {
    let Some(prog) = prog.filter(|prog| at.contains(&Before::of(prog, p))) else {
        return Ok(());
    };
    tracing::debug!("seccomp: loading the filter");
    // The filter may refuse the sync channel's send: no record after it.
    crate::log::silence();
    let listener = crate::seccomp::install(prog)?;
    let Some(fd) = listener else {
        return Ok(());
    };
    // The only syscall between loading and the hand-over is this sendmsg,
    // which a profile may not notify (seccomp/profile.rs). Our copy of the
    // fd is closed once sent; then we wait for SeccompDone.
    chan.request(FromInit::Seccomp(fd))?;
    Ok(())
}

/// Hands a NOTIFY filter's listener fd, received from the process `pid`
/// that loaded it, to the seccomp agent with the container's `state`. The
/// sync loop then lets the process go on and closes our copy of the fd.
pub(super) fn hand_to_agent(
    agent: Option<&Agent>,
    pid: i32,
    state: &[u8],
    fd: BorrowedFd,
) -> Result<()> {
    let Some(agent) = agent else {
        return Err(Error::msg(
            "seccomp: the process reported a listener fd, but there is none or no listenerPath",
        ));
    };
    let doc = agent.process_state(crate::state::OCI_VERSION, pid, state);
    agent.send(&doc, fd)?;
    Ok(())
}
