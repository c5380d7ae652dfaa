//! The shim's errors, and how they travel back to containerd.
//!
//! containerd maps ttrpc status codes to its errdefs (NOT_FOUND is "not
//! found", FAILED_PRECONDITION "failed precondition", ...) and shows the
//! message to the user, so a runtime failure carries the runtime's own last
//! error line. That line is classified here, once (`RuntimeFailure`), and
//! the status code chosen here, once (`From<Error> for ttrpc::Error`).
//! Errors are logged once, by the service (`service::traced`), or by the
//! caller that swallows one.

use containerd_shim::protos::ttrpc;

/// What a failed runtime command means, read from its error message: the
/// runc wording, which berth keeps (see berth's `error.rs`) and clients of
/// runc match on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuntimeFailure {
    /// The runtime has no such container.
    NotFound,
    /// A container of that id exists already.
    AlreadyExists,
    /// The container (or process) is not running any more.
    NotRunning,
    Other,
}

/// Message fragments and what they mean. runc and berth say "container does
/// not exist", "container with given ID already exists" and "container not
/// running"; Go's os package (a runtime written in Go signalling a reaped
/// process) says "process already finished".
const FAILURES: [(&str, RuntimeFailure); 4] = [
    ("container does not exist", RuntimeFailure::NotFound),
    (
        "container with given ID already exists",
        RuntimeFailure::AlreadyExists,
    ),
    ("container not running", RuntimeFailure::NotRunning),
    ("process already finished", RuntimeFailure::NotRunning),
];

impl RuntimeFailure {
    /// Classifies a runtime's error message.
    pub fn of(msg: &str) -> RuntimeFailure {
        FAILURES
            .iter()
            .find(|(fragment, _)| msg.contains(fragment))
            .map_or(RuntimeFailure::Other, |(_, kind)| *kind)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No such container or process in this shim.
    #[error("{0}: not found")]
    NotFound(String),
    /// The request does not fit the process's state.
    #[error("{0}")]
    Precondition(String),
    /// Malformed request (bad options, bad spec).
    #[error("{0}")]
    InvalidArgument(String),
    /// The runtime binary failed: `msg` is its last error line (or stderr,
    /// or its exit status).
    #[error("OCI runtime {verb} failed: {msg}")]
    Runtime {
        verb: String,
        msg: String,
        /// The runtime's exit status.
        status: i32,
        kind: RuntimeFailure,
    },
    /// A system call or file operation of the shim itself.
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    /// Something the shim library failed at.
    #[error("{0}")]
    Shim(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A failed runtime command (see `RuntimeFailure`).
    pub fn runtime(verb: &str, status: i32, msg: String) -> Error {
        Error::Runtime {
            verb: verb.to_string(),
            kind: RuntimeFailure::of(&msg),
            msg,
            status,
        }
    }

    /// What a runtime failure means; `None` for the shim's own errors.
    pub fn runtime_failure(&self) -> Option<RuntimeFailure> {
        match self {
            Error::Runtime { kind, .. } => Some(*kind),
            _ => None,
        }
    }

    pub fn io(what: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io {
            what: what.into(),
            source,
        }
    }
}

impl From<nix::Error> for Error {
    fn from(e: nix::Error) -> Error {
        Error::io("system call", std::io::Error::from(e))
    }
}

impl From<containerd_shim::Error> for Error {
    fn from(e: containerd_shim::Error) -> Error {
        Error::Shim(e.to_string())
    }
}

impl From<Error> for ttrpc::Error {
    fn from(e: Error) -> ttrpc::Error {
        let code = match &e {
            Error::NotFound(_) => ttrpc::Code::NOT_FOUND,
            Error::Precondition(_) => ttrpc::Code::FAILED_PRECONDITION,
            Error::InvalidArgument(_) => ttrpc::Code::INVALID_ARGUMENT,
            Error::Runtime { kind, .. } => match kind {
                RuntimeFailure::NotFound => ttrpc::Code::NOT_FOUND,
                RuntimeFailure::AlreadyExists => ttrpc::Code::ALREADY_EXISTS,
                RuntimeFailure::NotRunning => ttrpc::Code::FAILED_PRECONDITION,
                RuntimeFailure::Other => ttrpc::Code::UNKNOWN,
            },
            Error::Io { .. } | Error::Shim(_) => ttrpc::Code::UNKNOWN,
        };
        ttrpc::Error::RpcStatus(ttrpc::get_status(code, e.to_string()))
    }
}

/// Adds context to io results: `.ctx(|| format!("open {p}"))`.
pub trait IoContext<T> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| Error::io(what(), e))
    }
}

impl<T> IoContext<T> for nix::Result<T> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| Error::io(what(), std::io::Error::from(e)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(e: Error) -> ttrpc::Code {
        match ttrpc::Error::from(e) {
            ttrpc::Error::RpcStatus(s) => s.code(),
            other => panic!("not a status: {other:?}"),
        }
    }

    #[test]
    fn runtime_failures_are_classified_by_runc_wording() {
        let cases = [
            (
                "berth kill failed: container does not exist",
                RuntimeFailure::NotFound,
            ),
            (
                "container with given ID already exists",
                RuntimeFailure::AlreadyExists,
            ),
            (
                "berth pause failed: container not running",
                RuntimeFailure::NotRunning,
            ),
            ("os: process already finished", RuntimeFailure::NotRunning),
            ("rootfs (/x) does not exist", RuntimeFailure::Other),
            ("exit status 1", RuntimeFailure::Other),
        ];
        for (msg, kind) in cases {
            assert_eq!(RuntimeFailure::of(msg), kind, "{msg}");
        }
    }

    #[test]
    fn status_codes() {
        let rt = |m: &str| Error::runtime("start", 1, m.into());
        assert_eq!(code(rt("container does not exist")), ttrpc::Code::NOT_FOUND);
        assert_eq!(
            code(rt("container with given ID already exists")),
            ttrpc::Code::ALREADY_EXISTS
        );
        assert_eq!(
            code(rt("container not running")),
            ttrpc::Code::FAILED_PRECONDITION
        );
        assert_eq!(code(rt("exec failed")), ttrpc::Code::UNKNOWN);
        assert_eq!(
            code(Error::NotFound("container c1".into())),
            ttrpc::Code::NOT_FOUND
        );
        assert_eq!(
            code(Error::Precondition("x".into())),
            ttrpc::Code::FAILED_PRECONDITION
        );
        let e = rt("berth start failed: boom");
        assert_eq!(
            e.to_string(),
            "OCI runtime start failed: berth start failed: boom"
        );
    }
}
