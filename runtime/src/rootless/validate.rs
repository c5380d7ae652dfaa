//! What a config must be for a non-root caller (current runc's rootless
//! checks, same order and wording after the field prefix, so a client
//! matching runc's text still finds it): a user namespace, with uid and gid
//! mappings unless it is joined by path; `uid=`/`gid=` mount options only
//! for ids the mappings cover; no idmapped mounts; no additional gids (an
//! unprivileged user namespace cannot setgroups); and, also for root with
//! `--rootless` in effect, no `linux.netDevices`.

use oci_spec::runtime::{LinuxIdMapping, LinuxNamespaceType, Spec};

use crate::error::{Error, Result};

/// Checks `spec` for a caller whose euid is not root (`euid_root` false);
/// `rootless_cgroups` (`super::detect`) is asked only when the config has
/// network devices, the one check that applies to root as well.
pub(crate) fn check(
    spec: &Spec,
    euid_root: bool,
    rootless_cgroups: impl FnOnce() -> bool,
) -> Result<()> {
    let Some(linux) = spec.linux().as_ref() else {
        return Ok(());
    };
    let net_devices = linux.net_devices().as_ref().is_some_and(|d| !d.is_empty());
    if net_devices && (!euid_root || rootless_cgroups()) {
        return Err(Error::config(
            "linux.netDevices: network devices are not supported for rootless containers",
        ));
    }
    if euid_root {
        return Ok(());
    }
    let user_ns = linux
        .namespaces()
        .iter()
        .flatten()
        .find(|n| n.typ() == LinuxNamespaceType::User);
    let Some(user_ns) = user_ns else {
        return Err(Error::config(
            "linux.namespaces: rootless container requires user namespaces",
        ));
    };
    let uids = linux.uid_mappings().as_deref().unwrap_or(&[]);
    let gids = linux.gid_mappings().as_deref().unwrap_or(&[]);
    if user_ns.path().is_none() {
        if uids.is_empty() {
            return Err(Error::config(
                "linux.uidMappings: rootless containers requires at least one UID mapping",
            ));
        }
        if gids.is_empty() {
            return Err(Error::config(
                "linux.gidMappings: rootless containers requires at least one GID mapping",
            ));
        }
    }
    check_mounts(spec, uids, gids)?;
    let extra_gids = spec
        .process()
        .as_ref()
        .and_then(|p| p.user().additional_gids().as_ref())
        .is_some_and(|g| !g.is_empty());
    if extra_gids {
        return Err(Error::config(
            "process.user.additionalGids: cannot set any additional groups in a rootless container",
        ));
    }
    Ok(())
}

/// `uid=N`/`gid=N` options must name mapped ids (other spellings are not
/// ids and are left to the mount), and idmapped mounts need root.
fn check_mounts(spec: &Spec, uids: &[LinuxIdMapping], gids: &[LinuxIdMapping]) -> Result<()> {
    for (i, m) in spec.mounts().iter().flatten().enumerate() {
        let at = || format!("mounts[{i}] ({})", m.destination().display());
        for opt in m.options().iter().flatten() {
            for (prefix, maps, what, none) in [
                ("uid=", uids, "uid", "uid mappings"),
                ("gid=", gids, "gid", "gid mappings"),
            ] {
                let Some(id) = opt.strip_prefix(prefix).and_then(|v| v.parse::<i64>().ok()) else {
                    continue;
                };
                if let Some(why) = unmapped(id, maps, what, none) {
                    return Err(Error::config(format!(
                        "{}: cannot specify {opt} mount option for rootless container: {why}",
                        at()
                    )));
                }
            }
        }
        let idmap_option = m
            .options()
            .iter()
            .flatten()
            .any(|o| o == "idmap" || o == "ridmap");
        if idmap_option || m.uid_mappings().is_some() || m.gid_mappings().is_some() {
            return Err(Error::config(format!(
                "{}: id-mapped mounts are not supported for rootless containers",
                at()
            )));
        }
    }
    Ok(())
}

