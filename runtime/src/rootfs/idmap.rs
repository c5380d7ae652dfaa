//! Idmapped bind mounts: the `idmap` / `ridmap` options and a mount's own
//! `uidMappings` / `gidMappings` (config.md, "mounts"; current runc 1.2+,
//! runc 1.1 has none of it).
//!
//! `mount_setattr(MOUNT_ATTR_IDMAP)` needs CAP_SYS_ADMIN in the user
//! namespace that owns the source's superblock (the host's), which the
//! container's init lacks once it runs in a user namespace of its own. So
//! the runtime prepares every idmapped tree before the init's clone3
//! (`IdmappedMounts::prepare`): a detached clone of the source, idmapped
//! through a user namespace that carries the mappings. The init inherits
//! the trees' fds through the fork and moves each onto the destination it
//! resolved inside the rootfs (`rootfs::mount_one`), where the bind's flags
//! are applied as for any other bind.
//!
//! The user namespace comes from a short-lived child forked into a new one,
//! whose `uid_map`/`gid_map` the runtime writes as root; its
//! `/proc/PID/ns/user` is opened, then the child is ended. One per distinct
//! pair of mappings in a create. A config without idmapped mounts costs no
//! system call here.

use std::cell::RefCell;
use std::io;
use std::os::fd::OwnedFd;
use std::path::Path;

use oci_spec::runtime::{LinuxIdMapping, LinuxNamespaceType, Mount, Spec};

use super::mount::{Kind, MountPlan};
use crate::error::{Error, Result};
use crate::sys::mount_api::MOUNT_ATTR_IDMAP;
use crate::sys::proc::ProcHandle;
use crate::sys::spawn::{clone3, exit_now, Forked};
use crate::sys::{MountAttrs, TreeFd};

pub use crate::userns::map_text;

/// Whether `m` asks for an idmapped mount (runc: either option, or mappings
/// of its own). Pure: decides whether `prepare` does anything at all.
pub fn wants_idmap(m: &Mount) -> bool {
    m.uid_mappings().is_some()
        || m.gid_mappings().is_some()
        || m.options()
            .iter()
            .flatten()
            .any(|o| o == "idmap" || o == "ridmap")
}

/// Where an idmapped mount's mapping comes from.
enum Source<'a> {
    /// Mappings: the mount's own, or else the container's (runc: "use the
    /// container's" for `idmap`/`ridmap` without mappings).
    Maps(&'a [LinuxIdMapping], &'a [LinuxIdMapping]),
    /// The user namespace the container joins by path (no mappings of its own).
    Joined(&'a Path),
}

fn source<'a>(spec: &'a Spec, m: &'a Mount) -> Option<Source<'a>> {
    let or_empty = |v: &'a Option<Vec<LinuxIdMapping>>| v.as_deref().unwrap_or(&[]);
    if m.uid_mappings().is_some() || m.gid_mappings().is_some() {
        return Some(Source::Maps(
            or_empty(m.uid_mappings()),
            or_empty(m.gid_mappings()),
        ));
    }
    let linux = spec.linux().as_ref()?;
    let userns = linux
        .namespaces()
        .iter()
        .flatten()
        .find(|n| n.typ() == LinuxNamespaceType::User)?;
    match userns.path() {
        Some(p) => Some(Source::Joined(p)),
        None => Some(Source::Maps(
            or_empty(linux.uid_mappings()),
            or_empty(linux.gid_mappings()),
        )),
    }
}

/// The checks of an idmapped mount entry, in runc's order and (where runc
/// has them) words; the caller prefixes the entry. Without a container
/// user namespace a mount with mappings of its own is allowed (as current
/// runc: the mount's mapping does not need one).
pub fn validate(spec: &Spec, m: &Mount, plan: &MountPlan) -> std::result::Result<(), String> {
    if plan.idmap.is_none() {
        return Ok(());
    }
    if !matches!(plan.kind, Kind::Bind { .. }) {
        return Err("id-mapped mounts are only supported for bind-mounts".into());
    }
    // runc's RootlessEUID: the runtime's own euid (not --rootless).
    if !nix::unistd::geteuid().is_root() {
        return Err("id-mapped mounts are not supported for rootless containers".into());
    }
    let both = "id-mapped mounts must have both uid and gid mappings specified";
    match source(spec, m) {
        None => Err(both.into()),
        Some(Source::Maps(u, g)) if u.is_empty() || g.is_empty() => Err(both.into()),
        Some(Source::Joined(_)) => Ok(()),
        Some(Source::Maps(..)) => {
            check_ranges(m.uid_mappings().as_deref().unwrap_or(&[]), "uidMappings")?;
            check_ranges(m.gid_mappings().as_deref().unwrap_or(&[]), "gidMappings")
        }
    }
}

