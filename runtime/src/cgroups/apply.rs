//! Routing each resource to the hierarchy that carries its controller: the
//! v1 one where v1 mounts it, else the cgroup2 one if its root offers the
//! controller, else a clear error naming the resource and the controller.
//! On a hybrid host the cgroup2 root is the host's: a controller is used
//! there only if the host already enables it in the root's
//! cgroup.subtree_control (berth then enables it below the root, on the
//! container's path); otherwise the limit is refused as runc refuses it,
//! and the root's file is never written.

use std::path::Path;

use oci_spec::runtime::LinuxResources;

use super::devices::{self, DeviceState, Rule};
use super::error::{CgroupError, Result};
use super::hierarchy::Mode;
use super::manager::Manager;
use super::{convert, ebpf, v1, v2};

/// Where one controller's files are.
#[derive(Clone, Copy, Debug)]
enum Loc<'a> {
    V1(&'a Path),
    V2(&'a Path),
}

impl Manager {
    /// Applies `linux.resources` (create, and `update` later). Device rules
    /// are replaced only when `r.devices` is set, and then exactly by them
    /// (from deny-all).
    pub fn apply(&self, r: &LinuxResources) -> Result<()> {
        // `create` checked this in `Manager::plan`; `update` checks here,
        // before anything is written.
        if let Some(u) = r.unified() {
            check_unified(self.mode, u)?;
        }
        let rules = match r.devices() {
            Some(d) => Some(devices::from_spec(d)?),
            None => None,
        };
        let r = self.set_unit(r)?;
        self.apply_inner(Some(&r), rules.as_deref())
    }

    /// Replaces the device rules (applied in order from deny-all).
    #[cfg(test)]
    pub fn apply_devices(&self, rules: &[Rule]) -> Result<()> {
        self.apply_inner(None, Some(rules))
    }

    pub(crate) fn apply_inner(
        &self,
        r: Option<&LinuxResources>,
        rules: Option<&[Rule]>,
    ) -> Result<()> {
        if let Some(r) = r {
            self.apply_limits(r)?;
        }
        if let Some(rules) = rules {
            self.apply_device_state(&DeviceState::from_rules(rules))?;
        }
        if let Some(u) = r
            .and_then(|r| r.unified().as_ref())
            .filter(|u| !u.is_empty())
        {
            self.apply_unified(u)?;
        }
        Ok(())
    }

    fn locate(&self, v1c: &'static str, v2c: Option<&str>, field: &str) -> Result<Loc<'_>> {
        if let Some(d) = self.v1_dir(v1c) {
            return Ok(Loc::V1(d));
        }
        if let (Some(c), Some(l)) = (v2c, self.v2.as_ref()) {
            if l.has(c) {
                if self.mode == Mode::Hybrid {
                    if !v2::root_delegates(&l.mount, c) {
                        return Err(CgroupError::NotDelegated {
                            field: field.to_string(),
                            controller: v1c,
                            mount: l.mount.clone(),
                        });
                    }
                    v2::enable(&l.mount, &l.dir, &[c], true)?;
                }
                return Ok(Loc::V2(&l.dir));
            }
        }
        Err(CgroupError::NoController {
            field: field.to_string(),
            controller: v1c,
        })
    }

    fn apply_limits(&self, r: &LinuxResources) -> Result<()> {
        const F: &str = "linux.resources";
        if let Some(m) = r.memory() {
            match self.locate("memory", Some("memory"), &format!("{F}.memory"))? {
                Loc::V1(d) => v1::memory(d, m, self.fresh)?,
                Loc::V2(d) => v2::memory(d, m, self.fresh)?,
            }
        }
        if let Some(c) = r.cpu() {
            let cfs = c.shares().is_some()
                || c.quota().is_some()
                || c.period().is_some()
                || c.burst().is_some()
                || c.realtime_runtime().is_some()
                || c.realtime_period().is_some()
                || c.idle().is_some();
            if cfs {
                match self.locate("cpu", Some("cpu"), &format!("{F}.cpu"))? {
                    Loc::V1(d) => v1::cpu(d, c)?,
                    Loc::V2(d) => v2::cpu(d, c)?,
                }
            }
            if c.cpus().as_deref().is_some_and(|s| !s.is_empty())
                || c.mems().as_deref().is_some_and(|s| !s.is_empty())
            {
                match self.locate("cpuset", Some("cpuset"), &format!("{F}.cpu.cpus"))? {
                    Loc::V1(d) => v1::cpuset(d, c)?,
                    Loc::V2(d) => v2::cpuset(d, c)?,
                }
            }
        }
        if let Some(p) = r.pids() {
            match self.locate("pids", Some("pids"), &format!("{F}.pids"))? {
                Loc::V1(d) | Loc::V2(d) => v1::pids(d, p.limit())?,
            }
        }
        if let Some(b) = r.block_io() {
            match self.locate("blkio", Some("io"), &format!("{F}.blockIO"))? {
                Loc::V1(d) => v1::blkio(d, b)?,
                Loc::V2(d) => v2::io(d, b)?,
            }
        }
        if let Some(h) = r.hugepage_limits().as_ref().filter(|h| !h.is_empty()) {
            let known = convert::hugepage_sizes();
            match self.locate("hugetlb", Some("hugetlb"), &format!("{F}.hugepageLimits"))? {
                Loc::V1(d) => v1::hugetlb(d, h, &known)?,
                Loc::V2(d) => v2::hugetlb(d, h, &known)?,
            }
        }
        if let Some(n) = r.network() {
            if let Some(id) = n.class_id() {
                match self.locate("net_cls", None, &format!("{F}.network.classID"))? {
                    Loc::V1(d) | Loc::V2(d) => v1::net_cls(d, id)?,
                }
            }
            if let Some(p) = n.priorities().as_ref().filter(|p| !p.is_empty()) {
                match self.locate("net_prio", None, &format!("{F}.network.priorities"))? {
                    Loc::V1(d) | Loc::V2(d) => v1::net_prio(d, p)?,
                }
            }
        }
        if let Some(rd) = r.rdma().as_ref().filter(|m| !m.is_empty()) {
            match self.locate("rdma", Some("rdma"), &format!("{F}.rdma"))? {
                Loc::V1(d) | Loc::V2(d) => v1::rdma(d, rd)?,
            }
        }
        Ok(())
    }

    /// v1 devices controller where mounted, else the eBPF filter on the v2 leaf.
    fn apply_device_state(&self, state: &DeviceState) -> Result<()> {
        if let Some(d) = self.v1_dir("devices") {
            return devices::apply_v1(d, state, self.fresh);
        }
        if let Some(d) = self.v2_dir() {
            return ebpf::apply(d, state);
        }
        Err(CgroupError::NoController {
            field: "linux.resources.devices".to_string(),
            controller: "devices",
        })
    }

    fn apply_unified(&self, map: &std::collections::HashMap<String, String>) -> Result<()> {
        let Some(l) = self.v2.as_ref() else {
            return Err(CgroupError::invalid(
                "linux.resources.unified",
                "needs cgroup v2, which is not mounted on this host",
            ));
        };
        for k in map.keys() {
            if let Some(c) = v2::unified_controller(k)? {
                if !l.has(c) {
                    return Err(CgroupError::NoUnifiedController {
                        key: k.clone(),
                        controller: c.to_string(),
                    });
                }
            }
        }
        // `check_unified` admits `unified` only in Mode::V2, where `setup`
        // enabled every controller the root offers.
        v2::unified(&l.dir, map)
    }
}

/// `unified` only on a pure cgroup v2 host, as runc (on a hybrid one the v2
/// hierarchy is not the container's resource tree), and only resource files
/// (`v2::unified_controller`). Checked before any cgroup is touched.
pub(crate) fn check_unified(
    mode: Mode,
    map: &std::collections::HashMap<String, String>,
) -> Result<()> {
    if mode != Mode::V2 {
        return Err(CgroupError::UnifiedOnV1);
    }
    for k in map.keys() {
        v2::unified_controller(k)?;
    }
    Ok(())
}
