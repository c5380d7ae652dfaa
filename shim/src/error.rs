//! The shim's errors, and how they travel back to containerd.
//!
//! containerd maps ttrpc status codes to its errdefs (NOT_FOUND is "not
//! found", FAILED_PRECONDITION "failed precondition", ...) and shows the
//! message to the user, so a runtime failure carries the runtime's own last
//! error line.

use containerd_shim::protos::ttrpc;

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
    /// The runtime binary failed; the message is the caller-facing one.
    #[error("{0}")]
    Runtime(String),
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
            Error::Runtime(_) | Error::Io { .. } | Error::Shim(_) => ttrpc::Code::UNKNOWN,
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
