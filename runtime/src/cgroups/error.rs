//! The errors of the cgroup subsystem. A refused `linux.resources` value
//! names its spec field; a failed control-file write names the field, the
//! file and the value; the states runc refuses a cgroup in (not empty,
//! frozen) carry the cgroup and what was found.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    /// A config value this host or this cgroup cannot take; `field` is
    /// the spec field (e.g. "linux.resources.memory.swap").
    #[error("{field}: {reason}")]
    Invalid { field: String, reason: String },
    /// `linux.resources.unified` on a host that is not pure cgroup v2.
    #[error("linux.resources.unified: invalid configuration: cannot use unified on cgroup v1")]
    UnifiedOnV1,
    /// A resource whose controller this host does not have.
    #[error("{field}: the {controller} controller is not available on this host")]
    NoController {
        field: String,
        controller: &'static str,
    },
    /// Hybrid host: the controller is not mounted as cgroup v1 and the
    /// host's cgroup v2 root does not enable it for its children. runc's
    /// text first (clients match it), then why.
    #[error("{field}: cannot set {controller} limit: container could not join or create cgroup ({controller} is not mounted as cgroup v1, and the cgroup v2 root {} does not enable it in cgroup.subtree_control; berth does not change the host's root)", mount.display())]
    NotDelegated {
        field: String,
        controller: &'static str,
        mount: PathBuf,
    },
    /// Rootless, the default cgroup could not be made (`source`), and
    /// `field` asks for a limit: runc's text first (its v2 wording on a
    /// pure v2 host), then why.
    #[error("{}", rootless_limit_text(field, controller, *v2, source))]
    RootlessLimit {
        field: String,
        controller: &'static str,
        v2: bool,
        source: Box<CgroupError>,
    },
    /// A `unified` key whose controller the cgroup v2 root does not offer.
    #[error("linux.resources.unified.{key}: the {controller} controller is not available in the cgroup v2 hierarchy of this host")]
    NoUnifiedController { key: String, controller: String },
    /// A huge page size this kernel does not have.
    #[error("linux.resources.hugepageLimits: page size {size:?} is not supported by this kernel (supported: {})", supported.join(", "))]
    PageSize {
        size: String,
        supported: Vec<String>,
    },
    /// `checkBeforeUpdate`: the new memory limit is below the usage.
    #[error("linux.resources.memory.limit: the new limit {limit} is lower than the current usage {usage} (checkBeforeUpdate)")]
    BelowUsage { limit: i64, usage: u64 },
    /// `--systemd-cgroup` with a cgroupsPath not of the systemd form.
    #[error("expected cgroupsPath to be of format \"slice:prefix:name\" for systemd cgroups, got {0:?} instead")]
    SystemdPath(String),
    /// `--systemd-cgroup` on a host whose init is not systemd (runc's text).
    #[error("systemd not running on this host, cannot use systemd cgroups manager")]
    SystemdNotRunning,
    /// `--systemd-cgroup` for a rootless container: that needs the user's
    /// systemd instance, which berth's driver does not drive.
    #[error("--systemd-cgroup: rootless containers are not supported by the systemd cgroup driver (it needs root and the system instance of systemd); run without --systemd-cgroup")]
    SystemdRootless,
    /// A parent slice that is not a systemd slice name (runc's text).
    #[error("invalid slice name: {0}")]
    SystemdSlice(String),
    /// A D-Bus call to systemd failed: what was asked, and systemd's (or
    /// the bus's) answer.
    #[error("{what}: {reason}")]
    Bus { what: String, reason: String },
    /// StartTransientUnit refused (after a reset of a failed unit of that
    /// name and one retry) because the unit exists: another container's
    /// scope of the same name, started by a create that raced this one.
    #[error("unable to start unit {unit:?} in slice {slice:?}: a unit of that name exists already (another container's, created at the same time with the same cgroupsPath): {reason}")]
    UnitExists {
        unit: String,
        slice: String,
        reason: String,
    },
    /// The job starting a unit ended other than "done" (runc's text).
    #[error("error creating systemd unit `{unit}`: got `{result}`")]
    UnitJob { unit: String, result: String },
    /// systemd did not finish a unit's start or stop job in time (runc's
    /// texts).
    #[error("{}", if verb == "create" {
        format!("Timeout waiting for systemd to create {unit}")
    } else {
        format!("Timed out while waiting for systemd to {verb} {unit}")
    })]
    UnitTimeout { unit: String, verb: String },
    /// A relative cgroupsPath where the runtime's own cgroup is unknown.
    #[error("linux.cgroupsPath: relative path {}: cannot find the runtime's own cgroup in {} (/proc/self/cgroup)", path.display(), mount.display())]
    NoOwnCgroup { path: PathBuf, mount: PathBuf },
    /// No cgroup hierarchy at all.
    #[error("no cgroup hierarchy is mounted on this host (see /proc/self/mountinfo)")]
    NoHierarchy,
    /// A recorded cgroup directory in no mounted hierarchy.
    #[error("cgroup {}: no such cgroup hierarchy is mounted on this host", dir.display())]
    NotMounted { dir: PathBuf },
    /// A leaf outside the hierarchy it was computed for.
    #[error("cgroup {} is not under {}", leaf.display(), mount.display())]
    NotUnder { leaf: PathBuf, mount: PathBuf },
    /// Pause/resume of a rootless container that runs without a cgroup
    /// (runc's text).
    #[error("cannot toggle freezer: cgroups not configured for container")]
    NoCgroup,
    /// Pause/resume or OOM events without the controller they need.
    #[error("the {controller} cgroup is not available on this host")]
    Unavailable { controller: &'static str },
    /// The default cgroup of `id` exists already: another container's.
    #[error("cgroup {} already exists: another container named {id} (under a different --root?) uses it; set linux.cgroupsPath or pick another id", dir.display())]
    Taken { dir: PathBuf, id: String },
    /// An existing cgroup given to create holds processes (runc's check).
    #[error("container's cgroup is not empty: {count} process(es) found ({})", dir.display())]
    NotEmpty { count: usize, dir: PathBuf },
    /// A cgroup given to create is frozen (runc's check).
    #[error("container's cgroup unexpectedly frozen ({})", dir.display())]
    Frozen { dir: PathBuf },
    /// A freeze that did not complete; the cgroup was thawed again.
    #[error("unable to freeze cgroup {}: still freezing after {after:?}", dir.display())]
    FreezeTimeout { dir: PathBuf, after: Duration },
    /// Processes left in a cgroup being destroyed.
    #[error("cgroup {} still has processes {pids:?} after {after:?}", dir.display())]
    NotEmptied {
        dir: PathBuf,
        pids: Vec<i32>,
        after: Duration,
    },
    /// An `exec --cgroup` argument that is not runc's syntax; `missing_prefix`
    /// when one of several lacks its `<controller>:`.
    #[error("invalid --cgroup argument: {arg}{}", if *missing_prefix { " (missing <controller>: prefix)" } else { "" })]
    SubArg { arg: String, missing_prefix: bool },
    /// An `exec --cgroup` path that climbs out of the container's cgroup.
    #[error("{0} is not a sub cgroup path")]
    SubEscapes(String),
    /// An `exec --cgroup` controller this host has no hierarchy for.
    #[error("--cgroup: unknown controller {0:?} (cgroup v2 takes a plain path only)")]
    SubController(String),
    /// An `exec --cgroup` directory that does not exist.
    #[error("--cgroup: cgroup {} does not exist", .0.display())]
    SubMissing(PathBuf),
    /// A control-file write the kernel refused.
    #[error("{field}: write {value:?} to {}: {source}", path.display())]
    Write {
        field: String,
        value: String,
        path: PathBuf,
        source: io::Error,
    },
    /// Creating a cgroup directory.
    #[error("create cgroup {}: {source}", path.display())]
    Create { path: PathBuf, source: io::Error },
    /// Removing a cgroup directory.
    #[error("remove cgroup {}: {source}", path.display())]
    Remove { path: PathBuf, source: io::Error },
    /// Any other failed system operation, with what we were doing.
    #[error("{context}: {source}")]
    Io { context: String, source: io::Error },
}

