//! `events` (issue 12): runc's record shape and key order
//! (`{"type":…,"id":…,"data":…}`), `--stats` (one record), `--interval`
//! (a stats record each interval), an `oom` record (`{"type":"oom","id":…}`)
//! when a payload hits its memory limit, and the command ending (exit 0)
//! once the container is killed and deleted. runc 1.1.5 passes them all.

use super::util::{go, start_waiting};
use crate::ensure;
use crate::harness::case::{case, Case, CGROUP};
use crate::harness::cmd::Running;
use crate::harness::{config, Bundle, Ctx, Fail, TestResult};
use std::time::{Duration, Instant};

pub const CASES: &[Case] = &[
    case("events_stats_key_order", stats_key_order).tagged(&[CGROUP]),
    case("events_interval_records", interval_records).tagged(&[CGROUP]),
    case("events_oom_record", oom_record).tagged(&[CGROUP]),
    case("events_exit_after_delete", exit_after_delete).tagged(&[CGROUP]),
];

/// A memory limit of `bytes` (no swap limit: v1 hosts may lack memsw).
fn memory_limit(b: &mut Bundle, bytes: i64) -> TestResult {
    let r = serde_json::from_value(serde_json::json!({"memory": {"limit": bytes}}))
        .map_err(|e| Fail::Fail(format!("resources: {e}")))?;
    config::linux_mut(&mut b.spec).set_resources(Some(r));
    Ok(())
}

/// The keys of a JSON object as written, in order (serde_json's maps sort).
fn top_keys(line: &str) -> Vec<String> {
    let mut keys = Vec::new();
    let (mut depth, mut in_str, mut esc, mut cur) = (0, false, false, String::new());
    for c in line.chars() {
        if in_str {
            match (esc, c) {
                (true, _) => esc = false,
                (false, '\\') => esc = true,
                (false, '"') => in_str = false,
                _ => {}
            }
            if in_str && depth == 1 {
                cur.push(c);
            }
            continue;
        }
        match c {
            '"' => {
                in_str = true;
                cur.clear();
            }
            ':' if depth == 1 => keys.push(cur.clone()),
            '{' | '[' => depth += 1,
            '}' | ']' => depth -= 1,
            _ => {}
        }
    }
    keys
}

/// Waits until `events`' output has `n` lines with `needle`.
fn wait_lines(ev: &Running, needle: &str, n: usize, timeout: Duration) -> TestResult {
    let start = Instant::now();
    loop {
        let out = ev.stdout_now();
        if out.lines().filter(|l| l.contains(needle)).count() >= n {
            return Ok(());
        }
        ensure!(
            start.elapsed() < timeout,
            "want {n} lines with {needle} within {timeout:?}: {out:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `events --stats`: one line, keys `type`, `id`, `data` in that order, and
/// the data's keys in runc's order.
fn stats_key_order(ctx: &Ctx) -> TestResult {
    let mut b = ctx.bundle("b")?;
    start_waiting(ctx, "c1", &mut b)?;
    let out = ctx.rt(&["events", "--stats", "c1"])?.ok()?;
    go(&b)?;
    ctx.delete_force("c1")?;
    let lines: Vec<&str> = out.stdout.lines().collect();
    ensure!(lines.len() == 1, "want one record: {lines:?}");
    ensure!(
        lines[0].starts_with(r#"{"type":"stats","id":"c1","data":{"#),
        "record does not start with type, id, data: {}",
        &lines[0][..lines[0].len().min(120)]
    );
    let v: serde_json::Value =
        serde_json::from_str(lines[0]).map_err(|e| format!("not JSON ({e})"))?;
    let data = serde_json::to_string(&v["data"]).unwrap_or_default();
    let start = lines[0].find(r#""data":"#).unwrap_or(0) + 7;
    let keys = top_keys(&lines[0][start..]);
    let want = ["cpu", "memory", "pids", "blkio", "hugetlb"];
    let pos: Vec<Option<usize>> = want
        .iter()
        .map(|k| keys.iter().position(|x| x == k))
        .collect();
    ensure!(
        pos.iter().all(Option::is_some) && pos.windows(2).all(|w| w[0] < w[1]),
        "data keys {keys:?} not in runc's order {want:?} ({data:.80})"
    );
    Ok(())
}

/// `events --interval 1s`: at least two stats records, each one line.
fn interval_records(ctx: &Ctx) -> TestResult {
    let mut b = ctx.bundle("b")?;
    start_waiting(ctx, "c1", &mut b)?;
    let ev = ctx.spawn(&["events", "--interval", "1s", "c1"])?;
    let res = wait_lines(
        &ev,
        r#"{"type":"stats","id":"c1","data":"#,
        2,
        Duration::from_secs(5),
    );
    go(&b)?;
    ctx.delete_force("c1")?;
    let out = ev.wait(Duration::from_secs(5))?;
    res?;
    ensure!(out.code == 0, "events exited {}: {}", out.code, out.stderr);
    Ok(())
}

/// A payload that allocates past its 16 MiB memory limit: an `oom` record,
/// exactly `{"type":"oom","id":"c1"}`.
fn oom_record(ctx: &Ctx) -> TestResult {
    let mut b = ctx.bundle("b")?;
    memory_limit(&mut b, 16 << 20)?;
    start_waiting(ctx, "c1", &mut b)?;
    let ev = ctx.spawn(&["events", "--interval", "30s", "c1"])?;
    std::thread::sleep(Duration::from_millis(300));
    // tail's one growing line reaches the limit at once; a shell reading
    // 64 MiB through a pipe took over the 10 s command timeout under TCG.
    let out = ctx.rt(&["exec", "c1", "tail", "/dev/zero"])?;
    let res = wait_lines(&ev, r#""oom""#, 1, Duration::from_secs(5));
    let all = ev.stdout_now();
    go(&b)?;
    ctx.delete_force("c1")?;
    let _ = ev.wait(Duration::from_secs(5));
    ensure!(out.code != 0, "the allocation did not fail: {out:?}");
    res?;
    ensure!(
        all.lines()
            .filter(|l| l.contains("\"oom\""))
            .all(|l| l == r#"{"type":"oom","id":"c1"}"#),
        "oom record not in runc's shape: {all:?}"
    );
    Ok(())
}

/// `events` (long interval) ends with exit 0 soon after `kill` + `delete`.
fn exit_after_delete(ctx: &Ctx) -> TestResult {
    let mut b = ctx.bundle("b")?;
    start_waiting(ctx, "c1", &mut b)?;
    let ev = ctx.spawn(&["events", "--interval", "30s", "c1"])?;
    std::thread::sleep(Duration::from_millis(300));
    ctx.rt(&["kill", "c1", "KILL"])?.ok()?;
    ctx.wait_status("c1", "stopped", Duration::from_secs(10))?;
    ctx.rt(&["delete", "c1"])?.ok()?;
    let out = ev.wait(Duration::from_secs(10))?;
    ensure!(
        out.code == 0,
        "events exited {} after delete: {}",
        out.code,
        out.stderr
    );
    Ok(())
}