/// Why container id `id` has no host id in `maps` (runc's HostUID/HostGID
/// texts), or None when it has one.
fn unmapped(id: i64, maps: &[LinuxIdMapping], what: &str, none: &str) -> Option<String> {
    if maps.is_empty() {
        return Some(format!("user namespaces enabled, but no {none} found"));
    }
    let covered = maps.iter().any(|m| {
        let start = i64::from(m.container_id());
        id >= start && id < start + i64::from(m.size())
    });
    (!covered).then(|| format!("user namespaces enabled, but no mapping found for {what} {id}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(linux: serde_json::Value, mounts: serde_json::Value) -> Spec {
        let mut v = serde_json::to_value(Spec::default()).unwrap();
        v["linux"] = linux;
        v["mounts"] = mounts;
        serde_json::from_value(v).unwrap()
    }

    fn err(s: &Spec) -> String {
        check(s, false, || true).unwrap_err().to_string()
    }

    fn userns_linux() -> serde_json::Value {
        serde_json::json!({
            "namespaces": [{"type": "pid"}, {"type": "user"}],
            "uidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}],
            "gidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}, {"containerID": 5, "hostID": 100005, "size": 1}]
        })
    }

    #[test]
    fn root_is_not_checked() {
        let s = spec(
            serde_json::json!({"namespaces": [{"type": "pid"}]}),
            serde_json::json!([]),
        );
        assert!(check(&s, true, || false).is_ok());
    }

    #[test]
    fn a_user_namespace_with_mappings_is_required() {
        let s = spec(
            serde_json::json!({"namespaces": [{"type": "pid"}]}),
            serde_json::json!([]),
        );
        assert_eq!(
            err(&s),
            "linux.namespaces: rootless container requires user namespaces"
        );
        let s = spec(
            serde_json::json!({"namespaces": [{"type": "user"}]}),
            serde_json::json!([]),
        );
        assert_eq!(
            err(&s),
            "linux.uidMappings: rootless containers requires at least one UID mapping"
        );
        let s = spec(
            serde_json::json!({"namespaces": [{"type": "user"}],
                "uidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}]}),
            serde_json::json!([]),
        );
        assert_eq!(
            err(&s),
            "linux.gidMappings: rootless containers requires at least one GID mapping"
        );
        // Joined by path: no mappings needed.
        let s = spec(
            serde_json::json!({"namespaces": [{"type": "user", "path": "/proc/1/ns/user"}]}),
            serde_json::json!([]),
        );
        assert!(check(&s, false, || true).is_ok());
        assert!(check(&spec(userns_linux(), serde_json::json!([])), false, || true).is_ok());
    }

    #[test]
    fn id_mount_options_must_be_mapped() {
        let pts = |opt: &str| {
            serde_json::json!([{"destination": "/dev/pts", "type": "devpts", "source": "devpts",
                "options": ["nosuid", opt]}])
        };
        for ok in ["gid=5", "gid=0", "uid=0", "uid=abc", "mode=0620"] {
            assert!(
                check(&spec(userns_linux(), pts(ok)), false, || true).is_ok(),
                "{ok}"
            );
        }
        assert_eq!(
            err(&spec(userns_linux(), pts("uid=5"))),
            "mounts[0] (/dev/pts): cannot specify uid=5 mount option for rootless container: user namespaces enabled, but no mapping found for uid 5"
        );
        assert_eq!(
            err(&spec(userns_linux(), pts("gid=6"))),
            "mounts[0] (/dev/pts): cannot specify gid=6 mount option for rootless container: user namespaces enabled, but no mapping found for gid 6"
        );
        let joined =
            serde_json::json!({"namespaces": [{"type": "user", "path": "/proc/1/ns/user"}]});
        assert_eq!(
            err(&spec(joined, pts("gid=5"))),
            "mounts[0] (/dev/pts): cannot specify gid=5 mount option for rootless container: user namespaces enabled, but no gid mappings found"
        );
    }

    #[test]
    fn idmapped_mounts_need_root() {
        let m = serde_json::json!([{"destination": "/data", "type": "bind", "source": "/srv", "options": ["rbind", "idmap"]}]);
        assert_eq!(
            err(&spec(userns_linux(), m)),
            "mounts[0] (/data): id-mapped mounts are not supported for rootless containers"
        );
        let m = serde_json::json!([{"destination": "/data", "type": "bind", "source": "/srv",
            "uidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}]}]);
        assert!(err(&spec(userns_linux(), m))
            .ends_with("id-mapped mounts are not supported for rootless containers"));
    }

    #[test]
    fn additional_gids_are_refused() {
        let mut s = spec(userns_linux(), serde_json::json!([]));
        let mut v = serde_json::to_value(&s).unwrap();
        v["process"]["user"]["additionalGids"] = serde_json::json!([5]);
        s = serde_json::from_value(v).unwrap();
        assert_eq!(
            err(&s),
            "process.user.additionalGids: cannot set any additional groups in a rootless container"
        );
    }

    #[test]
    fn net_devices_refused_when_rootless_even_for_root() {
        let mut linux = userns_linux();
        linux["netDevices"] = serde_json::json!({"dummy0": {}});
        let s = spec(linux, serde_json::json!([]));
        let want = "linux.netDevices: network devices are not supported for rootless containers";
        assert_eq!(err(&s), want);
        assert_eq!(check(&s, true, || true).unwrap_err().to_string(), want);
        assert!(check(&s, true, || false).is_ok());
    }
}
