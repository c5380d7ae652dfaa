//! A `cgroup` entry of `mounts`. On a pure cgroup v2 host that is a cgroup2
//! mount (namespaced by the cgroup namespace). On v1 and hybrid hosts, as
//! runc does, a tmpfs holding a bind of each hierarchy's directory for this
//! process's cgroup. The host paths are computed by the runtime before clone
//! (in the host's cgroup namespace) and bound in the init.

use std::fs;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use nix::sys::statfs::{statfs, CGROUP2_SUPER_MAGIC};

use super::mount::MountPlan;
use super::resolve::{Kind, RootDir};
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

/// Reads the layout from /sys/fs/cgroup, /proc/self/mountinfo and /proc/self/cgroup.
pub fn host_layout() -> Layout {
    if statfs("/sys/fs/cgroup").is_ok_and(|s| s.filesystem_type() == CGROUP2_SUPER_MAGIC) {
        return Layout::Unified;
    }
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let cgroups = fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    Layout::Legacy(legacy_hierarchies(&mountinfo, &cgroups))
}

fn legacy_hierarchies(mountinfo: &str, cgroups: &str) -> Vec<Hierarchy> {
    let mut out = Vec::new();
    for line in mountinfo.lines() {
        let Some((pre, post)) = line.split_once(" - ") else {
            continue;
        };
        let pre: Vec<&str> = pre.split(' ').collect();
        let post: Vec<&str> = post.split(' ').collect();
        if pre.len() < 5 || post.len() < 3 {
            continue;
        }
        let (mount_root, mountpoint, fstype) = (pre[3], pre[4], post[0]);
        let Some(name) = mountpoint.strip_prefix("/sys/fs/cgroup/") else {
            continue;
        };
        let wanted: Vec<&str> = match fstype {
            "cgroup" => post[2]
                .split(',')
                .filter(|o| !matches!(*o, "rw" | "ro"))
                .collect(),
            "cgroup2" => vec![""],
            _ => continue,
        };
        let own = cgroups.lines().find_map(|l| {
            let mut f = l.splitn(3, ':');
            let (_, ctrls, path) = (f.next()?, f.next()?, f.next()?);
            let matches = if fstype == "cgroup2" {
                ctrls.is_empty()
            } else {
                !ctrls.is_empty() && ctrls.split(',').all(|c| wanted.contains(&c))
            };
            matches.then_some(path)
        });
        let Some(own) = own else { continue };
        let rel = Path::new(own)
            .strip_prefix(mount_root)
            .unwrap_or(Path::new(own));
        let rel = rel.strip_prefix("/").unwrap_or(rel);
        let mut host_dir = PathBuf::from(mountpoint);
        if !rel.as_os_str().is_empty() {
            host_dir.push(rel);
        }
        out.push(Hierarchy {
            name: name.to_string(),
            host_dir,
        });
    }
    out
}

/// Points each hierarchy of a legacy layout at the container's own cgroup
/// directory in it (from the cgroup manager), where it has one.
pub fn with_dirs(layout: Layout, dirs: &[PathBuf]) -> Layout {
    match layout {
        Layout::Unified => Layout::Unified,
        Layout::Legacy(hs) => Layout::Legacy(
            hs.into_iter()
                .map(|mut h| {
                    let mount = Path::new("/sys/fs/cgroup").join(&h.name);
                    if let Some(d) = dirs.iter().find(|d| d.starts_with(&mount)) {
                        h.host_dir = d.clone();
                    }
                    h
                })
                .collect(),
        ),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_own_directories_in_hybrid_layout() {
        let mi = "30 25 0:26 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n\
                  31 25 0:27 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n\
                  32 25 0:28 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,name=systemd\n\
                  33 25 0:29 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n\
                  34 25 0:30 / /tmp rw - tmpfs tmpfs rw\n";
        let cg = "4:memory:/a/b\n1:cpu:/\n9:name=systemd:/\n0::/\n";
        let hs = legacy_hierarchies(mi, cg);
        let dirs: Vec<String> = hs
            .iter()
            .map(|h| format!("{}={}", h.name, h.host_dir.display()))
            .collect();
        assert_eq!(
            dirs,
            vec![
                "cpu=/sys/fs/cgroup/cpu",
                "memory=/sys/fs/cgroup/memory/a/b",
                "systemd=/sys/fs/cgroup/systemd",
                "unified=/sys/fs/cgroup/unified"
            ]
        );
    }
}
