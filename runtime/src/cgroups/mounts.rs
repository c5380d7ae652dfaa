//! The cgroup mounts of a host with a large mount table: those at the
//! conventional places — /sys/fs/cgroup itself (v2) or its sub-directories
//! (v1 hierarchies, hybrid's unified) — found with `statx` + `statmount` in
//! a number of calls that does not grow with the table (a node with 100 000
//! mounts has a 10 MB mountinfo). Where the kernel cannot tell (before 6.8;
//! v1 mount options before 6.11; statmount filtered by seccomp) or a v1
//! hierarchy this process is in is mounted only elsewhere, the caller reads
//! mountinfo. runc has a similar shortcut for its v1 mount lookups.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use crate::sys::statmount::{mount_id, statmount};

/// mountinfo up to this size (about 300 mounts) is read whole, as before.
const SMALL_MOUNTINFO: usize = 32 * 1024;

use super::hierarchy::{
    push_v1, v1_controllers, Hierarchies, Hierarchy, Mode, CGROUP_ROOT, UNIFIED_ROOT,
};

/// /proc/self/mountinfo if it is at most SMALL_MOUNTINFO bytes (then
/// reading it is as cheap as the conventional places), else None. Read
/// into a growing buffer: a zeroed 32 KiB one cost more than the read.
pub fn small_mountinfo() -> io::Result<Option<String>> {
    let f = File::open("/proc/self/mountinfo")?;
    let mut out = Vec::with_capacity(4096);
    f.take(SMALL_MOUNTINFO as u64 + 1).read_to_end(&mut out)?;
    if out.len() > SMALL_MOUNTINFO {
        return Ok(None);
    }
    String::from_utf8(out)
        .map(Some)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// The hierarchies at the conventional places, or None when mountinfo is
/// needed to be sure.
pub fn at_conventional_places(mode: Mode) -> Option<Hierarchies> {
    if mode == Mode::V2 {
        let f = statmount(mount_id(Path::new(CGROUP_ROOT)).ok()?).ok()?;
        let ok = f.fs_type == "cgroup2" && f.point == CGROUP_ROOT;
        return ok.then(|| Hierarchies {
            mode,
            v1: Vec::new(),
            unified: Some(Hierarchy {
                mount: PathBuf::from(CGROUP_ROOT),
                root: f.root,
                controllers: Vec::new(),
            }),
        });
    }
    let parent = mount_id(Path::new(CGROUP_ROOT)).ok()?;
    // Mount points below /sys/fs/cgroup, in mount order (unique ids grow
    // with each mount; mountinfo lists them in that order too).
    let mut below: Vec<(u64, PathBuf)> = Vec::new();
    for e in std::fs::read_dir(CGROUP_ROOT).ok()?.flatten() {
        if !e.file_type().is_ok_and(|t| t.is_dir()) {
            continue; // e.g. the cpu -> cpu,cpuacct symlinks
        }
        let path = e.path();
        let id = mount_id(&path).ok()?;
        if id != parent {
            below.push((id, path));
        }
    }
    below.sort();
    let mut hs = Hierarchies {
        mode,
        v1: Vec::new(),
        unified: None,
    };
    for (id, path) in below {
        let f = statmount(id).ok()?;
        if Path::new(&f.point) != path {
            return None;
        }
        match f.fs_type.as_str() {
            "cgroup2" if mode == Mode::Hybrid && path == Path::new(UNIFIED_ROOT) => {
                hs.unified.get_or_insert(Hierarchy {
                    mount: path,
                    root: f.root,
                    controllers: Vec::new(),
                });
            }
            "cgroup" => push_v1(&mut hs.v1, path, &f.root, f.opts.as_deref()?),
            _ => {}
        }
    }
    let own = super::fs::read_path(Path::new("/proc/self/cgroup")).ok()?;
    let complete = all_v1_found(&hs.v1, &own) && (mode != Mode::Hybrid || hs.unified.is_some());
    complete.then_some(hs)
}

/// Whether every v1 hierarchy in /proc/self/cgroup (`own`) that names a
/// controller berth knows is among `found`.
fn all_v1_found(found: &[Hierarchy], own: &str) -> bool {
    let sorted = |mut v: Vec<String>| {
        v.sort_unstable();
        v
    };
    own.lines().all(|l| {
        let mut f = l.splitn(3, ':');
        let ctrls = v1_controllers(f.nth(1).unwrap_or(""));
        ctrls.is_empty() || {
            let want = sorted(ctrls);
            found.iter().any(|h| sorted(h.controllers.clone()) == want)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::super::hierarchy::{detect_mode, parse_mounts};
    use super::*;

    #[test]
    fn finds_what_mountinfo_says() {
        let mode = detect_mode();
        // statmount reports mount options from 6.11 on.
        let rel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
        let mut v = rel
            .split(|c: char| !c.is_ascii_digit())
            .map(|n| n.parse::<u32>());
        let (major, minor) = (v.next().unwrap().unwrap(), v.next().unwrap().unwrap());
        // Another job may mount or unmount a hierarchy (the benches' v1
        // hugetlb for crun) between the two reads: compare up to 3 times.
        let mut last = None;
        for _ in 0..3 {
            let mi = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
            let full = parse_mounts(mode, &mi);
            let fast = at_conventional_places(mode);
            // On this host (kernel 6.18, every cgroup mount below
            // /sys/fs/cgroup) the shortcut must work; elsewhere, when it
            // answers, it must agree.
            let conventional = full
                .v1
                .iter()
                .chain(full.unified.iter())
                .all(|h| h.mount.starts_with(CGROUP_ROOT));
            let must = conventional && (major, minor) >= (6, 11);
            if (fast.is_none() && !must) || fast.as_ref() == Some(&full) {
                return;
            }
            last = Some((fast, full));
        }
        panic!("statmount and mountinfo disagree: {last:#?}");
    }

    #[test]
    fn a_small_mountinfo_is_read_whole() {
        // This host has a few dozen mounts.
        let small = small_mountinfo().unwrap().expect("a small mount table");
        let full = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        assert!(small.ends_with('\n'));
        assert_eq!(small.lines().next(), full.lines().next());
    }

    #[test]
    fn a_hierarchy_mounted_elsewhere_means_mountinfo() {
        let h = |c: &str| Hierarchy {
            mount: PathBuf::from("/sys/fs/cgroup").join(c),
            root: "/".into(),
            controllers: c.split(',').map(str::to_string).collect(),
        };
        let found = [h("cpu,cpuacct"), h("name=systemd")];
        let own = "12:cpuacct,cpu:/\n9:name=systemd:/\n3:net_cls:/\n0::/\n";
        assert!(!all_v1_found(&found, own));
        let own = "12:cpu,cpuacct:/x\n9:name=systemd:/\n1:unknown_ctl:/\n0::/\n";
        assert!(all_v1_found(&found, own));
    }
}
