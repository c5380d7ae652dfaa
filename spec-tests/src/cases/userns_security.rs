//! User namespaces (issue 13), what they must keep out: the escape classes
//! of `security.rs` run in a user namespace, capabilities that count only
//! in the host's namespace (module loading, the clock), the container's
//! own id maps, and bad mappings refused with a clear error and nothing
//! left. The mapping and helpers are `userns.rs`'s.

use super::security::{cwd_via_leaked_fd_with, init_exe_not_writable_with};
use super::userns::{
    namespaces_with_user, ns_inode, owner, proc_text, run_userns, running, write_userns,
    write_userns_with, MAP_LINE,
};
use super::util::{
    contains_all, expect_error, expect_gone, expect_nothing_left, is_runc_1_1, write_patched,
};
use crate::harness::case::{case, Case};
use crate::harness::cmd::Out;
use crate::harness::{config, read, Bundle, Ctx, Facts, Fail, TestResult};
use crate::{ensure, ensure_eq};
use serde_json::{json, Value};
use std::path::PathBuf;

pub const CASES: &[Case] = &[
    case(
        "userns_cve_2019_5736_init_exe_not_writable",
        cve_2019_5736_init_exe_not_writable,
    ),
    case(
        "userns_cve_2024_21626_cwd_via_leaked_fd",
        cve_2024_21626_cwd_via_leaked_fd,
    ),
    case("userns_cannot_write_own_uid_map", cannot_write_own_uid_map),
    case("userns_no_kernel_modules", no_kernel_modules),
    case("userns_bad_overlapping_mappings", bad_overlapping_mappings),
    case("userns_bad_mapping_size_zero", bad_mapping_size_zero),
    case("userns_bad_mapping_overflow", bad_mapping_overflow),
    case(
        "userns_bad_mappings_without_userns",
        bad_mappings_without_userns,
    ),
    case(
        "userns_bad_userns_without_mappings",
        bad_userns_without_mappings,
    ),
];

/// CVE-2019-5736 in a user namespace: the created init's /proc/PID/exe
/// cannot be opened for writing from the host either.
fn cve_2019_5736_init_exe_not_writable(ctx: &Ctx) -> TestResult {
    init_exe_not_writable_with(ctx, write_userns)
}

/// CVE-2024-21626 in a user namespace: `cwd: /proc/self/fd/N` never gives
/// the container a cwd outside its root. A refused config counts as safe
/// there, so first a userns container with an ordinary cwd must run.
fn cve_2024_21626_cwd_via_leaked_fd(ctx: &Ctx) -> TestResult {
    let mut b = ctx.bundle("plain")?;
    config::set_checker(&mut b.spec, &["cwd", "+", "ns", "user"]);
    let facts = Facts::parse(&run_userns(ctx, &b, &[])?.stdout);
    facts.expect("cwd", "/")?;
    let host = ns_inode("/proc/self/ns/user")?.to_string();
    ensure!(
        facts.get("ns:user")? != host,
        "the container runs in the host's user namespace"
    );
    cwd_via_leaked_fd_with(ctx, write_userns)
}

/// Tries to write a map over each of `files`; prints `FILE=STATUS` and the
/// shell's error (busybox: "sh: write error: Operation not permitted").
fn write_maps_script(files: &[&str]) -> String {
    files
        .iter()
        .map(|f| format!("{{ echo '0 0 4294967295' >{f}; }} 2>&1; echo {f}=$?\n"))
        .collect()
}

/// The outcome of `write_maps_script`: every write failed with EPERM.
fn maps_refused(stdout: &str, files: &[&str], who: &str) -> TestResult {
    let facts = Facts::parse(stdout);
    for f in files {
        let status = facts.get(f)?;
        ensure!(status != "0", "{who}: writing {f} succeeded");
    }
    let eperm = stdout.matches("Operation not permitted").count();
    ensure!(
        eperm == files.len(),
        "{who}: want {} EPERM errors, got {stdout:?}",
        files.len()
    );
    Ok(())
}

/// The container cannot rewrite its id maps once set (the kernel allows one
/// write, the runtime's): neither the init its own nor an exec'd process
/// its own or the init's. The maps stay as configured.
fn cannot_write_own_uid_map(ctx: &Ctx) -> TestResult {
    let mut b = ctx.bundle("b")?;
    let own = ["/proc/self/uid_map", "/proc/self/gid_map"];
    let all = [own[0], own[1], "/proc/1/uid_map", "/proc/1/gid_map"];
    let stdout = running(ctx, &mut b, &write_maps_script(&own), &[], |pid| {
        let args = ["exec", "c1", "sh", "-c", &write_maps_script(&all)];
        let out = ctx.rt(&args)?.ok()?;
        maps_refused(&out.stdout, &all, "exec'd process")?;
        for m in ["uid_map", "gid_map"] {
            let got = proc_text(&format!("/proc/{pid}/{m}"))?;
            ensure_eq!(got, MAP_LINE, format!("the init's {m} afterwards"));
        }
        Ok(())
    })?;
    maps_refused(&stdout, &own, "init")
}

