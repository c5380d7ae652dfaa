//! containerd-shim-berth-v2: the containerd shim v2 (runtime type
//! `io.containerd.berth.v2`, task API v2) for berth, or any runc-compatible
//! runtime through the BinaryName option. See README.md ("Shim") and
//! docs/architecture.md §12.
//!
//! Threads: main (waits for Shutdown), containerd-shim's signal thread, the
//! reaper, the io thread (every output stream and OOM watch), one per
//! process reading its stdin fifo, and the ttrpc server's threads.

mod console;
mod container;
mod error;
mod events;
mod io;
mod logger;
mod mount;
mod oom;
mod options;
mod process;
mod pump;
mod reaper;
mod runtime;
mod service;
mod shim;
mod stats;

fn main() {
    let config = containerd_shim::Config {
        // Our own reaper owns waitpid (see reaper.rs); containerd-shim's
        // would steal the runtime commands' exit statuses.
        no_reaper: true,
        ..Default::default()
    };
    containerd_shim::run::<shim::Shim>("io.containerd.berth.v2", Some(config));
}
