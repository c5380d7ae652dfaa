//! containerd-shim-berth-v2: the containerd shim v2 (runtime type
//! `io.containerd.berth.v2`, task API v2) for berth, or any runc-compatible
//! runtime through the BinaryName option. See README.md ("Shim") and
//! docs/architecture.md §12.
//!
//! Threads of a running shim, however many containers and execs it serves:
//! main (the ttrpc server's event loop, `server`), "task" (runs the Task
//! service's requests), "reaper", and "io" (every stdio stream and OOM
//! watch, `pump`). The bootstrap (`start`, `delete`, flags) is ours too
//! (`shim`).

mod console;
mod container;
mod error;
mod events;
mod forward;
mod io;
mod logger;
mod mount;
mod oom;
mod options;
mod process;
mod pump;
mod reaper;
mod runtime;
mod server;
mod service;
mod shim;
mod stats;
mod wire;

fn main() {
    std::process::exit(shim::run());
}
