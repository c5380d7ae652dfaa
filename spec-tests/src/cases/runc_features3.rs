//! runc 1.2+ features run positively, policy by policy (issue 12 §3):
//! `process.scheduler` with SCHED_FIFO and SCHED_RR (priorities),
//! SCHED_DEADLINE (runtime, deadline, period), SCHED_BATCH and SCHED_OTHER
//! with a nice value and SCHED_IDLE, for the init and for exec'd processes
//! with a scheduler of their own, checked inside (`sched_getattr`) and as
//! the host sees the init (/proc/PID/stat: nice, rt_priority, policy); and
//! `linux.personality` flags with the LINUX32 domain.
//!
//! Realtime policies and the cpu cgroup: where the kernel schedules
//! realtime tasks per group (CONFIG_RT_GROUP_SCHED, a cgroup v1 cpu
//! hierarchy with `cpu.rt_runtime_us`, as on this host) a new cgroup has no
//! realtime runtime and sched_setattr(SCHED_FIFO/RR) fails there with
//! EPERM. A config that gives the container's cgroup realtime runtime
//! (`linux.resources.cpu.realtimeRuntime`) runs; one that does not is
//! refused with an error naming the field (current runc: `error setting
//! scheduler: operation not permitted`). runc 1.1 ignores both fields: a
//! failing check is a documented skip there (never a pass).

use super::runc_features::{
    bundle, check_patched, exec_check, exec_check_cmd, newer_than_1_1, refused, with_running,
};
use super::util::{is_berth, skip_in_systemd_mode};
use crate::harness::case::{case, Case};
use crate::harness::{config, Ctx, Facts, Fail, TestResult};
use crate::{ensure, ensure_eq};
use serde_json::{json, Value};
use std::path::PathBuf;

pub const CASES: &[Case] = &[
    case("runc_feat_sched_fifo_rr", fifo_rr),
    case("runc_feat_sched_rt_without_runtime", rt_without_runtime),
    case("runc_feat_sched_deadline", deadline),
    case("runc_feat_sched_nice_batch_idle", nice_batch_idle),
    case("runc_feat_personality_flags", personality_flags),
];

/// Realtime runtime given to the container's cpu cgroup (of the default
/// 1 s period): 10%, enough for the checker to run unthrottled.
const RT_RUNTIME_US: u64 = 100_000;

/// The cgroup v1 cpu hierarchy's mount point, if realtime tasks are
/// scheduled per group there (its root has `cpu.rt_runtime_us`).
fn rt_group_cpu_mount() -> Option<PathBuf> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    info.lines().find_map(|l| {
        let (pre, post) = l.split_once(" - ")?;
        let mut post = post.split_whitespace();
        let (fstype, opts) = (post.next()?, post.nth(1)?);
        let point = PathBuf::from(pre.split_whitespace().nth(4)?);
        let cpu = fstype == "cgroup" && opts.split(',').any(|o| o == "cpu");
        (cpu && point.join("cpu.rt_runtime_us").exists()).then_some(point)
    })
}

/// Patches that give the container a cgroup with realtime runtime, where
/// the kernel needs it: a cgroupsPath of its own directly below the
/// hierarchy's root (a child of berth's default parent could get none,
/// the parent having none) and `realtimeRuntime`.
fn rt_patches(ctx: &Ctx) -> Vec<(&'static str, Value)> {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    if rt_group_cpu_mount().is_none() {
        return Vec::new();
    }
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = format!(
        "/berth-spec-rt-{}-{}-{n}",
        std::process::id(),
        ctx.case_name()
    );
    vec![
        ("/linux/cgroupsPath", json!(path)),
        (
            "/linux/resources",
            json!({"cpu": {"realtimeRuntime": RT_RUNTIME_US}}),
        ),
    ]
}

/// `patches` plus the scheduler `s`.
fn with_sched(mut patches: Vec<(&'static str, Value)>, s: &Value) -> Vec<(&'static str, Value)> {
    patches.push(("/process/scheduler", s.clone()));
    patches
}

/// (nice, rt_priority, policy) of host pid `pid`: fields 19, 40 and 41 of
/// /proc/PID/stat (counted after the command name, which may hold spaces).
fn host_sched(pid: i64) -> Result<(i64, i64, i64), Fail> {
    let path = format!("/proc/{pid}/stat");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("read {path}: {e}"))?;
    let rest = text.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    // f[0] is field 3 (state).
    let field = |n: usize| -> Result<i64, Fail> {
        f.get(n - 3)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| Fail::Fail(format!("{path}: no field {n} in {text:?}")))
    };
    Ok((field(19)?, field(40)?, field(41)?))
}

