//! `linux.namespaces`: which namespaces the init creates (clone3 flags) and
//! which it joins by path (setns).
//!
//! pid and time namespaces cannot be entered by a running process, only by
//! its children: berth joins those in the parent right before clone3, which
//! spares the second fork other runtimes need.
//!
//! With a new user namespace, every namespace clone3 creates is owned by
//! it, and the init has privilege only there: it could no longer enter the
//! ipc, uts, network or cgroup namespaces given by path (they belong to
//! the host's user namespace). So the runtime enters those too before the
//! clone (the init inherits them) and returns to its own right after, as
//! runc's nsexec joins them before it unshares the user namespace.

use std::fs::File;
use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;

use nix::sched::{setns, unshare, CloneFlags};
use oci_spec::runtime::{Linux, LinuxNamespaceType};

/// The errors of namespace planning and joining.
#[derive(Debug, thiserror::Error)]
pub enum NamespaceError {
    #[error("linux.namespaces: duplicate namespace type {}", name(*.0))]
    Duplicate(LinuxNamespaceType),
    #[error("linux.namespaces: joining a mount namespace by path together with a new user namespace is not supported")]
    MountJoinWithNewUser,
    #[error("linux.namespaces: {} namespace path {} must be absolute", name(*kind), path.display())]
    RelativePath {
        kind: LinuxNamespaceType,
        path: PathBuf,
    },
    #[error("linux.timeOffsets: requires a new time namespace")]
    TimeOffsetsWithoutNs,
    #[error("linux.timeOffsets: unknown clock {0:?} (monotonic or boottime)")]
    UnknownClock(String),
    /// A namespace path that cannot be opened.
    #[error("open {} namespace {}: {source}", name(*kind), path.display())]
    Open {
        kind: LinuxNamespaceType,
        path: PathBuf,
        source: std::io::Error,
    },
    /// setns(2) into an opened namespace.
    #[error("setns into {} namespace: {source}", name(*kind))]
    Join {
        kind: LinuxNamespaceType,
        source: std::io::Error,
    },
    /// Any other failed system operation, with what we were doing.
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
}

pub type Result<T, E = NamespaceError> = std::result::Result<T, E>;

crate::error::io_context! {
    /// Adds context to I/O errors: `.ctx(|| format!("open {path}"))`.
    trait Context for NamespaceError
}

/// The namespace plan of one container.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    entries: Vec<(LinuxNamespaceType, Option<PathBuf>)>,
    time_offsets: Vec<(String, i64, u32)>,
}

/// An opened namespace to join.
#[derive(Debug)]
pub struct Join {
    pub kind: LinuxNamespaceType,
    pub fd: OwnedFd,
}

pub fn name(t: LinuxNamespaceType) -> &'static str {
    use LinuxNamespaceType::*;
    match t {
        Mount => "mount",
        Cgroup => "cgroup",
        Uts => "uts",
        Ipc => "ipc",
        User => "user",
        Pid => "pid",
        Network => "network",
        Time => "time",
    }
}

pub fn clone_flag(t: LinuxNamespaceType) -> CloneFlags {
    use LinuxNamespaceType::*;
    match t {
        Mount => CloneFlags::CLONE_NEWNS,
        Cgroup => CloneFlags::CLONE_NEWCGROUP,
        Uts => CloneFlags::CLONE_NEWUTS,
        Ipc => CloneFlags::CLONE_NEWIPC,
        User => CloneFlags::CLONE_NEWUSER,
        Pid => CloneFlags::CLONE_NEWPID,
        Network => CloneFlags::CLONE_NEWNET,
        Time => CloneFlags::from_bits_retain(libc::CLONE_NEWTIME),
    }
}

impl Plan {
    pub fn from_spec(linux: &Linux) -> Result<Plan> {
        let mut plan = Plan::default();
        for ns in linux.namespaces().iter().flatten() {
            let t = ns.typ();
            if plan.entries.iter().any(|(k, _)| *k == t) {
                return Err(NamespaceError::Duplicate(t));
            }
            if let Some(p) = ns.path() {
                if !p.is_absolute() {
                    return Err(NamespaceError::RelativePath {
                        kind: t,
                        path: p.clone(),
                    });
                }
            }
            plan.entries.push((t, ns.path().clone()));
        }
        if plan.creates(LinuxNamespaceType::User) && plan.joins(LinuxNamespaceType::Mount) {
            return Err(NamespaceError::MountJoinWithNewUser);
        }
        for (clock, off) in linux.time_offsets().iter().flatten() {
            if !plan.creates(LinuxNamespaceType::Time) {
                return Err(NamespaceError::TimeOffsetsWithoutNs);
            }
            if clock != "monotonic" && clock != "boottime" {
                return Err(NamespaceError::UnknownClock(clock.clone()));
            }
            plan.time_offsets.push((
                clock.clone(),
                off.secs().unwrap_or(0),
                off.nanosecs().unwrap_or(0),
            ));
        }
        Ok(plan)
    }

