//! The `Manager`'s systemd side: what `create` makes itself before the
//! clone (only the v1 leaves of controllers systemd does not manage, so the
//! init can place itself there), the scope's start once the init exists,
//! `update`'s properties, and the unit's stop in `destroy`.

use oci_spec::runtime::LinuxResources;

use super::Unit;
use crate::cgroups::error::{CgroupError, Result};
use crate::cgroups::hierarchy::Mode;
use crate::cgroups::manager::{init_cpuset, mkdir_p, CgroupConfig, CgroupRecord, Leaf, Manager};
use crate::cgroups::{devices, fs, v2, Placement};

/// The v1 controllers systemd manages (its cgroup-v1 controller list; cpuset
/// is systemd's on v2 only): a hierarchy with any of them is systemd's.
const SYSTEMD_V1: [&str; 6] = ["cpu", "cpuacct", "blkio", "memory", "devices", "pids"];

fn systemds(l: &Leaf) -> bool {
    SYSTEMD_V1.iter().any(|c| l.has(c))
}

impl Manager {
    /// The container's systemd unit, with `--systemd-cgroup`.
    pub fn unit(&self) -> Option<&Unit> {
        self.unit.as_ref()
    }

    /// What `create` may make itself: the leaves of the v1 hierarchies
    /// systemd does not manage and the slice directories above them (top
    /// down); nothing of systemd's hierarchies, whose slices and scope
    /// directories systemd makes and removes.
    pub(crate) fn planned_systemd(&self) -> CgroupRecord {
        let created = self
            .v1
            .iter()
            .filter(|l| !systemds(l))
            .flat_map(Leaf::missing_dirs)
            .collect();
        CgroupRecord {
            dirs: self.dirs(),
            created,
            unit: self.unit.clone(),
        }
    }

    /// Before the clone: the leaves in the v1 hierarchies systemd does not
    /// manage (freezer, cpuset, hugetlb, net_cls, ...: systemd never makes
    /// or touches directories there), each new cpuset filled so the init can
    /// join; every directory made is berth's and goes at `destroy` once
    /// empty. Nothing in systemd's hierarchies (cpu, cpuacct, blkio, memory,
    /// devices, pids on v1; the v2 tree): systemd makes the scope there when
    /// it starts it and puts the init in, and while realizing a new parent
    /// slice it removes empty directories it did not make there, so a leaf
    /// made beforehand could vanish. Limits come after the start. A scope of
    /// the same name that holds processes (another container's) is refused
    /// here, before anything is started (`check_not_taken`).
    pub(crate) fn setup_systemd(&mut self) -> Result<()> {
        self.fresh = false;
        for i in 0..self.v1.len() {
            if systemds(&self.v1[i]) {
                continue;
            }
            let (mount, leaf) = (self.v1[i].mount.clone(), self.v1[i].dir.clone());
            let made = mkdir_p(&mount, &leaf, &mut self.created)?;
            if self.v1[i].has("cpuset") {
                init_cpuset(&mount, &made)?;
            }
        }
        self.check_not_taken()
    }

    /// After `destroy`: the slice directories above the leaf in the v1
    /// hierarchies systemd does not manage (berth mirrors the unit's slice
    /// path there, as runc) go once empty, whichever create made them, as
    /// berth's own /berth parent does: when two creates of one unit name
    /// race, the winner's leaf can sit in a parent the loser made, which
    /// neither would otherwise remove. Only `.slice` components, never the
    /// hierarchy's root; a busy or non-empty one stops the walk.
    pub(crate) fn remove_empty_slices(&self) {
        if self.unit.is_none() {
            return;
        }
        for l in self.v1.iter().filter(|l| !systemds(l)) {
            let mut dir = l.dir.parent();
            while let Some(d) = dir.filter(|d| d.starts_with(&l.mount) && *d != l.mount) {
                if d.extension().is_none_or(|e| e != "slice") || std::fs::remove_dir(d).is_err() {
                    break;
                }
                tracing::debug!(dir = %d.display(), "removed an empty slice directory");
                dir = d.parent();
            }
        }
    }

    /// The files through which the init joins its cgroups itself: `tasks`
    /// of the leaves `setup_systemd` made; systemd places it in the rest.
    pub(crate) fn placement_systemd(&self) -> Result<Placement> {
        let own = self.v1.iter().filter(|l| !systemds(l));
        Placement::open(own.map(|l| l.dir.join("tasks")))
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
    /// stops the unit if systemd accepted this start (`owns_unit`); a unit
    /// of that name that another create started meanwhile
    /// (`CgroupError::UnitExists`) is left alone.
    pub fn start_unit(&self, pid: i32, cfg: &CgroupConfig) -> Result<()> {
        let Some(unit) = &self.unit else {
            return Ok(());
        };
        let none = LinuxResources::default();
        let spec = cfg.resources.unwrap_or(&none);
        let spec_rules = match spec.devices().as_ref() {
            Some(d) => devices::from_spec(d)?,
            None => Vec::new(),
        };
        let rules = devices::with_defaults(&spec_rules, cfg.default_devices);
        // v1: the filter as properties too (`device_props`).
        let v1_filter = (self.mode != Mode::V2).then(|| devices::DeviceState::from_rules(&rules));
        let r = super::start(unit, cfg.id, pid, spec, v1_filter.as_ref(), &self.owns_unit)?;
        self.join_unrealized(pid)?;
        if let (Mode::V2, Some(l)) = (self.mode, &self.v2) {
            let ctrls: Vec<&str> = l.controllers.iter().map(String::as_str).collect();
            v2::enable(&l.mount, &l.dir, &ctrls, false)?;
        }
        self.apply_inner(Some(&r), Some(&rules))
    }

    /// After the start, v1 only: systemd makes the scope's directory, and
    /// puts the init there, only in those of its hierarchies the slice is
    /// realized in (under a slice it has just made, e.g. not in devices);
    /// the rest are made and joined here, as runc does for every v1
    /// hierarchy once the unit runs. systemd removes them with the slice.
    fn join_unrealized(&self, pid: i32) -> Result<()> {
        for l in self.v1.iter().filter(|l| systemds(l) && !l.dir.is_dir()) {
            mkdir_p(&l.mount, &l.dir, &mut Vec::new())?;
            fs::write_io(&l.dir, "cgroup.procs", &pid.to_string()).map_err(|source| {
                CgroupError::Io {
                    context: format!("join cgroup {}", l.dir.display()),
                    source,
                }
            })?;
        }
        Ok(())
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
