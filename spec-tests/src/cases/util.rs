//! Helpers shared by the cases.

use crate::ensure;
use crate::harness::cmd::Out;
use crate::harness::{cleanup, config, Bundle, Ctx, Fail, TestResult};
use std::path::Path;
use std::time::{Duration, Instant};

/// Whether this host runs cgroup v2 alone (cgroup2 mounted at
/// /sys/fs/cgroup), rather than v1 or hybrid.
pub fn host_cgroup_v2() -> bool {
    Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
}

/// Make the container process `/bin/sh -c SCRIPT`.
pub fn sh(b: &mut Bundle, script: &str) {
    config::set_args(&mut b.spec, &["/bin/sh", "-c", script]);
}

/// A payload that runs until the file /tmp/go appears in the rootfs.
pub fn until_go(b: &mut Bundle) {
    sh(b, "while [ ! -e /tmp/go ]; do sleep 0.02; done; echo done");
}

/// Let an `until_go` payload finish.
pub fn go(b: &Bundle) -> TestResult {
    std::fs::write(b.rootfs().join("tmp/go"), "")
        .map_err(|e| Fail::Fail(format!("write go file: {e}")))
}

/// Create and start a container whose payload waits for `go`; returns once
/// the runtime reports it running.
pub fn start_waiting(ctx: &Ctx, id: &str, b: &mut Bundle) -> TestResult {
    until_go(b);
    ctx.create(id, b)?.ok()?;
    ctx.rt(&["start", id])?.ok()?;
    ctx.wait_status(id, "running", Duration::from_secs(10))
}

/// Wait until `path` exists.
pub fn wait_file(path: &Path, timeout: Duration) -> TestResult {
    let start = Instant::now();
    while !path.exists() {
        ensure!(
            start.elapsed() < timeout,
            "{} did not appear within {timeout:?}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(())
}

/// Every word must occur (case-insensitively); a word `a|b` is satisfied
/// by either alternative.
pub fn contains_all(text: &str, words: &[&str]) -> bool {
    let t = text.to_lowercase();
    words
        .iter()
        .all(|w| w.split('|').any(|alt| t.contains(&alt.to_lowercase())))
}

/// Check one JSON log file: every record is `{"level","msg","time"}` and
/// the last error record's msg names all `words`.
pub fn check_json_log(log: &Path, words: &[&str]) -> TestResult {
    let text = std::fs::read_to_string(log).map_err(|e| format!("read log {log:?}: {e}"))?;
    let mut last_error = None;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line)
            .map_err(|e| format!("log line is not JSON ({e}): {line}"))?;
        for key in ["level", "msg", "time"] {
            ensure!(
                v[key].is_string(),
                "log record without string {key:?}: {line}"
            );
        }
        let time = v["time"].as_str().unwrap_or("");
        ensure!(
            time.len() >= 20 && time.as_bytes()[10] == b'T',
            "log time {time:?} is not RFC 3339"
        );
        if v["level"] == "error" {
            last_error = Some(v["msg"].as_str().unwrap_or("").to_string());
        }
    }
    let msg = last_error.ok_or_else(|| format!("no error record in log: {text}"))?;
    ensure!(
        contains_all(&msg, words),
        "last error in log {msg:?} does not mention {words:?}"
    );
    Ok(())
}

/// A failed runtime command: exit 1, stderr and the JSON log name `words`.
pub fn expect_error(out: &Out, log: &Path, words: &[&str]) -> TestResult {
    ensure!(
        out.code == 1,
        "`{}` exited {} (want 1); stderr: {}",
        out.cmdline,
        out.code,
        out.stderr.trim()
    );
    ensure!(
        contains_all(&out.stderr, words),
        "stderr {:?} does not mention {words:?}",
        out.stderr.trim()
    );
    let lines = out.stderr.lines().filter(|l| !l.trim().is_empty()).count();
    ensure!(
        lines == 1,
        "want one error line on stderr, got {lines}: {:?}",
        out.stderr
    );
    check_json_log(log, words)
}