/// The kernel's rules for a map, as for the container's
/// (`userns::check_ranges`); `field` names the list in messages.
pub fn check_ranges(maps: &[LinuxIdMapping], field: &str) -> std::result::Result<(), String> {
    crate::userns::check_ranges(field, maps).map_err(|e| e.to_string())
}

/// The idmapped trees of one create, by index in `mounts`. The init takes
/// (and so closes) each one as it attaches it.
#[derive(Debug, Default)]
pub struct IdmappedMounts {
    trees: Vec<(usize, RefCell<Option<TreeFd>>)>,
}

impl IdmappedMounts {
    /// Prepares the tree of every idmapped mount of `spec` (sources relative
    /// to `bundle`), in the runtime, before the init exists.
    pub fn prepare(spec: &Spec, bundle: &Path, proc: &ProcHandle) -> Result<IdmappedMounts> {
        let mut out = IdmappedMounts::default();
        let mounts = spec.mounts().as_deref().unwrap_or(&[]);
        if !mounts.iter().any(wants_idmap) {
            return Ok(out);
        }
        let mut userns = UsernsCache::default();
        for (i, m) in mounts.iter().enumerate() {
            if !wants_idmap(m) {
                continue;
            }
            let plan = MountPlan::from_spec(m)?;
            let tree = prepare_one(i, spec, m, &plan, bundle, proc, &mut userns)?;
            tracing::debug!(
                "mounts[{i}]: idmapped tree of {} prepared",
                m.destination().display()
            );
            out.trees.push((i, RefCell::new(Some(tree))));
        }
        Ok(out)
    }

    /// The prepared tree of `mounts[index]`, if it is an idmapped mount
    /// (once: the caller owns, and closes, it).
    pub fn take(&self, index: usize) -> Option<TreeFd> {
        self.trees
            .iter()
            .find(|(i, _)| *i == index)
            .and_then(|(_, t)| t.borrow_mut().take())
    }
}

/// Clones the source of `mounts[i]` and idmaps the clone.
fn prepare_one(
    i: usize,
    spec: &Spec,
    m: &Mount,
    plan: &MountPlan,
    bundle: &Path,
    proc: &ProcHandle,
    userns: &mut UsernsCache,
) -> Result<TreeFd> {
    let dest = m.destination().display();
    let src = bundle.join(plan.source.as_deref().unwrap_or(Path::new("")));
    let fail = |what: &str, e: io::Error| {
        Error::msg(format!(
            "mounts[{i}] ({dest}): cannot idmap source {}: {what}: {}",
            src.display(),
            errno_text(&e)
        ))
    };
    let (recursive_tree, recursive_map) = match (&plan.kind, plan.idmap) {
        (Kind::Bind { recursive }, Some(id)) => (*recursive, id.recursive),
        _ => {
            return Err(Error::msg(format!(
                "mounts[{i}] ({dest}): not an idmapped bind mount"
            )))
        }
    };
    let mut joined = None;
    let ns = match source(spec, m) {
        Some(Source::Maps(u, g)) => userns.get(u, g, proc),
        Some(Source::Joined(p)) => {
            crate::sys::open_host(p, libc::O_RDONLY).map(|fd| &*joined.insert(fd))
        }
        None => Err(io::Error::from_raw_os_error(libc::EINVAL)),
    }
    .map_err(|e| {
        Error::msg(format!(
            "mounts[{i}] ({dest}): cannot create the user namespace of the id-mapping: {}",
            errno_text(&e)
        ))
    })?;
    let tree = TreeFd::clone_path(libc::AT_FDCWD, &src, recursive_tree)
        .map_err(|e| fail("open_tree", e))?;
    let attrs = MountAttrs {
        attr_set: MOUNT_ATTR_IDMAP,
        userns_fd: std::os::fd::AsRawFd::as_raw_fd(ns) as u64,
        ..MountAttrs::default()
    };
    match tree.set_attrs(&attrs, recursive_map) {
        Ok(()) => Ok(tree),
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
            let fs = fs_name_of(&tree);
            let which = if recursive_map && recursive_tree {
                format!("filesystem {fs:?} (or one of its submounts)")
            } else {
                format!("filesystem {fs:?}")
            };
            Err(Error::msg(format!(
                "mounts[{i}] ({dest}): cannot idmap source {}: {which} does not support idmapped mounts (mount_setattr: {})",
                src.display(),
                errno_text(&e)
            )))
        }
        Err(e) => Err(fail("mount_setattr", e)),
    }
}

