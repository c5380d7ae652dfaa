//! The container's user namespace (docs/architecture.md §2.2): checking
//! `linux.uidMappings`/`gidMappings` before anything is made, writing them
//! for a new namespace from the runtime (the init cannot: writing a map
//! takes privilege in the parent namespace), and the ids the init takes
//! once mapped.
//!
//! The kernel's rules are checked up front so that a bad map is refused by
//! field and index instead of as a bare EINVAL from the map write: each
//! range non-empty, inside the 32-bit id space, no two ranges overlapping
//! on either side, at most 340 ranges. Container id 0 must be mapped: the
//! init becomes root in the namespace to build the container (as runc's
//! "failed to become root in user namespace"), and `process.user` must be
//! mapped too, or its setresuid would fail after the rootfs is built.

use oci_spec::runtime::{Linux, LinuxIdMapping, LinuxNamespaceType, Process};

use crate::sys::proc::ProcHandle;

/// The kernel's limit on ranges per map (since Linux 4.15).
const MAX_RANGES: usize = 340;

#[derive(Debug, thiserror::Error)]
pub enum UsernsError {
    /// runc's text, with the field.
    #[error("linux.namespaces: user namespaces enabled, but no namespace path to join nor mappings to apply specified")]
    NoMappings,
    /// runc's text, with the field.
    #[error("{field}: user namespace mappings specified, but user namespace isn't enabled in the config")]
    WithoutNamespace { field: &'static str },
    #[error("{field}: a user namespace needs both uid and gid mappings")]
    OneSided { field: &'static str },
    #[error("{field}[{index}]: size must be greater than zero")]
    Empty { field: String, index: usize },
    #[error("{field}[{index}]: {side} ID range {start}+{size} runs past 4294967294, the last ID")]
    Overflow {
        field: String,
        index: usize,
        side: &'static str,
        start: u32,
        size: u32,
    },
    #[error("{field}[{index}]: {side} IDs {start}-{end} overlap {field}[{other}]")]
    Overlap {
        field: String,
        index: usize,
        other: usize,
        side: &'static str,
        start: u64,
        end: u64,
    },
    #[error("{field}: {count} ranges; the kernel takes at most {MAX_RANGES}")]
    TooMany { field: String, count: usize },
    #[error(
        "{field}: container ID 0 is not mapped; the container's root must be mapped to build it"
    )]
    NoRoot { field: &'static str },
    #[error("{what} {id} is not mapped by {field}")]
    Unmapped {
        what: &'static str,
        id: u32,
        field: &'static str,
    },
    /// Current runc's text: a joined namespace's maps differ from the config's.
    #[error("user namespaces enabled, but both namespace path and non-matching mapping specified -- you may only provide one")]
    JoinedMismatch,
    #[error("read {file} of the joined user namespace: {source}")]
    ReadJoined {
        file: &'static str,
        source: std::io::Error,
    },
    #[error("{field}: write /proc/{pid}/{file}: {source}")]
    Write {
        field: &'static str,
        pid: i32,
        file: &'static str,
        source: std::io::Error,
    },
}

pub type Result<T, E = UsernsError> = std::result::Result<T, E>;

const UID: &str = "linux.uidMappings";
const GID: &str = "linux.gidMappings";

fn maps(m: &Option<Vec<LinuxIdMapping>>) -> &[LinuxIdMapping] {
    m.as_deref().unwrap_or(&[])
}

/// Checks the mappings against the namespace entries and the kernel's
/// rules, before anything is created.
pub fn validate(linux: &Linux, process: Option<&Process>) -> Result<()> {
    let user = linux
        .namespaces()
        .iter()
        .flatten()
        .find(|n| n.typ() == LinuxNamespaceType::User);
    let (uids, gids) = (maps(linux.uid_mappings()), maps(linux.gid_mappings()));
    let Some(user) = user else {
        return match (uids.is_empty(), gids.is_empty()) {
            (true, true) => Ok(()),
            (false, _) => Err(UsernsError::WithoutNamespace { field: UID }),
            (true, false) => Err(UsernsError::WithoutNamespace { field: GID }),
        };
    };
    if user.path().is_some() {
        // Joined: the namespace's own maps apply; the config's, if any,
        // are checked by the kernel's rules only.
        check_ranges(UID, uids)?;
        return check_ranges(GID, gids);
    }
    match (uids.is_empty(), gids.is_empty()) {
        (true, true) => return Err(UsernsError::NoMappings),
        (true, false) => return Err(UsernsError::OneSided { field: UID }),
        (false, true) => return Err(UsernsError::OneSided { field: GID }),
        (false, false) => {}
    }
    check_ranges(UID, uids)?;
    check_ranges(GID, gids)?;
    if !maps_id(uids, 0) {
        return Err(UsernsError::NoRoot { field: UID });
    }
    if !maps_id(gids, 0) {
        return Err(UsernsError::NoRoot { field: GID });
    }
    if let Some(p) = process {
        check_user(p, uids, gids)?;
    }
    Ok(())
}

/// For `exec` into a container with a new user namespace: the process's
/// ids must be mapped by the container's maps (none to check when the
/// namespace was joined by path: the kernel decides).
pub fn check_process(linux: &Linux, p: &Process) -> Result<()> {
    let (uids, gids) = (maps(linux.uid_mappings()), maps(linux.gid_mappings()));
    if uids.is_empty() || gids.is_empty() {
        return Ok(());
    }
    check_user(p, uids, gids)
}

/// `process.user` must be mapped for the init's final setresuid.
fn check_user(p: &Process, uids: &[LinuxIdMapping], gids: &[LinuxIdMapping]) -> Result<()> {
    let u = p.user();
    if !maps_id(uids, u.uid()) {
        return Err(UsernsError::Unmapped {
            what: "process.user.uid",
            id: u.uid(),
            field: UID,
        });
    }
    for (what, g) in std::iter::once(("process.user.gid", u.gid())).chain(
        u.additional_gids()
            .iter()
            .flatten()
            .map(|g| ("process.user.additionalGids entry", *g)),
    ) {
        if !maps_id(gids, g) {
            return Err(UsernsError::Unmapped {
                what,
                id: g,
                field: GID,
            });
        }
    }
    Ok(())
}

/// Whether container id `id` falls in one of the ranges.
pub fn maps_id(m: &[LinuxIdMapping], id: u32) -> bool {
    m.iter().any(|r| {
        let start = u64::from(r.container_id());
        (start..start + u64::from(r.size())).contains(&u64::from(id))
    })
}

/// The kernel's rules for one map (user_namespaces(7)); `field` names it
/// in errors (also for idmapped mounts' maps, `rootfs::idmap`).
pub fn check_ranges(field: &str, m: &[LinuxIdMapping]) -> Result<()> {
    let field = || field.to_string();
    if m.len() > MAX_RANGES {
        return Err(UsernsError::TooMany {
            field: field(),
            count: m.len(),
        });
    }
    for (index, r) in m.iter().enumerate() {
        if r.size() == 0 {
            return Err(UsernsError::Empty {
                field: field(),
                index,
            });
        }
        // (u32)-1 is no ID: a range may end at 4294967294.
        for (side, start) in [("container", r.container_id()), ("host", r.host_id())] {
            if u64::from(start) + u64::from(r.size()) > u64::from(u32::MAX) {
                return Err(UsernsError::Overflow {
                    field: field(),
                    index,
                    side,
                    start,
                    size: r.size(),
                });
            }
        }
    }
    for (index, r) in m.iter().enumerate() {
        for (other, o) in m.iter().enumerate().take(index) {
            for (side, a, b) in [
                ("container", r.container_id(), o.container_id()),
                ("host", r.host_id(), o.host_id()),
            ] {
                let (a, b) = (u64::from(a), u64::from(b));
                let (ea, eb) = (a + u64::from(r.size()), b + u64::from(o.size()));
                if a < eb && b < ea {
                    return Err(UsernsError::Overlap {
                        field: field(),
                        index,
                        other,
                        side,
                        start: a,
                        end: ea - 1,
                    });
                }
            }
        }
    }
    Ok(())
}

/// In a process that has just joined a user namespace by path: the config's
/// maps, if it gives any, must be the namespace's own (current runc: an
/// error if they differ, a warning if they match, since only one may be
/// given). Compared as sets of ranges, as runc does.
pub fn check_joined(linux: &Linux) -> Result<()> {
    let (uids, gids) = (maps(linux.uid_mappings()), maps(linux.gid_mappings()));
    if uids.is_empty() && gids.is_empty() {
        return Ok(());
    }
    for (file, m) in [("uid_map", uids), ("gid_map", gids)] {
        let path = format!("/proc/self/{file}");
        let text = std::fs::read_to_string(&path)
            .map_err(|source| UsernsError::ReadJoined { file, source })?;
        if ranges(&text) != ranges(&map_text(m)) {
            return Err(UsernsError::JoinedMismatch);
        }
    }
    tracing::warn!(
        "config.json has both a user namespace path to join and its mappings; only one may be given"
    );
    Ok(())
}

/// The ranges of a map file's text, sorted.
fn ranges(text: &str) -> Vec<Vec<u64>> {
    let mut v: Vec<Vec<u64>> = text
        .lines()
        .map(|l| {
            l.split_whitespace()
                .filter_map(|w| w.parse().ok())
                .collect()
        })
        .filter(|r: &Vec<u64>| !r.is_empty())
        .collect();
    v.sort();
    v
}

/// A map file's text: one "container host size" line per range.
pub fn map_text(m: &[LinuxIdMapping]) -> String {
    m.iter()
        .map(|r| format!("{} {} {}\n", r.container_id(), r.host_id(), r.size()))
        .collect()
}

/// Writes the maps of `pid`'s new user namespace, as root, through the
/// verified /proc handle: gid_map first, then uid_map (either order works
/// for a privileged writer; setgroups is left "allow", as runc leaves it).
pub fn write_maps(proc: &ProcHandle, pid: i32, linux: &Linux) -> Result<()> {
    for (field, file, m) in [
        (GID, "gid_map", maps(linux.gid_mappings())),
        (UID, "uid_map", maps(linux.uid_mappings())),
    ] {
        proc.write(&format!("{pid}/{file}"), map_text(m).as_bytes())
            .map_err(|source| UsernsError::Write {
                field,
                pid,
                file,
                source,
            })?;
    }
    tracing::debug!("user namespace of {pid}: uid and gid maps written");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn linux(v: serde_json::Value) -> Linux {
        serde_json::from_value(v).unwrap()
    }

    fn m(c: u32, h: u32, s: u32) -> serde_json::Value {
        serde_json::json!({"containerID": c, "hostID": h, "size": s})
    }

    fn err(v: serde_json::Value) -> String {
        validate(&linux(v), None).unwrap_err().to_string()
    }

    #[test]
    fn accepts_a_plain_map_and_writes_its_text() {
        let l = linux(serde_json::json!({
            "namespaces": [{"type": "user"}],
            "uidMappings": [m(0, 100000, 65536)],
            "gidMappings": [m(0, 100000, 1), m(1, 200001, 10)],
        }));
        validate(&l, None).unwrap();
        assert_eq!(
            map_text(maps(l.gid_mappings())),
            "0 100000 1\n1 200001 10\n"
        );
    }

    #[test]
    fn refusals_name_the_field() {
        let user = serde_json::json!([{"type": "user"}]);
        assert!(err(serde_json::json!({"namespaces": user})).contains(
            "user namespaces enabled, but no namespace path to join nor mappings to apply specified"
        ));
        assert_eq!(
            err(serde_json::json!({"uidMappings": [m(0, 1, 1)]})),
            "linux.uidMappings: user namespace mappings specified, but user namespace isn't enabled in the config"
        );
        let both = |u: serde_json::Value| {
            err(
                serde_json::json!({"namespaces": user, "uidMappings": u, "gidMappings": [m(0, 1, 1)]}),
            )
        };
        assert_eq!(
            both(serde_json::json!([m(0, 1, 0)])),
            "linux.uidMappings[0]: size must be greater than zero"
        );
        assert_eq!(
            both(serde_json::json!([m(0, 100000, 10), m(5, 200000, 10)])),
            "linux.uidMappings[1]: container IDs 5-14 overlap linux.uidMappings[0]"
        );
        assert_eq!(
            both(serde_json::json!([m(0, 100000, 10), m(10, 100009, 1)])),
            "linux.uidMappings[1]: host IDs 100009-100009 overlap linux.uidMappings[0]"
        );
        assert!(both(serde_json::json!([m(0, 4294967295, 2)]))
            .contains("range 4294967295+2 runs past 4294967294"));
        assert!(
            both(serde_json::json!([m(1, 100000, 10)])).contains("container ID 0 is not mapped")
        );
        let one = err(serde_json::json!({"namespaces": user, "uidMappings": [m(0, 1, 1)]}));
        assert_eq!(
            one,
            "linux.gidMappings: a user namespace needs both uid and gid mappings"
        );
    }

    #[test]
    fn map_texts_compare_as_sets_of_ranges() {
        assert_eq!(
            ranges("         0     100000      65536\n     65536 5 1\n"),
            ranges("65536 5 1\n0 100000 65536\n")
        );
        assert_ne!(ranges("0 100000 65536\n"), ranges("0 200000 65536\n"));
    }

    #[test]
    fn the_process_user_must_be_mapped() {
        let l = linux(serde_json::json!({
            "namespaces": [{"type": "user"}],
            "uidMappings": [m(0, 100000, 1000)],
            "gidMappings": [m(0, 100000, 1000)],
        }));
        let p: Process = serde_json::from_value(
            serde_json::json!({"cwd": "/", "user": {"uid": 1000, "gid": 0}}),
        )
        .unwrap();
        assert_eq!(
            validate(&l, Some(&p)).unwrap_err().to_string(),
            "process.user.uid 1000 is not mapped by linux.uidMappings"
        );
    }
}
