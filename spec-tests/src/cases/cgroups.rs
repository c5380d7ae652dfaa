//! cgroups through the lifecycle: limits written before the payload runs,
//! `update`, `events --stats`, OOM reporting, and no cgroup left after
//! delete. The host side reads the container's cgroup from /proc/PID/cgroup,
//! so the cases hold for any runtime, on cgroup v1, hybrid and v2 hosts.

use super::util::{host_cgroup_v2, start_waiting};
use crate::harness::case::{case, Case, CGROUP};
use crate::harness::{config, Bundle, Ctx, Fail, TestResult};
use crate::{ensure, ensure_eq};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub const CASES: &[Case] = &[
    case("cgroup_limits_update_stats", limits_update_stats).tagged(&[CGROUP]),
    case("cgroup_oom_event", oom_event).tagged(&[CGROUP]),
    case("cgroup_device_deny_default", device_deny_default).tagged(&[CGROUP]),
];

pub(super) fn set_resources(b: &mut Bundle, v: serde_json::Value) -> TestResult {
    let r = serde_json::from_value(v).map_err(|e| Fail::Fail(format!("resources: {e}")))?;
    config::linux_mut(&mut b.spec).set_resources(Some(r));
    Ok(())
}

/// The host directory of `pid`'s cgroup in the v1 hierarchy of `controller`.
pub(super) fn cgroup_dir(pid: i64, controller: &str) -> Result<PathBuf, Fail> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
        .map_err(|e| Fail::Fail(format!("read /proc/{pid}/cgroup: {e}")))?;
    let path = text
        .lines()
        .filter_map(|l| {
            let mut f = l.splitn(3, ':');
            let (_, ctrls, path) = (f.next()?, f.next()?, f.next()?);
            ctrls
                .split(',')
                .any(|x| x == controller)
                .then(|| path.to_string())
        })
        .next()
        .ok_or_else(|| Fail::Skip(format!("no v1 {controller} hierarchy on this host")))?;
    Ok(PathBuf::from("/sys/fs/cgroup")
        .join(controller)
        .join(path.trim_start_matches('/')))
}

/// The host directory of `pid`'s cgroup in the v2 hierarchy.
pub(super) fn cgroup2_dir(pid: i64) -> Result<PathBuf, Fail> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
        .map_err(|e| Fail::Fail(format!("read /proc/{pid}/cgroup: {e}")))?;
    let path = text
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .ok_or_else(|| Fail::Fail(format!("no v2 entry in /proc/{pid}/cgroup: {text:?}")))?;
    Ok(PathBuf::from("/sys/fs/cgroup").join(path.trim_start_matches('/')))
}

/// The files holding a container's memory, pids and cpu limits, the cpu
/// file's content for quota 50000 and period 100000, and the container's
/// cgroup directories.
struct LimitFiles {
    memory: PathBuf,
    pids: PathBuf,
    cpu: PathBuf,
    cpu_want: &'static str,
    dirs: Vec<PathBuf>,
}

fn limit_files(pid: i64) -> Result<LimitFiles, Fail> {
    if host_cgroup_v2() {
        let dir = cgroup2_dir(pid)?;
        return Ok(LimitFiles {
            memory: dir.join("memory.max"),
            pids: dir.join("pids.max"),
            cpu: dir.join("cpu.max"),
            cpu_want: "50000 100000",
            dirs: vec![dir],
        });
    }
    let (mem, pids, cpu) = (
        cgroup_dir(pid, "memory")?,
        cgroup_dir(pid, "pids")?,
        cgroup_dir(pid, "cpu")?,
    );
    Ok(LimitFiles {
        memory: mem.join("memory.limit_in_bytes"),
        pids: pids.join("pids.max"),
        cpu: cpu.join("cpu.cfs_quota_us"),
        cpu_want: "50000",
        dirs: vec![mem, pids, cpu],
    })
}

pub(super) fn read_trim(p: &Path) -> Result<String, Fail> {
    std::fs::read_to_string(p)
        .map(|s| s.trim().to_string())
        .map_err(|e| Fail::Fail(format!("read {}: {e}", p.display())))
}

