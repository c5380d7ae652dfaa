//! `--debug` (issue 12): debug-level records for the stages of a container's
//! life, in the `--log` file (JSON here) or on stderr, and none without
//! `--debug`. runc's and berth's debug lines name different stages (runc:
//! its nsexec stages; berth: config, cgroup, namespaces, each mount,
//! devices, pivot_root, hooks, seccomp, exec, start, delete), so the checks
//! every runtime must pass are "at least one debug line", "the error line
//! last" and "no debug line without --debug"; the stage names are checked
//! on berth only (`berth_only`).
//!
//! Also the regression of the init's logger: it inherited the runtime's log
//! fd, closed it with the host's fds, and later records went to whatever
//! reused the number — the exec fifo, so a debug line broke `start`. The
//! init's records now reach the runtime's log (`debug_log_init_records`).

use crate::ensure;
use crate::harness::case::{case, Case};
use crate::harness::{config, read, write_script, Ctx, Fail, TestResult};
use serde_json::Value;
use std::path::Path;

pub const CASES: &[Case] = &[
    case("debug_log_run_json", run_json),
    case("debug_log_stderr_text", stderr_text),
    case("debug_log_failing_create", failing_create),
    case("debug_log_off", off),
    case("debug_log_init_records", init_records),
];

/// The records of a JSON log file: (level, msg), every line checked to be
/// a `{"level","msg","time"}` object.
fn records(log: &Path) -> Result<Vec<(String, String)>, Fail> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: Value = serde_json::from_str(line)
            .map_err(|e| format!("log line is not JSON ({e}): {line:?}"))?;
        let field = |k: &str| v[k].as_str().map(str::to_string);
        match (field("level"), field("msg"), field("time")) {
            (Some(l), Some(m), Some(_)) => out.push((l, m)),
            _ => {
                return Err(Fail::Fail(format!(
                    "log record without level/msg/time: {line}"
                )))
            }
        }
    }
    Ok(out)
}

fn debug_msgs(recs: &[(String, String)]) -> Vec<&str> {
    recs.iter()
        .filter(|(l, _)| l == "debug")
        .map(|(_, m)| m.as_str())
        .collect()
}

/// Runs `f` only when the runtime under test is berth (its own stage
/// names; runc names other stages, see the module doc).
fn berth_only(ctx: &Ctx, f: impl FnOnce() -> TestResult) -> TestResult {
    let version = ctx.rt(&["--version"])?.stdout;
    match version.starts_with("berth") {
        true => f(),
        false => Ok(()),
    }
}

/// Every word occurs in some debug message.
fn names_stages(debug: &[&str], words: &[&str]) -> TestResult {
    for w in words {
        ensure!(
            debug.iter().any(|m| m.contains(w)),
            "no debug line names {w:?}: {debug:#?}"
        );
    }
    Ok(())
}

/// `--debug --log F --log-format json run`: debug lines; on berth they name
/// the config, cgroup, namespaces, mounts, devices, pivot_root, exec, start
/// and delete stages.
fn run_json(ctx: &Ctx) -> TestResult {
    let mut b = ctx.bundle("b")?;
    config::set_args(&mut b.spec, &["/bin/sh", "-c", "echo hi"]);
    b.write()?;
    let (out, log) = ctx.rt_logged(&["--debug", "run", "--bundle", b.path(), "c1"])?;
    let out = out.ok()?;
    ensure!(out.stdout.trim() == "hi", "payload output {:?}", out.stdout);
    let recs = records(&log)?;
    let debug = debug_msgs(&recs);
    ensure!(!debug.is_empty(), "no debug line in the log: {recs:?}");
    ensure!(
        recs.iter().all(|(l, _)| l != "error"),
        "error lines in the log of a good run: {recs:?}"
    );
    berth_only(ctx, || {
        let stages = [
            "config loaded",
            "cgroup created",
            "namespaces",
            "mount /proc type proc",
            "mount /dev type tmpfs",
            "device /dev/null",
            "pivot_root",
            "args[0] resolved to",
            "start c1",
            "delete c1",
        ];
        names_stages(&debug, &stages)
    })
}

