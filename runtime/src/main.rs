//! The `berth` binary's entry point.
//!
//! berth starts at the C entry `main` (`#![no_main]`) instead of Rust's
//! `lang_start`, whose set-up costs every short-lived invocation about 0.1 ms
//! on this project's VMs: it finds the main thread's stack through glibc's
//! `pthread_getattr_np`, which reads and `sscanf`s all of `/proc/self/maps`,
//! and maps an alternate signal stack for its stack-overflow message. What
//! berth needs of that set-up is done here (docs/architecture.md §5):
//! fds 0–2 are opened on /dev/null when closed, so that no file berth opens
//! later lands on a standard stream (and from there in a container), and
//! SIGPIPE is ignored, so a closed pipe is an EPIPE error, not a kill. A
//! stack overflow is a plain SIGSEGV instead of Rust's message.
// A test build keeps the test harness's own `main`.
#![cfg_attr(not(test), no_main)]

#[cfg(not(test))]
use std::ffi::{c_char, c_int};

/// Called by glibc's start-up with the process's arguments, which std reads
/// on its own (`std::env::args_os`), so they are unused here.
// SAFETY: `no_mangle` exports the C symbol `main`; nothing else in the
// program defines it (Rust's own `main` shim is disabled by `#![no_main]`),
// and the signature is the one glibc's `__libc_start_main` calls.
#[cfg(not(test))]
#[allow(unsafe_code)]
#[no_mangle]
pub extern "C" fn main(_argc: c_int, _argv: *const *const c_char) -> c_int {
    berth::prepare_process();
    std::process::exit(berth::main())
}

#[cfg(test)]
mod tests {
    /// The test build must link the library as well: its entry point is
    /// the library's `berth_entry` stub too (runtime/build.rs), which a
    /// binary that used nothing of the library would lack.
    #[test]
    fn links_the_library() {
        let main: fn() -> i32 = berth::main;
        assert!(main as usize != 0);
    }
}
