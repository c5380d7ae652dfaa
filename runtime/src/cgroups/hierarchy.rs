//! Which cgroup mode this host runs (v1, v2, hybrid) and where each
//! controller lives. Detected once per call (once per CLI process, see
//! `Hierarchies::detect`): two `statfs`, the cgroup mounts
//! at the conventional places (mounts.rs; else one read of
//! /proc/self/mountinfo) and (with a cgroup2 mount) one read of its root's
//! cgroup.controllers.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use nix::sys::statfs::{statfs, CGROUP2_SUPER_MAGIC};

use super::error::{CgroupError, Context, Result};

/// Where cgroups are mounted by convention.
pub const CGROUP_ROOT: &str = "/sys/fs/cgroup";
/// The cgroup2 mount of a hybrid host.
pub const UNIFIED_ROOT: &str = "/sys/fs/cgroup/unified";

/// The cgroup layout of the host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Only v1 hierarchies.
    V1,
    /// cgroup2 at /sys/fs/cgroup.
    V2,
    /// v1 controllers plus cgroup2 at /sys/fs/cgroup/unified.
    Hybrid,
}

/// The v1 subsystems we know; any `name=` hierarchy counts as well.
const V1_CONTROLLERS: &[&str] = &[
    "cpu",
    "cpuacct",
    "cpuset",
    "memory",
    "devices",
    "freezer",
    "net_cls",
    "net_prio",
    "blkio",
    "perf_event",
    "hugetlb",
    "pids",
    "rdma",
    "misc",
    "debug",
];

/// One mounted hierarchy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hierarchy {
    /// Its mount point, e.g. /sys/fs/cgroup/memory.
    pub mount: PathBuf,
    /// The hierarchy path of the mount's root (field 4 of mountinfo; "/"
    /// unless a cgroup namespace or a bind narrowed it).
    pub root: String,
    /// v1: its subsystems (e.g. `cpu`, `cpuacct`, `name=systemd`);
    /// v2: the controllers its root offers (cgroup.controllers).
    pub controllers: Vec<String>,
}

impl Hierarchy {
    #[cfg(test)]
    pub fn has(&self, controller: &str) -> bool {
        self.controllers.iter().any(|c| c == controller)
    }
}

static KEEP: AtomicBool = AtomicBool::new(false);
static DETECTED: OnceLock<Hierarchies> = OnceLock::new();

/// The cgroup hierarchies of this host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hierarchies {
    pub mode: Mode,
    pub v1: Vec<Hierarchy>,
    pub unified: Option<Hierarchy>,
}

impl Hierarchies {
    /// Detects the mode and reads the mounts; once a process after
    /// `keep_detected` (the CLI's short-lived commands: `run` creates and
    /// deletes in one process, and the directories it made belong to the
    /// hierarchies of that moment). A long-lived user of the library (the
    /// shim) reads them each time. Failures are not kept.
    pub fn detect() -> Result<Hierarchies> {
        if !KEEP.load(Ordering::Relaxed) {
            return Hierarchies::read();
        }
        if let Some(h) = DETECTED.get() {
            return Ok(h.clone());
        }
        let h = Hierarchies::read()?;
        Ok(DETECTED.get_or_init(|| h).clone())
    }

    /// Makes `detect` keep what it found for the rest of the process.
    pub fn keep_detected() {
        KEEP.store(true, Ordering::Relaxed);
    }

    fn read() -> Result<Hierarchies> {
        let mode = detect_mode();
        // mountinfo grows with the host's mount table (100 000 mounts: 10 MB,
        // 0.1 s to read): past a few hundred mounts, look at the
        // conventional places instead, whose cost does not grow.
        let small = super::mounts::small_mountinfo().ctx(|| "read /proc/self/mountinfo".into())?;
        let mut h = match small.map(|mi| parse_mounts(mode, &mi)) {
            Some(h) => h,
            None => match super::mounts::at_conventional_places(mode) {
                Some(h) => h,
                None => {
                    let mountinfo = super::fs::read_path(Path::new("/proc/self/mountinfo"))
                        .ctx(|| "read /proc/self/mountinfo".into())?;
                    parse_mounts(mode, &mountinfo)
                }
            },
        };
        if let Some(u) = h.unified.as_mut() {
            let p = u.mount.join("cgroup.controllers");
            let s = super::fs::read_path(&p).ctx(|| format!("read {}", p.display()))?;
            u.controllers = s.split_whitespace().map(str::to_string).collect();
        }
        if h.v1.is_empty() && h.unified.is_none() {
            return Err(CgroupError::NoHierarchy);
        }
        tracing::debug!(mode = ?h.mode, v1 = h.v1.len(), unified = ?h.unified.as_ref().map(|u| &u.controllers), "cgroup hierarchies");
        Ok(h)
    }

