//! The container's cgroup: one leaf directory per mounted hierarchy, created
//! (mkdir -p) before any process exists, with the limits written at once.
//! `CgroupRecord` is what the state file keeps so later commands (update,
//! pause, ps, events, delete) reopen the same directories.

use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxResources;
use serde::{Deserialize, Serialize};

use super::devices::{self, Rule};
use super::error::{CgroupError, Context, Result};
use super::hierarchy::{self, Hierarchies, Mode};
use super::path::CgroupsPath;
use super::systemd::Unit;
use super::{fs, v2};

/// What `Manager::create` needs from config.json and the command line.
#[derive(Clone, Copy, Debug)]
pub struct CgroupConfig<'a> {
    /// The container id (names the default cgroup: `<id>` relative to the
    /// caller's own, as runc's).
    pub id: &'a str,
    /// `linux.cgroupsPath`.
    pub cgroups_path: Option<&'a str>,
    /// `--systemd-cgroup`.
    pub systemd: bool,
    /// `linux.resources`.
    pub resources: Option<&'a LinuxResources>,
    /// The runtime's default device rules, merged into `resources.devices`
    /// by `devices::with_defaults` (runc's defaults:
    /// `devices::runc_default_rules(linux.devices)`).
    pub default_devices: &'a [Rule],
    /// Rootless (`crate::rootless::detect`): device rules the kernel
    /// refuses are skipped, as runc does.
    pub rootless: bool,
}

/// The directories of a container's cgroup, as the state file keeps them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CgroupRecord {
    /// The leaf in every hierarchy.
    pub dirs: Vec<PathBuf>,
    /// The directories berth created (leaves and parents), top-down: only
    /// these are ever removed.
    #[serde(default)]
    pub created: Vec<PathBuf>,
    /// `--systemd-cgroup`: the container's scope unit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<Unit>,
}

/// The leaf in one hierarchy.
#[derive(Clone, Debug)]
pub(crate) struct Leaf {
    pub dir: PathBuf,
    /// The hierarchy's mount point.
    pub mount: PathBuf,
    /// v1: the hierarchy's subsystems; v2: the controllers its root offers.
    pub controllers: Vec<String>,
}

impl Leaf {
    /// The directories from the hierarchy's mount down to the leaf that do
    /// not exist yet, top-down: what making the leaf creates.
    pub(crate) fn missing_dirs(&self) -> Vec<PathBuf> {
        let mut missing: Vec<PathBuf> = self
            .dir
            .ancestors()
            .take_while(|d| *d != self.mount && d.starts_with(&self.mount) && !d.exists())
            .map(Path::to_path_buf)
            .collect();
        missing.reverse();
        missing
    }

    pub fn has(&self, c: &str) -> bool {
        self.controllers.iter().any(|x| x == c)
    }
}

/// A container's cgroup across all hierarchies.
#[derive(Debug)]
pub struct Manager {
    pub(crate) mode: Mode,
    pub(crate) v1: Vec<Leaf>,
    pub(crate) v2: Option<Leaf>,
    pub(crate) created: Vec<PathBuf>,
    /// True while the leaves are new and hold no process (create).
    pub(crate) fresh: bool,
    /// `--systemd-cgroup`: the scope unit systemd makes the cgroup for.
    pub(crate) unit: Option<Unit>,
    /// Whether `unit` is this container's own: false for a create from
    /// `plan` until systemd accepted its StartTransientUnit (a Cell: that
    /// happens through `start_unit`, which runs under a shared borrow while
    /// the init is spawned); true for a reopened container's. A unit that
    /// is not its own belongs to another container of the same unit name
    /// (two creates raced past `check_not_taken`): `destroy` never stops it
    /// nor kills or removes its cgroup.
    pub(crate) owns_unit: std::cell::Cell<bool>,
}

impl Manager {
    /// Creates the leaves in every hierarchy and applies the limits; no
    /// process is placed. Everything created is removed again on failure.
    /// Tests only: the create operation records `planned()` between `plan`
    /// and `make`.
    #[cfg(test)]
    pub fn create(cfg: &CgroupConfig) -> Result<Manager> {
        let mut m = Manager::plan(cfg)?;
        m.make(cfg)?;
        Ok(m)
    }

    /// Where the leaves will be, touching nothing: `planned` says what a
    /// later `make` may create, so it can be recorded first.
    pub fn plan(cfg: &CgroupConfig) -> Result<Manager> {
        let hs = Hierarchies::detect()?;
        let path = CgroupsPath::parse(cfg.cgroups_path, cfg.id, cfg.systemd)?;
        if let Some(u) = cfg.resources.and_then(|r| r.unified().as_ref()) {
            super::apply::check_unified(hs.mode, u)?;
        }
        Manager::layout(&hs, &path)
    }

