//! berth: a runc-compatible OCI container runtime.
//!
//! Layers (DESIGN §1): `cli` → `container` (operations) → subsystems
//! (`spec`, `state`, `process`, `namespaces`, `rootfs`, `capabilities`,
//! `rlimits`, `sysctl`, `user`, `hooks`, `seccomp`, `binary`) → `sys` (the only home of
//! code the compiler cannot check). Nothing below `cli` prints.

pub mod binary;
pub mod capabilities;
pub mod cgroups;
pub mod cli;
pub mod container;
pub mod error;
pub mod hooks;
pub mod log;
pub mod namespaces;
pub mod notify;
pub mod process;
pub mod rlimits;
pub mod rootfs;
pub mod seccomp;
pub mod spec;
pub mod state;
pub mod sys;
pub mod sysctl;
pub mod timefmt;
pub mod tty;
pub mod user;
