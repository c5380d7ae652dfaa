//! cgroups (docs/architecture.md §7): v1, v2 and hybrid hosts.
//!
//! `Manager::create` makes the container's leaf in every mounted hierarchy
//! and writes the limits before any process exists; the init is then born
//! in the v2 leaf (`v2_dir_fd` for clone3's CLONE_INTO_CGROUP) and placed in
//! the v1 leaves by the child itself through a `Placement`. Later commands reopen the cgroup from the
//! `CgroupRecord` kept in the state file. Control files are written directly
//! (see `fs` for why not cgroups-rs); the v2 device filter is an eBPF program
//! of our own (`ebpf`).

mod apply;
pub mod convert;
pub mod devices;
pub mod ebpf;
mod error;
mod freezer;
pub mod fs;
pub mod hierarchy;
mod manager;
mod mounts;
pub mod oom;
pub mod path;
mod procs;
pub(crate) mod rootless;
pub mod stats;
mod sub;
pub mod systemd;
pub mod v1;
pub mod v2;

#[cfg(test)]
mod tests;

pub use devices::runc_default_rules;
pub use error::CgroupError;
pub use freezer::is_frozen;
#[cfg(test)]
pub use freezer::FreezerState;
pub use hierarchy::Mode;
pub use manager::{CgroupConfig, CgroupRecord, Manager};
pub use oom::OomWatch;
pub use path::CgroupsPath;
pub use procs::{pid_ns_of, Placement, Scope};