    pub fn creates(&self, t: LinuxNamespaceType) -> bool {
        self.entries.iter().any(|(k, p)| *k == t && p.is_none())
    }

    pub fn joins(&self, t: LinuxNamespaceType) -> bool {
        self.entries.iter().any(|(k, p)| *k == t && p.is_some())
    }

    /// Whether the container has a namespace of type `t` of its own (new
    /// or joined); without one it shares the runtime's.
    pub fn has(&self, t: LinuxNamespaceType) -> bool {
        self.entries.iter().any(|(k, _)| *k == t)
    }

    /// CLONE_NEW* flags for clone3 (time is handled by `prepare_parent`).
    pub fn clone_flags(&self) -> u64 {
        self.entries
            .iter()
            .filter(|(k, p)| p.is_none() && *k != LinuxNamespaceType::Time)
            .fold(0u64, |f, (k, _)| f | clone_flag(*k).bits() as u64)
    }

    /// Opens every namespace path (in the runtime's own mount namespace).
    pub fn open_joins(&self) -> Result<Vec<Join>> {
        self.entries
            .iter()
            .filter_map(|(k, p)| p.as_ref().map(|p| (*k, p)))
            .map(|(kind, p)| {
                let f = File::open(p).map_err(|source| NamespaceError::Open {
                    kind,
                    path: p.clone(),
                    source,
                })?;
                Ok(Join { kind, fd: f.into() })
            })
            .collect()
    }

    /// In the runtime process, right before clone3: enter a pid or time
    /// namespace to join (children only), or unshare a new time namespace and
    /// set its offsets. What it returns puts the runtime back afterwards.
    pub fn prepare_parent(&self, joins: &[Join]) -> Result<Own> {
        let own = Own::save(self, joins)?;
        for j in joins.iter().filter(|j| self.is_parent_side(j.kind)) {
            join(j)?;
        }
        if self.creates(LinuxNamespaceType::Time) {
            unshare(clone_flag(LinuxNamespaceType::Time))
                .ctx(|| "unshare time namespace".into())?;
            if !self.time_offsets.is_empty() {
                let text: String = self
                    .time_offsets
                    .iter()
                    .map(|(c, s, n)| format!("{c} {s} {n}\n"))
                    .collect();
                File::options()
                    .write(true)
                    .open("/proc/self/timens_offsets")
                    .and_then(|mut f| f.write_all(text.as_bytes()))
                    .ctx(|| "write /proc/self/timens_offsets".into())?;
            }
        }
        Ok(own)
    }
}

/// The runtime's own namespaces of the kinds `prepare_parent` moves it
/// (or its children) out of: pid and time, and with a new user namespace
/// also ipc, uts, network and cgroup. Saved before, restored right after
/// clone3: the hooks the runtime spawns itself (prestart, createRuntime,
/// and in `run` poststart and poststop) then run in the runtime's
/// namespaces, as runc's do (runc joins them in its init, never in the
/// runtime). Empty, with no system call, for a config that joins none and
/// creates no time namespace.
#[derive(Debug, Default)]
pub struct Own {
    saved: Vec<(LinuxNamespaceType, File)>,
}

impl Own {
    fn save(plan: &Plan, joins: &[Join]) -> Result<Own> {
        let mut kinds: Vec<LinuxNamespaceType> = joins
            .iter()
            .map(|j| j.kind)
            .filter(|k| plan.is_parent_side(*k))
            .collect();
        if plan.creates(LinuxNamespaceType::Time) && !kinds.contains(&LinuxNamespaceType::Time) {
            kinds.push(LinuxNamespaceType::Time);
        }
        let saved = kinds
            .into_iter()
            .map(|k| {
                let path = format!("/proc/self/ns/{}", proc_name(k));
                File::open(&path)
                    .ctx(|| format!("open {path}"))
                    .map(|f| (k, f))
            })
            .collect::<Result<_>>()?;
        Ok(Own { saved })
    }

