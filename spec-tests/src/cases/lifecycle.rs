//! Lifecycle and state transitions (runtime.md): create, start, state, kill,
//! delete, run, list, pid files.

use super::util::{expect_gone, go, procs_rooted_in, sh, start_waiting};
use crate::harness::case::{case, Case, CGROUP, CGROUPV2};
use crate::harness::{read, Ctx, Fail, TestResult};
use crate::{ensure, ensure_eq};
use std::time::Duration;

pub const CASES: &[Case] = &[
    case("lifecycle_full", lifecycle_full).tagged(&[CGROUPV2]),
    case(
        "lifecycle_create_does_not_run_payload",
        create_does_not_run_payload,
    )
    .tagged(&[CGROUPV2]),
    case("run_exit_status", run_exit_status).tagged(&[CGROUPV2]),
    case("run_signal_exit_status", run_signal_exit_status).tagged(&[CGROUPV2]),
    case("run_parallel_exit_status", run_parallel_exit_status),
    case("run_detach", run_detach).tagged(&[CGROUPV2]),
    case("run_keep", run_keep).tagged(&[CGROUPV2]),
    case("kill_signal_forms", kill_signal_forms).tagged(&[CGROUPV2]),
    case("kill_all", kill_all).tagged(&[CGROUP]),
    case("kill_stopped_fails", kill_stopped_fails).tagged(&[CGROUPV2]),
    case("start_twice_fails", start_twice_fails).tagged(&[CGROUPV2]),
    case("start_stopped_fails", start_stopped_fails).tagged(&[CGROUPV2]),
    case("delete_running_needs_force", delete_running_needs_force).tagged(&[CGROUPV2]),
    case("delete_created", delete_created).tagged(&[CGROUPV2]),
    case("list_formats", list_formats).tagged(&[CGROUPV2]),
    case("pid_file", pid_file).tagged(&[CGROUPV2]),
    case("duplicate_id_fails", duplicate_id_fails).tagged(&[CGROUPV2]),
];

const WAIT: Duration = Duration::from_secs(10);

/// Check the state document of a container against the OCI state schema.
fn check_state(st: &serde_json::Value, id: &str, status: &str, bundle: &str) -> TestResult {
    ensure_eq!(st["id"], id, "state.id");
    ensure_eq!(st["status"], status, "state.status");
    ensure_eq!(st["bundle"], bundle, "state.bundle");
    let oci = st["ociVersion"].as_str().unwrap_or("");
    ensure!(oci.starts_with("1."), "state.ociVersion {oci:?}");
    if status != "stopped" {
        let pid = st["pid"].as_i64().unwrap_or(0);
        ensure!(pid > 0, "state.pid {} for a {status} container", st["pid"]);
    }
    let created = st["created"].as_str().unwrap_or("");
    ensure!(
        created.len() >= 20 && created.as_bytes()[10] == b'T',
        "state.created {created:?} is not an RFC 3339 time"
    );
    ensure_eq!(st["rootfs"], format!("{bundle}/rootfs"), "state.rootfs");
    Ok(())
}

fn lifecycle_full(ctx: &Ctx) -> TestResult {
    let mut b = ctx.bundle("b")?;
    super::util::until_go(&mut b);
    ctx.create("c1", &b)?.ok()?;
    let st = ctx.state("c1")?;
    check_state(&st, "c1", "created", b.path())?;
    let pid = st["pid"].as_i64().unwrap_or(0);
    ensure!(
        std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "created container's pid {pid} does not exist"
    );
    ctx.rt(&["start", "c1"])?.ok()?;
    let st = ctx.state("c1")?;
    check_state(&st, "c1", "running", b.path())?;
    ensure_eq!(st["pid"].as_i64(), Some(pid), "pid after start");
    go(&b)?;
    ctx.wait_status("c1", "stopped", WAIT)?;
    check_state(&ctx.state("c1")?, "c1", "stopped", b.path())?;
    ctx.rt(&["delete", "c1"])?.ok()?;
    expect_gone(ctx, "c1")?;
    ensure!(!ctx.root.join("c1").exists(), "state dir left after delete");
    Ok(())
}

