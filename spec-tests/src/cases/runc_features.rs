//! Features of current runc (1.2+) that runc 1.1 does not have:
//! `process.scheduler`, `process.ioPriority`, `linux.personality`, for the
//! init and for exec'd processes, and each one's bad input (exit 1, one
//! error naming the field, nothing left). runc 1.1.x ignores all three
//! fields: there a failing check is a documented skip (never a pass)
//! saying what runc did. Also `process.execCPUAffinity` (exec only, as the
//! spec says) and `linux.intelRdt` without resctrl: refused.

use super::util::{
    expect_error, expect_gone, expect_nothing_left, go, is_runc_1_1, until_go, write_patched,
};
use crate::ensure;
use crate::harness::case::{case, Case};
use crate::harness::{config, Bundle, Ctx, Facts, Fail, TestResult};
use serde_json::{json, Value};
use std::time::Duration;

pub const CASES: &[Case] = &[
    case("runc_feat_scheduler", scheduler),
    case("runc_feat_scheduler_bad_input", scheduler_bad_input),
    case("runc_feat_io_priority", io_priority),
    case("runc_feat_io_priority_bad_input", io_priority_bad_input),
    case("runc_feat_personality", personality),
    case("runc_feat_personality_bad_input", personality_bad_input),
    case("runc_feat_intel_rdt_absent", intel_rdt_absent),
    case("runc_feat_exec_cpu_affinity", exec_cpu_affinity),
    case(
        "runc_feat_exec_cpu_affinity_bad_input",
        exec_cpu_affinity_bad_input,
    ),
];

/// A fresh bundle (a case makes several).
pub(super) fn bundle(ctx: &Ctx) -> Result<Bundle, Fail> {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    ctx.bundle(&format!("b{n}"))
}

/// On runc 1.1, which predates `field`, a failure becomes a skip.
pub(super) fn newer_than_1_1(ctx: &Ctx, field: &str, res: TestResult) -> TestResult {
    match res {
        Err(Fail::Fail(m)) if is_runc_1_1(ctx) => Err(Fail::Skip(format!(
            "runc 1.1 ignores {field} (runc 1.2+ implements it): {m}"
        ))),
        other => other,
    }
}

/// `run` of the checker with `args` under the patched config.
pub(super) fn check_patched(
    ctx: &Ctx,
    patches: &[(&str, Value)],
    args: &[&str],
) -> Result<Facts, Fail> {
    let mut b = bundle(ctx)?;
    config::set_checker(&mut b.spec, args);
    write_patched(&b, patches)?;
    let out = ctx.rt(&["run", "--bundle", b.path(), "c1"])?.ok()?;
    Ok(Facts::parse(&out.stdout))
}

/// Creates and starts `c1` (a payload waiting for `go`) under the patched
/// config, runs `f`, then lets the payload finish and deletes it.
pub(super) fn with_running(
    ctx: &Ctx,
    patches: &[(&str, Value)],
    f: impl FnOnce(&Ctx) -> TestResult,
) -> TestResult {
    let mut b = bundle(ctx)?;
    until_go(&mut b);
    write_patched(&b, patches)?;
    ctx.rt(&["create", "--bundle", b.path(), "c1"])?.ok()?;
    ctx.rt(&["start", "c1"])?.ok()?;
    ctx.wait_status("c1", "running", Duration::from_secs(10))?;
    let res = f(ctx);
    go(&b)?;
    ctx.delete_force("c1")?;
    res
}

/// `exec` of the checker with `args` in `c1`, from the container's process
/// (no `process`) or from a process.json with `extra` members.
pub(super) fn exec_check(ctx: &Ctx, args: &[&str], extra: Option<Value>) -> Result<Facts, Fail> {
    let mut argv = vec![config::CHECKER];
    argv.extend_from_slice(args);
    let out = match extra {
        None => {
            let mut cmd = vec!["exec", "c1"];
            cmd.extend_from_slice(&argv);
            ctx.rt(&cmd)?
        }
        Some(extra) => {
            let mut p = json!({"args": argv, "env": [config::PATH_ENV], "cwd": "/",
                "user": {"uid": 0, "gid": 0}});
            for (k, v) in extra.as_object().into_iter().flatten() {
                p[k] = v.clone();
            }
            let path = ctx.path("process.json");
            std::fs::write(&path, p.to_string()).map_err(|e| Fail::Fail(e.to_string()))?;
            ctx.rt(&["exec", "--process", &path.display().to_string(), "c1"])?
        }
    };
    Ok(Facts::parse(&out.ok()?.stdout))
}

/// `exec c1 ARGS` (the container's process otherwise); its stdout.
pub(super) fn exec_check_cmd(ctx: &Ctx, args: &[&str]) -> Result<String, Fail> {
    let mut cmd = vec!["exec", "c1"];
    cmd.extend_from_slice(args);
    Ok(ctx.rt(&cmd)?.ok()?.stdout)
}

