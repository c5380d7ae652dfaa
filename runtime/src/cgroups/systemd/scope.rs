//! The `Manager`'s systemd side: what `create` makes itself before the
//! clone (only the v1 leaves of controllers systemd does not manage, so the
//! init can place itself there), the scope's start once the init exists,
//! `update`'s properties, and the unit's stop in `destroy`.

use oci_spec::runtime::LinuxResources;

use super::Unit;
use crate::cgroups::error::{CgroupError, Result};
use crate::cgroups::hierarchy::Mode;
use crate::cgroups::manager::{init_cpuset, mkdir_p, CgroupConfig, CgroupRecord, Manager};
use crate::cgroups::{devices, fs, v2};

impl Manager {
    /// The container's systemd unit, with `--systemd-cgroup`.
    pub fn unit(&self) -> Option<&Unit> {
        self.unit.as_ref()
    }

    /// What `create` may make itself: the v1 leaves, and nothing of the v2
    /// hierarchy or of the parent slices, which are systemd's.
    pub(crate) fn planned_systemd(&self) -> CgroupRecord {
        CgroupRecord {
            dirs: self.dirs(),
            created: self
                .v1
                .iter()
                .filter(|l| !l.dir.exists())
                .map(|l| l.dir.clone())
                .collect(),
            unit: self.unit.clone(),
        }
    }

    /// Before the clone: the v1 leaves (systemd makes those of the
    /// controllers it manages at the same paths when the scope starts, and
    /// leaves the others to the runtime, as runc's driver does), each new
    /// cpuset filled so the init can join. Only the leaves are recorded as
    /// berth's: parent slices may be systemd's. Limits come after the start.
    /// A scope of the same name that holds processes (another container's)
    /// is refused here, before anything is started (`check_not_taken`).
    pub(crate) fn setup_systemd(&mut self) -> Result<()> {
        self.fresh = false;
        for i in 0..self.v1.len() {
            let (mount, leaf) = (self.v1[i].mount.clone(), self.v1[i].dir.clone());
            let mut made = Vec::new();
            let result = mkdir_p(&mount, &leaf, &mut made);
            if made.last() == Some(&leaf) {
                self.created.push(leaf);
            }
            let made = result?;
            if self.v1[i].has("cpuset") {
                init_cpuset(&mount, &made)?;
            }
        }
        self.check_not_taken()
    }

    /// runc's check at create: the container's cgroup, if it exists already,
    /// holds no process. With systemd this is a running scope of the same
    /// unit name (two containers given one cgroupsPath): starting the unit
    /// would fail with systemd's UnitExists, and the failed create's cleanup
    /// would then kill the other container's processes and stop its unit.
    /// Checked before the clone, so nothing is started or stopped.
    fn check_not_taken(&self) -> Result<()> {
        let mut found = std::collections::BTreeSet::new();
        for l in self.v1.iter().chain(self.v2.iter()) {
            if !self.created.contains(&l.dir) {
                crate::cgroups::procs::procs_under(&l.dir, &mut found)?;
            }
        }
        if found.is_empty() {
            return Ok(());
        }
        Err(CgroupError::NotEmpty {
            count: found.len(),
            dir: self.first_dir(),
        })
    }

    /// After the clone, before the init goes on: starts the scope with `pid`
    /// in it and the resource properties, then writes every limit and the
    /// device rules to the scope's files, as in cgroupfs mode. On a pure v2
    /// host the controllers the root offers are enabled down to the scope's
    /// parent (systemd enables those it manages; hugetlb, rdma, misc are
    /// the runtime's). On failure the caller destroys the cgroup, which
    /// stops the unit.
    pub fn start_unit(&self, pid: i32, cfg: &CgroupConfig) -> Result<()> {
        let Some(unit) = &self.unit else {
            return Ok(());
        };
        let none = LinuxResources::default();
        let spec = cfg.resources.unwrap_or(&none);
        let r = super::start(unit, cfg.id, pid, spec, self.mode == Mode::V2)?;
        if let (Mode::V2, Some(l)) = (self.mode, &self.v2) {
            let ctrls: Vec<&str> = l.controllers.iter().map(String::as_str).collect();
            v2::enable(&l.mount, &l.dir, &ctrls, false)?;
        }
        let spec_rules = match r.devices().as_ref() {
            Some(d) => devices::from_spec(d)?,
            None => Vec::new(),
        };
        let rules = devices::with_defaults(&spec_rules, cfg.default_devices);
        self.apply_inner(Some(&r), Some(&rules))
    }

    /// `update`: the unit's properties first (systemd would otherwise put
    /// its old values back on its next reload), then the files. A memory
    /// limit below the usage is refused before systemd is asked, which
    /// would OOM-kill the container instead.
    pub(crate) fn set_unit<'r>(
        &self,
        r: &'r LinuxResources,
    ) -> Result<std::borrow::Cow<'r, LinuxResources>> {
        let Some(unit) = &self.unit else {
            return Ok(std::borrow::Cow::Borrowed(r));
        };
        if let Some(limit) = r
            .memory()
            .as_ref()
            .and_then(|m| m.limit())
            .filter(|&l| l > 0)
        {
            let usage = match (self.v1_dir("memory"), &self.v2) {
                (Some(d), _) => fs::read_u64(d, "memory.usage_in_bytes"),
                (None, Some(l)) => fs::read_u64(&l.dir, "memory.current"),
                _ => None,
            };
            if let Some(usage) = usage.filter(|&u| u > limit.unsigned_abs()) {
                return Err(CgroupError::BelowUsage { limit, usage });
            }
        }
        super::set(unit, r, self.mode == Mode::V2)
    }

    /// `destroy`, once the cgroup is empty: stops the unit, which removes
    /// the scope's cgroups; what berth made itself goes afterwards.
    pub(crate) fn stop_unit(&self) -> Result<()> {
        match &self.unit {
            Some(u) => super::stop(u),
            None => Ok(()),
        }
    }
}
