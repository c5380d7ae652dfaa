//! Device nodes in the container's /dev: the defaults every container gets,
//! `linux.devices`, and the /dev symlinks of runtime-linux.md.

use std::ffi::OsStr;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::fcntl::AtFlags;
use nix::sys::stat::{fstatat, makedev, mknodat, Mode, SFlag};
use nix::unistd::{fchownat, symlinkat, unlinkat, Gid, Uid, UnlinkatFlags};
use oci_spec::runtime::{LinuxDevice, LinuxDeviceType};

use super::error::{Context, Result, RootfsError};
use super::resolve::{clean, RootDir};
use crate::sys::mount_api::TreeFd;

/// A device node to create.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    pub path: PathBuf,
    pub kind: SFlag,
    pub major: u64,
    pub minor: u64,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    /// From `linux.devices` (not a default): a different file already at
    /// the path is an error, as config-linux.md requires.
    pub configured: bool,
}

const DEFAULTS: &[(&str, u64, u64)] = &[
    ("/dev/null", 1, 3),
    ("/dev/zero", 1, 5),
    ("/dev/full", 1, 7),
    ("/dev/random", 1, 8),
    ("/dev/urandom", 1, 9),
    ("/dev/tty", 5, 0),
];

fn from_spec(d: &LinuxDevice) -> Node {
    let kind = match d.typ() {
        LinuxDeviceType::B => SFlag::S_IFBLK,
        LinuxDeviceType::P => SFlag::S_IFIFO,
        _ => SFlag::S_IFCHR,
    };
    Node {
        path: d.path().clone(),
        kind,
        major: d.major() as u64,
        minor: d.minor() as u64,
        mode: d.file_mode().unwrap_or(0o666) & 0o7777,
        uid: d.uid().unwrap_or(0),
        gid: d.gid().unwrap_or(0),
        configured: true,
    }
}

/// The default devices not overridden by the config, then the config's.
pub fn plan(devices: &[LinuxDevice]) -> Vec<Node> {
    let mut out: Vec<Node> = DEFAULTS
        .iter()
        .filter(|(p, _, _)| !devices.iter().any(|d| d.path() == Path::new(p)))
        .map(|(p, major, minor)| Node {
            path: PathBuf::from(p),
            kind: SFlag::S_IFCHR,
            major: *major,
            minor: *minor,
            mode: 0o666,
            uid: 0,
            gid: 0,
            configured: false,
        })
        .collect();
    out.extend(devices.iter().map(from_spec));
    out
}

/// Creates `node` in the rootfs. A file already at that path is never
/// replaced (the image on disk is not ours to change): a device node of the
/// same type and number is used as it is; any other file is an error for a
/// `linux.devices` entry (config-linux.md: the runtime MUST generate an
/// error; runc goes on), and is left in place with a warning for a default
/// device (as runc). `spec::validate` has refused a path that is the root.
/// In a user namespace, where mknod is not allowed, the host's device at
/// the same path is bind-mounted instead (`bind`), as runc does.
pub fn create(root: &RootDir, node: &Node, bind: bool, dirs: &mut DirCache) -> Result<()> {
    let comps = clean(&node.path);
    let Some((name, parents)) = comps.split_last() else {
        return Err(RootfsError::DeviceIsRoot(node.path.clone()));
    };
    let parent_path: PathBuf = Path::new("/").join(parents.iter().collect::<PathBuf>());
    let dev = makedev(node.major, node.minor);
    let what = || format!("create device {}", node.path.display());
    let dir = dirs.open(root, parent_path, what)?;
    match fstatat(dir, *name, AtFlags::AT_SYMLINK_NOFOLLOW) {
        Ok(st) => {
            let same = SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == node.kind
                && st.st_rdev == dev;
            if same {
                return Ok(());
            }
            if node.configured {
                return Err(RootfsError::DeviceTaken(node.path.clone()));
            }
            tracing::warn!(
                path = %node.path.display(),
                "a file that is not the default device exists at this path in the rootfs; left as it is"
            );
            return Ok(());
        }
        Err(nix::errno::Errno::ENOENT) => {}
        Err(e) => return Err(e).ctx(what),
    }
    if bind {
        return bind_host_node(dir, name, &node.path).ctx(what);
    }
    mknodat(
        dir,
        *name,
        node.kind,
        Mode::from_bits_truncate(node.mode),
        dev,
    )
    .ctx(what)?;
    fchownat(
        dir,
        *name,
        Some(Uid::from_raw(node.uid)),
        Some(Gid::from_raw(node.gid)),
        AtFlags::AT_SYMLINK_NOFOLLOW,
    )
    .ctx(what)
}

