//! Path resolution inside the container's rootfs (docs/architecture.md §4). Every lookup is
//! `openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)` from the rootfs fd, so
//! symlinks and `..` planted in the image can never lead onto the host, and
//! every missing directory is created one component at a time under an fd.

use std::ffi::{CString, OsStr};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use nix::fcntl::{readlinkat, AtFlags, OFlag};
use nix::sys::stat::{fstatat, mkdirat, Mode, SFlag};

use super::error::{Context, Result, RootfsError};
use crate::sys::{openat2, ResolveMode};

/// The rootfs, held by fd.
#[derive(Debug)]
pub struct RootDir {
    fd: OwnedFd,
}

/// What to create at a missing mount target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Dir,
    File,
}

/// Lexically cleans `p` into components below `/` (`..` stops at the root).
pub fn clean(p: &Path) -> Vec<&OsStr> {
    let mut out: Vec<&OsStr> = Vec::new();
    for c in p.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out
}

fn join(comps: &[&OsStr]) -> PathBuf {
    let mut p = PathBuf::from(".");
    p.extend(comps);
    p
}

fn errno(e: &io::Error) -> i32 {
    e.raw_os_error().unwrap_or(0)
}

impl RootDir {
    pub fn open(path: &Path) -> Result<RootDir> {
        let fd = crate::sys::open_host(path, libc::O_PATH | libc::O_DIRECTORY)
            .ctx(|| format!("open rootfs {}", path.display()))?;
        Ok(RootDir { fd })
    }

