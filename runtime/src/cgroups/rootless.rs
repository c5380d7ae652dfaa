//! runc's cgroup rules for a rootless caller (`crate::rootless::detect`):
//! when the default cgroup (no `linux.cgroupsPath`) cannot be made for lack
//! of permission (EACCES, EPERM, EROFS), a container that asks for no limit
//! runs without a cgroup (nothing is recorded, and kill, ps and delete work
//! from the init's pidfd and pid namespace); one that asks for a limit is
//! refused, naming the field and the controller. An explicit cgroupsPath,
//! any other error, and root are never affected. In a cgroup it could make
//! (a delegated one), a rootless container goes without the device rules
//! when the kernel refuses them (v1 devices.deny, v2's eBPF program), as
//! runc: only a privileged writer may set them.

use oci_spec::runtime::LinuxResources;

use std::path::PathBuf;

use super::error::{CgroupError, Context};
use super::hierarchy::{own_path, Hierarchies, Hierarchy, Mode};
use super::manager::Manager;

/// After a failed `Manager::make`: run without a cgroup (Ok), or the error
/// to report. `rootless` is asked only for a permission error, so root's
/// failures cost nothing more.
pub(crate) fn after_failure(
    err: CgroupError,
    explicit_path: bool,
    resources: Option<&LinuxResources>,
    mode: Mode,
    rootless: impl FnOnce() -> bool,
) -> Result<(), CgroupError> {
    if !is_denied(&err) || explicit_path || !rootless() {
        return Err(err);
    }
    match resources.and_then(first_requested) {
        None => {
            tracing::debug!("rootless: running without a cgroup ({err})");
            Ok(())
        }
        Some((field, controller)) => Err(CgroupError::RootlessLimit {
            field,
            controller,
            v2: mode == Mode::V2,
            source: Box::new(err),
        }),
    }
}

/// A permission error (EACCES, EPERM, EROFS) making or writing a cgroup.
pub(crate) fn is_denied(err: &CgroupError) -> bool {
    matches!(
        err,
        CgroupError::Create { .. } | CgroupError::Write { .. } | CgroupError::Io { .. }
    ) && matches!(
        err.errno(),
        Some(libc::EACCES) | Some(libc::EPERM) | Some(libc::EROFS)
    )
}

impl Manager {
    /// The cgroup of a rootless container that has none: no directory,
    /// nothing to place the init in, an empty record.
    pub(crate) fn without_cgroup(mode: Mode) -> Manager {
        Manager {
            mode,
            v1: Vec::new(),
            v2: None,
            created: Vec::new(),
            fresh: false,
            unit: None,
            owns_unit: std::cell::Cell::new(false),
        }
    }
}

/// Where the init of a container without a cgroup stays: the runtime's own
/// cgroup in every hierarchy, as (mount point, directory), v1 ones first.
pub(crate) fn own_mounts_and_dirs() -> Result<Vec<(PathBuf, PathBuf)>, CgroupError> {
    let hs = Hierarchies::detect()?;
    let own =
        std::fs::read_to_string("/proc/self/cgroup").ctx(|| "read /proc/self/cgroup".into())?;
    let pair = |h: &Hierarchy, unified: bool| {
        let rel = own_path(h, unified, &own)?;
        Some((h.mount.clone(), h.mount.join(rel.trim_start_matches('/'))))
    };
    Ok(hs
        .v1
        .iter()
        .filter_map(|h| pair(h, false))
        .chain(hs.unified.iter().filter_map(|h| pair(h, true)))
        .collect())
}

