//! `berth spec`: writes a starter config.json (like `runc spec`).

use std::path::PathBuf;

use serde_json::{json, Value};

use crate::error::{Error, Result};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// path to the root of the bundle directory
    #[arg(short = 'b', long, default_value = ".")]
    pub bundle: PathBuf,
    /// generate a configuration for a rootless container
    #[arg(long)]
    pub rootless: bool,
}

const DEFAULT_CAPS: [&str; 3] = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"];

fn mounts() -> Value {
    json!([
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
        {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}
    ])
}

/// The starter config: a shell on a terminal, minimal capabilities; with
/// `rootless`, adapted by `to_rootless` for the calling user.
pub fn default_spec(rootless: bool) -> Value {
    let linux = json!({
        "maskedPaths": ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
            "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"],
        "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"],
        "resources": {"devices": [{"allow": false, "access": "rwm"}]},
        "namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}]
    });
    let mut spec = json!({
        "ociVersion": crate::state::OCI_VERSION,
        "process": {
            "terminal": true,
            "user": {"uid": 0, "gid": 0},
            "args": ["sh"],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
            "cwd": "/",
            // No ambient set: current runc's starter config dropped it (1.1.5
            // still lists one, which the kernel cannot raise without an
            // inheritable set, so every run warned).
            "capabilities": {"bounding": DEFAULT_CAPS, "effective": DEFAULT_CAPS, "permitted": DEFAULT_CAPS},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": true
        },
        "root": {"path": "rootfs", "readonly": true},
        "hostname": "berth",
        "mounts": mounts(),
        "linux": linux
    });
    if rootless {
        let uid = nix::unistd::geteuid().as_raw();
        let gid = nix::unistd::getegid().as_raw();
        to_rootless(&mut spec, uid, gid);
    }
    spec
}

