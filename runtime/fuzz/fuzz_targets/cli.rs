//! The command line: `cli::parse_only` runs clap's `try_parse_from` on the
//! same `Cli` as `berth` does, and nothing else (no command is dispatched).
//! Input: argv words separated by NUL bytes; `berth` is argv[0]. Errors are
//! rendered as `main` would print them.
#![no_main]

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let argv = std::iter::once(OsString::from("berth")).chain(
        data.split(|&b| b == 0)
            .filter(|w| !data.is_empty() || !w.is_empty())
            .map(|w| OsString::from_vec(w.to_vec())),
    );
    match berth::fuzzing::cli::parse_only(argv) {
        Ok(debug) => assert!(debug.starts_with("Cli")),
        Err(e) => {
            let _ = e.render().to_string();
            let _ = e.use_stderr();
            let _ = e.exit_code();
        }
    }
});
