//! berth: a runc-compatible OCI container runtime.
//!
//! Layers (docs/architecture.md §1): `cli` → `container` (operations) → subsystems
//! (`spec`, `state`, `process`, `namespaces`, `rootfs`, `capabilities`,
//! `rlimits`, `sysctl`, `user`, `hooks`, `seccomp`, `binary`) → `sys` (the only home of
//! code the compiler cannot check). Nothing below `cli` prints.
//!
//! Every module is private to the crate. Outside it there are: `api`, the
//! library surface (what the containerd shim uses); `main`, the whole of the
//! `berth` binary; and, hidden, `fuzzing`, the parsers the cargo-fuzz
//! targets drive.

pub mod api;
#[doc(hidden)]
pub mod fuzzing;

/// The `berth` command line: runs it and returns the exit status.
pub use cli::main;
pub use sys::startup::prepare_process;

pub(crate) mod binary;
pub(crate) mod capabilities;
pub(crate) mod cgroups;
pub(crate) mod cli;
pub(crate) mod container;
pub(crate) mod error;
pub(crate) mod go_text;
pub(crate) mod hooks;
pub(crate) mod idmap_helpers;
pub(crate) mod intel_rdt;
pub(crate) mod log;
pub(crate) mod namespaces;
pub(crate) mod netdevices;
pub(crate) mod notify;
pub(crate) mod process;
pub(crate) mod rlimits;
pub(crate) mod rootfs;
pub(crate) mod rootless;
pub(crate) mod seccomp;
pub(crate) mod spec;
pub(crate) mod state;
pub(crate) mod sys;
pub(crate) mod sysctl;
pub(crate) mod timefmt;
pub(crate) mod tty;
pub(crate) mod user;
pub(crate) mod userns;