/// `create` under the patched config must fail: exit 1, one error line
/// naming `words` (also in the JSON log), and nothing left behind.
pub(super) fn refused(ctx: &Ctx, patches: &[(&str, Value)], words: &[&str]) -> TestResult {
    let b = bundle(ctx)?;
    write_patched(&b, patches)?;
    let (out, log) = ctx.rt_logged(&["create", "--bundle", b.path(), "c1"])?;
    if out.code == 0 {
        let _ = ctx.delete_force("c1");
        return Err(Fail::Fail(format!(
            "create with {patches:?} succeeded (want exit 1 naming {words:?})"
        )));
    }
    expect_error(&out, &log, words)?;
    expect_gone(ctx, "c1")?;
    expect_nothing_left(ctx, "c1", &b)
}

/// `features` lists annotation `key` as "true" (berth only: the features
/// schema has no slot for these, runc lists nothing).
fn features_annotation(ctx: &Ctx, key: &str) -> TestResult {
    let version = ctx.rt(&["--version"])?.stdout;
    if !version.starts_with("berth") {
        return Ok(());
    }
    let out = ctx.rt(&["features"])?.ok()?;
    let v: Value = serde_json::from_str(&out.stdout).map_err(|e| format!("features: {e}"))?;
    ensure!(
        v["annotations"][key] == "true",
        "features annotation {key}: {}",
        v["annotations"][key]
    );
    Ok(())
}

/// SCHED_BATCH, nice 7 and reset-on-fork (the spec's flag name) for the
/// init; exec without a process.json gets the container's scheduler, with
/// one gets its own (SCHED_IDLE).
fn scheduler(ctx: &Ctx) -> TestResult {
    let res = (|| {
        let s = json!({"policy": "SCHED_BATCH", "nice": 7, "flags": ["SCHED_FLAG_RESET_ON_FORK"]});
        let f = check_patched(ctx, &[("/process/scheduler", s.clone())], &["sched"])?;
        f.expect("sched.policy", "3")?;
        f.expect("sched.nice", "7")?;
        f.expect("sched.flags", "1")?;
        with_running(ctx, &[("/process/scheduler", s)], |ctx| {
            let f = exec_check(ctx, &["sched"], None)?;
            f.expect("sched.policy", "3")?;
            f.expect("sched.nice", "7")?;
            let idle = json!({"scheduler": {"policy": "SCHED_IDLE"}});
            exec_check(ctx, &["sched"], Some(idle))?.expect("sched.policy", "5")
        })
    })();
    newer_than_1_1(ctx, "process.scheduler", res)?;
    features_annotation(ctx, "io.github.berth.process.scheduler")
}

fn scheduler_bad_input(ctx: &Ctx) -> TestResult {
    let bad = [
        (json!({"policy": "SCHED_FOO"}), "process.scheduler"),
        (json!({"policy": "SCHED_OTHER", "nice": 20}), "nice"),
        (json!({"policy": "SCHED_FIFO", "priority": 0}), "priority"),
        (json!({"policy": "SCHED_BATCH", "runtime": 1000}), "runtime"),
        (
            json!({"policy": "SCHED_RR", "priority": 5, "flags": ["SCHED_FLAG_NOPE"]}),
            "flags|SCHED_FLAG_NOPE",
        ),
    ];
    let res = bad.into_iter().try_for_each(|(s, word)| {
        refused(
            ctx,
            &[("/process/scheduler", s)],
            &["process.scheduler", word],
        )
    });
    newer_than_1_1(ctx, "process.scheduler", res)
}

/// IOPRIO_CLASS_BE level 6 for the init and for exec from the container's
/// process; a process.json's own (IOPRIO_CLASS_IDLE) for exec.
fn io_priority(ctx: &Ctx) -> TestResult {
    let res = (|| {
        let p = json!({"class": "IOPRIO_CLASS_BE", "priority": 6});
        let f = check_patched(ctx, &[("/process/ioPriority", p.clone())], &["ioprio"])?;
        f.expect("ioprio.class", "2")?;
        f.expect("ioprio.level", "6")?;
        with_running(ctx, &[("/process/ioPriority", p)], |ctx| {
            let f = exec_check(ctx, &["ioprio"], None)?;
            f.expect("ioprio.class", "2")?;
            f.expect("ioprio.level", "6")?;
            let idle = json!({"ioPriority": {"class": "IOPRIO_CLASS_IDLE", "priority": 0}});
            exec_check(ctx, &["ioprio"], Some(idle))?.expect("ioprio.class", "3")
        })
    })();
    newer_than_1_1(ctx, "process.ioPriority", res)?;
    features_annotation(ctx, "io.github.berth.process.ioPriority")
}

fn io_priority_bad_input(ctx: &Ctx) -> TestResult {
    let bad = [
        (
            json!({"class": "IOPRIO_CLASS_BE", "priority": 8}),
            "priority",
        ),
        (
            json!({"class": "IOPRIO_CLASS_BE", "priority": -1}),
            "priority",
        ),
        (
            json!({"class": "IOPRIO_CLASS_REALTIME", "priority": 0}),
            "class|IOPRIO_CLASS_REALTIME",
        ),
    ];
    let res = bad.into_iter().try_for_each(|(p, word)| {
        refused(
            ctx,
            &[("/process/ioPriority", p)],
            &["process.ioPriority|ioPriority", word],
        )
    });
    newer_than_1_1(ctx, "process.ioPriority", res)
}

