//! The container's root filesystem (config `root`, `mounts`,
//! `linux.devices`, `maskedPaths`, `readonlyPaths`, `rootfsPropagation`):
//! prepared inside the init's new mount namespace, then entered with
//! pivot_root (or MS_MOVE + chroot with --no-pivot). A container without a
//! mount namespace of its own gets no mount at all (the host's mount table
//! stays as it is): its devices, /dev symlinks and cwd are made in the
//! rootfs and it is entered by chroot.

mod bindflags;
pub mod cgroupfs;
pub mod compact;
mod copyup;
pub mod devices;
mod error;
mod host;
pub mod idmap;
pub mod mount;
mod nopivot;
pub mod paths;
pub mod resolve;

use std::os::fd::{AsFd, AsRawFd};
use std::path::Path;

use nix::mount::{mount as mount2, umount2, MntFlags, MsFlags};
use nix::unistd::{chdir, chroot, pivot_root};
use oci_spec::runtime::Spec;

use crate::sys::mount_api::{set_attrs_at, MOUNT_ATTR_RDONLY};
use crate::sys::{MountAttrs, TreeFd};
use error::{Context, Result};
pub use error::{MountStep, RootfsError};
use host::HostTrees;
use mount::{Kind as MountKind, MountPlan};
use resolve::RootDir;

/// `linux.rootfsPropagation` → MS_* flag.
pub fn propagation_flag(p: &str) -> Result<u64> {
    match p.trim_start_matches('r') {
        "shared" => Ok(libc::MS_SHARED),
        "slave" => Ok(libc::MS_SLAVE),
        "private" => Ok(libc::MS_PRIVATE),
        "unbindable" => Ok(libc::MS_UNBINDABLE),
        _ => Err(RootfsError::UnknownPropagation(p.to_string())),
    }
}

/// Inputs of rootfs preparation.
pub struct Setup<'a> {
    pub spec: &'a Spec,
    pub bundle: &'a Path,
    pub rootfs: &'a Path,
    pub cgroups: &'a cgroupfs::Layout,
    /// The container has a mount namespace of its own (new or joined).
    /// Without one it is the runtime's: nothing is mounted (`spec` has
    /// refused what would need a mount) and the rootfs is entered by chroot.
    pub mount_ns: bool,
    /// The container has a new user namespace, or the runtime runs in one:
    /// device nodes are bound from the host, and a fresh sysfs may be refused.
    pub userns: bool,
    /// The idmapped trees the runtime prepared, by index in `mounts`.
    pub idmapped: &'a idmap::IdmappedMounts,
    /// The compact mount namespace's template (`compact`): the init is
    /// still in the host's mount namespace, builds the rootfs as a detached
    /// tree there, then attaches it at `compact::ROOT` in a copy of the
    /// template.
    pub template: Option<std::os::fd::BorrowedFd<'a>>,
}

impl Setup<'_> {
    /// Where the rootfs is built: its own path, or `compact::ROOT`.
    pub fn root_path(&self) -> &Path {
        match self.template {
            Some(_) => Path::new(compact::ROOT),
            None => self.rootfs,
        }
    }
}

fn requested_propagation(spec: &Spec) -> Option<u64> {
    let p = spec.linux().as_ref()?.rootfs_propagation().as_deref()?;
    propagation_flag(p).ok()
}

/// Everything before pivot_root: isolate propagation, bind the rootfs onto
/// itself, mounts, devices, /dev symlinks, cwd, read-only and masked paths.
/// With a template (`compact`), the rootfs is built as a detached tree in
/// the host's mount namespace instead and attached, last, in a copy of the
/// template.
pub fn prepare(s: &Setup) -> Result<()> {
    if !s.mount_ns {
        return populate(&RootDir::open(s.rootfs)?, s, &[]);
    }
    let pre = match requested_propagation(s.spec) {
        Some(libc::MS_PRIVATE) => MsFlags::MS_PRIVATE,
        _ => MsFlags::MS_SLAVE,
    };
    let (root, host, detached) = match s.template {
        Some(_) => {
            let tree = detached_rootfs(s.rootfs, pre)?;
            (
                RootDir::of_tree(&tree)?,
                HostTrees::in_host(pre.bits()),
                Some(tree),
            )
        }
        None => {
            isolate_and_bind_rootfs(s.rootfs, pre)?;
            (RootDir::open(s.rootfs)?, HostTrees::IN_COPY, None)
        }
    };
    let mounts = s.spec.mounts().as_deref().unwrap_or(&[]);
    for (i, m) in mounts.iter().enumerate() {
        let plan = MountPlan::from_spec(m)?;
        tracing::debug!(
            "mount {} type {}",
            m.destination().display(),
            m.typ().as_deref().unwrap_or("bind")
        );
        if plan.idmap.is_some() {
            mount_idmapped(&root, &plan, s, i)?;
        } else {
            mount_one(&root, &plan, s, &host)?;
        }
    }
    populate(&root, s, mounts)?;
    for p in linux_paths(s.spec, |l| l.readonly_paths().as_deref()) {
        paths::readonly(&root, Path::new(p))?;
    }
    for p in linux_paths(s.spec, |l| l.masked_paths().as_deref()) {
        paths::mask(&root, Path::new(p), &host)?;
    }
    if let (Some(template), Some(tree)) = (s.template, detached) {
        compact::enter(template, &tree)
            .ctx(|| "enter a copy of the mount namespace template".into())?;
        tracing::debug!("rootfs built in a compact mount namespace");
    }
    Ok(())
}