    /// The v1 hierarchy carrying `controller`.
    #[cfg(test)]
    pub fn v1_with(&self, controller: &str) -> Option<&Hierarchy> {
        self.v1.iter().find(|h| h.has(controller))
    }
}

/// V2 when /sys/fs/cgroup is cgroup2; hybrid when /sys/fs/cgroup/unified is;
/// v1 otherwise.
pub fn detect_mode() -> Mode {
    let is_cg2 = |p: &str| statfs(p).is_ok_and(|s| s.filesystem_type() == CGROUP2_SUPER_MAGIC);
    if is_cg2(CGROUP_ROOT) {
        Mode::V2
    } else if is_cg2(UNIFIED_ROOT) {
        Mode::Hybrid
    } else {
        Mode::V1
    }
}

/// Picks the cgroup and cgroup2 mounts out of mountinfo. The first mount of
/// each v1 hierarchy wins (later ones are binds of it); on v2/hybrid the
/// cgroup2 mount is the one at the conventional place.
pub fn parse_mounts(mode: Mode, mountinfo: &str) -> Hierarchies {
    let mut v1: Vec<Hierarchy> = Vec::new();
    let mut unified = None;
    let unified_at = match mode {
        Mode::V2 => Some(CGROUP_ROOT),
        Mode::Hybrid => Some(UNIFIED_ROOT),
        Mode::V1 => None,
    };
    for line in mountinfo.lines() {
        let Some((pre, post)) = line.split_once(" - ") else {
            continue;
        };
        let pre: Vec<&str> = pre.split(' ').collect();
        let post: Vec<&str> = post.split(' ').collect();
        if pre.len() < 5 || post.len() < 3 {
            continue;
        }
        let (root, mountpoint, fstype) = (pre[3], unescape(pre[4]), post[0]);
        match fstype {
            "cgroup2" if unified.is_none() && unified_at == Some(mountpoint.as_str()) => {
                unified = Some(Hierarchy {
                    mount: PathBuf::from(mountpoint),
                    root: root.to_string(),
                    controllers: Vec::new(),
                });
            }
            "cgroup" if mode != Mode::V2 => {
                push_v1(&mut v1, PathBuf::from(mountpoint), root, post[2]);
            }
            _ => {}
        }
    }
    Hierarchies { mode, v1, unified }
}

/// The v1 controllers named in a cgroup mount's options (or in a
/// /proc/PID/cgroup line's controller field).
pub(super) fn v1_controllers(opts: &str) -> Vec<String> {
    opts.split(',')
        .filter(|o| o.starts_with("name=") || V1_CONTROLLERS.contains(o))
        .map(str::to_string)
        .collect()
}

/// Adds a v1 mount unless it names no controller or its hierarchy is
/// already there (the first mount of a hierarchy wins).
pub(super) fn push_v1(v1: &mut Vec<Hierarchy>, mount: PathBuf, root: &str, opts: &str) {
    let controllers = v1_controllers(opts);
    if controllers.is_empty() || v1.iter().any(|h| h.controllers == controllers) {
        return;
    }
    v1.push(Hierarchy {
        mount,
        root: root.to_string(),
        controllers,
    });
}

