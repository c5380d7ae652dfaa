//! A command's output on stdout. When the reader has gone (`berth list |
//! head -1`), the output ends quietly, as runc's does (Go exits on the
//! SIGPIPE), instead of the panic `println!` gives on a closed pipe.

use std::io::Write;

/// Writes `text` to stdout and flushes it; a failed write ends the output.
pub fn print(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

/// `print` with a newline.
pub fn println(text: &str) {
    print(&format!("{text}\n"));
}
