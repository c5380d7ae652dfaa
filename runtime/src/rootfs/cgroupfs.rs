//! A `cgroup` entry of `mounts`. On a pure cgroup v2 host that is a cgroup2
//! mount (namespaced by the cgroup namespace). On v1 and hybrid hosts, as
//! runc does, a tmpfs holding a bind of the container's own directory in
//! each hierarchy, as the cgroup manager placed it.

use std::os::fd::AsRawFd;
use std::path::PathBuf;

use super::error::{MountStep, Result};
use super::mount::MountPlan;
use super::resolve::{Kind, RootDir};
use crate::cgroups::{Manager, Mode};
use crate::sys::mount_api::MOUNT_ATTR_RDONLY;
use crate::sys::{FsContext, MountAttrs, TreeFd};

/// One hierarchy to bind: its name under the mount and its host directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hierarchy {
    pub name: String,
    pub host_dir: PathBuf,
}

/// How this host's cgroups are to be shown in the container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Layout {
    Unified,
    Legacy(Vec<Hierarchy>),
}

/// The layout for a container whose cgroup is managed by `cgroup`: on a
/// pure v2 host a cgroup2 mount; otherwise each hierarchy's mount point name
/// with the container's leaf in it.
pub fn layout(cgroup: &Manager) -> Layout {
    if cgroup.mode() == Mode::V2 {
        return Layout::Unified;
    }
    legacy(cgroup.mounts_and_dirs())
}

/// A v1 or hybrid layout of `(mount point, directory)` pairs: each
/// hierarchy by its mount point's name, with that directory bound.
pub fn legacy(mounts_and_dirs: Vec<(PathBuf, PathBuf)>) -> Layout {
    let hs = mounts_and_dirs
        .into_iter()
        .filter_map(|(mount, dir)| {
            let name = mount
                .strip_prefix("/sys/fs/cgroup")
                .ok()?
                .to_str()?
                .to_string();
            (!name.is_empty()).then_some(Hierarchy {
                name,
                host_dir: dir,
            })
        })
        .collect();
    Layout::Legacy(hs)
}

/// Mounts the cgroup entry `plan` in the rootfs.
pub fn mount(root: &RootDir, plan: &MountPlan, layout: &Layout) -> Result<()> {
    let target = root.ensure(&plan.destination, Kind::Dir)?;
    match layout {
        Layout::Unified => {
            let fail = |e| plan.error_as(Some("cgroup2"), MountStep::Mount, e);
            let fs = FsContext::open("cgroup2").map_err(fail)?;
            let tree = fs.mount(plan.attrs.attr_set).map_err(fail)?;
            plan.attach(&tree, &target)
        }
        Layout::Legacy(hs) => {
            let fail = |e| plan.error_as(Some("tmpfs"), MountStep::Mount, e);
            let fs = FsContext::open("tmpfs").map_err(fail)?;
            fs.set("mode", Some("755")).map_err(fail)?;
            let tmpfs = fs
                .mount(plan.attrs.attr_set & !MOUNT_ATTR_RDONLY)
                .map_err(fail)?;
            plan.attach(&tmpfs, &target)?;
            for h in hs {
                let sub = root.ensure(&plan.destination.join(&h.name), Kind::Dir)?;
                let bind = |e| plan.error_as(None, MountStep::Mount, e);
                let tree = TreeFd::clone_path(libc::AT_FDCWD, &h.host_dir, false)
                    .map_err(|e| plan.error_as(None, MountStep::Bind(h.host_dir.clone()), e))?;
                tree.set_attrs(&plan.attrs, false).map_err(bind)?;
                tree.move_to(sub.as_raw_fd()).map_err(bind)?;
            }
            if plan.attrs.attr_set & MOUNT_ATTR_RDONLY != 0 {
                let ro = MountAttrs {
                    attr_set: MOUNT_ATTR_RDONLY,
                    ..MountAttrs::default()
                };
                crate::sys::mount_api::set_attrs_at(tmpfs.as_raw_fd(), &ro, false).map_err(fail)?;
            }
            Ok(())
        }
    }
}
