//! Writing `linux.resources` to a cgroup v2 directory, converting the v1
//! values of the spec as runc does, and enabling controllers in the
//! ancestors' cgroup.subtree_control.

use std::collections::HashMap;
use std::path::Path;

use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxHugepageLimit, LinuxMemory};

use super::convert::{self, v2_limit};
use super::error::{CgroupError, Result};
use super::fs;

const MEM: &str = "linux.resources.memory";

/// Enables `controllers` in cgroup.subtree_control of every directory from
/// the hierarchy root `mount` down to the parent of `leaf` (never in the leaf
/// itself: processes live there). A level that refuses the whole set (e.g.
/// an ancestor we do not own that holds processes) is retried controller by
/// controller, and what still fails is left to fail later, by name, when a
/// limit needs it. With `skip_root` the root's own file is left as it is
/// (a hybrid host's cgroup v2 root belongs to the host, not to berth).
pub fn enable(mount: &Path, leaf: &Path, controllers: &[&str], skip_root: bool) -> Result<()> {
    if controllers.is_empty() {
        return Ok(());
    }
    let all: Vec<String> = controllers.iter().map(|c| format!("+{c}")).collect();
    let line = all.join(" ");
    let Ok(rel) = leaf.strip_prefix(mount) else {
        return Err(CgroupError::NotUnder {
            leaf: leaf.to_path_buf(),
            mount: mount.to_path_buf(),
        });
    };
    let mut dir = mount.to_path_buf();
    let comps: Vec<_> = rel.components().collect();
    for (i, c) in comps.iter().enumerate() {
        if (i > 0 || !skip_root) && fs::write_io(&dir, "cgroup.subtree_control", &line).is_err() {
            for one in &all {
                if let Err(e) = fs::write_io(&dir, "cgroup.subtree_control", one) {
                    tracing::debug!(dir = %dir.display(), controller = %one, "cannot enable controller: {e}");
                }
            }
        }
        if i + 1 < comps.len() {
            dir.push(c);
        }
    }
    Ok(())
}

/// Whether the hierarchy root `mount` already enables `controller` for its
/// children (on a hybrid host: whether the host delegates it to cgroup v2).
pub fn root_delegates(mount: &Path, controller: &str) -> bool {
    fs::read(mount, "cgroup.subtree_control")
        .is_ok_and(|s| s.split_whitespace().any(|c| c == controller))
}

/// memory: limit → memory.max, swap → memory.swap.max (swap - limit),
/// reservation → memory.low. v1-only settings are logged and skipped, as runc.
#[allow(deprecated)] // `kernel` is deprecated in the spec.
pub fn memory(dir: &Path, m: &LinuxMemory, fresh: bool) -> Result<()> {
    let limit = m.limit().unwrap_or(0);
    let swap = convert::swap_to_v2(m.swap().unwrap_or(0), limit)?;
    if limit > 0 && m.check_before_update() == Some(true) && !fresh {
        super::v1::check_usage(dir, "memory.current", limit)?;
    }
    if swap != 0 {
        match fs::write_io(dir, "memory.swap.max", &v2_limit(swap)) {
            Err(e) if fs::is_missing(&e) && swap == -1 => {}
            Err(e) if fs::is_missing(&e) => {
                return Err(CgroupError::invalid(
                    format!("{MEM}.swap"),
                    "swap accounting is not available on this host (no memory.swap.max)",
                ))
            }
            Err(source) => {
                return Err(fs::write_error(
                    &format!("{MEM}.swap"),
                    dir,
                    "memory.swap.max",
                    &v2_limit(swap),
                    source,
                ))
            }
            Ok(()) => {}
        }
    }
    if limit != 0 {
        fs::write(dir, "memory.max", &v2_limit(limit), &format!("{MEM}.limit"))?;
    }
    if let Some(r) = m.reservation().filter(|&r| r != 0) {
        fs::write(
            dir,
            "memory.low",
            &v2_limit(r),
            &format!("{MEM}.reservation"),
        )?;
    }
    let ignored = [
        ("kernel", m.kernel().is_some()),
        ("kernelTCP", m.kernel_tcp().is_some()),
        ("swappiness", m.swappiness().is_some()),
        ("disableOOMKiller", m.disable_oom_killer() == Some(true)),
    ];
    for (name, set) in ignored {
        if set {
            tracing::warn!("{MEM}.{name}: has no cgroup v2 equivalent; ignored");
        }
    }
    Ok(())
}