/// The usual way: the init's copy of the host's mounts stops propagating
/// back (`pre`: slave or private), and the rootfs is bound onto itself.
fn isolate_and_bind_rootfs(rootfs: &Path, pre: MsFlags) -> Result<()> {
    mount2(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | pre,
        None::<&str>,
    )
    .ctx(|| "make / a slave mount".into())?;
    let bind = TreeFd::clone_path(libc::AT_FDCWD, rootfs, true)
        .ctx(|| format!("bind rootfs {}", rootfs.display()))?;
    let target = RootDir::open(rootfs)?;
    bind.move_to(target.raw())
        .ctx(|| format!("bind rootfs {}", rootfs.display()))
}

/// The compact way (`compact`): the rootfs cloned, in the host's mount
/// namespace, as a detached tree that the mounts go into; its mounts are
/// slaves (or private) as the copy of the host's would have been.
fn detached_rootfs(rootfs: &Path, pre: MsFlags) -> Result<TreeFd> {
    HostTrees::in_host(pre.bits())
        .clone_path(rootfs, true)
        .ctx(|| format!("bind rootfs {}", rootfs.display()))
}

fn linux_paths<'a>(
    spec: &'a Spec,
    f: impl Fn(&'a oci_spec::runtime::Linux) -> Option<&'a [String]>,
) -> &'a [String] {
    spec.linux().as_ref().and_then(f).unwrap_or(&[])
}

/// What needs no mount: devices, /dev symlinks and the cwd (without a mount
/// namespace, as runc, the nodes are made in the rootfs's own /dev).
fn populate(root: &RootDir, s: &Setup, mounts: &[oci_spec::runtime::Mount]) -> Result<()> {
    let linux = s.spec.linux().as_ref();
    let devs = linux.and_then(|l| l.devices().as_deref()).unwrap_or(&[]);
    let mut dirs = devices::DirCache::default();
    for node in devices::plan(devs) {
        tracing::debug!(
            "device {} ({}:{})",
            node.path.display(),
            node.major,
            node.minor
        );
        devices::create(root, &node, s.userns, &mut dirs)?;
    }
    let has_pts = mounts
        .iter()
        .any(|m| m.destination() == Path::new("/dev/pts"));
    devices::symlinks(root, has_pts)?;
    if let Some(p) = s
        .spec
        .process()
        .as_ref()
        .filter(|p| !resolve::clean(p.cwd()).is_empty())
    {
        root.ensure(p.cwd(), resolve::Kind::Dir)?;
    }
    Ok(())
}

fn mount_one(root: &RootDir, plan: &MountPlan, s: &Setup, host: &HostTrees) -> Result<()> {
    if plan.kind == MountKind::Cgroup {
        return cgroupfs::mount(root, plan, s.cgroups, host);
    }
    if let Some(p) = devpts_without_unmapped_gid(plan, s) {
        return mount_one(root, &p, s, host);
    }
    let proc_like = match &plan.kind {
        MountKind::Fs(t) if t == "proc" || t == "sysfs" => Some(t),
        _ => None,
    };
    let tmpfs = matches!(&plan.kind, MountKind::Fs(t) if t == "tmpfs");
    let (target, created) = if proc_like.is_some() {
        // As runc: proc and sysfs never go through a final symlink.
        (
            root.ensure_nofollow(&plan.destination, resolve::Kind::Dir)?,
            true,
        )
    } else {
        root.ensure_created(&plan.destination, plan.target_kind(s.bundle))?
    };
    if let Some(fstype) = proc_like {
        let st = nix::sys::stat::fstat(&target).map_err(|e| plan.error(MountStep::Mount, e))?;
        if st.st_mode & libc::S_IFMT != libc::S_IFDIR {
            return Err(RootfsError::NotADirectory {
                src: plan.source.clone(),
                dest: plan.destination.clone(),
                fstype: fstype.clone(),
            });
        }
    }
    if tmpfs && !created && !plan.data.iter().any(|(k, _)| k == "mode") {
        // As runc: a tmpfs over a directory of the image takes its mode.
        let st = nix::sys::stat::fstat(&target).map_err(|e| plan.error(MountStep::Mount, e))?;
        let mut plan = plan.clone();
        let mode = format!("{:04o}", st.st_mode & 0o7777);
        plan.data.insert(0, ("mode".to_string(), Some(mode)));
        return build_attach(&plan, &target, created, s.bundle, host);
    }
    build_attach(plan, &target, created, s.bundle, host)
}

