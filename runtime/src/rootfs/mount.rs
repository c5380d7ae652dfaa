//! One entry of `mounts`: its options parsed into mount attributes,
//! propagation and filesystem data, then mounted onto a target fd with the
//! fd-based mount API.

use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use oci_spec::runtime::{Mount, Spec};

use super::bindflags;
use super::error::{MountError, MountStep, Result, RootfsError};
use super::host::HostTrees;
use super::resolve::RootDir;
use crate::sys::mount_api::*;
use crate::sys::{FsContext, MountAttrs, TreeFd};

/// What kind of mount an entry is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    Bind { recursive: bool },
    Fs(String),
    Cgroup,
}

/// A parsed mount entry.
#[derive(Clone, Debug)]
pub struct MountPlan {
    pub kind: Kind,
    pub source: Option<PathBuf>,
    pub destination: PathBuf,
    /// Attributes of the mount (for an rbind: of its top mount only, as
    /// runc's remount; the `r*` options reach the submounts).
    pub attrs: MountAttrs,
    /// `r*` options: attributes for every submount.
    pub rattrs: MountAttrs,
    /// Propagation changes, in order: (MS_* flag, recursive).
    pub propagation: Vec<(u64, bool)>,
    /// Filesystem options (`key=value` or a bare flag).
    pub data: Vec<(String, Option<String>)>,
    /// `tmpcopyup`: copy the target directory's contents into the tmpfs.
    pub copy_up: bool,
    /// An idmapped mount (`idmap`, `ridmap`, or mount `uidMappings` /
    /// `gidMappings`): the runtime prepares its tree (`rootfs::idmap`).
    pub idmap: Option<Idmap>,
}

/// How an idmapped mount's mapping is applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Idmap {
    /// `ridmap`: to every mount of an rbind, not only the top one.
    pub recursive: bool,
}

/// Maps a flag option to (attribute to set, attribute to clear).
fn attr_option(o: &str) -> Option<(u64, u64)> {
    Some(match o {
        "ro" => (MOUNT_ATTR_RDONLY, 0),
        "rw" => (0, MOUNT_ATTR_RDONLY),
        "nosuid" => (MOUNT_ATTR_NOSUID, 0),
        "suid" => (0, MOUNT_ATTR_NOSUID),
        "nodev" => (MOUNT_ATTR_NODEV, 0),
        "dev" => (0, MOUNT_ATTR_NODEV),
        "noexec" => (MOUNT_ATTR_NOEXEC, 0),
        "exec" => (0, MOUNT_ATTR_NOEXEC),
        "nodiratime" => (MOUNT_ATTR_NODIRATIME, 0),
        "diratime" => (0, MOUNT_ATTR_NODIRATIME),
        "nosymfollow" => (MOUNT_ATTR_NOSYMFOLLOW, 0),
        "symfollow" => (0, MOUNT_ATTR_NOSYMFOLLOW),
        "noatime" => (MOUNT_ATTR_NOATIME, MOUNT_ATTR_ATIME_MASK),
        "strictatime" => (MOUNT_ATTR_STRICTATIME, MOUNT_ATTR_ATIME_MASK),
        "relatime" | "norelatime" | "nostrictatime" | "atime" => {
            (MOUNT_ATTR_RELATIME, MOUNT_ATTR_ATIME_MASK)
        }
        _ => return None,
    })
}

/// Propagation options: (MS_* flag, recursive).
pub fn propagation_option(o: &str) -> Option<(u64, bool)> {
    let (flag, rec) = match o {
        "private" => (libc::MS_PRIVATE, false),
        "rprivate" => (libc::MS_PRIVATE, true),
        "shared" => (libc::MS_SHARED, false),
        "rshared" => (libc::MS_SHARED, true),
        "slave" => (libc::MS_SLAVE, false),
        "rslave" => (libc::MS_SLAVE, true),
        "unbindable" => (libc::MS_UNBINDABLE, false),
        "runbindable" => (libc::MS_UNBINDABLE, true),
        _ => return None,
    };
    Some((flag, rec))
}

/// Superblock flags that only make sense as filesystem options.
const SB_FLAGS: &[&str] = &["sync", "dirsync", "mand", "lazytime", "silent"];
/// Options that restate a default and need nothing.
const NOOPS: &[&str] = &["defaults", "async", "nomand", "nolazytime", "loud"];

/// Adds one option's effect; a later option overrides an earlier one.
fn merge(a: &mut MountAttrs, (set, clr): (u64, u64)) {
    a.attr_set &= !clr;
    a.attr_clr &= !set;
    a.attr_set |= set;
    a.attr_clr |= clr;
}

