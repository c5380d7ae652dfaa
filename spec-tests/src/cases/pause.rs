//! `pause` and `resume`: status transitions, runc's errors, and deleting a
//! paused container.

use super::util::{expect_gone, procs_rooted_in, start_waiting};
use crate::harness::case::{case, Case, CGROUP};
use crate::harness::{Ctx, TestResult};
use crate::{ensure, ensure_eq};
use std::time::{Duration, Instant};

pub const CASES: &[Case] = &[
    case("pause_resume", pause_resume).tagged(&[CGROUP]),
    case("delete_paused", delete_paused).tagged(&[CGROUP]),
];

fn status(ctx: &Ctx, id: &str) -> Result<String, crate::harness::Fail> {
    Ok(ctx.state(id)?["status"].as_str().unwrap_or("").to_string())
}

fn pause_resume(ctx: &Ctx) -> TestResult {
    let mut b = ctx.bundle("b")?;
    start_waiting(ctx, "c1", &mut b)?;
    let out = ctx.rt(&["resume", "c1"])?.code(1)?;
    ensure!(
        out.stderr.contains("not paused"),
        "resume of a running container: {}",
        out.stderr
    );
    ctx.rt(&["pause", "c1"])?.ok()?;
    ensure_eq!(status(ctx, "c1")?, "paused", "status after pause");
    let list = ctx.rt(&["list"])?.ok()?;
    ensure!(
        list.stdout.contains("paused"),
        "list does not show paused: {}",
        list.stdout
    );
    let out = ctx.rt(&["pause", "c1"])?.code(1)?;
    ensure!(
        out.stderr.contains("not running"),
        "pause of a paused container: {}",
        out.stderr
    );
    ctx.rt(&["resume", "c1"])?.ok()?;
    ensure_eq!(status(ctx, "c1")?, "running", "status after resume");
    ctx.delete_force("c1")
}

fn delete_paused(ctx: &Ctx) -> TestResult {
    let mut b = ctx.bundle("b")?;
    start_waiting(ctx, "c1", &mut b)?;
    ctx.rt(&["pause", "c1"])?.ok()?;
    let out = ctx.rt(&["delete", "c1"])?.code(1)?;
    ensure!(
        out.stderr.contains("not stopped"),
        "delete of a paused container: {}",
        out.stderr
    );
    ctx.rt(&["delete", "--force", "c1"])?.ok()?;
    expect_gone(ctx, "c1")?;
    let start = Instant::now();
    while !procs_rooted_in(&b).is_empty() {
        ensure!(
            start.elapsed() < Duration::from_secs(5),
            "processes survived delete --force of a paused container: {:?}",
            procs_rooted_in(&b)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}
