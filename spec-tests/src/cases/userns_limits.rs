//! What changes for sysctls, rlimits and oom_score_adj with user
//! namespaces (issue 13 §2):
//!
//! - `user.*` sysctls (the user namespace's ucounts) are the container's
//!   own with a user namespace: set inside, the host's unchanged (current
//!   runc, 1.5+; runc 1.1 refuses every `user.*` key: a documented skip);
//!   without one they would be the host's: refused naming the key.
//! - A runtime running as root on the host sets the rlimits and the
//!   oom_score_adj of a container in a new user namespace, for the init
//!   and for exec: within its own limits always; above its hard limit and
//!   below its oom_score_adj only with CAP_SYS_RESOURCE on the host (runc
//!   sets both from outside, where the container's namespace does not
//!   confine it), else a clear error (this VM's root lacks the capability).
//! - A rootless runtime (nobody, its single self-map) sets what an
//!   unprivileged user may: lower hard limits, a higher oom_score_adj; an
//!   rlimit above its hard limit or an oom_score_adj below its own (both
//!   need CAP_SYS_RESOURCE on the host) fails with exit 1 and an error
//!   naming the rlimit or oom_score_adj, nothing left.

use super::rootless::{try_rootless_edited, Ids};
use super::runc_features::{exec_check, refused};
use super::userns::{run_userns, running, write_userns_with};
use super::userns_security::create_fails;
use super::util::{expect_error, is_berth, is_runc_1_1};
use crate::harness::case::{case, Case};
use crate::harness::cmd::Out;
use crate::harness::{config, read, Ctx, Facts, Fail, TestResult};
use crate::{ensure, ensure_eq};
use serde_json::{json, Value};

pub const CASES: &[Case] = &[
    case("userns_sysctl_user_keys", sysctl_user_keys),
    case(
        "userns_sysctl_user_without_userns",
        sysctl_user_without_userns,
    ),
    case("userns_rlimit_oom_within", rlimit_oom_within),
    case("userns_rlimit_oom_beyond_runtime", rlimit_oom_beyond),
    case("rootless_rlimit_oom_within_limits", rootless_within_limits),
    case(
        "rootless_rlimit_above_hard_refused",
        rootless_rlimit_refused,
    ),
    case("rootless_oom_score_adj_lower_refused", rootless_oom_refused),
];

const MAX_USERNS: &str = "/proc/sys/user/max_user_namespaces";

fn read_trim(path: &str) -> Result<String, Fail> {
    let v = std::fs::read_to_string(path).map_err(|e| format!("read {path}: {e}"))?;
    Ok(v.trim().to_string())
}

/// The host's `user.max_user_namespaces` is still `before`.
fn host_unchanged(before: &str) -> TestResult {
    ensure_eq!(
        read_trim(MAX_USERNS)?,
        before,
        "the host's user.max_user_namespaces"
    );
    Ok(())
}

/// `user.max_user_namespaces` 7 and `user.max_inotify_instances` 64 in a
/// new user namespace: the container reads its values, the host keeps its.
fn sysctl_user_keys(ctx: &Ctx) -> TestResult {
    let before = read_trim(MAX_USERNS)?;
    let mut b = ctx.bundle("b")?;
    config::set_checker(
        &mut b.spec,
        &[
            "sysctl",
            "user.max_user_namespaces",
            "+",
            "sysctl",
            "user.max_inotify_instances",
        ],
    );
    let sysctl = json!({"user.max_user_namespaces": "7", "user.max_inotify_instances": "64"});
    let res = (|| {
        let out = run_userns(ctx, &b, &[("/linux/sysctl", sysctl)])?;
        let f = Facts::parse(&out.stdout);
        f.expect("sysctl:user.max_user_namespaces", "7")?;
        f.expect("sysctl:user.max_inotify_instances", "64")
    })();
    host_unchanged(&before)?;
    match res {
        Err(Fail::Fail(m)) if is_runc_1_1(ctx) => Err(Fail::Skip(format!(
            "runc 1.1 predates user.* sysctls (runc 1.5+ allows them with a user namespace): {m}"
        ))),
        other => other,
    }
}

/// Without a user namespace a `user.*` key would set the host's ucounts:
/// refused naming the key (berth: and the user namespace, runc 1.5's
/// `setting ucounts without a user namespace not allowed`), nothing left.
fn sysctl_user_without_userns(ctx: &Ctx) -> TestResult {
    let before = read_trim(MAX_USERNS)?;
    let sysctl = json!({"user.max_user_namespaces": "7"});
    let words: &[&str] = if is_berth(ctx) {
        &["linux.sysctl", "user.max_user_namespaces", "user namespace"]
    } else {
        &["user.max_user_namespaces"]
    };
    refused(ctx, &[("/linux/sysctl", sysctl)], words)?;
    host_unchanged(&before)
}

