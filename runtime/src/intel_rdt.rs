//! `linux.intelRdt` (Intel RDT cache and memory-bandwidth allocation through
//! the resctrl filesystem). berth does not implement it: a config that asks
//! for it is refused, naming the field. Where the host has no resctrl
//! filesystem mounted (as on these VMs) the error says so in current runc's
//! words, since no runtime could honour the field there.

use oci_spec::runtime::LinuxIntelRdt;

use crate::error::{Error, Result};

/// Whether a resctrl filesystem is mounted (read only when the config has
/// `linux.intelRdt`).
fn resctrl_mounted() -> bool {
    std::fs::read_to_string("/proc/self/mounts").is_ok_and(|m| {
        m.lines()
            .any(|l| l.split_whitespace().nth(2) == Some("resctrl"))
    })
}

/// Refuses `linux.intelRdt`, with the reason.
pub fn validate(_rdt: &LinuxIntelRdt) -> Result<()> {
    if !resctrl_mounted() {
        return Err(Error::config(
            "linux.intelRdt: intelRdt is specified in config, but Intel RDT is not enabled (no resctrl filesystem is mounted)",
        ));
    }
    Err(Error::config(
        "linux.intelRdt: not implemented yet in berth",
    ))
}
