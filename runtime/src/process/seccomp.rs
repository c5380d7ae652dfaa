//! Loading a container process's seccomp filter at its moment (docs/architecture.md §8),
//! and for SCMP_ACT_NOTIFY, the hand-over of the listener fd: the process
//! sends it to the runtime over the sync channel (SCM_RIGHTS) and waits; the
//! runtime gives it to the seccomp agent with the container process state
//! and lets the process go on.

use std::os::fd::{AsFd, OwnedFd};

use oci_spec::runtime::Process;

use super::sync::{Channel, Msg};
use crate::error::{Context, Error, Result};
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
    fn of(prog: &Program, p: &Process) -> Before {
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
    chan: &Channel,
) -> Result<()> {
    let Some(prog) = prog.filter(|prog| at.contains(&Before::of(prog, p))) else {
        return Ok(());
    };
    let listener = crate::seccomp::install(prog)?;
    let Some(fd) = listener else {
        return Ok(());
    };
    // The only syscall between loading and the hand-over is this sendmsg,
    // which a profile may not notify (seccomp/profile.rs).
    chan.send_fd(&Msg::Seccomp, fd.as_fd())
        .ctx(|| "send the seccomp listener fd to the runtime".into())?;
    drop(fd);
    match chan.recv().ctx(|| "sync with runtime".into())? {
        Some(Msg::SeccompDone) => Ok(()),
        _ => Err(Error::msg(
            "the runtime did not hand the seccomp listener fd to the agent",
        )),
    }
}

/// Hands a NOTIFY filter's listener fd, received from the process `pid`
/// that loaded it, to the seccomp agent with the container's `state`, then
/// lets the process go on. Our copy of the fd is the caller's to close.
pub(super) fn hand_to_agent(
    chan: &Channel,
    agent: Option<&Agent>,
    pid: i32,
    state: &[u8],
    fd: Option<&OwnedFd>,
) -> Result<()> {
    let (Some(agent), Some(fd)) = (agent, fd) else {
        return Err(Error::msg(
            "seccomp: the process reported a listener fd, but there is none or no listenerPath",
        ));
    };
    let doc = agent.process_state(crate::state::OCI_VERSION, pid, state);
    agent.send(&doc, fd.as_fd())?;
    chan.send(&Msg::SeccompDone)
        .ctx(|| "sync after handing the seccomp listener fd to the agent".into())
}