/// LINUX32 for the init (uname -m says i686) and for every exec'd process.
fn personality(ctx: &Ctx) -> TestResult {
    let res = (|| {
        let p = json!({"domain": "LINUX32"});
        let f = check_patched(ctx, &[("/linux/personality", p.clone())], &["personality"])?;
        f.expect("personality", "0x8")?;
        f.expect("machine", "i686")?;
        with_running(ctx, &[("/linux/personality", p)], |ctx| {
            let f = exec_check(ctx, &["personality"], None)?;
            f.expect("personality", "0x8")?;
            f.expect("machine", "i686")
        })
    })();
    newer_than_1_1(ctx, "linux.personality", res)?;
    let f = check_patched(
        ctx,
        &[("/linux/personality", json!({"domain": "LINUX"}))],
        &["personality"],
    )?;
    f.expect("personality", "0x0")?;
    features_annotation(ctx, "io.github.berth.linux.personality")
}

fn personality_bad_input(ctx: &Ctx) -> TestResult {
    let res = refused(
        ctx,
        &[("/linux/personality", json!({"domain": "LINUX64"}))],
        &["personality", "LINUX64"],
    );
    newer_than_1_1(ctx, "linux.personality", res)
}

/// `linux.intelRdt` on a host without a resctrl filesystem: refused by
/// name (runc too: "Intel RDT is not enabled"/"not supported or enabled"),
/// and `features` says `linux.intelRdt.enabled` false where it lists it
/// (runc 1.1.5 does not).
fn intel_rdt_absent(ctx: &Ctx) -> TestResult {
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    if mounts
        .lines()
        .any(|l| l.split_whitespace().nth(2) == Some("resctrl"))
    {
        return Err(Fail::Skip("resctrl is mounted on this host".into()));
    }
    let rdt = json!({"closID": "berth-test", "l3CacheSchema": "L3:0=f"});
    refused(
        ctx,
        &[("/linux/intelRdt", rdt)],
        &["intelRdt", "not enabled|not supported"],
    )?;
    let out = ctx.rt(&["features"])?.ok()?;
    let v: Value = serde_json::from_str(&out.stdout).map_err(|e| format!("features: {e}"))?;
    let rdt = &v["linux"]["intelRdt"];
    ensure!(
        rdt.is_null() || rdt["enabled"] == json!(false),
        "features linux.intelRdt without resctrl: {rdt}"
    );
    Ok(())
}

/// The host's CPU list ("0-1"), from the runtime-side process.
fn host_cpus() -> Result<String, Fail> {
    let text = std::fs::read_to_string("/proc/self/status").map_err(|e| format!("status: {e}"))?;
    text.lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .map(|v| v.trim().to_string())
        .ok_or_else(|| Fail::Fail("no Cpus_allowed_list".into()))
}

/// execCPUAffinity applies to exec'd processes only: the container's
/// (final "1") for an exec without its own, a process.json's own
/// (initial "1", final "0") otherwise, initial alone stays; the init keeps
/// the host's mask (runtime-spec: not applicable to the init).
fn exec_cpu_affinity(ctx: &Ctx) -> TestResult {
    let all = host_cpus()?;
    if !all.starts_with("0-") {
        return Err(Fail::Skip(format!("needs 2 or more CPUs (have {all})")));
    }
    let res = (|| {
        let a = json!({"final": "1"});
        with_running(ctx, &[("/process/execCPUAffinity", a)], |ctx| {
            exec_check(ctx, &["affinity"], None)?.expect("cpus", "1")?;
            let own = json!({"execCPUAffinity": {"initial": "1", "final": "0"}});
            exec_check(ctx, &["affinity"], Some(own))?.expect("cpus", "0")?;
            let initial = json!({"execCPUAffinity": {"initial": "1"}});
            exec_check(ctx, &["affinity"], Some(initial))?.expect("cpus", "1")
        })?;
        let f = check_patched(
            ctx,
            &[("/process/execCPUAffinity", json!({"final": "1"}))],
            &["affinity"],
        )?;
        f.expect("cpus", &all)
    })();
    newer_than_1_1(ctx, "process.execCPUAffinity", res)?;
    features_annotation(ctx, "io.github.berth.process.execCPUAffinity")
}

fn exec_cpu_affinity_bad_input(ctx: &Ctx) -> TestResult {
    let bad = [
        (json!({"final": "0-99999"}), "final"),
        (json!({"initial": "a-b"}), "execCPUAffinity"),
        (json!({"initial": "3-1"}), "initial"),
    ];
    let res = bad.into_iter().try_for_each(|(a, word)| {
        refused(
            ctx,
            &[("/process/execCPUAffinity", a)],
            &["execCPUAffinity", word],
        )
    });
    newer_than_1_1(ctx, "process.execCPUAffinity", res)
}
