//! The error type of the container operations, and how subsystem errors
//! fold into it.
//!
//! Each subsystem has its own error enum (`StateError`, `CgroupError`,
//! `RootfsError`, `NamespaceError`, `SeccompError`, `SyncError`) whose variants carry
//! what a caller or a test can act on; `Error` wraps each one
//! transparently, so the message is the subsystem's own. Messages follow
//! runc's wording where callers match on them (containerd treats "does not
//! exist" as not-found); everything else names the file, field, syscall and
//! errno. Errors are reported once, at the CLI edge (`cli::report`).

use std::io;

pub use crate::cgroups::CgroupError;
pub use crate::namespaces::NamespaceError;
pub use crate::process::sync::SyncError;
pub use crate::rootfs::RootfsError;
pub use crate::seccomp::SeccompError;
pub use crate::state::StateError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The container's init is not (or no longer) running.
    #[error("container not running")]
    NotRunning,
    /// `resume` of a container that is not paused.
    #[error("container not paused")]
    NotPaused,
    /// `delete` (without --force) of a container that is running or paused.
    #[error("cannot delete container {id} that is not stopped: {}", status.as_str())]
    NotStopped {
        id: String,
        status: crate::state::Status,
    },
    /// A problem with config.json (or another input the user wrote), naming
    /// the field.
    #[error("{0}")]
    Config(String),
    /// A failed system operation, with what we were doing.
    #[error("{context}: {source}")]
    Io { context: String, source: io::Error },
    /// Anything else, already phrased for the user.
    #[error("{0}")]
    Msg(String),
    /// `source`, prefixed with the failed command (e.g. "berth create
    /// failed"); the source keeps its type.
    #[error("{what}: {source}")]
    Wrapped {
        what: &'static str,
        source: Box<Error>,
    },
    /// The container's state directory (includes "container does not
    /// exist" and "container with given ID already exists").
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Cgroup(#[from] CgroupError),
    #[error(transparent)]
    Rootfs(#[from] RootfsError),
    #[error(transparent)]
    Namespace(#[from] NamespaceError),
    #[error(transparent)]
    Userns(#[from] crate::userns::UsernsError),
    /// Writing a rootless container's maps (directly or by newuidmap).
    #[error(transparent)]
    IdMap(#[from] crate::idmap_helpers::IdMapError),
    #[error(transparent)]
    Seccomp(#[from] SeccompError),
    /// The create/exec sync channel (runc's "unable to start container
    /// process: …" for a failed init).
    #[error(transparent)]
    Sync(#[from] SyncError),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn msg(m: impl Into<String>) -> Error {
        Error::Msg(m.into())
    }

    pub fn config(m: impl Into<String>) -> Error {
        Error::Config(m.into())
    }

    /// Prefixes the message with `what` (e.g. "berth create failed").
    pub fn wrap(self, what: &'static str) -> Error {
        Error::Wrapped {
            what,
            source: Box::new(self),
        }
    }

    /// Whether this is "container does not exist", however wrapped.
    pub fn is_not_exist(&self) -> bool {
        match self {
            Error::State(StateError::NotExist) => true,
            Error::Wrapped { source, .. } => source.is_not_exist(),
            _ => false,
        }
    }
}

/// Defines a subsystem's `Context` trait: `.ctx(|| format!("open {path}"))`
/// on an `io::Result` or `nix::Result` turns the failure into the error
/// type's `Io { context, source }` variant.
macro_rules! io_context {
    ($(#[$doc:meta])* $vis:vis trait $name:ident for $err:ident) => {
        $(#[$doc])*
        $vis trait $name<T> {
            fn ctx<F: FnOnce() -> String>(self, f: F) -> std::result::Result<T, $err>;
        }

        impl<T> $name<T> for std::io::Result<T> {
            fn ctx<F: FnOnce() -> String>(self, f: F) -> std::result::Result<T, $err> {
                self.map_err(|source| $err::Io {
                    context: f(),
                    source,
                })
            }
        }

        impl<T> $name<T> for nix::Result<T> {
            fn ctx<F: FnOnce() -> String>(self, f: F) -> std::result::Result<T, $err> {
                self.map_err(|e| $err::Io {
                    context: f(),
                    source: std::io::Error::from(e),
                })
            }
        }
    };
}
pub(crate) use io_context;

io_context! {
    /// Adds context to I/O errors: `.ctx(|| format!("open {path}"))`.
    pub trait Context for Error
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapping_keeps_the_message_and_the_type() {
        let e = Error::from(StateError::NotExist).wrap("berth create failed");
        assert_eq!(
            e.to_string(),
            "berth create failed: container does not exist"
        );
        assert!(e.is_not_exist());
        assert!(!Error::NotRunning.is_not_exist());
    }

    #[test]
    fn lifecycle_refusals_keep_runc_wording() {
        let e = Error::NotStopped {
            id: "c1".into(),
            status: crate::state::Status::Running,
        };
        assert_eq!(
            e.to_string(),
            "cannot delete container c1 that is not stopped: running"
        );
        assert_eq!(Error::NotPaused.to_string(), "container not paused");
        assert_eq!(Error::NotRunning.to_string(), "container not running");
    }

    #[test]
    fn context_names_the_operation() {
        let r: io::Result<()> = Err(io::Error::from_raw_os_error(libc::ENOENT));
        let e = r.ctx(|| "open /x".into()).unwrap_err();
        assert!(matches!(&e, Error::Io { source, .. } if source.kind() == io::ErrorKind::NotFound));
        assert_eq!(
            e.to_string(),
            format!("open /x: {}", io::Error::from_raw_os_error(libc::ENOENT))
        );
    }
}