/// mountinfo escapes space, tab, newline and backslash as octal.
fn unescape(s: &str) -> String {
    if !s.contains('\\') {
        return s.to_string();
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The caller's own cgroup in `h`, from /proc/self/cgroup (`cgroups` is its
/// text), relative to the mount's root: a path starting with '/'.
pub fn own_path(h: &Hierarchy, unified: bool, cgroups: &str) -> Option<String> {
    let own = cgroups.lines().find_map(|l| {
        let mut f = l.splitn(3, ':');
        let (id, ctrls, path) = (f.next()?, f.next()?, f.next()?);
        let matches = if unified {
            id == "0" && ctrls.is_empty()
        } else {
            !ctrls.is_empty() && {
                let mut a: Vec<&str> = ctrls.split(',').collect();
                let mut b: Vec<&str> = h.controllers.iter().map(String::as_str).collect();
                a.sort_unstable();
                b.sort_unstable();
                a == b
            }
        };
        matches.then_some(path)
    })?;
    let rel = if h.root == "/" {
        own
    } else {
        own.strip_prefix(h.root.as_str()).unwrap_or(own)
    };
    Some(if rel.starts_with('/') {
        rel.to_string()
    } else {
        format!("/{rel}")
    })
}

/// The hierarchy whose mount `dir` is under (used to reopen recorded dirs).
pub fn owner_of<'a>(hs: &'a Hierarchies, dir: &Path) -> Option<(&'a Hierarchy, bool)> {
    if let Some(u) = hs.unified.as_ref() {
        // On v2 every v1 path would be under /sys/fs/cgroup too; on hybrid
        // /sys/fs/cgroup/unified is distinct from the v1 mounts.
        if dir.starts_with(&u.mount) {
            return Some((u, true));
        }
    }
    hs.v1
        .iter()
        .find(|h| dir.starts_with(&h.mount))
        .map(|h| (h, false))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n\
        32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n\
        33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct\n\
        35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n\
        40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd\n\
        41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate\n\
        99 31 0:32 /a /mnt/mem\\040x rw,relatime - cgroup cgroup rw,memory\n";

    #[test]
    fn parses_hybrid_mounts() {
        let h = parse_mounts(Mode::Hybrid, HYBRID);
        let names: Vec<String> = h.v1.iter().map(|h| h.controllers.join(",")).collect();
        assert_eq!(names, ["cpu", "cpuacct", "memory", "name=systemd"]);
        assert_eq!(
            h.v1_with("memory").unwrap().mount,
            Path::new("/sys/fs/cgroup/memory")
        );
        assert_eq!(h.unified.unwrap().mount, Path::new(UNIFIED_ROOT));
    }

    #[test]
    fn v2_ignores_v1_mounts() {
        let mi = "30 1 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n\
                  31 1 0:27 / /mnt/x rw - cgroup cgroup rw,cpu\n";
        let h = parse_mounts(Mode::V2, mi);
        assert!(h.v1.is_empty());
        assert_eq!(h.unified.unwrap().mount, Path::new(CGROUP_ROOT));
    }

    #[test]
    fn own_paths_strip_the_mount_root() {
        let h = parse_mounts(Mode::Hybrid, HYBRID);
        let cg = "4:memory:/process_api/x\n1:cpu:/\n9:name=systemd:/s\n0::/u\n";
        let mem = h.v1_with("memory").unwrap();
        assert_eq!(own_path(mem, false, cg).unwrap(), "/process_api/x");
        let sd = h.v1_with("name=systemd").unwrap();
        assert_eq!(own_path(sd, false, cg).unwrap(), "/s");
        assert_eq!(
            own_path(h.unified.as_ref().unwrap(), true, cg).unwrap(),
            "/u"
        );
        let narrowed = Hierarchy {
            mount: "/m".into(),
            root: "/process_api".into(),
            controllers: vec!["memory".into()],
        };
        assert_eq!(own_path(&narrowed, false, cg).unwrap(), "/x");
        assert_eq!(unescape("/mnt/mem\\040x"), "/mnt/mem x");
    }

    #[test]
    fn detects_this_host() {
        // The brief's host: hybrid, v1 controllers plus cgroup2 at /unified.
        let h = Hierarchies::detect().unwrap();
        if h.mode != Mode::Hybrid {
            eprintln!(
                "not the hybrid host ({:?}); skipping host-specific checks",
                h.mode
            );
            return;
        }
        for c in [
            "cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids",
        ] {
            assert!(h.v1_with(c).is_some(), "{c} not found");
        }
        assert!(h.v1_with("name=systemd").is_some());
        assert!(h.v1_with("net_cls").is_none());
        let u = h.unified.unwrap();
        assert_eq!(u.mount, Path::new(UNIFIED_ROOT));
        assert_eq!(detect_mode(), Mode::Hybrid);
    }
}
