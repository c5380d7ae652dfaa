//! The error type of the container operations. Messages follow runc's wording
//! where callers match on them (containerd treats "does not exist" as
//! not-found); everything else names the file, field, syscall and errno.

use std::io;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("container does not exist")]
    NotExist,
    #[error("container with given ID already exists")]
    Exists,
    #[error("container not running")]
    NotRunning,
    #[error("invalid id format: {0}")]
    InvalidId(String),
    /// A problem with config.json, naming the field.
    #[error("{0}")]
    Config(String),
    /// A failed system operation, with what we were doing.
    #[error("{context}: {source}")]
    Io { context: String, source: io::Error },
    /// Anything else, already phrased for the user.
    #[error("{0}")]
    Msg(String),
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
    pub fn wrap(self, what: &str) -> Error {
        Error::Msg(format!("{what}: {self}"))
    }
}

/// Adds context to I/O errors: `.ctx(|| format!("open {path}"))`.
pub trait Context<T> {
    fn ctx<F: FnOnce() -> String>(self, f: F) -> Result<T>;
}

impl<T> Context<T> for io::Result<T> {
    fn ctx<F: FnOnce() -> String>(self, f: F) -> Result<T> {
        self.map_err(|source| Error::Io {
            context: f(),
            source,
        })
    }
}

impl<T> Context<T> for nix::Result<T> {
    fn ctx<F: FnOnce() -> String>(self, f: F) -> Result<T> {
        self.map_err(|e| Error::Io {
            context: f(),
            source: io::Error::from(e),
        })
    }
}
