//! `linux.maskedPaths` and `linux.readonlyPaths`.
//!
//! A masked file gets a bind of the host's /dev/null (verified to be the
//! 1:3 character device), a masked directory a read-only empty tmpfs; a
//! read-only path is bind-mounted onto itself read-only. All through fds.

use std::os::fd::AsRawFd;
use std::path::Path;

use nix::sys::stat::{fstat, major, minor, SFlag};

use super::error::{Context, Result, RootfsError};
use super::host::HostTrees;
use super::resolve::RootDir;
use crate::sys::mount_api::{
    MOUNT_ATTR_NODEV, MOUNT_ATTR_NOEXEC, MOUNT_ATTR_NOSUID, MOUNT_ATTR_RDONLY,
};
use crate::sys::{FsContext, MountAttrs, TreeFd};

fn is_enoent(e: &std::io::Error) -> bool {
    e.raw_os_error() == Some(libc::ENOENT)
}

/// Remounts `path` read-only (missing paths are skipped).
pub fn readonly(root: &RootDir, path: &Path) -> Result<()> {
    let what = || format!("make {} read-only", path.display());
    let target = match root.open_in(path, libc::O_PATH) {
        Ok(fd) => fd,
        Err(e) if is_enoent(&e) => return Ok(()),
        Err(e) => return Err(e).ctx(what),
    };
    let tree = TreeFd::clone_fd(target.as_raw_fd(), true).ctx(what)?;
    let attrs = MountAttrs {
        attr_set: MOUNT_ATTR_RDONLY,
        ..MountAttrs::default()
    };
    tree.set_attrs(&attrs, true).ctx(what)?;
    tree.move_to(target.as_raw_fd()).ctx(what)
}

/// A detached bind of the host's /dev/null, checked to be the real thing.
fn host_dev_null(host: &HostTrees) -> Result<TreeFd> {
    let tree = host
        .clone_path(Path::new("/dev/null"), false)
        .ctx(|| "clone /dev/null for masking".into())?;
    let st = fstat(tree.as_fd()).ctx(|| "stat /dev/null".into())?;
    let is_chr = SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFCHR;
    if !is_chr || major(st.st_rdev) != 1 || minor(st.st_rdev) != 3 {
        return Err(RootfsError::BadDevNull);
    }
    Ok(tree)
}

/// Hides `path` (missing paths are skipped).
pub fn mask(root: &RootDir, path: &Path, host: &HostTrees) -> Result<()> {
    let what = || format!("mask {}", path.display());
    let target = match root.open_in(path, libc::O_PATH | libc::O_NOFOLLOW) {
        Ok(fd) => fd,
        Err(e) if is_enoent(&e) => return Ok(()),
        Err(e) => return Err(e).ctx(what),
    };
    let st = fstat(&target).ctx(what)?;
    let tree = if SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFDIR {
        let fs = FsContext::open("tmpfs").ctx(what)?;
        fs.set("size", Some("0")).ctx(what)?;
        fs.mount(MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC)
            .ctx(what)?
    } else {
        host_dev_null(host)?
    };
    tree.move_to(target.as_raw_fd()).ctx(what)
}
