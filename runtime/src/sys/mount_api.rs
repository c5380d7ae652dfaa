//! The fd-based mount API (Linux 5.2+, `mount_setattr` 5.12+): `open_tree`,
//! `move_mount`, `mount_setattr`, `fsopen`/`fsconfig`/`fsmount`.
//!
//! Mounts are built detached and then moved onto a target *fd* that was
//! resolved safely inside the rootfs, so no container-controlled path string
//! ever reaches the kernel's mount code (docs/architecture.md §4).

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::check;

const OPEN_TREE_CLONE: libc::c_uint = 1;
const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x4;
const MOVE_MOUNT_T_EMPTY_PATH: libc::c_uint = 0x40;
const FSOPEN_CLOEXEC: libc::c_uint = 1;
const FSMOUNT_CLOEXEC: libc::c_uint = 1;
const FSCONFIG_SET_FLAG: libc::c_uint = 0;
const FSCONFIG_SET_STRING: libc::c_uint = 1;
const FSCONFIG_CMD_CREATE: libc::c_uint = 6;

pub const MOUNT_ATTR_RDONLY: u64 = 0x1;
pub const MOUNT_ATTR_NOSUID: u64 = 0x2;
pub const MOUNT_ATTR_NODEV: u64 = 0x4;
pub const MOUNT_ATTR_NOEXEC: u64 = 0x8;
pub const MOUNT_ATTR_ATIME_MASK: u64 = 0x70;
pub const MOUNT_ATTR_RELATIME: u64 = 0x0;
pub const MOUNT_ATTR_NOATIME: u64 = 0x10;
pub const MOUNT_ATTR_STRICTATIME: u64 = 0x20;
pub const MOUNT_ATTR_NODIRATIME: u64 = 0x80;
pub const MOUNT_ATTR_NOSYMFOLLOW: u64 = 0x200000;
/// With `userns_fd`: the mount's ids are mapped through that user namespace.
pub const MOUNT_ATTR_IDMAP: u64 = 0x100000;

/// `struct mount_attr` (MOUNT_ATTR_SIZE_VER0).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MountAttrs {
    pub attr_set: u64,
    pub attr_clr: u64,
    pub propagation: u64,
    pub userns_fd: u64,
}

impl MountAttrs {
    pub fn is_empty(&self) -> bool {
        self.attr_set == 0 && self.attr_clr == 0 && self.propagation == 0
    }
}

fn cstr(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

/// A mount tree held by fd: detached (fresh from `open_tree`/`fsmount`) or
/// attached (after `move_to`).
#[derive(Debug)]
pub struct TreeFd(OwnedFd);

impl TreeFd {
    /// Clones the mount at `path` (relative to `dir`, or absolute) into a new
    /// detached tree; `recursive` includes submounts (rbind).
    pub fn clone_path(dir: RawFd, path: &Path, recursive: bool) -> io::Result<TreeFd> {
        let c = cstr(path)?;
        open_tree(dir, &c, recursive, 0)
    }

    /// Clones the mount that `fd` (any fd, e.g. `O_PATH`) refers to.
    pub fn clone_fd(fd: RawFd, recursive: bool) -> io::Result<TreeFd> {
        open_tree(fd, c"", recursive, libc::AT_EMPTY_PATH as libc::c_uint)
    }

    /// Applies `attrs` to this tree (to every mount in it when `recursive`).
    pub fn set_attrs(&self, attrs: &MountAttrs, recursive: bool) -> io::Result<()> {
        if attrs.is_empty() {
            return Ok(());
        }
        set_attrs_at(self.0.as_raw_fd(), attrs, recursive)
    }

    /// Attaches this tree on top of the inode `target` refers to.
    pub fn move_to(&self, target: RawFd) -> io::Result<()> {
        // SAFETY: the only pointers are two static empty C strings, which
        // the kernel reads; the fds are numbers it checks (ours is borrowed
        // through `self`, so open).
        let ret = unsafe {
            libc::syscall(
                libc::SYS_move_mount,
                self.0.as_raw_fd(),
                c"".as_ptr(),
                target,
                c"".as_ptr(),
                MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH,
            )
        };
        check(ret).map(|_| ())
    }

    pub fn as_raw_fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }

    pub fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        std::os::fd::AsFd::as_fd(&self.0)
    }
}