/// The first `linux.resources` entry that needs a controller (spec field,
/// controller), in runc's order of subsystems; device rules are not one
/// (runc ignores device cgroup errors when rootless), nor are values runc
/// treats as unset (zero limits, empty lists).
pub(crate) fn first_requested(r: &LinuxResources) -> Option<(String, &'static str)> {
    const F: &str = "linux.resources";
    let nz = |v: Option<i64>| v.is_some_and(|v| v != 0);
    let nzu = |v: Option<u64>| v.is_some_and(|v| v != 0);
    let non_empty = |v: Option<&String>| v.is_some_and(|s| !s.is_empty());
    if let Some(m) = r.memory() {
        if nz(m.limit())
            || nz(m.reservation())
            || nz(m.swap())
            || nz(m.kernel())
            || nz(m.kernel_tcp())
            || m.swappiness().is_some()
            || m.disable_oom_killer() == Some(true)
        {
            return Some((format!("{F}.memory"), "memory"));
        }
    }
    if let Some(c) = r.cpu() {
        if nzu(c.shares())
            || nz(c.quota())
            || nzu(c.period())
            || c.burst().is_some()
            || nz(c.realtime_runtime())
            || nzu(c.realtime_period())
            || c.idle().is_some()
        {
            return Some((format!("{F}.cpu"), "cpu"));
        }
        if non_empty(c.cpus().as_ref()) || non_empty(c.mems().as_ref()) {
            return Some((format!("{F}.cpu.cpus"), "cpuset"));
        }
    }
    if r.pids().is_some_and(|p| p.limit() != 0) {
        return Some((format!("{F}.pids"), "pids"));
    }
    if let Some(b) = r.block_io() {
        let some = |v: &Option<Vec<_>>| v.as_ref().is_some_and(|v: &Vec<_>| !v.is_empty());
        let devs = some(b.throttle_read_bps_device())
            || some(b.throttle_write_bps_device())
            || some(b.throttle_read_iops_device())
            || some(b.throttle_write_iops_device());
        let weights = b.weight().is_some_and(|w| w != 0)
            || b.leaf_weight().is_some_and(|w| w != 0)
            || b.weight_device().as_ref().is_some_and(|v| !v.is_empty());
        if devs || weights {
            return Some((format!("{F}.blockIO"), "blkio"));
        }
    }
    if r.hugepage_limits().as_ref().is_some_and(|h| !h.is_empty()) {
        return Some((format!("{F}.hugepageLimits"), "hugetlb"));
    }
    if let Some(n) = r.network() {
        if n.class_id().is_some_and(|c| c != 0) {
            return Some((format!("{F}.network.classID"), "net_cls"));
        }
        if n.priorities().as_ref().is_some_and(|p| !p.is_empty()) {
            return Some((format!("{F}.network.priorities"), "net_prio"));
        }
    }
    if r.rdma().as_ref().is_some_and(|m| !m.is_empty()) {
        return Some((format!("{F}.rdma"), "rdma"));
    }
    if r.unified().as_ref().is_some_and(|u| !u.is_empty()) {
        return Some((format!("{F}.unified"), "unified"));
    }
    None
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::path::PathBuf;

    use super::*;

    fn res(json: serde_json::Value) -> LinuxResources {
        serde_json::from_value(json).unwrap()
    }

    fn create_err(errno: i32) -> CgroupError {
        CgroupError::Create {
            path: PathBuf::from("/sys/fs/cgroup/memory/berth/c1"),
            source: io::Error::from_raw_os_error(errno),
        }
    }

    #[test]
    fn nothing_requested_runs_without_a_cgroup() {
        let devices_only = res(serde_json::json!({"devices": [{"allow": false, "access": "rwm"}]}));
        let zeros = res(
            serde_json::json!({"memory": {"limit": 0}, "pids": {"limit": 0}, "cpu": {"cpus": ""}}),
        );
        for r in [None, Some(&devices_only), Some(&zeros)] {
            for errno in [libc::EACCES, libc::EPERM, libc::EROFS] {
                assert!(after_failure(create_err(errno), false, r, Mode::Hybrid, || true).is_ok());
            }
        }
    }

    #[test]
    fn a_requested_limit_is_refused_naming_field_and_controller() {
        let r = res(serde_json::json!({"pids": {"limit": 10}}));
        let e = after_failure(
            create_err(libc::EACCES),
            false,
            Some(&r),
            Mode::Hybrid,
            || true,
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "linux.resources.pids: cannot set pids limit: container could not join or create cgroup (rootless: create cgroup /sys/fs/cgroup/memory/berth/c1: Permission denied (os error 13); request no limits, or give this user a delegated cgroup and name it in linux.cgroupsPath)"
        );
        let e = after_failure(create_err(libc::EACCES), false, Some(&r), Mode::V2, || true)
            .unwrap_err();
        assert!(
            e.to_string().starts_with(
                "rootless needs no limits + no cgrouppath when no permission is granted for cgroups: linux.resources.pids (the pids controller): create cgroup "
            ),
            "{e}"
        );
    }

    #[test]
    fn root_explicit_paths_and_other_errors_are_unchanged() {
        let root_asked = std::cell::Cell::new(false);
        // Not a permission error: rootless is not even asked.
        let e = after_failure(create_err(libc::ENOSPC), false, None, Mode::V1, || {
            root_asked.set(true);
            true
        });
        assert!(matches!(e, Err(CgroupError::Create { .. })));
        assert!(!root_asked.get());
        // Root (not rootless): the error stands.
        let e = after_failure(create_err(libc::EACCES), false, None, Mode::V1, || false);
        assert!(matches!(e, Err(CgroupError::Create { .. })));
        // An explicit cgroupsPath: the error stands (runc's permission error).
        let e = after_failure(create_err(libc::EACCES), true, None, Mode::V1, || true);
        assert!(matches!(e, Err(CgroupError::Create { .. })));
        // A refusal that is not an errno.
        let e = after_failure(CgroupError::NoHierarchy, false, None, Mode::V1, || true);
        assert!(matches!(e, Err(CgroupError::NoHierarchy)));
    }

    #[test]
    fn requested_controllers() {
        let cases = [
            (serde_json::json!({"memory": {"limit": 1048576}}), "memory"),
            (serde_json::json!({"memory": {"swappiness": 0}}), "memory"),
            (serde_json::json!({"cpu": {"shares": 512}}), "cpu"),
            (serde_json::json!({"cpu": {"cpus": "0"}}), "cpuset"),
            (serde_json::json!({"pids": {"limit": -1}}), "pids"),
            (serde_json::json!({"blockIO": {"weight": 100}}), "blkio"),
            (
                serde_json::json!({"hugepageLimits": [{"pageSize": "2MB", "limit": 0}]}),
                "hugetlb",
            ),
            (serde_json::json!({"network": {"classID": 1}}), "net_cls"),
            (
                serde_json::json!({"rdma": {"mlx": {"hcaHandles": 1}}}),
                "rdma",
            ),
            (
                serde_json::json!({"unified": {"pids.max": "10"}}),
                "unified",
            ),
        ];
        for (j, want) in cases {
            let got = first_requested(&res(j.clone())).map(|(_, c)| c);
            assert_eq!(got, Some(want), "{j}");
        }
        let none = [
            serde_json::json!({}),
            serde_json::json!({"memory": {}, "cpu": {}, "blockIO": {}, "network": {}}),
            serde_json::json!({"memory": {"disableOOMKiller": false}}),
            serde_json::json!({"hugepageLimits": [], "rdma": {}, "unified": {}}),
        ];
        for j in none {
            assert_eq!(first_requested(&res(j.clone())), None, "{j}");
        }
    }

    #[test]
    fn own_cgroups_are_existing_dirs_under_their_mounts() {
        let own = own_mounts_and_dirs().unwrap();
        assert!(!own.is_empty());
        for (mount, dir) in own {
            assert!(dir.starts_with(&mount), "{dir:?} not under {mount:?}");
            assert!(dir.is_dir(), "{dir:?}");
        }
    }

    #[test]
    fn a_cgroupless_manager_records_nothing() {
        let m = Manager::without_cgroup(Mode::Hybrid);
        assert_eq!(m.record(), super::super::CgroupRecord::default());
        assert!(m.v2_dir_fd().unwrap().is_none());
        assert!(m.placement(false).unwrap().files.is_empty());
        assert!(m.pids().unwrap().is_empty());
        assert_eq!(
            m.freeze().unwrap_err().to_string(),
            "cannot toggle freezer: cgroups not configured for container"
        );
    }
}