/// Nothing of container `id` / bundle `b` is left: no state, no mount
/// referring to the bundle, no process rooted in its rootfs.
pub fn expect_nothing_left(ctx: &Ctx, id: &str, b: &Bundle) -> TestResult {
    ensure!(
        !ctx.root.join(id).exists(),
        "state dir {} is left behind",
        ctx.root.join(id).display()
    );
    let mounts = cleanup::mounts_under(&b.dir);
    ensure!(mounts.is_empty(), "mounts left behind: {mounts:?}");
    // Processes may take a moment to die after a failed create.
    let start = Instant::now();
    loop {
        let left = procs_rooted_in(b);
        if left.is_empty() {
            return Ok(());
        }
        ensure!(
            start.elapsed() < Duration::from_secs(2),
            "processes left in the container: {left:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Processes whose root directory is this bundle's rootfs.
pub fn procs_rooted_in(b: &Bundle) -> Vec<(i32, String)> {
    use std::os::unix::fs::MetadataExt;
    let Ok(m) = std::fs::metadata(b.rootfs()) else {
        return Vec::new();
    };
    cleanup::processes(b.dir.parent().unwrap_or(&b.dir), 0)
        .into_iter()
        .filter(|(pid, _)| {
            std::fs::metadata(format!("/proc/{pid}/root"))
                .map(|r| r.dev() == m.dev() && r.ino() == m.ino())
                .unwrap_or(false)
        })
        .collect()
}

/// `state ID` must fail with "container does not exist".
pub fn expect_gone(ctx: &Ctx, id: &str) -> TestResult {
    ctx.rt(&["state", id])?.refused("container does not exist")
}

/// A case that cannot apply with the systemd cgroup driver (the suite's
/// systemd mode, harness::systemd) is skipped there, saying why.
pub fn skip_in_systemd_mode(ctx: &Ctx, why: &str) -> TestResult {
    if ctx.env.systemd {
        return Err(Fail::Skip(format!("not with --systemd-cgroup: {why}")));
    }
    Ok(())
}

/// Whether the runtime under test is runc 1.1.x (for documented deviations).
pub fn is_runc_1_1(ctx: &Ctx) -> bool {
    ctx.rt(&["--version"])
        .map(|o| o.stdout.starts_with("runc version 1.1."))
        .unwrap_or(false)
}

/// Whether the runtime under test is berth (for berth-only checks of what
/// the project's issues ask beyond runc; passed, not skipped, elsewhere).
pub fn is_berth(ctx: &Ctx) -> bool {
    ctx.rt(&["--version"])
        .map(|o| o.stdout.starts_with("berth"))
        .unwrap_or(false)
}

/// A check runc 1.1 is known to fail because runc is wrong there: on runc
/// 1.1 a failure is reported as a skip naming the deviation (never as a
/// pass); on any other runtime the result stands.
pub fn known_runc_1_1_gap(ctx: &Ctx, what: &str, res: TestResult) -> TestResult {
    match res {
        Err(Fail::Fail(m)) if is_runc_1_1(ctx) => Err(Fail::Skip(format!(
            "known runc 1.1 deviation ({what}): {m}"
        ))),
        other => other,
    }
}

/// Writes config.json with `patches` (JSON pointer of an object member,
/// value) applied as raw JSON, so that values are spelled as the
/// runtime-spec spells them, not as the typed builder would.
pub fn write_patched(b: &Bundle, patches: &[(&str, serde_json::Value)]) -> TestResult {
    b.write()?;
    let path = b.dir.join("config.json");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("read config: {e}"))?;
    let mut v: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("config: {e}"))?;
    for (ptr, val) in patches {
        let (parent, key) = ptr.rsplit_once('/').ok_or("bad pointer")?;
        let obj = v
            .pointer_mut(parent)
            .and_then(serde_json::Value::as_object_mut)
            .ok_or_else(|| format!("config has no object at {parent:?}"))?;
        obj.insert(key.to_string(), val.clone());
    }
    std::fs::write(&path, v.to_string()).map_err(|e| Fail::Fail(format!("write config: {e}")))
}
