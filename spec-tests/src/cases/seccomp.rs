//! `linux.seccomp` in real containers: a custom profile's errno actions
//! under a permissive and a deny-by-default profile, a kill action, Docker's
//! default profile, malformed profiles, the recorded client configs
//! (configs.rs) and SCMP_ACT_NOTIFY with a seccomp agent (notify.rs).

mod configs;
mod notify;

use super::errors::create_fails;
use super::util::sh;
use crate::ensure;
use crate::harness::case::{case, Case, CGROUPV2};
use crate::harness::{config, fixtures, Bundle, Ctx, Facts, Fail, TestResult};

pub const CASES: &[Case] = &[
    case("seccomp_errno_actions", errno_actions).tagged(&[CGROUPV2]),
    case("seccomp_default_errno", default_errno),
    case("seccomp_kill_process", kill_process).tagged(&[CGROUPV2]),
    case("seccomp_profile_blocks_close_range", blocks_close_range),
    case("seccomp_docker_profile", docker_profile).tagged(&[CGROUPV2]),
    case("seccomp_malformed_profiles", malformed_profiles),
    case("seccomp_config_docker", configs::docker),
    case("seccomp_config_podman", configs::podman),
    case("seccomp_config_containerd", configs::containerd),
    case("seccomp_notify_run", notify::run),
    case("seccomp_notify_exec", notify::exec),
    case("seccomp_notify_errors", notify::errors),
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

/// A profile written before close_range existed (or one that blocks it):
/// everything the runtime does after loading the filter must survive it, in
/// the init (with and without noNewPrivileges) and in exec.
fn blocks_close_range(ctx: &Ctx) -> TestResult {
    for nnp in [false, true] {
        let mut b = ctx.bundle(&format!("b{nnp}"))?;
        set_seccomp(
            &mut b,
            serde_json::json!({
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"names": ["close_range"], "action": "SCMP_ACT_ERRNO"}]
            }),
        )?;
        config::process_mut(&mut b.spec).set_no_new_privileges(Some(nnp));
        let id = format!("c{nnp}");
        super::util::start_waiting(ctx, &id, &mut b)?;
        let out = ctx.rt(&["exec", &id, "/bin/echo", "exec-ok"])?.ok()?;
        ensure!(
            out.stdout.contains("exec-ok"),
            "exec output: {}",
            out.stdout
        );
        ctx.delete_force(&id)?;
    }
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

