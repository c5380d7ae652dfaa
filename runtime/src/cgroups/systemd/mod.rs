//! The systemd cgroup driver (`--systemd-cgroup`, docs/architecture.md
//! §7.7): the container's cgroup is a transient scope unit that systemd
//! creates over D-Bus, with the init in it and its subtree delegated; the
//! limits are both unit properties and cgroup files.
//!
//! - `unit`: `slice:prefix:name` → the unit's name, slice and cgroup path;
//! - `props`: the unit's properties from `linux.resources`;
//! - `device_props`: the device rules as properties (v1);
//! - `bus`: the D-Bus calls.
//!
//! The rest of the cgroup code is shared with cgroupfs mode: `Manager`
//! points at the scope's directories and writes, reads, freezes and kills
//! there; only creation (`start`), `update` (`set`) and removal (`stop`)
//! go through systemd.

mod bus;
mod device_props;
mod props;
mod scope;
mod unit;

use std::borrow::Cow;
use std::path::Path;

use oci_spec::runtime::LinuxResources;

pub use unit::Unit;

use super::devices::DeviceState;
use super::error::Result;

/// Whether systemd is the host's init (its `sd_booted()` test, as runc).
pub fn running() -> bool {
    Path::new("/run/systemd/system").is_dir()
}

/// Creates the container's scope `unit` holding `pid` (the init), with the
/// properties of `r` and, on a v1 or hybrid host (`devices` given; `None`
/// means v2), of the device filter, and waits
/// until systemd has made it. Returns the resources to write to the scope's
/// files: `r`, with the CPU quota systemd rounded (`props::cpu_quota`) when
/// it did. `claimed` is set once systemd accepted the start (the unit is
/// then the container's own, even if its job fails).
pub fn start<'r>(
    unit: &Unit,
    id: &str,
    pid: i32,
    r: &'r LinuxResources,
    devices: Option<&DeviceState>,
    claimed: &std::cell::Cell<bool>,
) -> Result<Cow<'r, LinuxResources>> {
    let started = std::time::Instant::now();
    let v2 = devices.is_none();
    let mut bus = bus::Bus::connect()?;
    let res = props::resources(r, v2, &mut || bus.version())?;
    let pid = u32::try_from(pid).unwrap_or_default();
    let mut all = props::scope(format!("berth container {id}"), &unit.slice, pid, v2);
    all.extend(res.props);
    if let Some(d) = devices {
        all.extend(device_props::device_props(d));
    }
    bus.start(&unit.name, &unit.slice, &all, claimed)?;
    tracing::debug!(unit = %unit.name, elapsed = ?started.elapsed(), "systemd unit started");
    Ok(with_quota(r, res.rounded_quota))
}

/// `update`: the new properties of a running container's unit.
pub fn set<'r>(unit: &Unit, r: &'r LinuxResources, v2: bool) -> Result<Cow<'r, LinuxResources>> {
    let mut bus = bus::Bus::connect()?;
    let res = props::resources(r, v2, &mut || bus.version())?;
    bus.set(&unit.name, &res.props)?;
    Ok(with_quota(r, res.rounded_quota))
}

/// Stops the unit (its cgroup goes with it) and lets systemd forget a
/// failed one.
pub fn stop(unit: &Unit) -> Result<()> {
    bus::Bus::connect()?.stop(&unit.name)
}

fn with_quota(r: &LinuxResources, quota: Option<i64>) -> Cow<'_, LinuxResources> {
    let Some(q) = quota else {
        return Cow::Borrowed(r);
    };
    let mut r = r.clone();
    if let Some(mut c) = r.cpu().clone() {
        c.set_quota(Some(q));
        r.set_cpu(Some(c));
    }
    Cow::Owned(r)
}