    pub fn raw(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Opens `path` (a container path) inside the rootfs.
    pub fn open_in(&self, path: &Path, flags: libc::c_int) -> io::Result<OwnedFd> {
        openat2(
            self.raw(),
            &join(&clean(path)),
            flags,
            0,
            ResolveMode::InRoot,
        )
    }

    /// Creates every missing directory of `comps` and returns an `O_PATH` fd
    /// of the last one.
    fn mkdir_all(&self, comps: &[&OsStr]) -> Result<OwnedFd> {
        let dir_flags = libc::O_PATH | libc::O_DIRECTORY;
        let mut current = openat2(
            self.raw(),
            Path::new("."),
            dir_flags,
            0,
            ResolveMode::InRoot,
        )
        .ctx(|| "open rootfs".into())?;
        for i in 0..comps.len() {
            let sub = join(&comps[..=i]);
            let shown = || Path::new("/").join(&sub).display().to_string();
            match openat2(self.raw(), &sub, dir_flags, 0, ResolveMode::InRoot) {
                Ok(fd) => current = fd,
                Err(e) if errno(&e) == libc::ENOENT => {
                    match mkdirat(&current, comps[i], Mode::from_bits_truncate(0o755)) {
                        Ok(()) | Err(nix::errno::Errno::EEXIST) => {}
                        Err(e) => return Err(e).ctx(|| format!("mkdir {} in rootfs", shown())),
                    }
                    current = openat2(self.raw(), &sub, dir_flags, 0, ResolveMode::InRoot)
                        .map_err(|source| RootfsError::Dangling {
                            path: Path::new("/").join(&sub),
                            source,
                        })?;
                }
                Err(e) => return Err(e).ctx(|| format!("open {} in rootfs", shown())),
            }
        }
        Ok(current)
    }

    /// Makes sure `path` exists as `kind` and returns an `O_PATH` fd of it.
    /// A final component that is a symlink to an absolute path is refused:
    /// to a naive runtime it points at the host, and it is never what a
    /// mount target should be.
    pub fn ensure(&self, path: &Path, kind: Kind) -> Result<OwnedFd> {
        let comps = clean(path);
        let Some((last, parents)) = comps.split_last() else {
            return Err(RootfsError::RootIsTarget);
        };
        let parent = self.mkdir_all(parents)?;
        match fstatat(&parent, *last, AtFlags::AT_SYMLINK_NOFOLLOW) {
            Ok(st) if SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFLNK => {
                let target = readlinkat(&parent, *last).unwrap_or_default();
                if target.as_bytes().first() == Some(&b'/') {
                    return Err(RootfsError::EscapingSymlink {
                        path: path.to_path_buf(),
                        target: target.into(),
                    });
                }
            }
            Ok(_) => {}
            Err(nix::errno::Errno::ENOENT) => create(&parent, last, kind)
                .ctx(|| format!("create {} in rootfs", path.display()))?,
            Err(e) => return Err(e).ctx(|| format!("stat {} in rootfs", path.display())),
        }
        let flags = libc::O_PATH
            | if kind == Kind::Dir {
                libc::O_DIRECTORY
            } else {
                0
            };
        self.open_in(path, flags)
            .ctx(|| format!("open {} in rootfs", path.display()))
    }
}

fn create(parent: &OwnedFd, name: &OsStr, kind: Kind) -> io::Result<()> {
    match kind {
        Kind::Dir => match mkdirat(parent, name, Mode::from_bits_truncate(0o755)) {
            Ok(()) | Err(nix::errno::Errno::EEXIST) => Ok(()),
            Err(e) => Err(e.into()),
        },
        Kind::File => {
            let c = CString::new(name.as_bytes())
                .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
            // O_NOFOLLOW|O_EXCL never follows a link; the new fd is closed
            // at once (dropped).
            let flags = OFlag::O_CREAT
                | OFlag::O_EXCL
                | OFlag::O_NOFOLLOW
                | OFlag::O_WRONLY
                | OFlag::O_CLOEXEC;
            match nix::fcntl::openat(parent, c.as_c_str(), flags, Mode::from_bits_truncate(0o644)) {
                Ok(_) | Err(nix::errno::Errno::EEXIST) => Ok(()),
                Err(e) => Err(e.into()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleans_paths() {
        let c = clean(Path::new("/a/./b/../../../c//d"));
        assert_eq!(c, vec![OsStr::new("c"), OsStr::new("d")]);
        assert!(clean(Path::new("/")).is_empty());
    }

    #[test]
    fn symlinks_stay_inside_and_absolute_final_links_are_refused() {
        let base = std::env::temp_dir().join(format!("berth-resolve-{}", std::process::id()));
        let outside = base.join("outside");
        let rootfs = base.join("rootfs");
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::create_dir_all(rootfs.join("real")).unwrap();
        std::os::unix::fs::symlink("/real", rootfs.join("abs")).unwrap();
        std::os::unix::fs::symlink(&outside, rootfs.join("evil")).unwrap();
        std::os::unix::fs::symlink("../../../../real", rootfs.join("rel")).unwrap();
        let root = RootDir::open(&rootfs).unwrap();
        // An absolute link in the middle resolves inside the rootfs.
        root.ensure(Path::new("/abs/sub"), Kind::Dir).unwrap();
        assert!(rootfs.join("real/sub").is_dir());
        root.ensure(Path::new("/rel/f"), Kind::File).unwrap();
        assert!(rootfs.join("real/f").is_file());
        // A final component linking to an absolute path is refused.
        let err = root.ensure(Path::new("/evil"), Kind::Dir).unwrap_err();
        assert!(
            matches!(&err, RootfsError::EscapingSymlink { target, .. } if target.starts_with(&outside)),
            "{err}"
        );
        // Through a dangling link to a host path nothing is created, least of all on the host.
        assert!(root.ensure(Path::new("/evil/x"), Kind::Dir).is_err());
        assert!(!outside.join("x").exists());
        // Once the link's target exists inside the rootfs, it resolves there.
        let inside = rootfs.join(outside.strip_prefix("/").unwrap());
        std::fs::create_dir_all(&inside).unwrap();
        root.ensure(Path::new("/evil/x"), Kind::Dir).unwrap();
        assert!(inside.join("x").is_dir());
        assert!(!outside.join("x").exists());
        std::fs::remove_dir_all(&base).unwrap();
    }
}
