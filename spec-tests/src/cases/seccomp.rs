//! `linux.seccomp` in real containers: a custom profile's errno actions, a
//! kill action, and Docker's default profile from the shared fixtures.

use super::util::sh;
use crate::harness::{config, Bundle, Ctx, Fail, TestResult};
use crate::{ensure, CaseFn};

pub const CASES: &[(&str, CaseFn)] = &[
    ("seccomp_errno_actions", errno_actions),
    ("seccomp_kill_process", kill_process),
    ("seccomp_docker_profile", docker_profile),
];

fn set_seccomp(b: &mut Bundle, v: serde_json::Value) -> TestResult {
    let s = serde_json::from_value(v).map_err(|e| Fail::Fail(format!("seccomp profile: {e}")))?;
    config::linux_mut(&mut b.spec).set_seccomp(Some(s));
    Ok(())
}

/// Default ALLOW; mkdir → EACCES (errnoRet 13); unlink → EPERM (the default).
fn errno_actions(ctx: &Ctx) -> TestResult {
    let mut b = ctx.bundle("b")?;
    set_seccomp(
        &mut b,
        serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
            "syscalls": [
                {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
                {"names": ["unlink", "unlinkat"], "action": "SCMP_ACT_ERRNO"}
            ]
        }),
    )?;
    sh(
        &mut b,
        "grep Seccomp: /proc/self/status; mkdir /tmp/d 2>&1; touch /tmp/f; rm /tmp/f 2>&1; echo pid=$$",
    );
    let out = ctx.run("c1", &b)?.ok()?;
    let o = &out.stdout;
    ensure!(o.contains("Seccomp:\t2"), "no filter in the container: {o}");
    ensure!(
        o.contains("Permission denied"),
        "mkdir did not get EACCES: {o}"
    );
    ensure!(
        o.contains("Operation not permitted"),
        "unlink did not get EPERM: {o}"
    );
    ensure!(o.contains("pid=1"), "getpid failed: {o}");
    Ok(())
}

/// KILL_PROCESS on getppid: the payload dies of SIGSYS (exit 128+31).
fn kill_process(ctx: &Ctx) -> TestResult {
    let mut b = ctx.bundle("b")?;
    set_seccomp(
        &mut b,
        serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_KILL_PROCESS"}]
        }),
    )?;
    sh(&mut b, "echo $PPID");
    ctx.run("c1", &b)?.code(128 + libc::SIGSYS)?;
    Ok(())
}

/// Docker's real profile (from a config Docker 20.10 passed to runc).
fn docker_profile(ctx: &Ctx) -> TestResult {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/fixtures/configs/docker-20.10-busybox.json"
    );
    let text =
        std::fs::read_to_string(path).map_err(|e| Fail::Fail(format!("read {path}: {e}")))?;
    let v: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| Fail::Fail(e.to_string()))?;
    let mut b = ctx.bundle("b")?;
    set_seccomp(&mut b, v["linux"]["seccomp"].clone())?;
    sh(
        &mut b,
        "grep Seccomp: /proc/self/status; unshare -U true 2>&1; echo ok",
    );
    let out = ctx.run("c1", &b)?.ok()?;
    let o = &out.stdout;
    ensure!(o.contains("Seccomp:\t2"), "no filter in the container: {o}");
    ensure!(
        o.contains("Operation not permitted"),
        "unshare was not refused: {o}"
    );
    ensure!(o.contains("ok"), "the shell did not run to the end: {o}");
    Ok(())
}