/// The runtime's own RLIMIT_NOFILE hard limit (the harness's, inherited).
fn own_nofile_hard() -> Result<u64, Fail> {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit fills a struct we own.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) } != 0 {
        return Err(Fail::Fail(format!(
            "getrlimit: {}",
            std::io::Error::last_os_error()
        )));
    }
    Ok(r.rlim_max)
}

/// A NOFILE hard limit `extra` above the runtime's own, if the kernel
/// allows one that high (fs.nr_open).
fn nofile_above(extra: u64) -> Result<u64, Fail> {
    let want = own_nofile_hard()? + extra;
    let nr_open: u64 = read_trim("/proc/sys/fs/nr_open")?.parse().unwrap_or(0);
    if want > nr_open {
        return Err(Fail::Skip(format!(
            "the runtime's hard limit is too close to fs.nr_open {nr_open}"
        )));
    }
    Ok(want)
}

fn nofile(soft: u64, hard: u64) -> Value {
    json!([{"type": "RLIMIT_NOFILE", "soft": soft, "hard": hard}])
}

/// Whether this process (and so the runtime it starts) has
/// CAP_SYS_RESOURCE: on this VM not even root has it.
fn have_sys_resource() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .is_some_and(|eff| eff & (1 << 24) != 0)
}

/// Root runtime, container in a new user namespace, limits any process
/// may set: RLIMIT_NOFILE 512:4096 and oom_score_adj 300 for the init
/// (also as the host sees it), an exec'd process's own 256:2048.
fn rlimit_oom_within(ctx: &Ctx) -> TestResult {
    let mut b = ctx.bundle("b")?;
    let extra = [
        ("/process/rlimits", nofile(512, 4096)),
        ("/process/oomScoreAdj", json!(300)),
    ];
    let script = format!("{} rlimits + oom", config::CHECKER);
    let out = running(ctx, &mut b, &script, &extra, |pid| {
        let adj = read_trim(&format!("/proc/{pid}/oom_score_adj"))?;
        ensure_eq!(adj, "300", "the init's oom_score_adj on the host");
        let own = json!({"rlimits": nofile(256, 2048)});
        let got = exec_check(ctx, &["rlimits"], Some(own))?;
        match got.expect("rlimit.NOFILE", "256:2048") {
            Err(Fail::Fail(m)) if is_runc_1_1(ctx) && got.get("rlimit.NOFILE")? == "2048:2048" => {
                Err(Fail::Skip(format!(
                    "runc 1.1's exec races Go's raise of the NOFILE soft limit to the hard one \
                     (runc#4195, fixed in later runc), and Go won this time: {m}"
                )))
            }
            other => other,
        }
    })?;
    let f = Facts::parse(&out);
    f.expect("rlimit.NOFILE", "512:4096")?;
    f.expect("oom_score_adj", "300")
}

/// Root runtime, container in a new user namespace: RLIMIT_NOFILE 10000
/// above the runtime's hard limit, oom_score_adj -500 below its 0. Both
/// need CAP_SYS_RESOURCE on the host, which the container's init lacks
/// (runc sets them from outside). With it: set, for the init and for an
/// exec'd process's own limit; without it (this VM): exit 1 naming the
/// rlimit, and oom_score_adj, nothing left.
fn rlimit_oom_beyond(ctx: &Ctx) -> TestResult {
    let init = nofile_above(10_000)?;
    let exec = nofile_above(5_000)?;
    if !have_sys_resource() {
        return beyond_refused(ctx, init);
    }
    let mut b = ctx.bundle("b")?;
    let extra = [
        ("/process/rlimits", nofile(init, init)),
        ("/process/oomScoreAdj", json!(-500)),
    ];
    let script = format!("{} rlimits + oom", config::CHECKER);
    let out = running(ctx, &mut b, &script, &extra, |pid| {
        let adj = read_trim(&format!("/proc/{pid}/oom_score_adj"))?;
        ensure_eq!(adj, "-500", "the init's oom_score_adj on the host");
        let own = json!({"rlimits": nofile(exec, exec)});
        let f = exec_check(ctx, &["rlimits"], Some(own))?;
        f.expect("rlimit.NOFILE", &format!("{exec}:{exec}"))
    })?;
    let f = Facts::parse(&out);
    f.expect("rlimit.NOFILE", &format!("{init}:{init}"))?;
    f.expect("oom_score_adj", "-500")
}