    /// What `make` may create: the leaves, and each missing directory on the
    /// way to them (top-down). Recorded before `make`, it lets `delete`
    /// remove the cgroup of a create that was killed half-way.
    pub fn planned(&self) -> CgroupRecord {
        if self.unit.is_some() {
            return self.planned_systemd();
        }
        let created = self
            .v1
            .iter()
            .chain(self.v2.iter())
            .flat_map(Leaf::missing_dirs)
            .collect();
        CgroupRecord {
            dirs: self.dirs(),
            created,
            unit: None,
        }
    }

    /// Creates the leaves of a planned cgroup and applies the limits; on
    /// failure everything created is removed again.
    pub fn make(&mut self, cfg: &CgroupConfig) -> Result<()> {
        match self.setup(cfg) {
            Ok(()) => {
                self.fresh = false;
                tracing::debug!(dirs = ?self.dirs(), created = self.created.len(), "cgroup created");
                Ok(())
            }
            Err(e) => {
                self.remove_created();
                Err(e)
            }
        }
    }

    /// On a hybrid host, makes the v2 leaf ahead of `make`, so that an init
    /// forked before the rest of the cgroup exists is still born in it
    /// (CLONE_INTO_CGROUP: joining a v2 cgroup later costs an RCU grace
    /// period, `procs::Placement`). True if it made the leaf; false if the
    /// leaf was there already: then `make` checks it, before any fork, as
    /// usual. What it made is in `created`.
    pub fn make_v2_first(&mut self) -> Result<bool> {
        let Some(l) = self.v2.clone() else {
            return Ok(true);
        };
        let created = mkdir_p(&l.mount, &l.dir, &mut self.created)?;
        Ok(created.last() == Some(&l.dir))
    }

    /// Reopens the cgroup of an existing container.
    pub fn open(rec: &CgroupRecord) -> Result<Manager> {
        let hs = Hierarchies::detect()?;
        let mut m = Manager {
            mode: hs.mode,
            v1: Vec::new(),
            v2: None,
            created: rec.created.clone(),
            fresh: false,
            unit: rec.unit.clone(),
            owns_unit: std::cell::Cell::new(true),
        };
        for d in &rec.dirs {
            let Some((h, unified)) = hierarchy::owner_of(&hs, d) else {
                return Err(CgroupError::NotMounted { dir: d.clone() });
            };
            let leaf = Leaf {
                dir: d.clone(),
                mount: h.mount.clone(),
                controllers: h.controllers.clone(),
            };
            if unified {
                m.v2 = Some(leaf);
            } else {
                m.v1.push(leaf);
            }
        }
        Ok(m)
    }