/// cpu: shares → cpu.weight, quota/period → cpu.max, burst → cpu.max.burst,
/// idle → cpu.idle. Realtime settings have no v2 equivalent: an error.
pub fn cpu(dir: &Path, c: &LinuxCpu) -> Result<()> {
    const F: &str = "linux.resources.cpu";
    if c.realtime_runtime().unwrap_or(0) != 0 || c.realtime_period().unwrap_or(0) != 0 {
        return Err(CgroupError::invalid(
            format!("{F}.realtimeRuntime/realtimePeriod"),
            "realtime scheduling limits are not supported on cgroup v2",
        ));
    }
    if let Some(w) = c
        .shares()
        .map(convert::shares_to_weight)
        .filter(|&w| w != 0)
    {
        fs::write(dir, "cpu.weight", &w.to_string(), &format!("{F}.shares"))?;
    }
    if let Some(i) = c.idle() {
        fs::write(dir, "cpu.idle", &i.to_string(), &format!("{F}.idle"))?;
    }
    let burst = |dir: &Path| -> Result<()> {
        match c.burst() {
            Some(b) => fs::write(dir, "cpu.max.burst", &b.to_string(), &format!("{F}.burst")),
            None => Ok(()),
        }
    };
    if let Some(max) = convert::cpu_max(c.quota().unwrap_or(0), c.period().unwrap_or(0)) {
        match fs::write_io(dir, "cpu.max", &max) {
            // A quota below the current burst is refused: burst first.
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) && c.burst().is_some() => {
                burst(dir)?;
                return fs::write(dir, "cpu.max", &max, &format!("{F}.quota"));
            }
            Err(source) => {
                return Err(fs::write_error(
                    &format!("{F}.quota"),
                    dir,
                    "cpu.max",
                    &max,
                    source,
                ))
            }
            Ok(()) => {}
        }
    }
    burst(dir)
}

/// io: weight → io.bfq.weight (same scale) or io.weight (converted), device
/// weights likewise, throttles → io.max. Leaf weights have no v2 equivalent.
pub fn io(dir: &Path, b: &LinuxBlockIo) -> Result<()> {
    const F: &str = "linux.resources.blockIO";
    if let Some(w) = b.weight().filter(|&w| w != 0) {
        io_weight(dir, None, w, &format!("{F}.weight"))?;
    }
    for d in b.weight_device().iter().flatten() {
        if let Some(w) = d.weight() {
            let dev = format!("{}:{}", d.major(), d.minor());
            io_weight(dir, Some(&dev), w, &format!("{F}.weightDevice"))?;
        }
        if d.leaf_weight().is_some() {
            tracing::warn!("{F}.weightDevice.leafWeight: has no cgroup v2 equivalent; ignored");
        }
    }
    if b.leaf_weight().is_some() {
        tracing::warn!("{F}.leafWeight: has no cgroup v2 equivalent; ignored");
    }
    let throttles = [
        (
            b.throttle_read_bps_device(),
            "rbps",
            "throttleReadBpsDevice",
        ),
        (
            b.throttle_write_bps_device(),
            "wbps",
            "throttleWriteBpsDevice",
        ),
        (
            b.throttle_read_iops_device(),
            "riops",
            "throttleReadIOPSDevice",
        ),
        (
            b.throttle_write_iops_device(),
            "wiops",
            "throttleWriteIOPSDevice",
        ),
    ];
    for (list, key, name) in throttles {
        for d in list.iter().flatten() {
            let v = format!("{}:{} {key}={}", d.major(), d.minor(), d.rate());
            fs::write(dir, "io.max", &v, &format!("{F}.{name}"))?;
        }
    }
    Ok(())
}

fn io_weight(dir: &Path, dev: Option<&str>, w: u16, field: &str) -> Result<()> {
    let prefix = dev.map(|d| format!("{d} ")).unwrap_or_default();
    let bfq = format!("{prefix}{w}");
    match fs::write_io(dir, "io.bfq.weight", &bfq) {
        Err(e) if fs::is_missing(&e) => {
            let v = format!("{prefix}{}", convert::blkio_weight_to_io_weight(w));
            fs::write(dir, "io.weight", &v, field)
        }
        Err(source) => Err(fs::write_error(field, dir, "io.bfq.weight", &bfq, source)),
        Ok(()) => Ok(()),
    }
}

/// cpuset.cpus / cpuset.mems (same files as v1).
pub fn cpuset(dir: &Path, c: &LinuxCpu) -> Result<()> {
    super::v1::cpuset(dir, c)
}

/// hugetlb: `hugetlb.<size>.max`, and `.rsvd.max` where the kernel has it.
pub fn hugetlb(dir: &Path, limits: &[LinuxHugepageLimit], known: &[String]) -> Result<()> {
    for l in limits {
        let size = l.page_size();
        convert::check_page_size(size, known)?;
        let v = v2_limit(l.limit());
        let field = format!("linux.resources.hugepageLimits[{size}]");
        fs::write(dir, &format!("hugetlb.{size}.max"), &v, &field)?;
        match fs::write_io(dir, &format!("hugetlb.{size}.rsvd.max"), &v) {
            Err(e) if !fs::is_missing(&e) => {
                return Err(CgroupError::Io {
                    context: format!(
                        "{field}: write {v:?} to hugetlb.{size}.rsvd.max in {}",
                        dir.display()
                    ),
                    source: e,
                })
            }
            _ => {}
        }
    }
    Ok(())
}