/// Capabilities in effect: the base three plus SYS_MODULE and SYS_TIME.
const MODULE_CAPS: [&str; 5] = [
    "CAP_AUDIT_WRITE",
    "CAP_KILL",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_MODULE",
    "CAP_SYS_TIME",
];

/// `MODULE_CAPS` as /proc/self/status shows them.
const MODULE_CAPS_HEX: &str = "0000000022010420";

/// The checker's module and clock probes under `MODULE_CAPS`, with or
/// without the user namespace.
fn module_probes(ctx: &Ctx, userns: bool) -> Result<Facts, Fail> {
    let mut b = ctx.bundle(if userns { "userns" } else { "plain" })?;
    let args = [
        "sys",
        "init_module",
        "+",
        "sys",
        "finit_module",
        "+",
        "sys",
        "settimeofday",
        "+",
        "caps",
    ];
    config::set_checker(&mut b.spec, &args);
    let sets = json!({"bounding": MODULE_CAPS, "effective": MODULE_CAPS,
        "permitted": MODULE_CAPS});
    let patch = [("/process/capabilities", sets)];
    if userns {
        write_userns_with(&b, &patch)?;
    } else {
        write_patched(&b, &patch)?;
    }
    let out = ctx.rt(&["run", "--bundle", b.path(), "c1"])?.ok()?;
    Ok(Facts::parse(&out.stdout))
}

/// CAP_SYS_MODULE and CAP_SYS_TIME given to a userns container count only
/// in its own namespace: loading a module (init_module, finit_module) and
/// setting the clock fail with EPERM. Without the user namespace the same
/// config passes the capability checks (the calls are harmless: an empty
/// image is ENOEXEC, fd -1 EBADF, settimeofday without time or zone a
/// no-op), which tells EPERM apart from the kernel's other answers. On a
/// kernel built without module support both get ENOSYS; then the clock
/// probe alone shows the capabilities are namespaced.
fn no_kernel_modules(ctx: &Ctx) -> TestResult {
    let plain = module_probes(ctx, false)?;
    plain.expect("sys:settimeofday", "0")?;
    let no_modules = plain.get("sys:init_module")? == "err:38";
    for call in ["init_module", "finit_module"] {
        let got = plain.get(&format!("sys:{call}"))?;
        ensure!(got != "err:1", "{call} without a user namespace: EPERM");
    }
    let facts = module_probes(ctx, true)?;
    facts.expect("cap.eff", MODULE_CAPS_HEX)?;
    facts.expect("sys:settimeofday", "err:1")?;
    let want = if no_modules { "err:38" } else { "err:1" };
    facts.expect("sys:init_module", want)?;
    facts.expect("sys:finit_module", want)
}

/// Whether the runtime is runc (any version).
fn is_runc(ctx: &Ctx) -> bool {
    ctx.rt(&["--version"])
        .map(|o| o.stdout.starts_with("runc version"))
        .unwrap_or(false)
}

/// `create` of `b` (config written) must fail with exit 1 and leave nothing;
/// returns its output and JSON log.
pub(super) fn create_fails(ctx: &Ctx, b: &Bundle) -> Result<(Out, PathBuf), Fail> {
    let (out, log) = ctx.rt_logged(&["create", "--bundle", b.path(), "c1"])?;
    if out.code == 0 {
        ctx.delete_force("c1")?;
        return Err(Fail::Fail("create succeeded".into()));
    }
    ensure!(
        out.code == 1,
        "create exited {} (want 1): {}",
        out.code,
        out.stderr.trim()
    );
    expect_gone(ctx, "c1")?;
    expect_nothing_left(ctx, "c1", b)?;
    Ok((out, log))
}