impl MountPlan {
    pub fn from_spec(m: &Mount) -> Result<MountPlan> {
        let opts: Vec<&str> = m.options().iter().flatten().map(String::as_str).collect();
        let typ = m.typ().as_deref().unwrap_or("");
        let kind = if opts.contains(&"rbind") {
            Kind::Bind { recursive: true }
        } else if opts.contains(&"bind") || typ == "bind" {
            Kind::Bind { recursive: false }
        } else if typ == "cgroup" || typ == "cgroup2" {
            Kind::Cgroup
        } else if typ.is_empty() || typ == "none" {
            return Err(RootfsError::MountTypeMissing);
        } else {
            Kind::Fs(typ.to_string())
        };
        let mut plan = MountPlan {
            kind,
            source: m.source().clone(),
            destination: Path::new("/").join(m.destination()),
            attrs: MountAttrs::default(),
            rattrs: MountAttrs::default(),
            propagation: Vec::new(),
            data: Vec::new(),
            copy_up: false,
            idmap: None,
        };
        for o in opts {
            plan.add_option(o)?;
        }
        if plan.idmap.is_none() && (m.uid_mappings().is_some() || m.gid_mappings().is_some()) {
            // As runc: mappings alone make the mount idmapped (not recursively).
            plan.idmap = Some(Idmap { recursive: false });
        }
        if matches!(plan.kind, Kind::Bind { .. }) && plan.source.is_none() {
            return Err(RootfsError::BindWithoutSource);
        }
        Ok(plan)
    }

    fn add_option(&mut self, o: &str) -> Result<()> {
        if o == "bind" || o == "rbind" || NOOPS.contains(&o) {
            return Ok(());
        }
        if let Some(a) = attr_option(o) {
            merge(&mut self.attrs, a);
        } else if let Some(a) = o.strip_prefix('r').and_then(attr_option) {
            merge(&mut self.rattrs, a);
        } else if let Some(p) = propagation_option(o) {
            self.propagation.push(p);
        } else if o == "tmpcopyup" {
            // As runc: meaningful on a tmpfs only, ignored elsewhere.
            self.copy_up = self.kind == Kind::Fs("tmpfs".into());
        } else if o == "idmap" || o == "ridmap" {
            self.idmap = Some(Idmap {
                recursive: o == "ridmap",
            });
        } else if o == "remount" {
            return Err(RootfsError::OptionUnsupported(o.to_string()));
        } else if matches!(self.kind, Kind::Bind { .. }) {
            tracing::warn!(
                "ignoring filesystem option {o:?} on bind mount of {}",
                self.destination.display()
            );
        } else if SB_FLAGS.contains(&o) {
            self.data.push((o.to_string(), None));
        } else {
            let (k, v) = match o.split_once('=') {
                Some((k, v)) => (k.to_string(), Some(v.to_string())),
                None => (o.to_string(), None),
            };
            self.data.push((k, v));
        }
        Ok(())
    }

    /// Whether the target should be a file (bind of a non-directory).
    pub fn target_kind(&self, bundle: &Path) -> super::resolve::Kind {
        match (&self.kind, &self.source) {
            (Kind::Bind { .. }, Some(src)) if !bundle.join(src).is_dir() => {
                super::resolve::Kind::File
            }
            _ => super::resolve::Kind::Dir,
        }
    }

    /// Builds the detached mount (bind clone from `host`, or new
    /// filesystem). A `cgroup` entry is built by `rootfs::cgroupfs` instead.
    pub fn build(&self, bundle: &Path, host: &HostTrees) -> Result<TreeFd> {
        let fail = |e| self.error(MountStep::Mount, e);
        match &self.kind {
            Kind::Bind { recursive } => {
                let src = bundle.join(self.source.as_deref().unwrap_or(Path::new("")));
                let tree = host.clone_path(&src, *recursive).map_err(fail)?;
                // `rbind,ro` leaves submounts writable, as in runc (which
                // remounts only the top); `rro` is recursive (AT_RECURSIVE).
                self.set_bind_flags(&tree)?;
                tree.set_attrs(&self.rattrs, true).map_err(fail)?;
                Ok(tree)
            }
            Kind::Fs(fstype) => {
                let fs = FsContext::open(fstype).map_err(fail)?;
                if let Some(src) = self.source.as_ref().and_then(|s| s.to_str()) {
                    fs.set("source", Some(src)).map_err(fail)?;
                }
                for (k, v) in &self.data {
                    fs.set(k, v.as_deref())
                        .map_err(|e| self.error(MountStep::Option(k.clone()), e))?;
                }
                let mut attrs = self.attrs.attr_set;
                if self.defers_readonly() {
                    attrs &= !MOUNT_ATTR_RDONLY;
                }
                fs.mount(attrs).map_err(fail)
            }
            Kind::Cgroup => Err(RootfsError::Internal(
                "cgroup mounts are built by rootfs::cgroupfs",
            )),
        }
    }