/// The running `c1`'s init as the host sees it.
fn expect_host_sched(ctx: &Ctx, want: (i64, i64, i64)) -> TestResult {
    let pid = ctx.state("c1")?["pid"].as_i64().unwrap_or(0);
    ensure!(pid > 0, "no pid in the state of c1");
    let got = host_sched(pid)?;
    ensure_eq!(
        got,
        want,
        "the init's (nice, rt_priority, policy) in /proc/PID/stat"
    );
    Ok(())
}

/// `sched.policy` and `sched.priority` facts.
fn expect_policy(f: &Facts, policy: &str, priority: &str) -> TestResult {
    f.expect("sched.policy", policy)?;
    f.expect("sched.priority", priority)
}

/// The running `c1`'s cpu cgroup has the realtime runtime asked for.
fn expect_rt_runtime(ctx: &Ctx) -> TestResult {
    let Some(mount) = rt_group_cpu_mount() else {
        return Ok(());
    };
    let pid = ctx.state("c1")?["pid"].as_i64().unwrap_or(0);
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
        .map_err(|e| format!("read /proc/{pid}/cgroup: {e}"))?;
    let rel = text
        .lines()
        .find_map(|l| {
            let mut p = l.splitn(3, ':');
            let (_, ctrls, path) = (p.next()?, p.next()?, p.next()?);
            ctrls.split(',').any(|c| c == "cpu").then_some(path)
        })
        .ok_or("the init has no cpu cgroup")?;
    let file = mount
        .join(rel.trim_start_matches('/'))
        .join("cpu.rt_runtime_us");
    let got = std::fs::read_to_string(&file).map_err(|e| format!("read {file:?}: {e}"))?;
    ensure_eq!(
        got.trim().to_string(),
        RT_RUNTIME_US.to_string(),
        file.display()
    );
    Ok(())
}

/// SCHED_FIFO priority 10 for the init (in a cpu cgroup with realtime
/// runtime where the kernel needs one), inherited by an exec without a
/// process.json; SCHED_RR priority 5 from an exec's own process.json.
fn fifo_rr(ctx: &Ctx) -> TestResult {
    skip_in_systemd_mode(
        ctx,
        "the case names a cgroupfs cgroupsPath to give the container realtime runtime",
    )?;
    let res = (|| {
        let fifo = json!({"policy": "SCHED_FIFO", "priority": 10});
        let f = check_patched(ctx, &with_sched(rt_patches(ctx), &fifo), &["sched"])?;
        expect_policy(&f, "1", "10")?;
        with_running(ctx, &with_sched(rt_patches(ctx), &fifo), |ctx| {
            expect_host_sched(ctx, (0, 10, 1))?;
            expect_rt_runtime(ctx)?;
            expect_policy(&exec_check(ctx, &["sched"], None)?, "1", "10")?;
            let rr = json!({"scheduler": {"policy": "SCHED_RR", "priority": 5}});
            expect_policy(&exec_check(ctx, &["sched"], Some(rr))?, "2", "5")
        })
    })();
    newer_than_1_1(ctx, "process.scheduler", res)
}

/// Where realtime tasks are scheduled per cpu cgroup, SCHED_FIFO in the
/// container's new cgroup without `realtimeRuntime`: the kernel refuses
/// (EPERM); create fails with one error naming the field and the errno
/// (berth also names `linux.resources.cpu.realtimeRuntime`), nothing left.
fn rt_without_runtime(ctx: &Ctx) -> TestResult {
    skip_in_systemd_mode(ctx, "systemd decides which cpu cgroup the scope gets")?;
    if rt_group_cpu_mount().is_none() {
        return Err(Fail::Skip(
            "no realtime group scheduling here (no cgroup v1 cpu.rt_runtime_us): \
             a realtime policy is not limited per cgroup"
                .into(),
        ));
    }
    let fifo = json!({"policy": "SCHED_FIFO", "priority": 10});
    let words: &[&str] = if is_berth(ctx) {
        &[
            "process.scheduler",
            "SCHED_FIFO",
            "not permitted",
            "linux.resources.cpu.realtimeRuntime",
        ]
    } else {
        &["scheduler", "not permitted"]
    };
    let res = refused(ctx, &[("/process/scheduler", fifo)], words);
    newer_than_1_1(ctx, "process.scheduler", res)
}