/// A mapping the kernel refuses, as `field` (`uidMappings`, `gidMappings`):
/// exit 1, nothing left, and a JSON log record naming the map (the field
/// or the kernel's file) and `reason`; then the error line (stderr and the
/// last error record) names them too.
///
/// runc (1.1.5 and current) writes the map from its nsexec stage and only
/// logs the kernel's answer, as a `fatal` record `nsexec-0[N]: failed to
/// update /proc/N/uid_map: Invalid argument`; its error line is `unable to
/// start container process: can't get final child's PID from pipe: EOF`.
/// So on runc the error-line check is a documented skip (after the rest
/// passed).
fn bad_map(ctx: &Ctx, name: &str, field: &str, map: Value, reason: &str) -> TestResult {
    let b = ctx.bundle(name)?;
    write_userns_with(&b, &[(&format!("/linux/{field}"), map.clone())])?;
    let (out, log) = create_fails(ctx, &b).map_err(|e| match e {
        Fail::Fail(m) => Fail::Fail(format!("{field} {map}: {m}")),
        skip => skip,
    })?;
    let file = if field.starts_with("uid") {
        "uid_map"
    } else {
        "gid_map"
    };
    let named = format!("{field}|{file}");
    let text = read(&log)?;
    ensure!(
        text.lines().any(|l| contains_all(l, &[&named, reason])),
        "no log record names {named} and {reason}: {text}"
    );
    let res = expect_error(&out, &log, &[&named, reason]);
    match res {
        Err(Fail::Fail(m)) if is_runc(ctx) => Err(Fail::Skip(format!(
            "runc reports a map the kernel refuses only in a fatal log record of \
             nsexec (its error line names no field): {m}"
        ))),
        other => other,
    }
}

/// Overlapping container ranges, in uidMappings, then in gidMappings.
fn bad_overlapping_mappings(ctx: &Ctx) -> TestResult {
    let map = json!([
        {"containerID": 0, "hostID": 100000, "size": 65536},
        {"containerID": 1000, "hostID": 300000, "size": 10},
    ]);
    bad_map(ctx, "uid", "uidMappings", map.clone(), "overlap|invalid")?;
    bad_map(ctx, "gid", "gidMappings", map, "overlap|invalid")
}

/// A range of size 0 (after a valid one mapping root).
fn bad_mapping_size_zero(ctx: &Ctx) -> TestResult {
    let map = json!([
        {"containerID": 0, "hostID": 100000, "size": 65536},
        {"containerID": 70000, "hostID": 200000, "size": 0},
    ]);
    bad_map(ctx, "b", "uidMappings", map, "size|invalid")
}

/// hostID + size beyond the 32-bit id space.
fn bad_mapping_overflow(ctx: &Ctx) -> TestResult {
    let map = json!([{"containerID": 0, "hostID": 4294967000u32, "size": 65536}]);
    bad_map(ctx, "b", "uidMappings", map, "range|overflow|invalid")
}

/// Mappings without a user namespace entry: current runc's validator
/// refuses them ("user namespace mappings specified, but user namespace
/// isn't enabled in the config"); runc 1.1.5 ignores them and runs the
/// container in the host's user namespace.
fn bad_mappings_without_userns(ctx: &Ctx) -> TestResult {
    let b = ctx.bundle("b")?;
    let map = super::userns::map_json();
    write_patched(
        &b,
        &[
            ("/linux/uidMappings", map.clone()),
            ("/linux/gidMappings", map),
        ],
    )?;
    let res = create_fails(ctx, &b);
    let (out, log) = match res {
        Err(Fail::Fail(m)) if is_runc_1_1(ctx) => {
            return Err(Fail::Skip(format!(
                "runc 1.1 predates refusing mappings without a user namespace \
                 (runc 1.2+'s validator does; 1.1 ignores them): {m}"
            )))
        }
        other => other?,
    };
    let want = "user namespace mappings specified, but user namespace isn't enabled in the config";
    expect_error(&out, &log, &[want])
}

/// A user namespace entry with neither mappings nor a path: current runc's
/// "user namespaces enabled, but no namespace path to join nor mappings to
/// apply specified"; runc 1.1.5 says "User namespaces enabled, but no uid
/// mappings found." (checked on runc 1.1 only).
fn bad_userns_without_mappings(ctx: &Ctx) -> TestResult {
    let b = ctx.bundle("b")?;
    write_patched(
        &b,
        &[("/linux/namespaces", namespaces_with_user(&b, None)?)],
    )?;
    let (out, log) = create_fails(ctx, &b)?;
    let want: &[&str] = if is_runc_1_1(ctx) {
        &["user namespaces enabled", "no uid mappings found"]
    } else {
        &["user namespaces enabled, but no namespace path to join nor mappings to apply specified"]
    };
    expect_error(&out, &log, want)?;
    // The bundle is untouched (nothing chowned for a refused config).
    ensure_eq!(owner(&b.rootfs())?, (0, 0), "owner of the rootfs");
    Ok(())
}
