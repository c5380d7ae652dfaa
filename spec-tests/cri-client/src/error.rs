//! What can go wrong in one client command.

/// A failed command: the message is printed once, by `main`, and the
/// client exits 1.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `reason`: the transport error and its causes ("transport error"
    /// alone says nothing).
    #[error("connect to {path}: {reason}")]
    Connect { path: String, reason: String },
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

/// `e` and each of its causes, joined by ": " (a cause that repeats the
/// text before it, as wrappers that print their source do, once).
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !s.ends_with(&text) {
            s.push_str(": ");
            s.push_str(&text);
        }
        cause = c.source();
    }
    s
}

/// `status` of the CRI call `call` as an [`Error`].
pub fn call(call: &'static str) -> impl FnOnce(tonic::Status) -> Error {
    move |status| Error::Call { call, status }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn causes_are_joined() {
        let e = Outer(std::io::Error::from_raw_os_error(2)); // ENOENT
        assert_eq!(chain(&e), "outer: No such file or directory (os error 2)");
    }
}