/// Current runc's `spec --rootless` edits (specconv.ToRootless): no network
/// namespace (the container gets none of the host's and cannot make
/// veths), a user namespace last, the euid/egid mapped to 0 (size 1), /sys
/// an `rbind,ro` of the host's (a user namespace may not mount sysfs
/// without its own network namespace), no `uid=`/`gid=` mount options
/// (ids that are not mapped), and no `linux.resources` (no cgroup to set
/// them in). Identical in runc 1.1.
fn to_rootless(spec: &mut Value, uid: u32, gid: u32) {
    let linux = &mut spec["linux"];
    let mut namespaces: Vec<Value> = linux["namespaces"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|n| !matches!(n["type"].as_str(), Some("network") | Some("user")))
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    namespaces.push(json!({"type": "user"}));
    linux["namespaces"] = Value::Array(namespaces);
    linux["uidMappings"] = json!([{"containerID": 0, "hostID": uid, "size": 1}]);
    linux["gidMappings"] = json!([{"containerID": 0, "hostID": gid, "size": 1}]);
    if let Some(o) = linux.as_object_mut() {
        o.remove("resources");
    }
    let Some(mounts) = spec["mounts"].as_array_mut() else {
        return;
    };
    for m in mounts.iter_mut() {
        let dest = m["destination"].as_str().unwrap_or("");
        if std::path::Path::new(dest)
            .components()
            .eq(std::path::Path::new("/sys").components())
        {
            *m = json!({"destination": "/sys", "type": "none", "source": "/sys",
                "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]});
            continue;
        }
        if let Some(opts) = m.get_mut("options").and_then(Value::as_array_mut) {
            opts.retain(|o| {
                let o = o.as_str().unwrap_or("");
                !o.starts_with("uid=") && !o.starts_with("gid=")
            });
        }
    }
}

/// runc changes into `--bundle` and writes `config.json` there; its errors
/// (Go's, `chdir DIR: …` and `open config.json: …`) are kept.
pub fn run(a: Args) -> Result<i32> {
    let go = crate::go_text::io;
    match std::fs::metadata(&a.bundle) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(Error::msg(format!(
                "chdir {}: not a directory",
                a.bundle.display()
            )))
        }
        Err(e) => {
            return Err(Error::msg(format!(
                "chdir {}: {}",
                a.bundle.display(),
                go(&e)
            )))
        }
    }
    let path = a.bundle.join("config.json");
    if path.exists() {
        return Err(Error::msg("File config.json exists. Remove it first"));
    }
    let text = serde_json::to_string_pretty(&default_spec(a.rootless))
        .map_err(|e| Error::msg(e.to_string()))?;
    std::fs::write(&path, text).map_err(|e| Error::msg(format!("open config.json: {}", go(&e))))?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn default_specs_parse() {
        for rootless in [false, true] {
            let v = super::default_spec(rootless);
            let spec: oci_spec::runtime::Spec = serde_json::from_value(v).unwrap();
            assert_eq!(
                spec.process().as_ref().unwrap().args().as_ref().unwrap()[0],
                "sh"
            );
        }
    }

    /// The whole `linux` object and mounts of `spec --rootless`, as current
    /// runc's ToRootless makes them from the same starter config.
    #[test]
    fn rootless_edits_match_runc() {
        let mut v = super::default_spec(false);
        let before = v.clone();
        super::to_rootless(&mut v, 1000, 1001);
        assert_eq!(
            v["linux"],
            serde_json::json!({
                "maskedPaths": before["linux"]["maskedPaths"],
                "readonlyPaths": before["linux"]["readonlyPaths"],
                "namespaces": [{"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}, {"type": "user"}],
                "uidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}],
                "gidMappings": [{"containerID": 0, "hostID": 1001, "size": 1}]
            })
        );
        let mounts = v["mounts"].as_array().unwrap();
        let old = before["mounts"].as_array().unwrap();
        assert_eq!(mounts.len(), old.len());
        for (m, o) in mounts.iter().zip(old) {
            match m["destination"].as_str().unwrap() {
                "/sys" => assert_eq!(
                    *m,
                    serde_json::json!({"destination": "/sys", "type": "none", "source": "/sys",
                        "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]})
                ),
                "/dev/pts" => assert_eq!(
                    m["options"],
                    serde_json::json!([
                        "nosuid",
                        "noexec",
                        "newinstance",
                        "ptmxmode=0666",
                        "mode=0620"
                    ])
                ),
                // Everything else as in the root config (the cgroup mount
                // stays, as in runc).
                _ => assert_eq!(m, o),
            }
        }
        // Everything outside linux and mounts is untouched.
        for k in ["ociVersion", "process", "root", "hostname"] {
            assert_eq!(v[k], before[k], "{k}");
        }
    }

    #[test]
    fn rootless_edits_replace_any_user_ns_and_strip_id_options() {
        let mut v = serde_json::json!({
            "linux": {"namespaces": [{"type": "user", "path": "/proc/1/ns/user"}, {"type": "network"}, {"type": "pid"}]},
            "mounts": [
                {"destination": "/sys/", "type": "sysfs", "source": "sysfs"},
                {"destination": "/x", "type": "tmpfs", "source": "tmpfs", "options": ["uid=1", "mode=755", "gid=2"]}
            ]
        });
        super::to_rootless(&mut v, 0, 0);
        assert_eq!(
            v["linux"]["namespaces"],
            serde_json::json!([{"type": "pid"}, {"type": "user"}])
        );
        assert_eq!(v["mounts"][0]["type"], "none");
        assert_eq!(v["mounts"][1]["options"], serde_json::json!(["mode=755"]));
    }

    #[test]
    fn rootless_spec_maps_the_effective_ids() {
        let v = super::default_spec(true);
        let euid = nix::unistd::geteuid().as_raw();
        let egid = nix::unistd::getegid().as_raw();
        assert_eq!(v["linux"]["uidMappings"][0]["hostID"], euid);
        assert_eq!(v["linux"]["gidMappings"][0]["hostID"], egid);
    }
}