fn create_does_not_run_payload(ctx: &Ctx) -> TestResult {
    let mut b = ctx.bundle("b")?;
    sh(&mut b, "echo ran > /tmp/ran");
    let out = ctx.create("c1", &b)?.ok()?;
    std::thread::sleep(Duration::from_millis(200));
    ensure!(
        !b.rootfs().join("tmp/ran").exists(),
        "the payload ran before start"
    );
    ctx.rt(&["start", "c1"])?.ok()?;
    ctx.wait_status("c1", "stopped", WAIT)?;
    ensure_eq!(
        read(&b.rootfs().join("tmp/ran"))?,
        "ran\n",
        "payload output"
    );
    ensure_eq!(out.stdout_now(), "", "container stdout");
    ctx.rt(&["delete", "c1"])?.ok()?;
    Ok(())
}

fn run_exit_status(ctx: &Ctx) -> TestResult {
    let mut b = ctx.bundle("b")?;
    sh(&mut b, "echo hello; exit 3");
    let out = ctx.run("c1", &b)?.code(3)?;
    ensure_eq!(out.stdout, "hello\n", "payload stdout");
    expect_gone(ctx, "c1")?;
    sh(&mut b, "exit 0");
    ctx.run("c2", &b)?.code(0)?;
    Ok(())
}

fn run_signal_exit_status(ctx: &Ctx) -> TestResult {
    let mut b = ctx.bundle("b")?;
    super::util::until_go(&mut b);
    b.write()?;
    let run = ctx.spawn(&["run", "--bundle", b.path(), "c1"])?;
    let mut tries = 0;
    while ctx.rt(&["state", "c1"])?.code != 0 || ctx.state("c1")?["status"] != "running" {
        tries += 1;
        ensure!(tries < 500, "container never reached running");
        std::thread::sleep(Duration::from_millis(10));
    }
    ctx.rt(&["kill", "c1", "KILL"])?.ok()?;
    run.wait(WAIT)?.code(137)?;
    expect_gone(ctx, "c1")
}

/// Payloads that exit at once, many runs at a time: `run` must never miss
/// an exit (a runtime that starts waiting too late hangs here).
fn run_parallel_exit_status(ctx: &Ctx) -> TestResult {
    let mut b = ctx.bundle("b")?;
    sh(&mut b, "exit 7");
    b.write()?;
    for round in 0..4 {
        let runs = (0..8)
            .map(|i| ctx.spawn(&["run", "--bundle", b.path(), &format!("p{round}-{i}")]))
            .collect::<Result<Vec<_>, _>>()?;
        for r in runs {
            r.wait(WAIT)?.code(7)?;
        }
    }
    Ok(())
}

fn run_detach(ctx: &Ctx) -> TestResult {
    let mut b = ctx.bundle("b")?;
    super::util::until_go(&mut b);
    b.write()?;
    ctx.rt(&["run", "-d", "--bundle", b.path(), "c1"])?.ok()?;
    check_state(&ctx.state("c1")?, "c1", "running", b.path())?;
    go(&b)?;
    ctx.wait_status("c1", "stopped", WAIT)?;
    ctx.rt(&["delete", "c1"])?.ok()?;
    expect_gone(ctx, "c1")
}

fn run_keep(ctx: &Ctx) -> TestResult {
    let mut b = ctx.bundle("b")?;
    sh(&mut b, "exit 0");
    b.write()?;
    ctx.rt(&["run", "--keep", "--bundle", b.path(), "c1"])?
        .ok()?;
    check_state(&ctx.state("c1")?, "c1", "stopped", b.path())?;
    ctx.rt(&["delete", "c1"])?.ok()?;
    expect_gone(ctx, "c1")
}

fn kill_signal_forms(ctx: &Ctx) -> TestResult {
    for (i, sig) in ["KILL", "SIGKILL", "9"].iter().enumerate() {
        let id = format!("c{i}");
        let mut b = ctx.bundle(&format!("b{i}"))?;
        start_waiting(ctx, &id, &mut b)?;
        ctx.rt(&["kill", &id, sig])
            .and_then(|o| o.ok())
            .map_err(|e| Fail::Fail(format!("kill {sig}: {e:?}")))?;
        ctx.wait_status(&id, "stopped", WAIT)?;
        ctx.rt(&["delete", &id])?.ok()?;
    }
    Ok(())
}