/// `rlimit_oom_beyond` where the runtime lacks CAP_SYS_RESOURCE: each
/// refused (exit 1, nothing left) with an error naming it. runc (1.1.5 and
/// current) writes oom_score_adj from its nsexec stage and reports the
/// kernel's EACCES only in a fatal log record (`failed to update
/// /proc/self/oom_score_adj`), its error line being `can't get final
/// child's PID from pipe: EOF`: there that line is a documented skip.
fn beyond_refused(ctx: &Ctx, hard: u64) -> TestResult {
    let berth = is_berth(ctx);
    let b = ctx.bundle("rlimit")?;
    write_userns_with(&b, &[("/process/rlimits", nofile(1024, hard))])?;
    let (out, log) = create_fails(ctx, &b)?;
    let words: &[&str] = if berth {
        &["process.rlimits", "RLIMIT_NOFILE", "CAP_SYS_RESOURCE"]
    } else {
        &["RLIMIT_NOFILE|rlimit type 7"]
    };
    expect_error(&out, &log, words)?;
    let b = ctx.bundle("oom")?;
    write_userns_with(&b, &[("/process/oomScoreAdj", json!(-500))])?;
    let (out, log) = create_fails(ctx, &b)?;
    let text = read(&log)?;
    ensure!(
        text.lines().any(|l| l.contains("oom_score_adj")),
        "no log record names oom_score_adj: {text}"
    );
    let words: &[&str] = if berth {
        &["process.oomScoreAdj", "oom_score_adj", "CAP_SYS_RESOURCE"]
    } else {
        &["oom_score_adj"]
    };
    match expect_error(&out, &log, words) {
        Err(Fail::Fail(m)) if !berth => Err(Fail::Skip(format!(
            "runc reports a refused oom_score_adj only in a fatal log record of nsexec \
             (its error line names no field): {m}"
        ))),
        other => other,
    }
}

/// `run` of the checker's rlimits and oom_score_adj as nobody, rootless,
/// with `rlimits` and `adj` in bundle `name`; its state in a directory of
/// nobody's, removed afterwards.
fn run_as_nobody(ctx: &Ctx, name: &str, rlimits: Value, adj: i64) -> Result<Out, Fail> {
    let root =
        std::env::temp_dir().join(format!("spec-nobody-limits-{}-{name}", std::process::id()));
    std::fs::create_dir(&root).map_err(|e| format!("mkdir {root:?}: {e}"))?;
    let res = try_rootless_edited(ctx, &root, name, &Ids::nobody_self_map(), |v| {
        v["process"]["args"] = json!([config::CHECKER, "rlimits", "+", "oom"]);
        v["process"]["rlimits"] = rlimits;
        v["process"]["oomScoreAdj"] = json!(adj);
    });
    let _ = std::fs::remove_dir_all(&root);
    res
}

/// What nobody may set: a lower NOFILE limit pair, a higher oom_score_adj.
fn rootless_within_limits(ctx: &Ctx) -> TestResult {
    let out = run_as_nobody(ctx, "b", nofile(512, 4096), 300)?.ok()?;
    let f = Facts::parse(&out.stdout);
    f.expect("rlimit.NOFILE", "512:4096")?;
    f.expect("oom_score_adj", "300")
}

/// `out` failed with exit 1 and stderr names all `words`.
fn expect_failed(out: &Out, words: &[&str]) -> TestResult {
    ensure!(
        out.code == 1 && super::util::contains_all(&out.stderr, words),
        "exit {} (want 1), stderr {:?} (want {words:?})",
        out.code,
        out.stderr.trim()
    );
    Ok(())
}

/// RLIMIT_NOFILE above nobody's hard limit: exit 1 naming the rlimit
/// (runc: `error setting rlimit type 7: operation not permitted`).
fn rootless_rlimit_refused(ctx: &Ctx) -> TestResult {
    let hard = nofile_above(10_000)?;
    let out = run_as_nobody(ctx, "b", nofile(1024, hard), 0)?;
    if is_berth(ctx) {
        expect_failed(
            &out,
            &["process.rlimits", "RLIMIT_NOFILE", "CAP_SYS_RESOURCE"],
        )
    } else {
        expect_failed(&out, &["RLIMIT_NOFILE|rlimit type 7"])
    }
}

/// oom_score_adj -300, below nobody's 0: exit 1 naming oom_score_adj.
fn rootless_oom_refused(ctx: &Ctx) -> TestResult {
    let out = run_as_nobody(ctx, "b", nofile(1024, 1024), -300)?;
    if is_berth(ctx) {
        expect_failed(
            &out,
            &["process.oomScoreAdj", "oom_score_adj", "CAP_SYS_RESOURCE"],
        )
    } else {
        expect_failed(&out, &["oom_score_adj"])
    }
}
