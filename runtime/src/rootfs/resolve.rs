//! Path resolution inside the container's rootfs (docs/architecture.md §4). Every lookup is
//! `openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)` from the rootfs fd, so
//! symlinks and `..` planted in the image can never lead onto the host, and
//! every missing directory is created one component at a time under an fd.

use std::collections::VecDeque;
use std::ffi::{CString, OsStr, OsString};
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

impl RootDir {
    pub fn open(path: &Path) -> Result<RootDir> {
        let fd = crate::sys::open_host(path, libc::O_PATH | libc::O_DIRECTORY)
            .ctx(|| format!("open rootfs {}", path.display()))?;
        Ok(RootDir { fd })
    }

    /// The root of a detached mount tree (the rootfs `rootfs::compact`
    /// builds, the v1 cgroup tmpfs before it is attached), by a duplicate
    /// of its fd.
    pub fn of_tree(tree: &crate::sys::TreeFd) -> Result<RootDir> {
        let fd = tree
            .as_fd()
            .try_clone_to_owned()
            .ctx(|| "duplicate the rootfs tree's fd".into())?;
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

    /// Opens the directory `comps` (components known to be no symlinks)
    /// inside the rootfs as `O_PATH`.
    fn open_dir(&self, comps: &[OsString]) -> Result<OwnedFd> {
        let p: PathBuf = std::iter::once(OsStr::new(".").to_os_string())
            .chain(comps.iter().cloned())
            .collect();
        openat2(
            self.raw(),
            &p,
            libc::O_PATH | libc::O_DIRECTORY,
            0,
            ResolveMode::InRoot,
        )
        .ctx(|| format!("open {} in rootfs", shown(comps)))
    }

    /// Makes sure `path` exists as `kind` and returns an `O_PATH` fd of it.
    ///
    /// The path is walked one component at a time as if the rootfs were
    /// `/`, the way runc resolves mount destinations (securejoin, and
    /// current runc's MkdirAllInRoot): a symlink anywhere in it, also the
    /// last component, also a dangling one, is followed *inside* the rootfs
    /// (an absolute target restarts at the rootfs, `..` stops there), and
    /// whatever is missing is created there, directories one `mkdirat` at a
    /// time under the parent's fd and the last component as `kind`. Nothing
    /// is ever created or opened on the host's side of a link.
    pub fn ensure(&self, path: &Path, kind: Kind) -> Result<OwnedFd> {
        self.resolve(path, kind, true).map(|(fd, _)| fd)
    }

    /// [`RootDir::ensure`], also telling whether the target was created
    /// (`false`: it was already in the image).
    pub fn ensure_created(&self, path: &Path, kind: Kind) -> Result<(OwnedFd, bool)> {
        self.resolve(path, kind, true)
    }

    /// Like [`RootDir::ensure`], but a final component that is a symlink is
    /// not followed: the returned fd is the link itself (`O_PATH |
    /// O_NOFOLLOW`), for targets that must be ordinary directories.
    pub fn ensure_nofollow(&self, path: &Path, kind: Kind) -> Result<OwnedFd> {
        self.resolve(path, kind, false).map(|(fd, _)| fd)
    }

    fn resolve(&self, path: &Path, kind: Kind, follow_last: bool) -> Result<(OwnedFd, bool)> {
        let flags = target_flags(kind, follow_last);
        // A path with `..` always takes the walk: `open_in` cleans it
        // lexically, where the walk applies it after the links before it.
        if !path.components().any(|c| c == Component::ParentDir) {
            if let Some(fd) = self.open_existing(path, flags) {
                return Ok((fd, false));
            }
            if let Some(fd) = self.create_last(path, kind, flags) {
                return Ok((fd, true));
            }
        }
        let mut todo: VecDeque<OsString> = VecDeque::new();
        push_front(&mut todo, path);
        let mut done: Vec<OsString> = Vec::new();
        let mut parent = self.open_dir(&done)?;
        let mut links = 0;
        let mut created = false;
        while let Some(name) = todo.pop_front() {
            if name == ".." {
                done.pop();
                parent = self.open_dir(&done)?;
                continue;
            }
            let last = todo.is_empty();
            match fstatat(&parent, name.as_os_str(), AtFlags::AT_SYMLINK_NOFOLLOW) {
                Ok(st) if is_link(st.st_mode) && (follow_last || !last) => {
                    links += 1;
                    if links > MAX_LINKS {
                        return Err(io::Error::from_raw_os_error(libc::ELOOP))
                            .ctx(|| format!("resolve {} in rootfs", path.display()));
                    }
                    self.refuse_magic_link(&done, &name)?;
                    let target = readlinkat(&parent, name.as_os_str())
                        .ctx(|| format!("readlink {} in rootfs", shown_with(&done, &name)))?;
                    push_front(&mut todo, Path::new(&target));
                    if target.as_bytes().first() == Some(&b'/') {
                        done.clear();
                        parent = self.open_dir(&done)?;
                    }
                    continue;
                }
                Ok(_) => {}
                Err(nix::errno::Errno::ENOENT) => {
                    let k = if last { kind } else { Kind::Dir };
                    create(&parent, &name, k)
                        .ctx(|| format!("create {} in rootfs", shown_with(&done, &name)))?;
                    created = last;
                }
                Err(e) => {
                    return Err(e).ctx(|| format!("stat {} in rootfs", shown_with(&done, &name)))
                }
            }
            done.push(name);
            if !last {
                parent = self.open_dir(&done)?;
            }
        }
        if done.is_empty() {
            return Err(RootfsError::RootIsTarget);
        }
        let p: PathBuf = done.iter().collect();
        let fd = self
            .open_in(&p, flags)
            .ctx(|| format!("open {} in rootfs", shown(&done)))?;
        Ok((fd, created))
    }
}

impl RootDir {
    /// The usual case of `resolve` (for a path without `..`): the target is
    /// in the image already and one `openat2` finds it. The kernel's
    /// `RESOLVE_IN_ROOT` walk follows links as `resolve` does (inside the
    /// rootfs, magic links refused), so the fd is the one the walk would
    /// return; any failure goes the long way, which creates what is missing
    /// and names the error.
    fn open_existing(&self, path: &Path, flags: libc::c_int) -> Option<OwnedFd> {
        if clean(path).is_empty() {
            return None;
        }
        self.open_in(path, flags).ok()
    }