    /// The flags of a bind's top mount (`bindflags`): the options' flags
    /// replace the source's; locked ones of the source are kept if the
    /// kernel refuses to clear them.
    fn set_bind_flags(&self, tree: &TreeFd) -> Result<()> {
        let err = match tree.set_attrs(&bindflags::top(&self.attrs), false) {
            Err(e) if e.raw_os_error() == Some(libc::EPERM) => e,
            other => return other.map_err(|e| self.error(MountStep::Mount, e)),
        };
        let st = nix::sys::statvfs::fstatvfs(tree.as_fd())
            .map_err(|e| self.error(MountStep::Mount, e))?;
        let attrs = match bindflags::keep_locked(&self.attrs, st.flags().bits()) {
            Ok(a) => a,
            Err(bindflags::Locked::Clear(f)) => {
                let step =
                    MountStep::Locked(format!("cannot clear locked flags {}", bindflags::names(f)));
                return Err(self.error(step, err));
            }
            Err(bindflags::Locked::Atime) => {
                let step = MountStep::Locked("cannot change locked atime flags".into());
                return Err(self.error(step, err));
            }
        };
        tree.set_attrs(&attrs, false).map_err(|e| {
            self.error(
                MountStep::Locked("remount with locked flags re-applied".into()),
                e,
            )
        })
    }

    /// Applies propagation to `tree`, then moves it onto `target`. Before
    /// the move, as the same tree: after it, a mount inside a rootfs that
    /// is still detached (`rootfs::compact`) takes no attribute change, and
    /// under the container's slave (or private) rootfs the move propagates
    /// nowhere either way.
    pub fn attach(&self, tree: &TreeFd, target: &OwnedFd) -> Result<()> {
        self.set_propagation(tree)?;
        tree.move_to(target.as_raw_fd())
            .map_err(|e| self.error(MountStep::Mount, e))
    }

    /// Attaches the idmapped tree the runtime prepared for this bind
    /// (`rootfs::idmap`) onto `target`, then gives it the bind's flags and
    /// propagation, as `build` and `attach` do for any other bind. The
    /// flags are set once the tree is in this mount namespace: the tree
    /// was cloned in the runtime's.
    pub fn attach_idmapped(&self, tree: &TreeFd, target: &OwnedFd) -> Result<()> {
        let fail = |e| self.error(MountStep::Mount, e);
        tree.move_to(target.as_raw_fd()).map_err(fail)?;
        self.set_bind_flags(tree)?;
        tree.set_attrs(&self.rattrs, true).map_err(fail)?;
        self.set_propagation(tree)
    }

    fn set_propagation(&self, tree: &TreeFd) -> Result<()> {
        for (flag, recursive) in &self.propagation {
            let attrs = MountAttrs {
                propagation: *flag,
                ..MountAttrs::default()
            };
            set_attrs_at(tree.as_raw_fd(), &attrs, *recursive)
                .map_err(|e| self.error(MountStep::Propagation, e))?;
        }
        Ok(())
    }

    /// Whether `ro` is applied only once the rootfs is complete
    /// (`rootfs::finalize`), as current runc does for every tmpfs and for
    /// any filesystem on /dev, so that mounts, devices, `tmpcopyup` and
    /// /dev/console can still go inside.
    pub fn defers_readonly(&self) -> bool {
        match &self.kind {
            Kind::Fs(t) => {
                t == "tmpfs" || super::resolve::clean(&self.destination) == [OsStr::new("dev")]
            }
            _ => false,
        }
    }

    /// The filesystem type named in errors: `None` for a bind.
    pub fn fstype(&self) -> Option<&str> {
        match &self.kind {
            Kind::Bind { .. } => None,
            Kind::Fs(t) => Some(t),
            Kind::Cgroup => Some("cgroup"),
        }
    }

    /// The error of `step` of this mount.
    pub fn error(&self, step: MountStep, err: impl Into<io::Error>) -> RootfsError {
        self.error_as(self.fstype(), step, err)
    }

    /// The error of `step` of this mount, made with filesystem `fstype`.
    pub fn error_as(
        &self,
        fstype: Option<&str>,
        step: MountStep,
        err: impl Into<io::Error>,
    ) -> RootfsError {
        MountError {
            src: self.source.clone(),
            dest: self.destination.clone(),
            fstype: fstype.map(str::to_string),
            step,
            err: err.into(),
        }
        .into()
    }

    /// How the entry is named in messages (runc's wording).
    pub fn describe(&self) -> String {
        super::error::describe(self.source.as_deref(), &self.destination)
    }
}

