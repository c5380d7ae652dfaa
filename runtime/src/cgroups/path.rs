//! `linux.cgroupsPath`: absolute (relative to each hierarchy's root),
//! relative (relative to the caller's own cgroup in each hierarchy; on a
//! cgroup v2 host to its parent, see `Manager::layout`), the default (runc's:
//! the container id, relative), and with `--systemd-cgroup` the systemd
//! `slice:prefix:name` form (`super::systemd::Unit`).

use std::path::{Component, Path, PathBuf};

use super::error::{CgroupError, Result};
use super::systemd::{self, Unit};

/// Where a container's cgroup goes, before it is placed in a hierarchy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CgroupsPath {
    /// Relative to each hierarchy's root; always starts with '/'.
    Absolute(PathBuf),
    /// Relative to the caller's own cgroup in each hierarchy.
    Relative(PathBuf),
    /// `--systemd-cgroup`: a transient scope, whose cgroup systemd makes
    /// at `unit.cgroup` below each hierarchy's root.
    Systemd(Unit),
}

/// The parent berth used before it took runc's default (the id, relative
/// to the caller's cgroup): `destroy` still removes it once empty, for
/// containers made by an older berth.
pub const OLD_DEFAULT_PARENT: &str = "/berth";

impl CgroupsPath {
    /// Interprets `linux.cgroupsPath` (`None` or empty: the default).
    /// `systemd` is the `--systemd-cgroup` flag.
    pub fn parse(path: Option<&str>, id: &str, systemd: bool) -> Result<CgroupsPath> {
        let path = path.filter(|p| !p.is_empty());
        if systemd {
            return systemd_unit(path, id).map(CgroupsPath::Systemd);
        }
        let Some(p) = path else {
            return Ok(CgroupsPath::Relative(PathBuf::from(id)));
        };
        let clean = clean(Path::new(p));
        if p.starts_with('/') {
            if clean == Path::new("/") {
                return Err(CgroupError::invalid(
                    "linux.cgroupsPath",
                    "\"/\" is the root cgroup; a container needs its own",
                ));
            }
            Ok(CgroupsPath::Absolute(clean))
        } else {
            let rel = clean.strip_prefix("/").unwrap_or(&clean).to_path_buf();
            if rel.as_os_str().is_empty() {
                return Err(CgroupError::invalid(
                    "linux.cgroupsPath",
                    format!("{p:?} names the runtime's own cgroup"),
                ));
            }
            Ok(CgroupsPath::Relative(rel))
        }
    }

    /// The directory in a hierarchy mounted at `mount`, whose caller's own
    /// cgroup (relative to the mount root) is `own` (needed for relative paths).
    pub fn dir_in(&self, mount: &Path, own: Option<&str>) -> Result<PathBuf> {
        match self {
            CgroupsPath::Absolute(p) => Ok(join_under(mount, p)),
            CgroupsPath::Systemd(u) => Ok(join_under(mount, &u.cgroup)),
            CgroupsPath::Relative(p) => {
                let own = own.ok_or_else(|| CgroupError::NoOwnCgroup {
                    path: p.clone(),
                    mount: mount.to_path_buf(),
                })?;
                Ok(join_under(&join_under(mount, Path::new(own)), p))
            }
        }
    }
}

/// `mount` + `p` with `p`'s leading '/' dropped.
fn join_under(mount: &Path, p: &Path) -> PathBuf {
    let rel = p.strip_prefix("/").unwrap_or(p);
    if rel.as_os_str().is_empty() {
        mount.to_path_buf()
    } else {
        mount.join(rel)
    }
}

/// Lexically cleans `p` as if rooted at '/': `.` and empty components go,
/// `..` never climbs above the root (runc's CleanPath semantics), so no
/// cgroupsPath can leave the hierarchy or the caller's cgroup.
fn clean(p: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in p.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out
}