    /// Back into the saved namespaces (after clone3, in the runtime).
    pub fn restore(&self) -> Result<()> {
        for (kind, f) in &self.saved {
            setns(f.as_fd(), clone_flag(*kind)).map_err(|e| NamespaceError::Io {
                context: format!("setns back into the runtime's {} namespace", name(*kind)),
                source: e.into(),
            })?;
        }
        Ok(())
    }
}

/// The entry of /proc/PID/ns/ for a namespace kind.
fn proc_name(t: LinuxNamespaceType) -> &'static str {
    use LinuxNamespaceType::*;
    match t {
        Mount => "mnt",
        Network => "net",
        other => name(other),
    }
}

impl Plan {
    /// Whether a namespace of kind `t` given by path is entered by the
    /// runtime before clone3 (pid and time always; the rest with a new user
    /// namespace, see the module doc) rather than by the init.
    fn is_parent_side(&self, t: LinuxNamespaceType) -> bool {
        matches!(t, LinuxNamespaceType::Pid | LinuxNamespaceType::Time)
            || self.creates(LinuxNamespaceType::User)
    }
}

/// In the init: join the remaining namespaces (ipc, uts, net, cgroup, mount)
/// that the runtime did not join for it.
pub fn join_in_child(plan: &Plan, joins: &[Join]) -> Result<()> {
    use LinuxNamespaceType::*;
    for kind in [Ipc, Uts, Network, Cgroup, Mount] {
        for j in joins
            .iter()
            .filter(|j| j.kind == kind && !plan.is_parent_side(kind))
        {
            join(j)?;
        }
    }
    Ok(())
}

/// In the runtime's child: join the user namespace given by path
/// (`process::joined_userns`).
pub fn join_user(joins: &[Join]) -> Result<()> {
    match joins.iter().find(|j| j.kind == LinuxNamespaceType::User) {
        Some(j) => join(j),
        None => Ok(()),
    }
}

fn join(j: &Join) -> Result<()> {
    setns(j.fd.as_fd(), clone_flag(j.kind)).map_err(|e| NamespaceError::Join {
        kind: j.kind,
        source: e.into(),
    })
}

/// Brings `lo` up in a new network namespace, as runc does.
pub fn loopback_up() -> Result<()> {
    use crate::sys::netdev;
    use nix::sys::socket::{socket, AddressFamily, SockFlag, SockType};
    let sock = socket(
        AddressFamily::Inet,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .ctx(|| "socket for loopback setup".into())?;
    let flags = netdev::flags(sock.as_fd(), "lo").ctx(|| "read flags of lo".into())?;
    netdev::set_flags(sock.as_fd(), "lo", flags | libc::IFF_UP as libc::c_short)
        .ctx(|| "bring lo up".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn linux(v: serde_json::Value) -> Linux {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn config_refusals_are_typed_and_keep_their_wording() {
        let dup = linux(serde_json::json!({"namespaces": [{"type": "pid"}, {"type": "pid"}]}));
        let e = Plan::from_spec(&dup).unwrap_err();
        assert!(matches!(
            e,
            NamespaceError::Duplicate(LinuxNamespaceType::Pid)
        ));
        assert_eq!(
            e.to_string(),
            "linux.namespaces: duplicate namespace type pid"
        );
        let rel = linux(serde_json::json!({"namespaces": [{"type": "network", "path": "x"}]}));
        assert_eq!(
            Plan::from_spec(&rel).unwrap_err().to_string(),
            "linux.namespaces: network namespace path x must be absolute"
        );
        let clock = linux(serde_json::json!({
            "namespaces": [{"type": "time"}],
            "timeOffsets": {"realtime": {"secs": 1}}
        }));
        assert!(matches!(
            Plan::from_spec(&clock).unwrap_err(),
            NamespaceError::UnknownClock(c) if c == "realtime"
        ));
    }

    #[test]
    fn a_missing_namespace_path_names_it() {
        let l = linux(serde_json::json!({
            "namespaces": [{"type": "ipc", "path": "/proc/self/ns/berth-no-such"}]
        }));
        let e = Plan::from_spec(&l).unwrap().open_joins().unwrap_err();
        assert!(matches!(
            &e,
            NamespaceError::Open {
                kind: LinuxNamespaceType::Ipc,
                ..
            }
        ));
        assert!(e
            .to_string()
            .starts_with("open ipc namespace /proc/self/ns/berth-no-such: "));
    }
}
