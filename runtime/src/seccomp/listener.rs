//! SCMP_ACT_NOTIFY: handing a filter's listener fd to the seccomp agent
//! (config-linux.md, `listenerPath` and "The Container Process State").
//!
//! The process that loaded the filter passes the fd to the runtime over its
//! sync channel; the runtime connects to the agent's `AF_UNIX`/`SOCK_STREAM`
//! socket, sends the container process state as JSON with the fd in
//! `SCM_RIGHTS` in one `sendmsg(2)`, and closes the connection (one state per
//! connection, as the spec demands). The agent, not berth, answers the
//! notifications from then on.

use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::socket::{self, sockopt, AddressFamily, SockFlag, SockType, UnixAddr};
use nix::sys::time::TimeVal;
use oci_spec::runtime::{LinuxSeccomp, LinuxSeccompAction};

use super::SeccompError;

/// How long connecting to the agent and sending to it may block (a full
/// listen backlog, a full socket buffer): the runtime never hangs on an agent.
const AGENT_TIMEOUT: Duration = Duration::from_secs(10);

/// The `fds` name of the listener fd.
const SECCOMP_FD_NAME: &str = "seccompFd";

/// The listener settings must be consistent (checked before any cache
/// lookup: the cache key leaves them out). A NOTIFY rule needs a
/// `listenerPath`; `listenerMetadata` needs one too.
pub fn check(seccomp: &LinuxSeccomp) -> Result<(), SeccompError> {
    let invalid = |field: &str, msg: &str| SeccompError::Invalid {
        field: format!("linux.seccomp.{field}"),
        msg: msg.into(),
    };
    let path = seccomp
        .listener_path()
        .as_ref()
        .filter(|p| !p.as_os_str().is_empty());
    if seccomp.listener_metadata().is_some() && path.is_none() {
        return Err(invalid(
            "listenerMetadata",
            "must not be set without listenerPath",
        ));
    }
    let notify = seccomp
        .syscalls()
        .iter()
        .flatten()
        .position(|r| r.action() == LinuxSeccompAction::ScmpActNotify);
    if let (Some(i), None) = (notify, path) {
        return Err(invalid(
            "listenerPath",
            &format!("is required: syscalls[{i}] uses SCMP_ACT_NOTIFY, and the runtime must hand the listener fd to a seccomp agent"),
        ));
    }
    Ok(())
}

/// Where the listener fd of a profile goes, and the metadata that goes along.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Agent {
    pub path: PathBuf,
    pub metadata: Option<String>,
}

impl Agent {
    /// The agent of a profile with a `listenerPath`.
    pub fn of(seccomp: &LinuxSeccomp) -> Option<Agent> {
        let path = seccomp
            .listener_path()
            .clone()
            .filter(|p| !p.as_os_str().is_empty())?;
        Some(Agent {
            path,
            metadata: seccomp.listener_metadata().clone(),
        })
    }

    /// The container process state document: `pid` is the process whose
    /// filter this is; `state` the container's OCI state (JSON).
    pub fn process_state(&self, oci_version: &str, pid: i32, state: &[u8]) -> Vec<u8> {
        let state: serde_json::Value = serde_json::from_slice(state).unwrap_or_default();
        let mut doc = serde_json::json!({
            "ociVersion": oci_version,
            "fds": [SECCOMP_FD_NAME],
            "pid": pid,
            "state": state,
        });
        if let Some(m) = &self.metadata {
            doc["metadata"] = m.as_str().into();
        }
        serde_json::to_vec(&doc).unwrap_or_default()
    }

    /// Connects to the agent and sends `doc` with `fd` attached, then closes
    /// the connection. Our copy of `fd` stays with the caller.
    pub fn send(&self, doc: &[u8], fd: BorrowedFd) -> Result<(), SeccompError> {
        let fail = |what: &str, e: std::io::Error| SeccompError::Agent {
            path: self.path.clone(),
            what: what.to_string(),
            source: e,
        };
        let sock = connect(&self.path).map_err(|source| SeccompError::AgentConnect {
            path: self.path.clone(),
            source,
        })?;
        crate::sys::scm::send_with_fds(sock.as_fd(), doc, &[fd])
            .map_err(|e| fail("send the container process state to", e))
    }
}

fn connect(path: &Path) -> std::io::Result<std::os::fd::OwnedFd> {
    let sock = socket::socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    let timeout = TimeVal::new(AGENT_TIMEOUT.as_secs() as _, 0);
    // On AF_UNIX, SO_SNDTIMEO also bounds a connect that waits for room in
    // the agent's listen backlog.
    socket::setsockopt(&sock, sockopt::SendTimeout, &timeout)?;
    let addr = UnixAddr::new(path)?;
    loop {
        match socket::connect(std::os::fd::AsRawFd::as_raw_fd(&sock), &addr) {
            Ok(()) => return Ok(sock),
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}