/// The container's unit, checked in runc's order: the path's form, then
/// whether systemd runs here (never waits on a bus that is not there), then
/// the slice and unit names. A rootless runtime is refused: the user's
/// systemd instance is not driven by berth.
fn systemd_unit(path: Option<&str>, id: &str) -> Result<Unit> {
    if let Some(p) = path {
        if p.split(':').count() != 3 {
            return Err(CgroupError::SystemdPath(p.to_string()));
        }
    }
    if !systemd::running() {
        return Err(CgroupError::SystemdNotRunning);
    }
    if crate::sys::exec_euid() != 0 {
        return Err(CgroupError::SystemdRootless);
    }
    Unit::parse(path, id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_the_id_relative_to_the_callers_cgroup() {
        let p = CgroupsPath::parse(None, "c1", false).unwrap();
        assert_eq!(p, CgroupsPath::Relative("c1".into()));
        assert_eq!(CgroupsPath::parse(Some(""), "c1", false).unwrap(), p);
        let dir = p
            .dir_in(Path::new("/sys/fs/cgroup/memory"), Some("/user.slice"))
            .unwrap();
        assert_eq!(dir, Path::new("/sys/fs/cgroup/memory/user.slice/c1"));
    }

    #[test]
    fn absolute_is_relative_to_the_hierarchy_root() {
        let p = CgroupsPath::parse(Some("/a//b/./c/../d"), "x", false).unwrap();
        assert_eq!(p, CgroupsPath::Absolute("/a/b/d".into()));
        let dir = p
            .dir_in(Path::new("/sys/fs/cgroup/pids"), Some("/ignored"))
            .unwrap();
        assert_eq!(dir, Path::new("/sys/fs/cgroup/pids/a/b/d"));
        let esc = CgroupsPath::parse(Some("/../../etc"), "x", false).unwrap();
        assert_eq!(esc, CgroupsPath::Absolute("/etc".into()));
        assert!(CgroupsPath::parse(Some("/.."), "x", false).is_err());
    }

    #[test]
    fn relative_is_under_the_callers_cgroup() {
        let p = CgroupsPath::parse(Some("pod/ctr"), "x", false).unwrap();
        assert_eq!(p, CgroupsPath::Relative("pod/ctr".into()));
        let dir = p
            .dir_in(Path::new("/sys/fs/cgroup/memory"), Some("/process_api/abc"))
            .unwrap();
        assert_eq!(
            dir,
            Path::new("/sys/fs/cgroup/memory/process_api/abc/pod/ctr")
        );
        let root = p
            .dir_in(Path::new("/sys/fs/cgroup/cpu"), Some("/"))
            .unwrap();
        assert_eq!(root, Path::new("/sys/fs/cgroup/cpu/pod/ctr"));
        // `..` cannot climb out of the caller's cgroup.
        let up = CgroupsPath::parse(Some("../../x"), "x", false).unwrap();
        assert_eq!(up, CgroupsPath::Relative("x".into()));
        assert!(CgroupsPath::parse(Some(".."), "x", false).is_err());
        assert!(p.dir_in(Path::new("/m"), None).is_err());
    }

    #[test]
    fn systemd_form_checks_the_form_first_then_systemd() {
        let bad = CgroupsPath::parse(Some("nocolons"), "x", true).unwrap_err();
        assert_eq!(
            bad.to_string(),
            "expected cgroupsPath to be of format \"slice:prefix:name\" for systemd cgroups, got \"nocolons\" instead"
        );
        let r = CgroupsPath::parse(Some("system.slice:docker:abc"), "x", true);
        if systemd::running() {
            let p = r.unwrap();
            let dir = p.dir_in(Path::new("/sys/fs/cgroup"), None).unwrap();
            assert_eq!(
                dir,
                Path::new("/sys/fs/cgroup/system.slice/docker-abc.scope")
            );
        } else {
            // runc's text, byte for byte (this build host has no systemd).
            assert_eq!(
                r.unwrap_err().to_string(),
                "systemd not running on this host, cannot use systemd cgroups manager"
            );
        }
        // Without the flag, a colon path is just a relative directory name.
        let plain = CgroupsPath::parse(Some("a:b:c"), "x", false).unwrap();
        assert_eq!(plain, CgroupsPath::Relative("a:b:c".into()));
    }
}