/// SCHED_DEADLINE (20 ms of every 100 ms) for the init; with reset-on-fork
/// (a deadline task may not fork otherwise; the waiting payload does) for
/// a running container, inherited by exec; an exec's own (10 ms of 50 ms)
/// in a container without a scheduler.
fn deadline(ctx: &Ctx) -> TestResult {
    let res = (|| {
        let dl = json!({"policy": "SCHED_DEADLINE", "runtime": 20_000_000u64,
            "deadline": 100_000_000u64, "period": 100_000_000u64});
        let f = check_patched(ctx, &[("/process/scheduler", dl.clone())], &["sched"])?;
        f.expect("sched.policy", "6")?;
        f.expect("sched.runtime", "20000000")?;
        f.expect("sched.deadline", "100000000")?;
        f.expect("sched.period", "100000000")?;
        let mut rof = dl;
        rof["flags"] = json!(["SCHED_FLAG_RESET_ON_FORK"]);
        with_running(ctx, &[("/process/scheduler", rof)], |ctx| {
            expect_host_sched(ctx, (0, 0, 6))?;
            let f = exec_check(ctx, &["sched"], None)?;
            f.expect("sched.policy", "6")?;
            f.expect("sched.flags", "1")
        })?;
        with_running(ctx, &[], |ctx| {
            let own = json!({"scheduler": {"policy": "SCHED_DEADLINE",
                "runtime": 10_000_000u64, "deadline": 50_000_000u64, "period": 50_000_000u64}});
            let f = exec_check(ctx, &["sched"], Some(own))?;
            f.expect("sched.policy", "6")?;
            f.expect("sched.runtime", "10000000")?;
            f.expect("sched.period", "50000000")?;
            exec_check(ctx, &["sched"], None)?.expect("sched.policy", "0")
        })
    })();
    newer_than_1_1(ctx, "process.scheduler", res)
}

/// SCHED_BATCH with nice -3 for the init (a negative nice needs
/// CAP_SYS_NICE, which the config does not grant: set before the drop),
/// inherited by exec; an exec's own SCHED_OTHER nice 5 and SCHED_IDLE.
fn nice_batch_idle(ctx: &Ctx) -> TestResult {
    let batch = json!({"policy": "SCHED_BATCH", "nice": -3});
    let res = with_running(ctx, &[("/process/scheduler", batch)], |ctx| {
        expect_host_sched(ctx, (-3, 0, 3))?;
        let f = exec_check(ctx, &["sched"], None)?;
        f.expect("sched.policy", "3")?;
        f.expect("sched.nice", "-3")?;
        let other = json!({"scheduler": {"policy": "SCHED_OTHER", "nice": 5}});
        let f = exec_check(ctx, &["sched"], Some(other))?;
        f.expect("sched.policy", "0")?;
        f.expect("sched.nice", "5")?;
        let idle = json!({"scheduler": {"policy": "SCHED_IDLE"}});
        exec_check(ctx, &["sched"], Some(idle))?.expect("sched.policy", "5")
    });
    newer_than_1_1(ctx, "process.scheduler", res)
}

/// `linux.personality` LINUX32 with flags: no flag is defined by the
/// runtime-spec (berth's features list none), so, as current runc, the
/// flags are ignored with a warning naming them and the domain alone is
/// set: busybox `uname -m` says i686 in the init and in an exec'd process,
/// and the persona is exactly PER_LINUX32 (ADDR_NO_RANDOMIZE not set).
fn personality_flags(ctx: &Ctx) -> TestResult {
    let p = json!({"domain": "LINUX32", "flags": ["ADDR_NO_RANDOMIZE"]});
    let res = (|| {
        let mut b = bundle(ctx)?;
        let script = format!("uname -m; {} personality", config::CHECKER);
        config::set_args(&mut b.spec, &["sh", "-c", &script]);
        super::util::write_patched(&b, &[("/linux/personality", p.clone())])?;
        let out = ctx.rt(&["run", "--bundle", b.path(), "c1"])?.ok()?;
        let first = out.stdout.lines().next().unwrap_or("");
        ensure_eq!(first, "i686", "uname -m in the init");
        Facts::parse(&out.stdout).expect("personality", "0x8")?;
        ensure!(
            super::util::contains_all(&out.stderr, &["personality", "ADDR_NO_RANDOMIZE"]),
            "no warning naming the ignored flag: stderr {:?}",
            out.stderr.trim()
        );
        with_running(ctx, &[("/linux/personality", p)], |ctx| {
            let m = exec_check_cmd(ctx, &["uname", "-m"])?;
            ensure_eq!(m.trim(), "i686", "uname -m in an exec'd process");
            Ok(())
        })
    })();
    newer_than_1_1(ctx, "linux.personality", res)
}
