//! The suite's systemd mode (`BERTH_SPEC_SYSTEMD=1`, run under a systemd
//! PID 1 by `make test-systemd`): every runtime call carries the global
//! `--systemd-cgroup`, and every bundle gets the cgroupsPath
//! `system.slice:berth-spec:<case>-<bundle>`, so its container runs in the
//! transient unit `berth-spec-<case>-<bundle>.scope` whose cgroup is
//! `system.slice/berth-spec-<case>-<bundle>.scope` in systemd's tree
//! (`tree()`: /sys/fs/cgroup on cgroup v2) and, on v1, in every
//! hierarchy. The names
//! carry the case's directory (`c<N>`), so a unit a case leaves is found and
//! stopped by the harness like a leftover container.

use super::{stuck, Fail};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// The environment variable that turns the mode on (value `1`).
pub const ENV: &str = "BERTH_SPEC_SYSTEMD";

/// The slice the cases' scopes go to, and their unit name prefix.
pub const SLICE: &str = "system.slice";
pub const PREFIX: &str = "berth-spec";

/// Whether the suite runs in systemd mode.
pub fn enabled() -> bool {
    std::env::var(ENV).is_ok_and(|v| v == "1")
}

/// The `slice:prefix:name` cgroupsPath of a container named `name`.
pub fn cgroups_path(name: &str) -> String {
    format!("{SLICE}:{PREFIX}:{name}")
}

/// The scope unit systemd makes for `cgroups_path(name)`.
pub fn unit(name: &str) -> String {
    format!("{PREFIX}-{name}.scope")
}

/// Where systemd keeps its cgroup tree: /sys/fs/cgroup on a pure v2 host,
/// the cgroup2 mount /sys/fs/cgroup/unified on a hybrid one, the named v1
/// hierarchy /sys/fs/cgroup/systemd on a legacy one.
pub fn tree() -> &'static Path {
    let v2 = Path::new("/sys/fs/cgroup");
    if v2.join("cgroup.controllers").exists() {
        return v2;
    }
    let unified = Path::new("/sys/fs/cgroup/unified");
    if unified.join("cgroup.controllers").exists() {
        return unified;
    }
    Path::new("/sys/fs/cgroup/systemd")
}

/// Whether the controllers are cgroup v1 (a hybrid or legacy host).
pub fn v1() -> bool {
    !Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
}

/// The cgroup directory of `unit(name)` in systemd's tree.
pub fn scope_dir(name: &str) -> PathBuf {
    tree().join(SLICE).join(unit(name))
}

/// The directory of `unit(name)` in the v1 hierarchy of `controller`
/// (systemd links /sys/fs/cgroup/cpu to cpu,cpuacct and so on).
pub fn v1_scope_dir(controller: &str, name: &str) -> PathBuf {
    Path::new("/sys/fs/cgroup")
        .join(controller)
        .join(SLICE)
        .join(unit(name))
}

/// The scopes of the case whose directory is named `case` that still exist.
pub fn case_units(case: &str) -> Vec<String> {
    let lead = format!("{PREFIX}-{case}-");
    let Ok(rd) = std::fs::read_dir(tree().join(SLICE)) else {
        return Vec::new();
    };
    let mut v: Vec<String> = rd
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(&lead) && n.ends_with(".scope"))
        .collect();
    v.sort();
    v
}

/// Every unit systemd knows (loaded, active or not) whose name matches the
/// glob `pattern` (`systemctl list-units --all`).
pub fn units_matching(pattern: &str) -> Result<Vec<String>, Fail> {
    let out = Command::new("systemctl")
        .args(["list-units", "--all", "--plain", "--no-legend", pattern])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| Fail::Fail(format!("systemctl list-units: {e}")))?;
    if !out.status.success() {
        return Err(Fail::Fail(format!(
            "systemctl list-units {pattern}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    Ok(text
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect())
}

/// `systemctl daemon-reload`: systemd reloads its units and reapplies
/// their cgroup properties.
pub fn daemon_reload() -> Result<(), String> {
    let out = Command::new("systemctl")
        .arg("daemon-reload")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("systemctl daemon-reload: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "systemctl daemon-reload: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(())
}

/// How long `systemctl stop` may take in the harness's cleanup: a scope
/// whose processes ignore SIGTERM is killed after TimeoutStopSec (90 s by
/// default), so this bound is only reached when something is stuck.
const STOP_LIMIT: Duration = Duration::from_secs(120);

/// `systemctl stop` the units, for the harness's cleanup; an error if it
/// fails or does not finish within STOP_LIMIT (then with what the units'
/// processes wait on).
pub fn stop(units: &[String]) -> Result<(), String> {
    if units.is_empty() {
        return Ok(());
    }
    let mut child = Command::new("systemctl")
        .arg("stop")
        .args(units)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("systemctl stop: {e}"))?;
    if !stuck::within(STOP_LIMIT, || matches!(child.try_wait(), Ok(Some(_)))) {
        let _ = child.kill();
        let pids: Vec<i32> = units.iter().flat_map(|u| unit_pids(u)).collect();
        return Err(format!(
            "systemctl stop {} did not finish within {STOP_LIMIT:?}; the units' processes: {}",
            units.join(" "),
            stuck::describe(&pids)
        ));
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("systemctl stop: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "systemctl stop {}: {}",
            units.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(())
}

/// The pids in the cgroup of `unit` (a scope in SLICE), for a report.
fn unit_pids(unit: &str) -> Vec<i32> {
    super::cgroup_procs(&tree().join(SLICE).join(unit))
}

/// A property of the service manager itself (`systemctl show -P`).
pub fn manager(property: &str) -> Result<String, Fail> {
    let out = Command::new("systemctl")
        .args(["show", "-P", property])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| Fail::Fail(format!("systemctl show -P {property}: {e}")))?;
    let v = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !out.status.success() || v.is_empty() {
        return Err(Fail::Fail(format!(
            "systemctl show -P {property}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(v)
}

/// The unit's `properties` as systemd reports them (`systemctl show`), in
/// order; a unit systemd does not know reports `LoadState=not-found`.
pub fn show(unit: &str, properties: &[&str]) -> Result<Vec<(String, String)>, Fail> {
    let out = Command::new("systemctl")
        .args(["show", unit, "-p", &properties.join(",")])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| Fail::Fail(format!("systemctl show {unit}: {e}")))?;
    if !out.status.success() {
        return Err(Fail::Fail(format!(
            "systemctl show {unit}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    Ok(properties
        .iter()
        .map(|p| {
            let v = text
                .lines()
                .find_map(|l| l.strip_prefix(p).and_then(|r| r.strip_prefix('=')))
                .unwrap_or("");
            (p.to_string(), v.to_string())
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_systemd_driver_rules() {
        assert_eq!(cgroups_path("c3-b"), "system.slice:berth-spec:c3-b");
        assert_eq!(unit("c3-b"), "berth-spec-c3-b.scope");
        assert_eq!(
            v1_scope_dir("memory", "c3-b"),
            Path::new("/sys/fs/cgroup/memory/system.slice/berth-spec-c3-b.scope")
        );
    }
}