/// In a user namespace, a devpts `gid=N` whose N the gid map does not
/// cover would fail the mount (EINVAL); the option is dropped instead, with
/// a warning (as crun; runc fails), so that configs written for the host,
/// with `gid=5`, run with a small map.
fn devpts_without_unmapped_gid(plan: &MountPlan, s: &Setup) -> Option<MountPlan> {
    if !s.userns || plan.kind != MountKind::Fs("devpts".into()) {
        return None;
    }
    let gids = s.spec.linux().as_ref()?.gid_mappings().as_deref()?;
    let unmapped = |v: &Option<String>| {
        v.as_deref()
            .and_then(|g| g.parse::<u32>().ok())
            .is_some_and(|g| !crate::userns::maps_id(gids, g))
    };
    let i = plan
        .data
        .iter()
        .position(|(k, v)| k == "gid" && unmapped(v))?;
    tracing::warn!(
        "{}: devpts option gid={} dropped: that group is not mapped in the user namespace",
        plan.destination.display(),
        plan.data[i].1.as_deref().unwrap_or("")
    );
    let mut p = plan.clone();
    p.data.remove(i);
    Some(p)
}

/// An idmapped bind: the tree the runtime prepared (`idmap`) goes onto the
/// destination, resolved inside the rootfs as for any bind.
fn mount_idmapped(root: &RootDir, plan: &MountPlan, s: &Setup, index: usize) -> Result<()> {
    let tree = s.idmapped.take(index).ok_or(RootfsError::Internal(
        "an idmapped mount without a prepared tree",
    ))?;
    let target = root.ensure(&plan.destination, plan.target_kind(s.bundle))?;
    plan.attach_idmapped(&tree, &target)
}

fn build_attach(
    plan: &MountPlan,
    target: &std::os::fd::OwnedFd,
    created: bool,
    bundle: &Path,
    host: &HostTrees,
) -> Result<()> {
    let tree = plan.build(bundle, host)?;
    if plan.copy_up && !created {
        copyup::copy_dir(target.as_fd(), tree.as_fd())
            .map_err(|e| plan.error(MountStep::CopyUp, e))?;
    }
    plan.attach(&tree, target)
}

/// Makes the prepared rootfs the process's root: pivot_root, or MS_MOVE
/// and chroot with `no_pivot`; a plain chroot without a mount namespace of
/// the container's own (as runc; it must not move or pivot the host's
/// mounts), whatever `no_pivot` says.
pub fn enter(rootfs: &Path, no_pivot: bool, mount_ns: bool) -> Result<()> {
    if !mount_ns {
        chdir(rootfs).ctx(|| format!("chdir {}", rootfs.display()))?;
        chroot(".").ctx(|| "chroot into rootfs".into())?;
        return chdir("/").ctx(|| "chdir /".into());
    }
    let old_root = crate::sys::open_host(Path::new("/"), libc::O_DIRECTORY | libc::O_RDONLY)
        .ctx(|| "open /".into())?;
    chdir(rootfs).ctx(|| format!("chdir {}", rootfs.display()))?;
    if no_pivot {
        // As runc's msMoveRoot: the host's mounts stay in this namespace.
        nopivot::hide_host_pseudo_fs(rootfs)?;
        mount2(
            Some(rootfs),
            "/",
            None::<&str>,
            MsFlags::MS_MOVE,
            None::<&str>,
        )
        .ctx(|| "move rootfs onto /".into())?;
        chroot(".").ctx(|| "chroot into rootfs".into())?;
    } else {
        pivot_root(".", ".").ctx(|| format!("pivot_root {}", rootfs.display()))?;
        // The old root now sits on top of the new one. Step into it by fd
        // (the kernel does not promise what "." is after pivot_root), so
        // the recursive slave below reaches only the old root's mounts and
        // the container's own propagation settings survive.
        nix::unistd::fchdir(&old_root).ctx(|| "fchdir old root".into())?;
        mount2(
            None::<&str>,
            ".",
            None::<&str>,
            MsFlags::MS_SLAVE | MsFlags::MS_REC,
            None::<&str>,
        )
        .ctx(|| "make old root a slave".into())?;
        umount2(".", MntFlags::MNT_DETACH).ctx(|| "unmount old root".into())?;
    }
    chdir("/").ctx(|| "chdir /".into())
}

/// After pivot_root: `root.readonly` and a shared/unbindable rootfsPropagation.
pub fn finish(spec: &Spec) -> Result<()> {
    if let Some(flag) =
        requested_propagation(spec).filter(|f| *f != libc::MS_PRIVATE && *f != libc::MS_SLAVE)
    {
        mount2(
            None::<&str>,
            "/",
            None::<&str>,
            MsFlags::MS_REC | MsFlags::from_bits_retain(flag),
            None::<&str>,
        )
        .ctx(|| "set rootfs propagation".into())?;
    }
    if spec.root().as_ref().and_then(|r| r.readonly()) == Some(true) {
        let fd = crate::sys::open_host(Path::new("/"), libc::O_PATH | libc::O_DIRECTORY)
            .ctx(|| "open /".into())?;
        let ro = MountAttrs {
            attr_set: MOUNT_ATTR_RDONLY,
            ..MountAttrs::default()
        };
        set_attrs_at(fd.as_raw_fd(), &ro, false).ctx(|| "make rootfs read-only".into())?;
    }
    Ok(())
}