/// Docker's real profile (from the config Docker 20.10 passed to the runtime).
fn docker_profile(ctx: &Ctx) -> TestResult {
    let v = fixtures::config(fixtures::DOCKER)?;
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

/// What a static binary (the checker, or runc's Go init on the way to
/// execve) needs with a deny-by-default profile: memory, signals, threads,
/// files, exec and exit. Neither mkdir nor unlink is among them.
pub(super) const BASE_ALLOW: &[&str] = &[
    "access",
    "arch_prctl",
    "brk",
    "capget",
    "capset",
    "chdir",
    "clone",
    "close",
    "close_range",
    "dup",
    "dup2",
    "dup3",
    "epoll_create1",
    "epoll_ctl",
    "epoll_pwait",
    "epoll_wait",
    "execve",
    "exit",
    "exit_group",
    "faccessat",
    "faccessat2",
    "fchdir",
    "fcntl",
    "fstat",
    "fstatfs",
    "futex",
    "getcwd",
    "getdents64",
    "getegid",
    "geteuid",
    "getgid",
    "getpid",
    "getppid",
    "getrandom",
    "getrlimit",
    "gettid",
    "getuid",
    "ioctl",
    "lseek",
    "madvise",
    "mmap",
    "mprotect",
    "munmap",
    "nanosleep",
    "newfstatat",
    "open",
    "openat",
    "pipe2",
    "poll",
    "ppoll",
    "prctl",
    "pread64",
    "prlimit64",
    "read",
    "readlink",
    "readlinkat",
    "rseq",
    "rt_sigaction",
    "rt_sigprocmask",
    "rt_sigreturn",
    "sched_getaffinity",
    "sched_yield",
    "set_robust_list",
    "set_tid_address",
    "setgid",
    "setgroups",
    "setuid",
    "sigaltstack",
    "stat",
    "statx",
    "tgkill",
    "uname",
    "write",
    "writev",
];

/// Default ERRNO (EPERM) with an allow list; mkdir/mkdirat → EACCES by rule,
/// unlink falls to the default (EPERM), getpid is allowed.
fn default_errno(ctx: &Ctx) -> TestResult {
    let mut b = ctx.bundle("b")?;
    set_seccomp(
        &mut b,
        serde_json::json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
            "syscalls": [
                {"names": BASE_ALLOW, "action": "SCMP_ACT_ALLOW"},
                {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": libc::EACCES}
            ]
        }),
    )?;
    let victim = b.rootfs().join("tmp/f");
    std::fs::write(&victim, "x").map_err(|e| Fail::Fail(format!("write {victim:?}: {e}")))?;
    let args = [
        "seccomp",
        "+",
        "sys",
        "mkdir:/tmp/d",
        "+",
        "sys",
        "mkdirat:/tmp/d",
    ];
    let more = ["+", "sys", "unlink:/tmp/f", "+", "sys", "getpid"];
    let f = ctx.check(&mut b, &[&args[..], &more[..]].concat())?;
    f.expect("seccomp", "2")?;
    f.expect("sys:mkdir", &format!("err:{}", libc::EACCES))?;
    f.expect("sys:mkdirat", &format!("err:{}", libc::EACCES))?;
    f.expect("sys:unlink", &format!("err:{}", libc::EPERM))?;
    f.expect("sys:getpid", "1")?;
    ensure!(victim.exists(), "unlink went through");
    ensure!(!b.rootfs().join("tmp/d").exists(), "mkdir went through");
    Ok(())
}

/// Each malformed profile fails `create` with exit 1 and an error naming the
/// field (runc names the bad value instead), leaving nothing behind.
fn malformed_profiles(ctx: &Ctx) -> TestResult {
    let rule = |extra: serde_json::Value| {
        let mut r = serde_json::json!({"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"});
        for (k, v) in extra.as_object().into_iter().flatten() {
            r[k] = v.clone();
        }
        serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [r]})
    };
    let cases = [
        (
            rule(serde_json::json!({"action": "SCMP_ACT_FOO"})),
            // runc: "string SCMP_ACT_FOO is not a valid action for seccomp"
            &["SCMP_ACT_FOO", "syscalls[0].action|not a valid action"][..],
        ),
        (
            rule(serde_json::json!({"args": [{"index": 0, "value": 1, "op": "SCMP_CMP_FOO"}]})),
            &[
                "SCMP_CMP_FOO",
                "syscalls[0].args[0].op|not a valid operator",
            ][..],
        ),
        (
            rule(serde_json::json!({"args": [{"index": 7, "value": 1, "op": "SCMP_CMP_EQ"}]})),
            // runc (libseccomp-golang): "syscalls only have up to 6 arguments (7 given)"
            &["syscalls[0].args[0].index|up to 6 arguments", "7"][..],
        ),
    ];
    for (i, (profile, words)) in cases.into_iter().enumerate() {
        let b = ctx.bundle(&format!("b{i}"))?;
        // Typed config structs would refuse the unknown enum values.
        let json = config::to_json(&b.spec)?;
        let mut v: serde_json::Value =
            serde_json::from_str(&json).map_err(|e| Fail::Fail(e.to_string()))?;
        v["linux"]["seccomp"] = profile;
        std::fs::write(b.dir.join("config.json"), v.to_string())
            .map_err(|e| Fail::Fail(format!("write config: {e}")))?;
        create_fails(ctx, &b, words).map_err(|e| match e {
            Fail::Fail(m) => Fail::Fail(format!("profile {i}: {m}")),
            other => other,
        })?;
    }
    Ok(())
}

/// Fail unless fact `key` is a non-negative number (the call was allowed).
fn expect_success(f: &Facts, key: &str) -> TestResult {
    let v = f.get(key)?;
    ensure!(
        v.parse::<i64>().is_ok(),
        "{key}: got {v:?}, want a return value"
    );
    Ok(())
}