fn errno_text(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(n) => crate::go_text::errno(n),
        None => e.to_string(),
    }
}

/// The filesystem type of the top of `tree` (statfs), by name.
fn fs_name_of(tree: &TreeFd) -> String {
    match nix::sys::statfs::fstatfs(tree.as_fd()) {
        Ok(st) => fs_name(st.filesystem_type().0),
        Err(_) => "unknown".into(),
    }
}

/// statfs(2) `f_type` → the filesystem's name (linux/magic.h), or the
/// magic number in hex for one not listed.
fn fs_name(magic: i64) -> String {
    const NAMES: &[(i64, &str)] = &[
        (0xEF53, "ext4"),
        (0x5846_5342, "xfs"),
        (0x9123_683E, "btrfs"),
        (0x0102_1994, "tmpfs"),
        (0x8584_58f6, "ramfs"),
        (0x794c_7630, "overlay"),
        (0x6969, "nfs"),
        (0x6573_5546, "fuse"),
        (0xFF53_4D42, "cifs"),
        (0xFE53_4D42, "smb2"),
        (0x0102_1997, "9p"),
        (0x4d44, "vfat"),
        (0x7371_7368, "squashfs"),
        (0xE0F5_E1E2, "erofs"),
        (0xF2F5_2010, "f2fs"),
        (0x2FC1_2FC1, "zfs"),
        (0x9fa0, "proc"),
        (0x6265_6572, "sysfs"),
        (0x1cd1, "devpts"),
        (0x6367_7270, "cgroup2"),
        (0x0027_e0eb, "cgroup"),
        (0x7363_6673, "securityfs"),
        (0x6462_6720, "debugfs"),
        (0x7472_6163, "tracefs"),
        (0xcafe_4a11, "bpf"),
        (0x9584_58f6, "hugetlbfs"),
        (0x1373, "devtmpfs"),
    ];
    NAMES
        .iter()
        .find(|(m, _)| *m == magic)
        .map(|(_, n)| n.to_string())
        .unwrap_or_else(|| format!("{magic:#x}"))
}

/// User namespaces made in this create, one per distinct pair of maps.
#[derive(Default)]
struct UsernsCache {
    made: Vec<(String, String, OwnedFd)>,
}

impl UsernsCache {
    fn get(
        &mut self,
        uid: &[LinuxIdMapping],
        gid: &[LinuxIdMapping],
        proc: &ProcHandle,
    ) -> io::Result<&OwnedFd> {
        let (u, g) = (map_text(uid), map_text(gid));
        let pos = match self.made.iter().position(|(a, b, _)| *a == u && *b == g) {
            Some(p) => p,
            None => {
                let fd = new_userns(&u, &g, proc)?;
                self.made.push((u, g, fd));
                self.made.len() - 1
            }
        };
        Ok(&self.made[pos].2)
    }
}