    /// The next most usual case (for a path without `..`): only the last
    /// component is missing (a mount target such as /dev/pts in a fresh
    /// /dev). The parent is opened with one `openat2` (the walk's result, as
    /// in `open_existing`) and the target created under it when nothing is
    /// there; anything else (a link, even a dangling one, a missing parent,
    /// a failure) goes the long way, which follows links and names errors.
    fn create_last(&self, path: &Path, kind: Kind, flags: libc::c_int) -> Option<OwnedFd> {
        let comps = clean(path);
        let (name, dir) = comps.split_last()?;
        let parent = self
            .open_in(&join(dir), libc::O_PATH | libc::O_DIRECTORY)
            .ok()?;
        match fstatat(&parent, *name, AtFlags::AT_SYMLINK_NOFOLLOW) {
            Err(nix::errno::Errno::ENOENT) => {}
            _ => return None,
        }
        create(&parent, name, kind).ok()?;
        self.open_in(path, flags).ok()
    }

    /// Fails on a magic link (`/proc/self/fd/N` and the like), whose text
    /// is not where it leads: the kernel's own lookup, with
    /// `RESOLVE_NO_MAGICLINKS`, refuses it with ELOOP. A dangling ordinary
    /// link (ENOENT) or one that resolves is fine to follow by its text.
    fn refuse_magic_link(&self, done: &[OsString], name: &OsStr) -> Result<()> {
        let p: PathBuf = done.iter().map(OsString::as_os_str).chain([name]).collect();
        match self.open_in(&p, libc::O_PATH) {
            Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
                Err(e).ctx(|| format!("resolve {} in rootfs", shown_with(done, name)))
            }
            _ => Ok(()),
        }
    }
}

/// `openat2` flags for the fd `resolve` returns: `O_PATH`, a directory
/// where one is wanted (through a final link), the link itself otherwise.
fn target_flags(kind: Kind, follow_last: bool) -> libc::c_int {
    let mut flags = libc::O_PATH;
    if kind == Kind::Dir && follow_last {
        flags |= libc::O_DIRECTORY;
    }
    if !follow_last {
        flags |= libc::O_NOFOLLOW;
    }
    flags
}

/// Symlinks followed before giving up with ELOOP (the kernel's limit).
const MAX_LINKS: usize = 40;

fn is_link(mode: libc::mode_t) -> bool {
    SFlag::from_bits_truncate(mode) & SFlag::S_IFMT == SFlag::S_IFLNK
}