fn kill_all(ctx: &Ctx) -> TestResult {
    let mut b = ctx.bundle("b")?;
    // Two extra processes next to the init; kill --all must reach them all.
    sh(
        &mut b,
        "sleep 300 & sleep 301 & touch /tmp/ready; while [ ! -e /tmp/go ]; do sleep 0.02; done",
    );
    ctx.create("c1", &b)?.ok()?;
    ctx.rt(&["start", "c1"])?.ok()?;
    super::util::wait_file(&b.rootfs().join("tmp/ready"), WAIT)?;
    ensure!(
        procs_rooted_in(&b).len() >= 3,
        "expected 3 processes in the container, found {:?}",
        procs_rooted_in(&b)
    );
    ctx.rt(&["kill", "--all", "c1", "KILL"])?.ok()?;
    ctx.wait_status("c1", "stopped", WAIT)?;
    ctx.rt(&["delete", "c1"])?.ok()?;
    let start = std::time::Instant::now();
    while !procs_rooted_in(&b).is_empty() {
        ensure!(
            start.elapsed() < Duration::from_secs(2),
            "processes survived kill --all: {:?}",
            procs_rooted_in(&b)
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(())
}

fn kill_stopped_fails(ctx: &Ctx) -> TestResult {
    let mut b = ctx.bundle("b")?;
    sh(&mut b, "exit 0");
    b.write()?;
    ctx.rt(&["run", "--keep", "--bundle", b.path(), "c1"])?
        .ok()?;
    let out = ctx.rt(&["kill", "c1", "KILL"])?.code(1)?;
    ensure!(
        out.stderr.contains("container not running"),
        "kill of a stopped container: stderr {:?}",
        out.stderr.trim()
    );
    ctx.rt(&["delete", "c1"])?.ok()?;
    Ok(())
}

fn start_twice_fails(ctx: &Ctx) -> TestResult {
    let mut b = ctx.bundle("b")?;
    start_waiting(ctx, "c1", &mut b)?;
    let out = ctx.rt(&["start", "c1"])?.code(1)?;
    ensure!(
        out.stderr
            .contains("cannot start an already running container"),
        "second start: stderr {:?}",
        out.stderr.trim()
    );
    ensure_eq!(
        ctx.state("c1")?["status"],
        "running",
        "status after 2nd start"
    );
    ctx.delete_force("c1")
}

fn start_stopped_fails(ctx: &Ctx) -> TestResult {
    let mut b = ctx.bundle("b")?;
    sh(&mut b, "exit 0");
    b.write()?;
    ctx.rt(&["run", "--keep", "--bundle", b.path(), "c1"])?
        .ok()?;
    let out = ctx.rt(&["start", "c1"])?.code(1)?;
    ensure!(
        out.stderr
            .contains("cannot start a container that has stopped"),
        "start of a stopped container: stderr {:?}",
        out.stderr.trim()
    );
    ctx.rt(&["delete", "c1"])?.ok()?;
    Ok(())
}

fn delete_running_needs_force(ctx: &Ctx) -> TestResult {
    let mut b = ctx.bundle("b")?;
    start_waiting(ctx, "c1", &mut b)?;
    let out = ctx.rt(&["delete", "c1"])?.code(1)?;
    ensure!(
        out.stderr
            .contains("cannot delete container c1 that is not stopped"),
        "delete of a running container: stderr {:?}",
        out.stderr.trim()
    );
    ensure_eq!(ctx.state("c1")?["status"], "running", "status after delete");
    ctx.rt(&["delete", "--force", "c1"])?.ok()?;
    expect_gone(ctx, "c1")?;
    ensure!(
        procs_rooted_in(&b).is_empty(),
        "processes left after delete --force: {:?}",
        procs_rooted_in(&b)
    );
    Ok(())
}

fn delete_created(ctx: &Ctx) -> TestResult {
    let b = ctx.bundle("b")?;
    ctx.create("c1", &b)?.ok()?;
    ctx.rt(&["delete", "c1"])?.ok()?;
    expect_gone(ctx, "c1")?;
    super::util::expect_nothing_left(ctx, "c1", &b)
}

fn list_formats(ctx: &Ctx) -> TestResult {
    let b1 = ctx.bundle("b1")?;
    let b2 = ctx.bundle("b2")?;
    ctx.create("alpha", &b1)?.ok()?;
    ctx.create("beta", &b2)?.ok()?;
    let table = ctx.rt(&["list"])?.ok()?.stdout;
    let header: Vec<&str> = table
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    ensure_eq!(
        header,
        vec!["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"],
        "list header"
    );
    let rows: Vec<Vec<&str>> = table
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().collect())
        .collect();
    ensure_eq!(rows.len(), 2, "list rows");
    ensure_eq!(rows[0][0], "alpha", "first row id");
    ensure_eq!(rows[0][2], "created", "first row status");
    ensure_eq!(rows[0][3], b1.path(), "first row bundle");
    ensure_eq!(rows[0][5], "root", "first row owner");
    let quiet = ctx.rt(&["list", "-q"])?.ok()?.stdout;
    ensure_eq!(quiet, "alpha\nbeta\n", "list -q");
    let json = ctx.rt(&["list", "--format", "json"])?.ok()?.stdout;
    let v: serde_json::Value =
        serde_json::from_str(&json).map_err(|e| format!("list --format json: {e}: {json}"))?;
    let arr = v.as_array().ok_or("list json is not an array")?;
    ensure_eq!(arr.len(), 2, "list json entries");
    let alpha = arr
        .iter()
        .find(|e| e["id"] == "alpha")
        .ok_or("no alpha in list json")?;
    ensure_eq!(alpha["status"], "created", "alpha status");
    ensure_eq!(alpha["bundle"], b1.path(), "alpha bundle");
    ensure!(
        alpha["pid"].as_i64().unwrap_or(0) > 0,
        "alpha pid {}",
        alpha["pid"]
    );
    ensure_eq!(alpha["owner"], "root", "alpha owner");
    ensure!(
        alpha["created"].is_string(),
        "alpha created {}",
        alpha["created"]
    );
    ctx.rt(&["delete", "alpha"])?.ok()?;
    ctx.rt(&["delete", "beta"])?.ok()?;
    Ok(())
}

fn pid_file(ctx: &Ctx) -> TestResult {
    let b = ctx.bundle("b")?;
    b.write()?;
    let pf = ctx.path("pid");
    let pfs = pf.to_str().unwrap_or_default();
    ctx.rt(&["create", "--bundle", b.path(), "--pid-file", pfs, "c1"])?
        .ok()?;
    let text = read(&pf)?;
    let pid: i64 = text
        .trim()
        .parse()
        .map_err(|e| format!("pid file {text:?}: {e}"))?;
    ensure_eq!(
        Some(pid),
        ctx.state("c1")?["pid"].as_i64(),
        "pid file vs state"
    );
    ctx.rt(&["delete", "c1"])?.ok()?;
    Ok(())
}

fn duplicate_id_fails(ctx: &Ctx) -> TestResult {
    let b1 = ctx.bundle("b1")?;
    let b2 = ctx.bundle("b2")?;
    ctx.create("c1", &b1)?.ok()?;
    let before = ctx.state("c1")?;
    b2.write()?;
    let out = ctx.rt(&["create", "--bundle", b2.path(), "c1"])?.code(1)?;
    ensure!(
        out.stderr
            .contains("container with given ID already exists"),
        "duplicate create: stderr {:?}",
        out.stderr.trim()
    );
    let after = ctx.state("c1")?;
    check_state(&after, "c1", "created", b1.path())?;
    ensure_eq!(after["pid"], before["pid"], "pid of the first container");
    ensure!(
        procs_rooted_in(&b2).is_empty(),
        "the duplicate left processes: {:?}",
        procs_rooted_in(&b2)
    );
    ctx.rt(&["delete", "c1"])?.ok()?;
    Ok(())
}