/// `--debug` without `--log`: logrus text lines `level=debug` on stderr.
fn stderr_text(ctx: &Ctx) -> TestResult {
    let mut b = ctx.bundle("b")?;
    config::set_args(&mut b.spec, &["/bin/true"]);
    b.write()?;
    let out = ctx
        .rt(&["--debug", "run", "--bundle", b.path(), "c1"])?
        .ok()?;
    let lines: Vec<&str> = out.stderr.lines().collect();
    ensure!(
        lines.iter().any(|l| l.contains("level=debug msg=")),
        "no `level=debug msg=` line on stderr: {lines:#?}"
    );
    berth_only(ctx, || {
        ensure!(
            lines
                .iter()
                .any(|l| l.contains("level=debug msg=\"mount /proc type proc\"")),
            "no mount line on stderr: {lines:#?}"
        );
        Ok(())
    })
}

/// A create failing at a mount (unknown fstype): debug lines, then the
/// error as the last line; on berth the last debug line is that mount.
fn failing_create(ctx: &Ctx) -> TestResult {
    let mut b = ctx.bundle("b")?;
    config::add_mount(&mut b.spec, config::mount("/mnt", "nosuchfs", "none", &[]));
    b.write()?;
    let (out, log) = ctx.rt_logged(&["--debug", "create", "--bundle", b.path(), "c1"])?;
    ensure!(
        out.code == 1,
        "create exited {} (want 1): {}",
        out.code,
        out.stderr
    );
    let recs = records(&log)?;
    ensure!(!debug_msgs(&recs).is_empty(), "no debug line: {recs:?}");
    let (level, msg) = recs.last().ok_or("empty log")?;
    ensure!(
        level == "error" && msg.contains("/mnt"),
        "last line is not the error naming /mnt: {recs:#?}"
    );
    super::util::expect_gone(ctx, "c1")?;
    super::util::expect_nothing_left(ctx, "c1", &b)?;
    berth_only(ctx, || {
        let debug = debug_msgs(&recs);
        ensure!(
            debug.last() == Some(&"mount /mnt type nosuchfs"),
            "the last debug line is not the failing mount: {debug:#?}"
        );
        Ok(())
    })
}

/// Without `--debug`: a good run and a failing create log no debug line.
fn off(ctx: &Ctx) -> TestResult {
    let mut b = ctx.bundle("b")?;
    config::set_args(&mut b.spec, &["/bin/true"]);
    b.write()?;
    let (out, log) = ctx.rt_logged(&["run", "--bundle", b.path(), "c1"])?;
    out.ok()?;
    let recs = records(&log)?;
    ensure!(
        debug_msgs(&recs).is_empty(),
        "debug lines without --debug: {recs:?}"
    );
    let out = ctx.rt(&["run", "--bundle", b.path(), "c1"])?.ok()?;
    ensure!(
        !out.stderr.contains("level=debug"),
        "debug lines on stderr without --debug: {}",
        out.stderr
    );
    Ok(())
}

/// The regression: the init's records after it closed the host's fds.
/// With `--debug --log`, create, then start with a startContainer hook (its
/// debug line comes after the init reopened the exec fifo, which took the
/// log's fd number): `start` works, the payload runs, every log line is a
/// JSON record, and on berth the init's late stages (after the fd close)
/// are in the runtime's log.
fn init_records(ctx: &Ctx) -> TestResult {
    let mut b = ctx.bundle("b")?;
    config::set_args(&mut b.spec, &["/bin/sh", "-c", "echo ran > /tmp/ran"]);
    write_script(&b.rootfs().join("hook.sh"), "exit 0")?;
    let h = config::hook("/bin/sh", &["sh", "/hook.sh"], &[], Some(10));
    config::hooks_mut(&mut b.spec).set_start_container(Some(vec![h]));
    b.write()?;
    let log = ctx.path("debug.json");
    let log_s = log.display().to_string();
    let logged = |args: &[&str]| {
        let mut full = vec!["--debug", "--log", &log_s, "--log-format", "json"];
        full.extend_from_slice(args);
        ctx.rt(&full)
    };
    logged(&["create", "--bundle", b.path(), "c1"])?.ok()?;
    logged(&["start", "c1"])?.ok()?;
    ctx.wait_status("c1", "stopped", std::time::Duration::from_secs(10))?;
    let ran = read(&b.rootfs().join("tmp/ran"))?;
    ensure!(ran.trim() == "ran", "payload did not run: {ran:?}");
    logged(&["delete", "c1"])?.ok()?;
    let recs = records(&log)?;
    ensure!(!debug_msgs(&recs).is_empty(), "no debug line: {recs:?}");
    berth_only(ctx, || {
        names_stages(
            &debug_msgs(&recs),
            &["host fds closed", "ready, waiting for start"],
        )
    })
}