/// The controller a `unified` key belongs to ("memory.high" → "memory",
/// "cgroup.freeze" → None for core files), refusing keys that are not a
/// plain file name.
pub fn unified_controller(key: &str) -> Result<Option<&str>> {
    if key.is_empty() || key.contains('/') || key == "." || key == ".." || !key.contains('.') {
        return Err(CgroupError::invalid(
            "linux.resources.unified",
            format!("invalid key {key:?} (want a file name such as \"memory.high\")"),
        ));
    }
    let ctrl = key.split('.').next().unwrap_or("");
    if ctrl == "cgroup" && !CGROUP_LIMITS.contains(&key) {
        // cgroup.procs, cgroup.threads, cgroup.subtree_control, cgroup.kill,
        // cgroup.freeze, cgroup.type…: writing them moves, kills or freezes
        // processes, or reshapes the tree, instead of setting a limit.
        return Err(CgroupError::invalid(
            "linux.resources.unified",
            format!(
                "{key:?} is not a resource file (of the cgroup.* files only {} set limits)",
                CGROUP_LIMITS.join(" and ")
            ),
        ));
    }
    Ok((ctrl != "cgroup").then_some(ctrl))
}

/// The core cgroup files that are limits, and so allowed in `unified`.
const CGROUP_LIMITS: &[&str] = &["cgroup.max.depth", "cgroup.max.descendants"];

/// Writes the `unified` key/values (after everything else, so they win).
pub fn unified(dir: &Path, map: &HashMap<String, String>) -> Result<()> {
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort();
    for k in keys {
        let v = &map[k];
        let field = format!("linux.resources.unified.{k}");
        match fs::write_io(dir, k, v) {
            Err(e) if fs::is_missing(&e) => {
                return Err(CgroupError::invalid(
                    field,
                    format!(
                        "no such cgroup file in {} (is its controller enabled on this host?)",
                        dir.display()
                    ),
                ))
            }
            Err(source) => return Err(fs::write_error(&field, dir, k, v, source)),
            Ok(()) => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unified_keys_are_plain_files() {
        assert_eq!(unified_controller("memory.high").unwrap(), Some("memory"));
        assert_eq!(
            unified_controller("hugetlb.2MB.max").unwrap(),
            Some("hugetlb")
        );
        assert_eq!(unified_controller("cgroup.max.depth").unwrap(), None);
        assert_eq!(unified_controller("cgroup.max.descendants").unwrap(), None);
        for bad in [
            "",
            "..",
            "../memory.max",
            "a/b.c",
            "nodot",
            "tasks",
            "cgroup.procs",
            "cgroup.threads",
            "cgroup.subtree_control",
            "cgroup.kill",
            "cgroup.freeze",
            "cgroup.type",
        ] {
            assert!(unified_controller(bad).is_err(), "{bad}");
        }
    }

    /// A fake hierarchy in a scratch directory: `enable` with `skip_root`
    /// writes every level below the root and leaves the root's file alone.
    #[test]
    fn enable_skip_root_leaves_the_root() {
        let mount = std::env::temp_dir().join(format!("berth-v2-enable-{}", std::process::id()));
        let leaf = mount.join("a/b/leaf");
        std::fs::create_dir_all(&leaf).unwrap();
        for d in [&mount, &mount.join("a"), &mount.join("a/b")] {
            std::fs::write(d.join("cgroup.subtree_control"), "").unwrap();
        }
        std::fs::write(mount.join("cgroup.subtree_control"), "memory").unwrap();
        enable(&mount, &leaf, &["hugetlb"], true).unwrap();
        let read = |d: &Path| std::fs::read_to_string(d.join("cgroup.subtree_control")).unwrap();
        assert_eq!(read(&mount), "memory");
        assert_eq!(read(&mount.join("a")), "+hugetlb");
        assert_eq!(read(&mount.join("a/b")), "+hugetlb");
        assert!(!leaf.join("cgroup.subtree_control").exists());
        assert!(root_delegates(&mount, "memory"));
        assert!(!root_delegates(&mount, "hugetlb"));
        enable(&mount, &leaf, &["hugetlb"], false).unwrap();
        assert_eq!(read(&mount), "+hugetlb");
        std::fs::remove_dir_all(&mount).unwrap();
    }
}