/// A user namespace with `uid_map` and `gid_map`, held by an fd: a child
/// forked into a new one waits on a pipe while the runtime writes its maps
/// and opens its `ns/user`, then is killed and reaped. Should the runtime
/// die first, the pipe's EOF ends the child.
fn new_userns(uid_map: &str, gid_map: &str, proc: &ProcHandle) -> io::Result<OwnedFd> {
    let (rd, wr) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    match clone3(libc::CLONE_NEWUSER as u64, None)? {
        Forked::Child => {
            // Only the runtime holds the write end now.
            drop(wr);
            let _ = nix::unistd::read(&rd, &mut [0u8; 1]);
            exit_now(0)
        }
        Forked::Parent { pid, pidfd } => {
            drop(rd);
            let res = proc
                .write(&format!("{pid}/uid_map"), uid_map.as_bytes())
                .and_then(|_| proc.write(&format!("{pid}/gid_map"), gid_map.as_bytes()))
                .and_then(|_| proc.reopen(&format!("{pid}/ns/user"), libc::O_RDONLY));
            drop(wr);
            let _ = pidfd.signal(libc::SIGKILL);
            pidfd.wait()?;
            res
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn maps(v: &[(u32, u32, u32)]) -> Vec<LinuxIdMapping> {
        v.iter()
            .map(|(c, h, s)| {
                serde_json::from_value(
                    serde_json::json!({"containerID": c, "hostID": h, "size": s}),
                )
                .unwrap()
            })
            .collect()
    }

    #[test]
    fn map_text_is_one_line_per_range() {
        assert_eq!(
            map_text(&maps(&[(0, 1000, 1), (1, 100000, 65536)])),
            "0 1000 1\n1 100000 65536\n"
        );
        assert_eq!(map_text(&[]), "");
    }

    #[test]
    fn ranges_follow_the_kernel_rules() {
        assert!(check_ranges(&maps(&[(0, 1000, 1), (1, 100000, 65536)]), "u").is_ok());
        assert!(check_ranges(&maps(&[(0, 0, u32::MAX)]), "u").is_ok());
        let err = |v: &[(u32, u32, u32)]| check_ranges(&maps(v), "uidMappings").unwrap_err();
        assert_eq!(
            err(&[(0, 1, 0)]),
            "uidMappings[0]: size must be greater than zero"
        );
        assert!(err(&[(1, 0, u32::MAX)]).starts_with("uidMappings[0]: container ID range 1+"));
        assert!(err(&[(0, 5, u32::MAX - 4)]).starts_with("uidMappings[0]: host ID range 5+"));
        assert_eq!(
            err(&[(0, 1000, 10), (5, 5000, 1)]),
            "uidMappings[1]: container IDs 5-5 overlap uidMappings[0]"
        );
        assert_eq!(
            err(&[(0, 1000, 10), (10, 1009, 1)]),
            "uidMappings[1]: host IDs 1009-1009 overlap uidMappings[0]"
        );
        let many: Vec<(u32, u32, u32)> = (0..341).map(|i| (i, i, 1)).collect();
        assert!(err(&many).contains("at most 340"));
    }

    /// `validate` of the one mount of a config with `linux` (tests run as root).
    fn check(mount: serde_json::Value, linux: serde_json::Value) -> Result<(), String> {
        let spec: Spec = serde_json::from_value(serde_json::json!({
            "ociVersion": "1.0.2", "mounts": [mount], "linux": linux
        }))
        .unwrap();
        let m = &spec.mounts().as_ref().unwrap()[0];
        validate(&spec, m, &MountPlan::from_spec(m).unwrap())
    }

    #[test]
    fn validates_as_runc() {
        let one = serde_json::json!([{"containerID": 1000, "hostID": 0, "size": 1}]);
        let bind = |opts: &[&str], u: Option<&serde_json::Value>, g: Option<&serde_json::Value>| {
            let mut m = serde_json::json!({"destination": "/x", "type": "bind", "source": "/s", "options": opts});
            if let Some(u) = u {
                m["uidMappings"] = u.clone();
            }
            if let Some(g) = g {
                m["gidMappings"] = g.clone();
            }
            m
        };
        let no_userns = serde_json::json!({"namespaces": [{"type": "mount"}]});
        assert!(check(bind(&["bind"], None, None), no_userns.clone()).is_ok());
        assert!(check(
            bind(&["bind", "idmap"], Some(&one), Some(&one)),
            no_userns.clone()
        )
        .is_ok());
        assert!(check(bind(&["bind"], Some(&one), Some(&one)), no_userns.clone()).is_ok());
        let both = "id-mapped mounts must have both uid and gid mappings specified";
        assert_eq!(
            check(
                bind(&["bind", "idmap"], Some(&one), None),
                no_userns.clone()
            )
            .unwrap_err(),
            both
        );
        assert_eq!(
            check(bind(&["rbind", "ridmap"], None, None), no_userns.clone()).unwrap_err(),
            both
        );
        let empty = serde_json::json!([]);
        assert_eq!(
            check(bind(&["bind"], Some(&empty), Some(&one)), no_userns.clone()).unwrap_err(),
            both
        );
        let tmpfs = serde_json::json!({"destination": "/x", "type": "tmpfs", "source": "t", "options": ["idmap"]});
        assert_eq!(
            check(tmpfs, no_userns.clone()).unwrap_err(),
            "id-mapped mounts are only supported for bind-mounts"
        );
        // Without mappings of its own: the container's user namespace.
        let joined =
            serde_json::json!({"namespaces": [{"type": "user", "path": "/proc/1/ns/user"}]});
        assert!(check(bind(&["bind", "idmap"], None, None), joined).is_ok());
        let own = serde_json::json!({"namespaces": [{"type": "user"}], "uidMappings": one, "gidMappings": one});
        assert!(check(bind(&["bind", "idmap"], None, None), own).is_ok());
    }

    #[test]
    fn names_filesystems() {
        assert_eq!(fs_name(0x6265_6572), "sysfs");
        assert_eq!(fs_name(0xEF53), "ext4");
        assert_eq!(fs_name(0x1234), "0x1234");
    }
}