    /// What the state file should keep.
    pub fn record(&self) -> CgroupRecord {
        CgroupRecord {
            dirs: self.dirs(),
            created: self.created.clone(),
            unit: self.unit.clone(),
        }
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The leaf in every hierarchy (v1 ones first).
    pub fn dirs(&self) -> Vec<PathBuf> {
        self.v1
            .iter()
            .chain(self.v2.iter())
            .map(|l| l.dir.clone())
            .collect()
    }

    /// The first leaf, to name the cgroup in a message.
    pub(crate) fn first_dir(&self) -> PathBuf {
        self.v1
            .iter()
            .chain(self.v2.iter())
            .next()
            .map(|l| l.dir.clone())
            .unwrap_or_default()
    }

    /// (mount point, leaf) of every hierarchy (v1 ones first).
    pub fn mounts_and_dirs(&self) -> Vec<(PathBuf, PathBuf)> {
        self.v1
            .iter()
            .chain(self.v2.iter())
            .map(|l| (l.mount.clone(), l.dir.clone()))
            .collect()
    }

    /// The cgroup v2 leaf, if the host has a cgroup2 hierarchy.
    pub fn v2_dir(&self) -> Option<&Path> {
        self.v2.as_ref().map(|l| l.dir.as_path())
    }

    /// The v1 leaf of the hierarchy carrying `controller`.
    pub fn v1_dir(&self, controller: &str) -> Option<&Path> {
        self.v1
            .iter()
            .find(|l| l.has(controller))
            .map(|l| l.dir.as_path())
    }

    /// An `O_PATH|O_DIRECTORY` fd of the v2 leaf, for clone3's
    /// `CLONE_INTO_CGROUP`; `None` without a cgroup2 hierarchy.
    pub fn v2_dir_fd(&self) -> Result<Option<OwnedFd>> {
        let Some(d) = self.v2_dir() else {
            return Ok(None);
        };
        crate::sys::open_host(d, libc::O_PATH | libc::O_DIRECTORY)
            .map(Some)
            .ctx(|| format!("open cgroup {}", d.display()))
    }

    /// Computes the leaves for `path` in every hierarchy.
    fn layout(hs: &Hierarchies, path: &CgroupsPath) -> Result<Manager> {
        let own = match path {
            CgroupsPath::Relative(_) => Some(
                super::fs::read_path(Path::new("/proc/self/cgroup"))
                    .ctx(|| "read /proc/self/cgroup".into())?,
            ),
            CgroupsPath::Absolute(_) | CgroupsPath::Systemd(_) => None,
        };
        // As runc: on a cgroup v2 host relative paths start at the parent
        // of the caller's cgroup, which holds the caller itself and so
        // cannot have controllers enabled for children (no internal
        // processes); in a v1 hierarchy (and hybrid's cgroup2) at the caller's.
        let v2_parent = hs.mode == Mode::V2;
        let own_in = |h: &hierarchy::Hierarchy, unified: bool| {
            let own = own
                .as_deref()
                .and_then(|t| hierarchy::own_path(h, unified, t))?;
            if unified && v2_parent {
                let parent = Path::new(&own).parent().unwrap_or(Path::new("/"));
                return Some(parent.to_string_lossy().into_owned());
            }
            Some(own)
        };
        let mut m = Manager {
            mode: hs.mode,
            v1: Vec::new(),
            v2: None,
            created: Vec::new(),
            fresh: true,
            unit: None,
            owns_unit: std::cell::Cell::new(false),
        };
        if let CgroupsPath::Systemd(u) = path {
            m.unit = Some(u.clone());
        }
        for h in &hs.v1 {
            if m.unit.is_some() && h.controllers.iter().any(|c| c == "name=systemd") {
                // systemd's own hierarchy: it places the init there itself.
                continue;
            }
            m.v1.push(Leaf {
                dir: path.dir_in(&h.mount, own_in(h, false).as_deref())?,
                mount: h.mount.clone(),
                controllers: h.controllers.clone(),
            });
        }
        if let Some(u) = &hs.unified {
            m.v2 = Some(Leaf {
                dir: path.dir_in(&u.mount, own_in(u, true).as_deref())?,
                mount: u.mount.clone(),
                controllers: u.controllers.clone(),
            });
        }
        Ok(m)
    }

    fn setup(&mut self, cfg: &CgroupConfig) -> Result<()> {
        if self.unit.is_some() {
            return self.setup_systemd();
        }
        let mut all_new = true;
        for i in 0..self.v1.len() {
            let (mount, leaf) = (self.v1[i].mount.clone(), self.v1[i].dir.clone());
            let created = mkdir_p(&mount, &leaf, &mut self.created)?;
            all_new &= created.last() == Some(&leaf);
            if self.v1[i].has("cpuset") {
                init_cpuset(&mount, &created)?;
            }
        }
        if let Some(l) = self.v2.clone() {
            let mount = l.mount;
            // Made already by `make_v2_first`, or now.
            if !self.created.contains(&l.dir) {
                let created = mkdir_p(&mount, &l.dir, &mut self.created)?;
                all_new &= created.last() == Some(&l.dir);
            }
            if self.mode == Mode::V2 {
                // As runc: every controller the root offers, so stats and a
                // later update find their files.
                let ctrls: Vec<&str> = l.controllers.iter().map(String::as_str).collect();
                v2::enable(&mount, &l.dir, &ctrls, false)?;
            }
        }
        self.fresh = all_new;
        if cfg.cgroups_path.is_none_or(str::is_empty) && !all_new {
            // The default `<id>` cgroup already existing means a container
            // of the same id under another --root: joining it would
            // overwrite its limits and let one delete kill both.
            return Err(CgroupError::Taken {
                dir: self.first_dir(),
                id: cfg.id.to_string(),
            });
        }
        self.check_usable()?;
        let spec_rules = match cfg.resources.and_then(|r| r.devices().as_ref()) {
            Some(d) => devices::from_spec(d)?,
            None => Vec::new(),
        };
        let rules = devices::with_defaults(&spec_rules, cfg.default_devices);
        self.apply_inner(cfg.resources, None)?;
        match self.apply_inner(None, Some(&rules)) {
            Err(e) if cfg.rootless && super::rootless::is_denied(&e) => {
                tracing::debug!("rootless: the device rules are not applied ({e})");
                Ok(())
            }
            res => res,
        }
    }

    /// runc's checks before a process is placed: a leaf that existed
    /// before this create must hold no process (berth would otherwise adopt,
    /// and one day kill, processes that are not the container's), and no
    /// leaf may be frozen (the init would stop in the refrigerator and
    /// create would wait for it forever). A new leaf inherits a frozen parent.
    fn check_usable(&self) -> Result<()> {
        let mut found = std::collections::BTreeSet::new();
        for l in self.v1.iter().chain(self.v2.iter()) {
            if !self.created.contains(&l.dir) {
                super::procs::procs_under(&l.dir, &mut found)?;
            }
        }
        if !found.is_empty() {
            return Err(CgroupError::NotEmpty {
                count: found.len(),
                dir: self.first_dir(),
            });
        }
        if let Some(d) = self.v1_dir("freezer") {
            if fs::read_ctx(d, "freezer.state")?.trim() != "THAWED" {
                return Err(CgroupError::Frozen { dir: d.into() });
            }
        }
        if let Some(d) = self.v2_dir() {
            if fs::keyed(&fs::read_ctx(d, "cgroup.events")?, "frozen") == Some(1) {
                return Err(CgroupError::Frozen { dir: d.into() });
            }
        }
        Ok(())
    }

    /// Removes what `create` made, deepest first (after a failed create).
    /// What is still busy (the v2 leaf of `make_v2_first` while the init
    /// born in it lives) stays listed, for a later call.
    pub(crate) fn remove_created(&mut self) {
        let mut kept = Vec::new();
        for d in self.created.drain(..).rev() {
            match std::fs::remove_dir(&d) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => {
                    tracing::debug!(dir = %d.display(), "rmdir after failed create: {e}");
                    kept.push(d);
                }
                _ => {}
            }
        }
        kept.reverse();
        self.created = kept;
    }
}

