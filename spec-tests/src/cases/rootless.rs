//! Rootless mode (issue 13 §4), the parts that need no user namespace of
//! the runtime's own: `--rootless` parsed as runc parses it, `spec
//! --rootless` as current runc writes it, the default `--root` under
//! `$XDG_RUNTIME_DIR` for a non-root caller (run as nobody), and runc's
//! cgroup rules for a rootless container whose cgroup cannot be made (the
//! runtime runs with `--rootless true` in a private mount namespace where
//! every cgroup hierarchy is read-only: mkdir fails with EROFS, one of the
//! errors runc ignores when rootless).

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use super::util::{expect_nothing_left, host_cgroup_v2, is_runc_1_1, until_go};
use crate::harness::case::{case, Case, CGROUP, CGROUPV2};
use crate::harness::cmd::{self, Out};
use crate::harness::{read, write_script, Bundle, Ctx, Fail, TestResult, CMD_TIMEOUT};
use crate::{ensure, ensure_eq};

pub const CASES: &[Case] = &[
    case("rootless_flag_bad_value", flag_bad_value),
    case("rootless_spec_output", spec_output),
    case("rootless_default_root_xdg", default_root_xdg),
    case("rootless_requires_user_namespace", requires_user_namespace),
    case("rootless_run_as_nobody", run_as_nobody).tagged(&[CGROUPV2]),
    case("rootless_unpermitted_map_refused", unpermitted_map),
    case("rootless_runs_without_cgroup", runs_without_cgroup).tagged(&[CGROUP]),
    case("rootless_limit_without_cgroup_refused", limit_refused).tagged(&[CGROUP]),
];