/// After the rootfs is entered and /dev/console is in place: makes
/// read-only the mounts whose `ro` was deferred (`defers_readonly`),
/// looked up by destination inside the container's root, as runc's
/// finalizeRootfs. Only the top mount at the destination changes.
pub fn finalize_readonly(spec: &Spec) -> Result<()> {
    let mut root = None;
    for m in spec.mounts().as_deref().unwrap_or(&[]) {
        let plan = MountPlan::from_spec(m)?;
        if !plan.defers_readonly() || plan.attrs.attr_set & MOUNT_ATTR_RDONLY == 0 {
            continue;
        }
        let root = match &mut root {
            Some(r) => r,
            None => root.insert(RootDir::open(Path::new("/"))?),
        };
        let fail = |e| plan.error(MountStep::Remount, e);
        let fd = root
            .open_in(&plan.destination, libc::O_PATH | libc::O_DIRECTORY)
            .map_err(fail)?;
        let ro = MountAttrs {
            attr_set: MOUNT_ATTR_RDONLY,
            ..MountAttrs::default()
        };
        set_attrs_at(fd.as_raw_fd(), &ro, false).map_err(fail)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(typ: &str, opts: &[&str]) -> MountPlan {
        let m: Mount = serde_json::from_value(serde_json::json!({
            "destination": "/x", "type": typ, "source": "src", "options": opts
        }))
        .unwrap();
        MountPlan::from_spec(&m).unwrap()
    }

    #[test]
    fn parses_options() {
        let p = plan(
            "tmpfs",
            &["nosuid", "strictatime", "mode=755", "size=65536k", "ro"],
        );
        assert_eq!(p.kind, Kind::Fs("tmpfs".into()));
        assert_eq!(
            p.attrs.attr_set,
            MOUNT_ATTR_NOSUID | MOUNT_ATTR_STRICTATIME | MOUNT_ATTR_RDONLY
        );
        assert_eq!(
            p.data,
            vec![
                ("mode".into(), Some("755".into())),
                ("size".into(), Some("65536k".into()))
            ]
        );
        let b = plan("none", &["rbind", "rro", "rprivate", "nosuid"]);
        assert_eq!(b.kind, Kind::Bind { recursive: true });
        assert_eq!(b.rattrs.attr_set, MOUNT_ATTR_RDONLY);
        assert_eq!(b.propagation, vec![(libc::MS_PRIVATE, true)]);
        let rw = plan("bind", &["ro", "rw"]);
        assert_eq!(rw.attrs.attr_set, 0);
        assert_eq!(rw.attrs.attr_clr, MOUNT_ATTR_RDONLY);
    }

    #[test]
    fn defers_readonly_of_tmpfs_and_dev() {
        let at = |dest: &str, typ: &str, opts: &[&str]| {
            let m: Mount = serde_json::from_value(serde_json::json!({
                "destination": dest, "type": typ, "source": "s", "options": opts
            }))
            .unwrap();
            MountPlan::from_spec(&m).unwrap()
        };
        assert!(at("/x", "tmpfs", &["ro"]).defers_readonly());
        assert!(at("/dev/../dev/", "devtmpfs", &["ro"]).defers_readonly());
        assert!(!at("/dev", "bind", &["bind", "ro"]).defers_readonly());
        assert!(!at("/sys", "sysfs", &["ro"]).defers_readonly());
        assert!(at("/x", "tmpfs", &["tmpcopyup"]).copy_up);
        assert!(!at("/x", "bind", &["bind", "tmpcopyup"]).copy_up);
    }

    #[test]
    fn rejects_unsupported() {
        let m: Mount = serde_json::from_value(serde_json::json!({
            "destination": "/x", "type": "bind", "source": "s", "options": ["remount"]
        }))
        .unwrap();
        let e = MountPlan::from_spec(&m).unwrap_err();
        assert!(
            matches!(&e, RootfsError::OptionUnsupported(o) if o == "remount"),
            "{e}"
        );
        assert_eq!(
            e.to_string(),
            "mount option \"remount\" is not implemented yet"
        );
    }

    #[test]
    fn parses_idmap_options_and_mappings() {
        assert_eq!(plan("bind", &["bind"]).idmap, None);
        let idmap = Some(Idmap { recursive: false });
        let ridmap = Some(Idmap { recursive: true });
        assert_eq!(plan("bind", &["bind", "idmap"]).idmap, idmap);
        assert_eq!(plan("bind", &["rbind", "ridmap", "ro"]).idmap, ridmap);
        assert_eq!(plan("bind", &["ridmap", "idmap"]).idmap, idmap);
        let m: Mount = serde_json::from_value(serde_json::json!({
            "destination": "/x", "type": "bind", "source": "s", "options": ["bind"],
            "uidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}]
        }))
        .unwrap();
        assert_eq!(MountPlan::from_spec(&m).unwrap().idmap, idmap);
    }
}