/// mkdir -p of `leaf` below `mount`: the usual case (parent exists) is one
/// mkdir. Returns the directories it created (top-down), also appended to
/// `all` as they are made, so a failure half-way leaks nothing. A parent
/// removed under us by a concurrent destroy (an empty /berth) is recreated.
pub(super) fn mkdir_p(mount: &Path, leaf: &Path, all: &mut Vec<PathBuf>) -> Result<Vec<PathBuf>> {
    let mut created = Vec::new();
    let mut attempt = 0;
    loop {
        match mkdir_p_once(mount, leaf, &mut created) {
            Ok(()) => break,
            Err((_, e)) if e.kind() == io::ErrorKind::NotFound && attempt < 3 => attempt += 1,
            Err((p, source)) => {
                all.extend(created.iter().cloned());
                return Err(CgroupError::Create { path: p, source });
            }
        }
    }
    all.extend(created.iter().cloned());
    Ok(created)
}

fn mkdir_p_once(
    mount: &Path,
    leaf: &Path,
    created: &mut Vec<PathBuf>,
) -> Result<(), (PathBuf, io::Error)> {
    let mut pending: Vec<&Path> = Vec::new();
    let mut p = leaf;
    loop {
        match std::fs::create_dir(p) {
            Ok(()) => {
                created.push(p.to_path_buf());
                break;
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => break,
            Err(e) if e.kind() == io::ErrorKind::NotFound => match p.parent() {
                Some(q) if q != mount && q.starts_with(mount) => {
                    pending.push(p);
                    p = q;
                }
                _ => return Err((p.to_path_buf(), e)),
            },
            Err(e) => return Err((p.to_path_buf(), e)),
        }
    }
    for d in pending.iter().rev() {
        match std::fs::create_dir(d) {
            Ok(()) => created.push(d.to_path_buf()),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err((d.to_path_buf(), e)),
        }
    }
    Ok(())
}

/// A new v1 cpuset cgroup starts with empty cpus and mems, and no task can
/// join it: copy them from the nearest ancestor that has them, filling any
/// empty ancestor on the way too (a concurrent create may have made /berth
/// a moment ago and not filled it yet; the kernel refuses a child's cpus
/// outside its parent's).
pub(super) fn init_cpuset(mount: &Path, created: &[PathBuf]) -> Result<()> {
    let Some(first) = created.first() else {
        return Ok(());
    };
    let get = |d: &Path, f: &str| fs::read(d, f).unwrap_or_default().trim().to_string();
    let mut empty: Vec<PathBuf> = Vec::new();
    let mut src = first.parent();
    let (cpus, mems) = loop {
        let Some(d) = src else {
            break (String::new(), String::new());
        };
        let (c, m) = (get(d, "cpuset.cpus"), get(d, "cpuset.mems"));
        if !c.is_empty() && !m.is_empty() || d == mount || !d.starts_with(mount) {
            break (c, m);
        }
        empty.push(d.to_path_buf());
        src = d.parent();
    };
    for d in empty.iter().rev().chain(created) {
        fs::write(d, "cpuset.cpus", &cpus, "cpuset (inherited cpus)")?;
        fs::write(d, "cpuset.mems", &mems, "cpuset (inherited mems)")?;
    }
    Ok(())
}