fn open_tree(
    dir: RawFd,
    path: &std::ffi::CStr,
    recursive: bool,
    extra: libc::c_uint,
) -> io::Result<TreeFd> {
    let mut flags = OPEN_TREE_CLONE | libc::O_CLOEXEC as libc::c_uint | extra;
    if recursive {
        flags |= libc::AT_RECURSIVE as libc::c_uint;
    }
    // SAFETY: the kernel only reads `path`, a NUL-terminated string alive
    // for the call.
    let ret = unsafe { libc::syscall(libc::SYS_open_tree, dir, path.as_ptr(), flags) };
    let fd = check(ret)? as RawFd;
    // SAFETY: a non-negative return of open_tree is a new fd the kernel just
    // installed for us; nothing else refers to it.
    Ok(TreeFd(unsafe { OwnedFd::from_raw_fd(fd) }))
}

/// `mount_setattr(2)` on the mount `fd` refers to.
pub fn set_attrs_at(fd: RawFd, attrs: &MountAttrs, recursive: bool) -> io::Result<()> {
    let mut flags = libc::AT_EMPTY_PATH as libc::c_uint;
    if recursive {
        flags |= libc::AT_RECURSIVE as libc::c_uint;
    }
    // SAFETY: the kernel only reads "" and `attrs`, a live repr(C)
    // `struct mount_attr` of the size we pass.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd,
            c"".as_ptr(),
            flags,
            attrs as *const MountAttrs,
            std::mem::size_of::<MountAttrs>(),
        )
    };
    check(ret).map(|_| ())
}

/// A filesystem context from `fsopen(2)`, configured and then mounted.
#[derive(Debug)]
pub struct FsContext(OwnedFd);

impl FsContext {
    pub fn open(fstype: &str) -> io::Result<FsContext> {
        let c = CString::new(fstype).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
        // SAFETY: the kernel only reads `c`, a NUL-terminated string alive
        // for the call.
        let ret = unsafe { libc::syscall(libc::SYS_fsopen, c.as_ptr(), FSOPEN_CLOEXEC) };
        let fd = check(ret)? as RawFd;
        // SAFETY: a non-negative return of fsopen is a new fd the kernel
        // just installed for us; nothing else refers to it.
        Ok(FsContext(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    /// Sets `key=value`, or the flag `key` when `value` is None.
    pub fn set(&self, key: &str, value: Option<&str>) -> io::Result<()> {
        let k = CString::new(key).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
        let v = match value {
            Some(v) => {
                Some(CString::new(v).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?)
            }
            None => None,
        };
        let (cmd, vptr) = match &v {
            Some(v) => (FSCONFIG_SET_STRING, v.as_ptr()),
            None => (FSCONFIG_SET_FLAG, std::ptr::null()),
        };
        // SAFETY: the kernel only reads `k` and `v` (NUL-terminated, alive
        // for the call) or, for a flag, gets NULL as the value, which
        // FSCONFIG_SET_FLAG requires.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_fsconfig,
                self.0.as_raw_fd(),
                cmd,
                k.as_ptr(),
                vptr,
                0,
            )
        };
        check(ret).map(|_| ()).map_err(|e| self.annotate(e))
    }

    /// Creates the superblock and returns a detached mount of it.
    pub fn mount(&self, attr_flags: u64) -> io::Result<TreeFd> {
        // SAFETY: FSCONFIG_CMD_CREATE takes NULL key and value, which is what
        // we pass: no memory of ours is involved.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_fsconfig,
                self.0.as_raw_fd(),
                FSCONFIG_CMD_CREATE,
                std::ptr::null::<libc::c_char>(),
                std::ptr::null::<libc::c_char>(),
                0,
            )
        };
        check(ret).map_err(|e| self.annotate(e))?;
        // SAFETY: fsmount takes an fd and two flag words; no memory of ours
        // is involved.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_fsmount,
                self.0.as_raw_fd(),
                FSMOUNT_CLOEXEC,
                attr_flags as libc::c_uint,
            )
        };
        let fd = check(ret)? as RawFd;
        // SAFETY: a non-negative return of fsmount is a new fd the kernel
        // just installed for us; nothing else refers to it.
        Ok(TreeFd(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    /// Adds the kernel's own explanation (read from the context fd) to `e`.
    fn annotate(&self, e: io::Error) -> io::Error {
        let mut buf = [0u8; 512];
        // SAFETY: the kernel writes at most `buf.len()` bytes into `buf`, a
        // live local we hold mutably.
        let n = unsafe { libc::read(self.0.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n <= 2 {
            return e;
        }
        let msg = String::from_utf8_lossy(&buf[2..n as usize])
            .trim()
            .to_string();
        io::Error::new(e.kind(), format!("{e} ({msg})"))
    }
}