/// Puts the components of `p` (names and `..`) in front of `todo`.
fn push_front(todo: &mut VecDeque<OsString>, p: &Path) {
    let comps: Vec<OsString> = p
        .components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_os_string()),
            Component::ParentDir => Some(OsString::from("..")),
            _ => None,
        })
        .collect();
    for c in comps.into_iter().rev() {
        todo.push_front(c);
    }
}

fn shown(comps: &[OsString]) -> String {
    let mut p = PathBuf::from("/");
    p.extend(comps);
    p.display().to_string()
}

fn shown_with(done: &[OsString], name: &OsStr) -> String {
    Path::new(&shown(done)).join(name).display().to_string()
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
    fn symlinks_resolve_inside_the_rootfs() {
        let base = std::env::temp_dir().join(format!("berth-resolve-{}", std::process::id()));
        let outside = base.join("outside");
        let rootfs = base.join("rootfs");
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::create_dir_all(rootfs.join("real")).unwrap();
        std::fs::create_dir_all(rootfs.join("etc")).unwrap();
        let link = |t: &Path, l: &str| std::os::unix::fs::symlink(t, rootfs.join(l)).unwrap();
        link(Path::new("/real"), "abs");
        link(&outside, "evil");
        link(Path::new("../../../../real"), "rel");
        link(Path::new("/etc/../../../newdir"), "up");
        link(Path::new("chain2"), "chain1");
        link(Path::new("/evil/deep"), "chain2");
        link(Path::new("loop"), "loop");
        let root = RootDir::open(&rootfs).unwrap();
        // An absolute link in the middle resolves inside the rootfs.
        root.ensure(Path::new("/abs/sub"), Kind::Dir).unwrap();
        assert!(rootfs.join("real/sub").is_dir());
        root.ensure(Path::new("/rel/f"), Kind::File).unwrap();
        assert!(rootfs.join("real/f").is_file());
        // A final dangling link to a host path is created inside the rootfs.
        let inside = rootfs.join(outside.strip_prefix("/").unwrap());
        root.ensure(Path::new("/evil"), Kind::Dir).unwrap();
        assert!(inside.is_dir());
        root.ensure(Path::new("/evil/x"), Kind::Dir).unwrap();
        assert!(inside.join("x").is_dir());
        // `..` stops at the rootfs; chains are followed link by link.
        root.ensure(Path::new("/up"), Kind::File).unwrap();
        assert!(rootfs.join("newdir").is_file());
        root.ensure(Path::new("/chain1/f"), Kind::File).unwrap();
        assert!(inside.join("deep/f").is_file());
        assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0);
        // Not following the last component gives the link itself.
        let fd = root.ensure_nofollow(Path::new("/abs"), Kind::Dir).unwrap();
        let st = nix::sys::stat::fstat(&fd).unwrap();
        assert!(is_link(st.st_mode));
        let e = root.ensure(Path::new("/loop"), Kind::Dir).unwrap_err();
        assert_eq!(e.errno(), Some(libc::ELOOP), "{e}");
        // Magic links (here with /proc as the root) are never followed by
        // their text.
        let proc_root = RootDir::open(Path::new("/proc")).unwrap();
        for p in ["/self/cwd", "/self/fd/0", "/thread-self/root/x"] {
            let e = proc_root.ensure(Path::new(p), Kind::Dir).unwrap_err();
            assert_eq!(e.errno(), Some(libc::ELOOP), "{p}: {e}");
        }
        let e = root.ensure(Path::new("/etc/.."), Kind::Dir).unwrap_err();
        assert!(matches!(e, RootfsError::RootIsTarget), "{e}");
        // What exists is found in one lookup (through links too), not made.
        let ino = |p: &Path| nix::sys::stat::stat(p).unwrap().st_ino;
        let (fd, made) = root
            .ensure_created(Path::new("/abs/sub"), Kind::Dir)
            .unwrap();
        assert!(!made);
        assert_eq!(
            nix::sys::stat::fstat(&fd).unwrap().st_ino,
            ino(&rootfs.join("real/sub"))
        );
        let (_, made) = root
            .ensure_created(Path::new("/etc/new"), Kind::Dir)
            .unwrap();
        assert!(made && rootfs.join("etc/new").is_dir());
        // A file where a directory is wanted fails, as the walk says.
        assert!(root.ensure(Path::new("/real/f"), Kind::Dir).is_err());
        std::fs::remove_dir_all(&base).unwrap();
    }
}