/// The directory the last device went to, resolved in the rootfs once for
/// all the nodes that share it (usually all of them: /dev).
#[derive(Default)]
pub struct DirCache {
    last: Option<(PathBuf, OwnedFd)>,
}

impl DirCache {
    fn open(
        &mut self,
        root: &RootDir,
        path: PathBuf,
        what: impl Fn() -> String,
    ) -> Result<&OwnedFd> {
        let entry = match self.last.take() {
            Some((p, fd)) if p == path => (p, fd),
            _ => {
                let parent = root.ensure(&path, super::resolve::Kind::Dir)?;
                // An O_PATH fd cannot take mknodat: reopened as a directory.
                let dir = reopen_dir(&parent).ctx(what)?;
                (path, dir)
            }
        };
        Ok(&self.last.insert(entry).1)
    }
}

/// An empty file at `name` in `dir`, with the host's node at `host` (the
/// runtime's view, before pivot_root) bind-mounted onto it.
fn bind_host_node(dir: &OwnedFd, name: &OsStr, host: &Path) -> std::io::Result<()> {
    let flags = libc::O_CREAT | libc::O_EXCL | libc::O_WRONLY | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    let file = nix::fcntl::openat(
        dir,
        name,
        nix::fcntl::OFlag::from_bits_truncate(flags),
        Mode::from_bits_truncate(0o644),
    )?;
    drop(file);
    let target = crate::sys::openat2(
        dir.as_raw_fd(),
        Path::new(name),
        libc::O_PATH | libc::O_NOFOLLOW,
        0,
        crate::sys::ResolveMode::Beneath,
    )?;
    let tree = TreeFd::clone_path(libc::AT_FDCWD, host, false)?;
    tree.move_to(target.as_raw_fd())
}

fn reopen_dir(fd: &std::os::fd::OwnedFd) -> std::io::Result<std::os::fd::OwnedFd> {
    crate::sys::openat2(
        fd.as_raw_fd(),
        Path::new("."),
        libc::O_DIRECTORY | libc::O_RDONLY,
        0,
        crate::sys::ResolveMode::Beneath,
    )
}

/// /dev/fd, stdin, stdout, stderr, and /dev/ptmx → pts/ptmx.
pub fn symlinks(root: &RootDir, with_ptmx: bool) -> Result<()> {
    let dev = root.ensure(Path::new("/dev"), super::resolve::Kind::Dir)?;
    let dev = reopen_dir(&dev).ctx(|| "open /dev in rootfs".into())?;
    let mut links = vec![
        ("/proc/self/fd", "fd"),
        ("/proc/self/fd/0", "stdin"),
        ("/proc/self/fd/1", "stdout"),
        ("/proc/self/fd/2", "stderr"),
    ];
    if with_ptmx {
        let _ = unlinkat(&dev, "ptmx", UnlinkatFlags::NoRemoveDir);
        links.push(("pts/ptmx", "ptmx"));
    }
    for (target, name) in links {
        match symlinkat(target, &dev, name) {
            Ok(()) | Err(nix::errno::Errno::EEXIST) => {}
            Err(e) => return Err(e).ctx(|| format!("symlink /dev/{name} -> {target}")),
        }
    }
    Ok(())
}
