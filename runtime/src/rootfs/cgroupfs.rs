//! A `cgroup` entry of `mounts`. On a pure cgroup v2 host that is a cgroup2
//! mount (namespaced by the cgroup namespace). On v1 and hybrid hosts, as
//! runc does, a tmpfs holding a bind of the container's own directory in
//! each hierarchy, as the cgroup manager placed it.

use std::os::fd::AsRawFd;
use std::path::PathBuf;

use super::mount::MountPlan;
use super::resolve::{Kind, RootDir};
use crate::cgroups::{Manager, Mode};
use crate::error::{Context, Result};
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
    let hs = cgroup
        .mounts_and_dirs()
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
    let what = || plan.describe();
    let target = root.ensure(&plan.destination, Kind::Dir)?;
    match layout {
        Layout::Unified => {
            let fs = FsContext::open("cgroup2").ctx(what)?;
            let tree = fs.mount(plan.attrs.attr_set).ctx(what)?;
            plan.attach(&tree, &target)
        }
        Layout::Legacy(hs) => {
            let fs = FsContext::open("tmpfs").ctx(what)?;
            fs.set("mode", Some("755")).ctx(what)?;
            let tmpfs = fs
                .mount(plan.attrs.attr_set & !MOUNT_ATTR_RDONLY)
                .ctx(what)?;
            plan.attach(&tmpfs, &target)?;
            for h in hs {
                let sub = root.ensure(&plan.destination.join(&h.name), Kind::Dir)?;
                let tree = TreeFd::clone_path(libc::AT_FDCWD, &h.host_dir, false)
                    .ctx(|| format!("{}: bind {}", what(), h.host_dir.display()))?;
                tree.set_attrs(&plan.attrs, false).ctx(what)?;
                tree.move_to(sub.as_raw_fd()).ctx(what)?;
            }
            if plan.attrs.attr_set & MOUNT_ATTR_RDONLY != 0 {
                let ro = MountAttrs {
                    attr_set: MOUNT_ATTR_RDONLY,
                    ..MountAttrs::default()
                };
                crate::sys::mount_api::set_attrs_at(tmpfs.as_raw_fd(), &ro, false).ctx(what)?;
            }
            Ok(())
        }
    }
}
