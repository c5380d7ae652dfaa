//! A `cgroup` entry of `mounts`. On a pure cgroup v2 host that is a cgroup2
//! mount (namespaced by the cgroup namespace); where the kernel refuses one
//! (EPERM or EBUSY: a rootless container in a user namespace, as runc
//! notes), a bind of the container's own cgroup directory when it has its
//! own cgroup namespace, else of the whole v2 hierarchy; and where that
//! directory is not there (ENOENT), an empty tmpfs (runc's fallbacks). On
//! v1 and hybrid hosts, as runc does, a tmpfs holding a bind of the
//! container's own directory in each hierarchy, as the cgroup manager
//! placed it.

use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use super::error::{MountStep, Result};
use super::host::HostTrees;
use super::mount::MountPlan;
use super::resolve::{Kind, RootDir};
use crate::cgroups::hierarchy::CGROUP_ROOT;
use crate::cgroups::{Manager, Mode};
use crate::sys::mount_api::MOUNT_ATTR_RDONLY;
use crate::sys::{FsContext, MountAttrs};

/// One hierarchy to bind: its name under the mount and its host directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hierarchy {
    pub name: String,
    pub host_dir: PathBuf,
}

/// How this host's cgroups are to be shown in the container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Layout {
    /// A cgroup2 mount, or a bind of `fallback` where one is refused.
    Unified {
        fallback: PathBuf,
    },
    Legacy(Vec<Hierarchy>),
}

/// The layout for a container whose cgroup is managed by `cgroup`: on a
/// pure v2 host a cgroup2 mount (falling back to a bind of its own
/// directory when `own_cgroupns`, else of the hierarchy); otherwise each
/// hierarchy's mount point name with the container's leaf in it.
pub fn layout(cgroup: &Manager, own_cgroupns: bool) -> Layout {
    if cgroup.mode() == Mode::V2 {
        let fallback = match cgroup.v2_dir() {
            Some(dir) if own_cgroupns => dir.to_path_buf(),
            _ => PathBuf::from(CGROUP_ROOT),
        };
        return Layout::Unified { fallback };
    }
    legacy(cgroup.mounts_and_dirs())
}

/// A v1 or hybrid layout of `(mount point, directory)` pairs: each
/// hierarchy by its mount point's name, with that directory bound.
pub fn legacy(mounts_and_dirs: Vec<(PathBuf, PathBuf)>) -> Layout {
    let hs = mounts_and_dirs
        .into_iter()
        .filter_map(|(mount, dir)| {
            let name = mount.strip_prefix(CGROUP_ROOT).ok()?.to_str()?.to_string();
            (!name.is_empty()).then_some(Hierarchy {
                name,
                host_dir: dir,
            })
        })
        .collect();
    Layout::Legacy(hs)
}

/// Mounts the cgroup entry `plan` in the rootfs.
pub fn mount(root: &RootDir, plan: &MountPlan, layout: &Layout, host: &HostTrees) -> Result<()> {
    let target = root.ensure(&plan.destination, Kind::Dir)?;
    match layout {
        Layout::Unified { fallback } => {
            let fresh = FsContext::open("cgroup2").and_then(|fs| fs.mount(plan.attrs.attr_set));
            match fresh {
                Ok(tree) => plan.attach(&tree, &target),
                Err(e) if matches!(e.raw_os_error(), Some(libc::EPERM) | Some(libc::EBUSY)) => {
                    tracing::debug!(
                        "cgroup2 mount refused ({e}): binding {}",
                        fallback.display()
                    );
                    bind_fallback(plan, &target, fallback, host)
                }
                Err(e) => Err(plan.error_as(Some("cgroup2"), MountStep::Mount, e)),
            }
        }
        Layout::Legacy(hs) => mount_legacy(plan, &target, hs, host),
    }
}

/// On a v1 or hybrid host: a tmpfs holding a directory per hierarchy, each
/// with a bind of the container's own leaf. The directories are made, and
/// the tmpfs made read-only if the entry asks, before it is attached: a
/// mount inside a tree that is still detached (`rootfs::compact`) takes
/// no attribute change.
fn mount_legacy(
    plan: &MountPlan,
    target: &std::os::fd::OwnedFd,
    hs: &[Hierarchy],
    host: &HostTrees,
) -> Result<()> {
    let fail = |e| plan.error_as(Some("tmpfs"), MountStep::Mount, e);
    let fs = FsContext::open("tmpfs").map_err(fail)?;
    fs.set("mode", Some("755")).map_err(fail)?;
    let tmpfs = fs
        .mount(plan.attrs.attr_set & !MOUNT_ATTR_RDONLY)
        .map_err(fail)?;
    // Opened now, they stay the bind targets once the tmpfs is attached.
    let dirs = RootDir::of_tree(&tmpfs)?;
    let subs = hs
        .iter()
        .map(|h| dirs.ensure(Path::new(&h.name), Kind::Dir))
        .collect::<Result<Vec<_>>>()?;
    if plan.attrs.attr_set & MOUNT_ATTR_RDONLY != 0 {
        let ro = MountAttrs {
            attr_set: MOUNT_ATTR_RDONLY,
            ..MountAttrs::default()
        };
        tmpfs.set_attrs(&ro, false).map_err(fail)?;
    }
    plan.attach(&tmpfs, target)?;
    for (h, sub) in hs.iter().zip(&subs) {
        let bind = |e| plan.error_as(None, MountStep::Mount, e);
        let tree = host
            .clone_path(&h.host_dir, false)
            .map_err(|e| plan.error_as(None, MountStep::Bind(h.host_dir.clone()), e))?;
        tree.set_attrs(&plan.attrs, false).map_err(bind)?;
        tree.move_to(sub.as_raw_fd()).map_err(bind)?;
    }
    Ok(())
}

/// A bind of `dir` (read-only as the entry asks) where a cgroup2 mount was
/// refused; an empty tmpfs if `dir` is not there.
fn bind_fallback(
    plan: &MountPlan,
    target: &std::os::fd::OwnedFd,
    dir: &Path,
    host: &HostTrees,
) -> Result<()> {
    let fail = |e| plan.error_as(None, MountStep::Bind(dir.to_path_buf()), e);
    let tree = match host.clone_path(dir, false) {
        Ok(tree) => tree,
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
            tracing::debug!("{} is not there: an empty tmpfs instead", dir.display());
            let fail = |e| plan.error_as(Some("tmpfs"), MountStep::Mount, e);
            let fs = FsContext::open("tmpfs").map_err(fail)?;
            fs.set("mode", Some("755")).map_err(fail)?;
            let tmpfs = fs.mount(plan.attrs.attr_set).map_err(fail)?;
            return plan.attach(&tmpfs, target);
        }
        Err(e) => return Err(fail(e)),
    };
    tree.set_attrs(&plan.attrs, false).map_err(fail)?;
    plan.attach(&tree, target)
}
