//! What can go wrong in one client command.

/// A failed command: the message is printed once, by `main`, and the
/// client exits 1.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("connect to {path}: {source}")]
    Connect {
        path: String,
        source: tonic::transport::Error,
    },
    /// A CRI call returned an error status (its message is containerd's).
    #[error("{call}: {}", .status.message())]
    Call {
        call: &'static str,
        status: tonic::Status,
    },
    #[error("{0}: no such field in the response")]
    Missing(&'static str),
    #[error("streaming exec: {0}")]
    Stream(String),
}

pub type Result<T> = std::result::Result<T, Error>;

/// `status` of the CRI call `call` as an [`Error`].
pub fn call(call: &'static str) -> impl FnOnce(tonic::Status) -> Error {
    move |status| Error::Call { call, status }
}
