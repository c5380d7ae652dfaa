//! The cases, one module per topic. Each module exports `CASES`.

mod cgroups;
mod devices;
mod errors;
mod exec;
mod hooks;
mod lifecycle;
mod mounts;
mod namespaces;
mod notify;
mod pause;
mod process;
mod robustness;
mod seccomp;
mod security;
mod tty;
mod tty_relay;
pub mod util;

use crate::CaseFn;

/// Every case, in run order.
pub fn all() -> Vec<(&'static str, CaseFn)> {
    [
        lifecycle::CASES,
        errors::CASES,
        namespaces::CASES,
        mounts::CASES,
        devices::CASES,
        process::CASES,
        hooks::CASES,
        exec::CASES,
        pause::CASES,
        cgroups::CASES,
        security::CASES,
        seccomp::CASES,
        tty::CASES,
        tty_relay::CASES,
        notify::CASES,
        robustness::CASES,
    ]
    .concat()
}