/// `--rootless` takes Go's boolean spellings or `auto`; anything else fails
/// create and run with Go's ParseBool text, and is ignored by other verbs.
fn flag_bad_value(ctx: &Ctx) -> TestResult {
    let b = ctx.bundle("b")?;
    b.write()?;
    for verb in ["run", "create"] {
        let out = ctx.rt(&["--rootless", "xyz", verb, "--bundle", b.path(), "c1"])?;
        // Plain, or quoted in a logfmt msg="..." field.
        let plain = out
            .stderr
            .contains(r#"strconv.ParseBool: parsing "xyz": invalid syntax"#);
        let quoted = out
            .stderr
            .contains(r#"strconv.ParseBool: parsing \"xyz\": invalid syntax"#);
        ensure!(
            out.code == 1 && (plain || quoted),
            "--rootless xyz {verb}: exit {}, stderr {:?}",
            out.code,
            out.stderr.trim()
        );
    }
    ctx.rt(&["--rootless", "xyz", "list"])?.ok()?;
    ctx.rt(&["--rootless", "TRUE", "list"])?.ok()?;
    expect_nothing_left(ctx, "c1", &b)
}

/// `spec --rootless`: runc's ToRootless edits of the starter config.
fn spec_output(ctx: &Ctx) -> TestResult {
    let dir = ctx.path("spec");
    std::fs::create_dir(&dir).map_err(|e| format!("mkdir: {e}"))?;
    let d = dir.to_str().ok_or("utf-8")?;
    ctx.rt(&["spec", "--rootless", "--bundle", d])?.ok()?;
    let v: serde_json::Value = serde_json::from_str(&read(&dir.join("config.json"))?)
        .map_err(|e| format!("config.json: {e}"))?;
    let linux = &v["linux"];
    let types: Vec<&str> = linux["namespaces"]
        .as_array()
        .ok_or("no namespaces")?
        .iter()
        .filter_map(|n| n["type"].as_str())
        .collect();
    // runc adds a cgroup namespace to its starter config on a cgroup v2 host.
    let want: &[&str] = if types.contains(&"cgroup") {
        &["pid", "ipc", "uts", "mount", "cgroup", "user"]
    } else {
        &["pid", "ipc", "uts", "mount", "user"]
    };
    ensure_eq!(types, want, "namespace types");
    let id = |f: &str, own: u32| {
        serde_json::json!([{"containerID": 0, "hostID": own, "size": 1}]) == linux[f]
    };
    let (euid, egid) = own_effective_ids();
    ensure!(
        id("uidMappings", euid),
        "uidMappings {}",
        linux["uidMappings"]
    );
    ensure!(
        id("gidMappings", egid),
        "gidMappings {}",
        linux["gidMappings"]
    );
    ensure!(
        linux.get("resources").is_none(),
        "resources kept: {}",
        linux["resources"]
    );
    let mounts = v["mounts"].as_array().ok_or("no mounts")?;
    let by = |d: &str| mounts.iter().find(|m| m["destination"] == d);
    ensure_eq!(
        by("/sys").cloned(),
        Some(
            serde_json::json!({"destination": "/sys", "type": "none", "source": "/sys",
            "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]})
        ),
        "the /sys mount"
    );
    let pts = by("/dev/pts").ok_or("no /dev/pts")?;
    ensure_eq!(
        pts["options"],
        serde_json::json!([
            "nosuid",
            "noexec",
            "newinstance",
            "ptmxmode=0666",
            "mode=0620"
        ]),
        "/dev/pts options"
    );
    ensure!(
        by("/sys/fs/cgroup").is_some(),
        "the cgroup mount was dropped"
    );
    Ok(())
}

/// The harness's effective uid and gid (/proc/self/status).
fn own_effective_ids() -> (u32, u32) {
    let s = read(Path::new("/proc/self/status")).unwrap_or_default();
    let field = |k: &str| {
        s.lines()
            .find_map(|l| l.strip_prefix(k))
            .and_then(|r| r.split_whitespace().nth(1))
            .and_then(|x| x.parse().ok())
            .unwrap_or(u32::MAX)
    };
    (field("Uid:"), field("Gid:"))
}

pub(super) const NOBODY: u32 = 65534;

/// Without --root, a non-root caller's state goes to
/// `$XDG_RUNTIME_DIR/<runtime name>`, created 0700 with the sticky bit.
fn default_root_xdg(ctx: &Ctx) -> TestResult {
    let xdg = std::env::temp_dir().join(format!("spec-xdg-{}", std::process::id()));
    std::fs::create_dir(&xdg).map_err(|e| format!("mkdir {xdg:?}: {e}"))?;
    let res = default_root_in(ctx, &xdg);
    let _ = std::fs::remove_dir_all(&xdg);
    res
}

fn default_root_in(ctx: &Ctx, xdg: &Path) -> TestResult {
    std::os::unix::fs::chown(xdg, Some(NOBODY), Some(NOBODY)).map_err(|e| format!("chown: {e}"))?;
    std::fs::set_permissions(xdg, std::fs::Permissions::from_mode(0o700))
        .map_err(|e| format!("chmod: {e}"))?;
    let name = ctx
        .env
        .runtime
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or("runtime name")?;
    let mut c = Command::new(&ctx.env.runtime);
    c.arg("list")
        .env("XDG_RUNTIME_DIR", xdg)
        .uid(NOBODY)
        .gid(NOBODY);
    let out = cmd::spawn(c, &ctx.dir, "list-as-nobody")?
        .wait(CMD_TIMEOUT)?
        .ok()?;
    ensure!(out.stdout.starts_with("ID "), "list: {:?}", out.stdout);
    let root = xdg.join(name);
    let m = std::fs::metadata(&root).map_err(|e| format!("{root:?} not made: {e}"))?;
    ensure_eq!(
        format!("{:o}", m.permissions().mode() & 0o7777),
        "1700",
        "mode"
    );
    ensure_eq!((m.uid(), m.gid()), (NOBODY, NOBODY), "owner");
    Ok(())
}

/// A non-root caller's config without a user namespace is refused with
/// runc's text before anything is made.
fn requires_user_namespace(ctx: &Ctx) -> TestResult {
    let root = std::env::temp_dir().join(format!("spec-nobody-root-{}", std::process::id()));
    std::fs::create_dir(&root).map_err(|e| format!("mkdir {root:?}: {e}"))?;
    let res = requires_user_namespace_in(ctx, &root);
    let _ = std::fs::remove_dir_all(&root);
    res
}

fn requires_user_namespace_in(ctx: &Ctx, root: &Path) -> TestResult {
    std::os::unix::fs::chown(root, Some(NOBODY), Some(NOBODY))
        .map_err(|e| format!("chown: {e}"))?;
    let b = ctx.bundle("b")?;
    b.write()?;
    let mut c = Command::new(&ctx.env.runtime);
    c.arg("--root")
        .arg(root)
        .args(["create", "--bundle", b.path(), "c1"]);
    c.uid(NOBODY).gid(NOBODY);
    let out = cmd::spawn(c, &ctx.dir, "create-as-nobody")?.wait(CMD_TIMEOUT)?;
    ensure!(
        out.code == 1
            && out
                .stderr
                .contains("rootless container requires user namespaces"),
        "exit {}, stderr {:?}",
        out.code,
        out.stderr.trim()
    );
    let left: Vec<_> = std::fs::read_dir(root)
        .map_err(|e| format!("{e}"))?
        .collect();
    ensure!(left.is_empty(), "state left in {root:?}: {left:?}");
    expect_nothing_left(ctx, "c1", &b)
}

/// `spec --rootless`, then `run` of busybox as nobody: root inside, the
/// single self-map, setgroups denied (the kernel requires it for an
/// unprivileged gid map; runc writes "deny" there), no cgroup (nobody
/// cannot make one; no limit asked), nothing left.
fn run_as_nobody(ctx: &Ctx) -> TestResult {
    let root = std::env::temp_dir().join(format!("spec-nobody-run-{}", std::process::id()));
    std::fs::create_dir(&root).map_err(|e| format!("mkdir {root:?}: {e}"))?;
    let res = run_as_nobody_in(ctx, &root);
    let _ = std::fs::remove_dir_all(&root);
    res
}

fn run_as_nobody_in(ctx: &Ctx, root: &Path) -> TestResult {
    // Written by root here: map nobody, the user that runs it.
    let ids = Ids::nobody_self_map();
    let script = "id -u; cat /proc/self/uid_map /proc/self/gid_map /proc/self/setgroups";
    let out = run_rootless_as(ctx, root, &ids, script)?;
    let words: Vec<&str> = out.split_whitespace().collect();
    ensure_eq!(
        words,
        ["0", "0", "65534", "1", "0", "65534", "1", "deny"],
        "id -u, uid_map, gid_map, setgroups inside"
    );
    Ok(())
}

/// Who runs a rootless container, and its maps.
pub(super) struct Ids {
    pub uid: u32,
    pub gid: u32,
    pub uid_maps: serde_json::Value,
    pub gid_maps: serde_json::Value,
}

impl Ids {
    /// nobody, with the same uid and gid maps `maps`.
    pub(super) fn nobody_with(maps: serde_json::Value) -> Ids {
        Ids {
            uid: NOBODY,
            gid: NOBODY,
            uid_maps: maps.clone(),
            gid_maps: maps,
        }
    }

    /// nobody, mapped to itself alone (what an unprivileged user may write).
    pub(super) fn nobody_self_map() -> Ids {
        Ids::nobody_with(serde_json::json!([{"containerID": 0, "hostID": NOBODY, "size": 1}]))
    }
}

/// `spec --rootless` output with `ids`' maps, running `script` on the
/// busybox rootfs, then `run c1` of it as `ids` with its state in `root`
/// (made theirs): the payload's stdout, once nothing is left behind.
pub(super) fn run_rootless_as(
    ctx: &Ctx,
    root: &Path,
    ids: &Ids,
    script: &str,
) -> Result<String, Fail> {
    let out = try_rootless_as(ctx, root, ids, script)?;
    Ok(out.ok()?.stdout)
}

/// `spec --rootless` output in its own bundle directory, on the busybox
/// rootfs, with `ids`' maps, no terminal, and `edit`'s changes: the busybox
/// bundle (for the leftover checks) and the directory.
pub(super) fn write_rootless_spec(
    ctx: &Ctx,
    ids: &Ids,
    edit: impl FnOnce(&mut serde_json::Value),
) -> Result<(Bundle, std::path::PathBuf), Fail> {
    write_rootless_spec_named(ctx, "b", ids, edit)
}

/// `write_rootless_spec` with bundle `name` and spec directory
/// `<name>-rootless-spec`, for cases that run several.
pub(super) fn write_rootless_spec_named(
    ctx: &Ctx,
    name: &str,
    ids: &Ids,
    edit: impl FnOnce(&mut serde_json::Value),
) -> Result<(Bundle, std::path::PathBuf), Fail> {
    let b = ctx.bundle(name)?;
    b.write()?;
    let dir = if name == "b" {
        ctx.path("rootless-spec")
    } else {
        ctx.path(&format!("{name}-rootless-spec"))
    };
    std::fs::create_dir_all(&dir).map_err(|e| format!("mkdir {dir:?}: {e}"))?;
    let d = dir.to_str().ok_or("path")?;
    ctx.rt(&["spec", "--rootless", "--bundle", d])?.ok()?;
    let text = read(&dir.join("config.json"))?;
    let mut v: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("spec output: {e}"))?;
    v["process"]["terminal"] = false.into();
    v["root"]["path"] = b.rootfs().display().to_string().into();
    v["linux"]["uidMappings"] = ids.uid_maps.clone();
    v["linux"]["gidMappings"] = ids.gid_maps.clone();
    edit(&mut v);
    std::fs::write(dir.join("config.json"), v.to_string()).map_err(|e| format!("write: {e}"))?;
    Ok((b, dir))
}

/// `run_rootless_as` whatever the run's outcome: its output, once nothing
/// is left behind.
fn try_rootless_as(ctx: &Ctx, root: &Path, ids: &Ids, script: &str) -> Result<Out, Fail> {
    try_rootless_edited(ctx, root, "b", ids, |v| {
        v["process"]["args"] = serde_json::json!(["sh", "-c", script]);
    })
}

/// `run c1` as `ids` of bundle `name`'s `spec --rootless` output with
/// `edit`'s changes, state in `root` (made theirs), whatever the outcome:
/// its output, once nothing is left behind.
pub(super) fn try_rootless_edited(
    ctx: &Ctx,
    root: &Path,
    name: &str,
    ids: &Ids,
    edit: impl FnOnce(&mut serde_json::Value),
) -> Result<Out, Fail> {
    std::os::unix::fs::chown(root, Some(ids.uid), Some(ids.gid))
        .map_err(|e| format!("chown: {e}"))?;
    let (b, dir) = write_rootless_spec_named(ctx, name, ids, edit)?;
    let d = dir.to_str().ok_or("path")?;
    let mut c = Command::new(&ctx.env.runtime);
    c.arg("--root").arg(root).args(["run", "--bundle", d, "c1"]);
    c.uid(ids.uid).gid(ids.gid);
    let out = cmd::spawn(c, &ctx.dir, "run-rootless")?.wait(CMD_TIMEOUT)?;
    let left: Vec<_> = std::fs::read_dir(root)
        .map_err(|e| format!("{e}"))?
        .collect();
    ensure!(left.is_empty(), "state left in {root:?}: {left:?}");
    expect_nothing_left(ctx, "c1", &b)?;
    Ok(out)
}

/// A map the caller may not set: nobody (no /etc/subuid range) asks for
/// `0 100000 65536`. The kernel and newuidmap refuse; the run fails with
/// exit 1 and nothing left. berth's error names the field and the helper's
/// complaint; runc 1.1.5 fails earlier with an unrelated text (`fchown fd
/// N: operation not permitted`), so only the outcome is checked there.
fn unpermitted_map(ctx: &Ctx) -> TestResult {
    let root = std::env::temp_dir().join(format!("spec-nobody-map-{}", std::process::id()));
    std::fs::create_dir(&root).map_err(|e| format!("mkdir {root:?}: {e}"))?;
    let ids =
        Ids::nobody_with(serde_json::json!([{"containerID": 0, "hostID": 100000, "size": 65536}]));
    let res = try_rootless_as(ctx, &root, &ids, "id");
    let _ = std::fs::remove_dir_all(&root);
    let out = res?;
    ensure!(
        out.code == 1,
        "exit {}, stderr {:?}",
        out.code,
        out.stderr.trim()
    );
    if !is_runc_1_1(ctx) {
        ensure!(
            out.stderr.contains("linux.uidMappings") && out.stderr.contains("newuidmap"),
            "stderr does not name linux.uidMappings and newuidmap: {:?}",
            out.stderr.trim()
        );
    }
    Ok(())
}

/// The wrapper: the runtime in a private mount namespace where every cgroup
/// hierarchy is remounted read-only.
fn ro_cgroups_command(ctx: &Ctx, args: &[&str]) -> Result<Command, Fail> {
    let script = ctx.path("ro-cgroups.sh");
    write_script(
        &script,
        "set -e\n\
         for m in $(grep -E ' - cgroup2? ' /proc/self/mountinfo | cut -d' ' -f5); do\n\
         \x20 mount -o remount,bind,ro \"$m\"\n\
         done\n\
         exec \"$@\"",
    )?;
    let mut c = Command::new("unshare");
    c.args(["--mount", "--propagation", "private"]).arg(&script);
    c.arg(&ctx.env.runtime)
        .arg("--root")
        .arg(&ctx.root)
        .args(args);
    Ok(c)
}

fn run_ro(ctx: &Ctx, tag: &str, args: &[&str]) -> Result<Out, Fail> {
    cmd::spawn(ro_cgroups_command(ctx, args)?, &ctx.dir, tag)?.wait(CMD_TIMEOUT)
}

/// No limit asked and no cgroup possible: with `--rootless true` the
/// container runs without one (its init stays in the runtime's cgroup),
/// and state, start, exec, kill and delete work from outside (pause is
/// refused with runc's text); without `--rootless`
/// (root: auto is false) the cgroup error stands, as before.
/// Why the cgroup-less rootless cases are skipped in systemd mode.
pub(super) const ROOTLESS_SYSTEMD: &str =
    "rootless with the systemd driver needs a systemd user instance, which the suite does not run";

fn runs_without_cgroup(ctx: &Ctx) -> TestResult {
    super::util::skip_in_systemd_mode(ctx, ROOTLESS_SYSTEMD)?;
    let mut b = ctx.bundle("b")?;
    until_go(&mut b);
    b.write()?;
    let out = run_ro(ctx, "create-root", &["create", "--bundle", b.path(), "c1"])?;
    ensure!(
        out.code != 0,
        "create as root without a writable cgroup succeeded"
    );
    expect_nothing_left(ctx, "c1", &b)?;
    let own = read(Path::new("/proc/self/cgroup"))?;
    run_ro(
        ctx,
        "create",
        &["--rootless", "true", "create", "--bundle", b.path(), "c1"],
    )?
    .ok()?;
    let pid = ctx.state("c1")?["pid"].as_i64().unwrap_or(0);
    ensure!(pid > 0, "no pid");
    let init = read(Path::new(&format!("/proc/{pid}/cgroup")))?;
    ensure_eq!(init, own, "the init's /proc/PID/cgroup (the runtime's)");
    // Nothing to freeze: runc's text.
    let out = ctx.rt(&["pause", "c1"])?;
    // runc 1.1 on a pure cgroup v2 host tries the cgroup's path anyway:
    // "freezer not supported: openat2 …/cgroup.freeze: no such file".
    let runc_v2 = is_runc_1_1(ctx) && out.stderr.contains("freezer not supported");
    ensure!(
        out.code == 1
            && (runc_v2
                || out
                    .stderr
                    .contains("cannot toggle freezer: cgroups not configured for container")),
        "pause: exit {}, stderr {:?}",
        out.code,
        out.stderr.trim()
    );
    ctx.rt(&["start", "c1"])?.ok()?;
    let out = ctx
        .rt(&["exec", "c1", "/bin/sh", "-c", "echo exec-ok"])?
        .ok()?;
    ensure!(out.stdout.contains("exec-ok"), "exec: {:?}", out.stdout);
    ctx.rt(&["kill", "c1", "KILL"])?.ok()?;
    ctx.wait_status("c1", "stopped", Duration::from_secs(5))?;
    ctx.rt(&["delete", "c1"])?.ok()?;
    expect_nothing_left(ctx, "c1", &b)
}

/// A limit asked and no cgroup possible: exit 1 naming the controller
/// (runc's text), nothing left.
fn limit_refused(ctx: &Ctx) -> TestResult {
    super::util::skip_in_systemd_mode(ctx, ROOTLESS_SYSTEMD)?;
    let b: Bundle = ctx.bundle("b")?;
    super::util::write_patched(
        &b,
        &[(
            "/linux/resources",
            serde_json::json!({"pids": {"limit": 10}}),
        )],
    )?;
    let out = run_ro(
        ctx,
        "create",
        &["--rootless", "true", "create", "--bundle", b.path(), "c1"],
    )?;
    let want = if host_cgroup_v2() {
        "rootless needs no limits + no cgrouppath when no permission is granted for cgroups"
    } else {
        "cannot set pids limit: container could not join or create cgroup"
    };
    out.refused(want)?;
    expect_nothing_left(ctx, "c1", &b)
}