/// Starts `c1` of `b` waiting, with memory 64 MiB, pids 20 and a CPU quota
/// of 50000 per 100000 µs (the limits the update cases change).
pub(super) fn start_with_limits(ctx: &Ctx, b: &mut Bundle) -> TestResult {
    set_resources(
        b,
        serde_json::json!({"memory": {"limit": 67108864}, "pids": {"limit": 20},
                           "cpu": {"quota": 50000, "period": 100000}}),
    )?;
    start_waiting(ctx, "c1", b)
}

fn limits_update_stats(ctx: &Ctx) -> TestResult {
    let mut b = ctx.bundle("b")?;
    start_with_limits(ctx, &mut b)?;
    let pid = ctx.state("c1")?["pid"].as_i64().unwrap_or(0);
    let files = limit_files(pid)?;
    ensure_eq!(read_trim(&files.memory)?, "67108864", "memory limit");
    ensure_eq!(read_trim(&files.pids)?, "20", "pids limit");
    ensure_eq!(read_trim(&files.cpu)?, files.cpu_want, "cpu quota");
    ctx.rt(&["update", "--memory", "128M", "c1"])?.ok()?;
    ensure_eq!(
        read_trim(&files.memory)?,
        "134217728",
        "memory limit after update"
    );
    let out = ctx.rt(&["events", "--stats", "c1"])?.ok()?;
    let ev: serde_json::Value = serde_json::from_str(out.stdout.trim())
        .map_err(|e| Fail::Fail(format!("events --stats is not JSON ({e}): {}", out.stdout)))?;
    ensure_eq!(ev["type"], "stats", "event type");
    ensure!(
        ev["data"]["memory"]["usage"]["usage"].as_u64().unwrap_or(0) > 0,
        "no memory usage: {ev}"
    );
    ensure!(
        ev["data"]["pids"]["current"].as_u64().unwrap_or(0) >= 1,
        "no pids usage: {ev}"
    );
    ctx.delete_force("c1")?;
    if let Some(d) = files.dirs.iter().find(|d| d.exists()) {
        return Err(Fail::Fail(format!(
            "cgroup {} left after delete",
            d.display()
        )));
    }
    Ok(())
}

fn oom_event(ctx: &Ctx) -> TestResult {
    let mut b = ctx.bundle("b")?;
    set_resources(
        &mut b,
        serde_json::json!({"memory": {"limit": 16777216, "swap": 16777216}}),
    )?;
    start_waiting(ctx, "c1", &mut b)?;
    let events = ctx.spawn(&["events", "--interval", "30s", "c1"])?;
    std::thread::sleep(Duration::from_millis(300));
    ctx.rt(&["exec", "c1", "tail", "/dev/zero"])?.code(137)?;
    let start = Instant::now();
    while !events.stdout_now().contains("\"oom\"") {
        ensure!(
            start.elapsed() < Duration::from_secs(5),
            "no oom event: {:?}",
            events.stdout_now()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    ctx.delete_force("c1")?;
    let _ = events.wait(Duration::from_secs(1));
    Ok(())
}

/// A config that denies a device of the default set (/dev/null) after its
/// deny-all gets it denied; the other defaults stay usable. runc 1.1
/// appends its defaults after the config's rules, which re-allows it.
fn device_deny_default(ctx: &Ctx) -> TestResult {
    let mut b = ctx.bundle("b")?;
    set_resources(
        &mut b,
        serde_json::json!({"devices": [
            {"allow": false, "access": "rwm"},
            {"allow": false, "type": "c", "major": 1, "minor": 3, "access": "rwm"}]}),
    )?;
    config::set_args(
        &mut b.spec,
        &[
            "/bin/sh",
            "-c",
            "head -c 4 /dev/zero | wc -c; (echo x >/dev/null) 2>/dev/null && echo null-writable || echo null-denied",
        ],
    );
    let out = ctx.run("c1", &b)?.ok()?;
    let res = (|| {
        ensure_eq!(out.stdout.trim(), "4\nnull-denied", "container output");
        Ok(())
    })();
    super::util::known_runc_1_1_gap(
        ctx,
        "default devices appended after the config's rules",
        res,
    )
}