pub type Result<T, E = CgroupError> = std::result::Result<T, E>;

fn rootless_limit_text(field: &str, controller: &str, v2: bool, source: &CgroupError) -> String {
    if v2 {
        format!("rootless needs no limits + no cgrouppath when no permission is granted for cgroups: {field} (the {controller} controller): {source}")
    } else {
        format!("{field}: cannot set {controller} limit: container could not join or create cgroup (rootless: {source}; request no limits, or give this user a delegated cgroup and name it in linux.cgroupsPath)")
    }
}

impl CgroupError {
    pub(crate) fn invalid(field: impl Into<String>, reason: impl Into<String>) -> CgroupError {
        CgroupError::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// The errno of a failed system operation.
    pub fn errno(&self) -> Option<i32> {
        match self {
            CgroupError::Write { source, .. }
            | CgroupError::Create { source, .. }
            | CgroupError::Remove { source, .. }
            | CgroupError::Io { source, .. } => source.raw_os_error(),
            _ => None,
        }
    }
}

crate::error::io_context! {
    /// Adds context to I/O errors: `.ctx(|| format!("open {path}"))`.
    pub(crate) trait Context for CgroupError
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cgroups::hierarchy::Mode;
    use crate::cgroups::{convert, devices, CgroupsPath};

    fn einval() -> io::Error {
        io::Error::from_raw_os_error(libc::EINVAL)
    }

    /// The cgroup the wording tests name.
    fn dir() -> PathBuf {
        PathBuf::from("/sys/fs/cgroup/pids/berth/c1")
    }

    /// Checks the messages clients and the conformance suite match, byte
    /// for byte.
    fn assert_wording(cases: Vec<(CgroupError, String)>) {
        for (e, want) in cases {
            assert_eq!(e.to_string(), want, "{e:?}");
        }
    }

    /// The cgroups create refuses: runc's wording for the states it checks.
    #[test]
    fn refused_cgroups_keep_their_wording() {
        assert_wording(vec![
            (
                CgroupError::NotEmpty {
                    count: 2,
                    dir: dir(),
                },
                "container's cgroup is not empty: 2 process(es) found (/sys/fs/cgroup/pids/berth/c1)"
                    .into(),
            ),
            (
                CgroupError::Frozen { dir: dir() },
                "container's cgroup unexpectedly frozen (/sys/fs/cgroup/pids/berth/c1)".into(),
            ),
            (
                CgroupError::Taken {
                    dir: dir(),
                    id: "c1".into(),
                },
                "cgroup /sys/fs/cgroup/pids/berth/c1 already exists: another container named c1 (under a different --root?) uses it; set linux.cgroupsPath or pick another id".into(),
            ),
        ]);
    }

    /// `unified` on cgroup v1 and the systemd driver (runc's texts).
    #[test]
    fn config_refusals_keep_their_wording() {
        assert_wording(vec![
            (
                CgroupError::UnifiedOnV1,
                "linux.resources.unified: invalid configuration: cannot use unified on cgroup v1"
                    .into(),
            ),
            (
                CgroupError::SystemdNotRunning,
                "systemd not running on this host, cannot use systemd cgroups manager".into(),
            ),
            (
                CgroupError::UnitExists {
                    unit: "p-c1.scope".into(),
                    slice: "system.slice".into(),
                    reason: "org.freedesktop.systemd1.UnitExists: Unit p-c1.scope was already loaded or has a fragment file.".into(),
                },
                "unable to start unit \"p-c1.scope\" in slice \"system.slice\": a unit of that name exists already (another container's, created at the same time with the same cgroupsPath): org.freedesktop.systemd1.UnitExists: Unit p-c1.scope was already loaded or has a fragment file.".into(),
            ),
            (
                CgroupError::UnitJob {
                    unit: "berth-c1.scope".into(),
                    result: "failed".into(),
                },
                "error creating systemd unit `berth-c1.scope`: got `failed`".into(),
            ),
            (
                CgroupError::UnitTimeout {
                    unit: "berth-c1.scope".into(),
                    verb: "create".into(),
                },
                "Timeout waiting for systemd to create berth-c1.scope".into(),
            ),
            (
                CgroupError::UnitTimeout {
                    unit: "berth-c1.scope".into(),
                    verb: "remove".into(),
                },
                "Timed out while waiting for systemd to remove berth-c1.scope".into(),
            ),
        ]);
    }

    /// `exec --cgroup` arguments not in runc's syntax.
    #[test]
    fn exec_cgroup_arguments_keep_their_wording() {
        assert_wording(vec![
            (
                CgroupError::SubArg {
                    arg: "a".into(),
                    missing_prefix: true,
                },
                "invalid --cgroup argument: a (missing <controller>: prefix)".into(),
            ),
            (
                CgroupError::SubArg {
                    arg: "a:b:c".into(),
                    missing_prefix: false,
                },
                "invalid --cgroup argument: a:b:c".into(),
            ),
        ]);
    }

    /// Destroy, freeze and the controllers they need.
    #[test]
    fn destroy_and_freeze_failures_keep_their_wording() {
        assert_wording(vec![
            (
                CgroupError::NotEmptied {
                    dir: dir(),
                    pids: vec![7, 8],
                    after: Duration::from_secs(5),
                },
                "cgroup /sys/fs/cgroup/pids/berth/c1 still has processes [7, 8] after 5s".into(),
            ),
            (
                CgroupError::FreezeTimeout {
                    dir: dir(),
                    after: Duration::from_secs(5),
                },
                "unable to freeze cgroup /sys/fs/cgroup/pids/berth/c1: still freezing after 5s"
                    .into(),
            ),
            (
                CgroupError::Unavailable {
                    controller: "freezer",
                },
                "the freezer cgroup is not available on this host".into(),
            ),
        ]);
    }

    /// Failed system operations name the field, file and value they were for.
    #[test]
    fn system_failures_keep_their_wording() {
        assert_wording(vec![
            (
                CgroupError::Write {
                    field: "linux.resources.pids.limit".into(),
                    value: "-1".into(),
                    path: dir().join("pids.max"),
                    source: einval(),
                },
                format!(
                    "linux.resources.pids.limit: write \"-1\" to /sys/fs/cgroup/pids/berth/c1/pids.max: {}",
                    einval()
                ),
            ),
            (
                CgroupError::Create {
                    path: dir(),
                    source: einval(),
                },
                format!("create cgroup /sys/fs/cgroup/pids/berth/c1: {}", einval()),
            ),
        ]);
    }

    /// Wrapped into the top-level error, the message is unchanged.
    #[test]
    fn wrapped_messages_keep_their_wording() {
        let e: crate::error::Error = CgroupError::UnifiedOnV1.into();
        assert_eq!(e.to_string(), CgroupError::UnifiedOnV1.to_string());
    }

    #[test]
    fn config_refusals_name_their_field() {
        let e = CgroupsPath::parse(Some("/"), "c1", false).unwrap_err();
        assert!(
            matches!(&e, CgroupError::Invalid { field, .. } if field == "linux.cgroupsPath"),
            "{e:?}"
        );
        let e = convert::swap_to_v2(10, 20).unwrap_err();
        assert_eq!(
            e.to_string(),
            "linux.resources.memory.swap: memory+swap limit (10) should be >= memory limit (20)"
        );
        let mut u = std::collections::HashMap::new();
        u.insert("memory.high".to_string(), "1".to_string());
        let e = crate::cgroups::apply::check_unified(Mode::Hybrid, &u).unwrap_err();
        assert!(matches!(e, CgroupError::UnifiedOnV1), "{e:?}");
        let e = convert::check_page_size("3MB", &["2MB".into(), "1GB".into()]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "linux.resources.hugepageLimits: page size \"3MB\" is not supported by this kernel (supported: 2MB, 1GB)"
        );
        let rule: oci_spec::runtime::LinuxDeviceCgroup =
            serde_json::from_value(serde_json::json!({"allow": true, "access": ""})).unwrap();
        let e = devices::from_spec(&[rule]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "linux.resources.devices[0].access: device access at 0 field cannot be empty"
        );
        assert_eq!(e.errno(), None);
    }
}
