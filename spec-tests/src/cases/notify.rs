//! sd_notify through the runtime (runc's NOTIFY_SOCKET): with NOTIFY_SOCKET
//! in the runtime's environment the container gets a socket of its own
//! (named by its NOTIFY_SOCKET), and the runtime forwards the container's
//! READY=1 to the host socket, followed by MAINPID: the init for
//! `create`+`start` and `run -d` (which return only once READY came), the
//! runtime itself for a foreground `run`.

use super::util::sh;
use crate::harness::case::{case, Case, CGROUPV2};
use crate::harness::cmd::{self, Out, Running};
use crate::harness::{config, Bundle, Ctx, Fail, TestResult};
use crate::{ensure, ensure_eq};
use std::os::unix::net::UnixDatagram;
use std::time::Duration;

pub const CASES: &[Case] = &[
    case("notify_socket_create_start", create_start),
    case("notify_socket_run_detached", run_detached).tagged(&[CGROUPV2]),
    case("notify_socket_run_foreground", run_foreground),
];

const WAIT: Duration = Duration::from_secs(15);

/// The host's notify socket (what systemd would listen on).
fn host_socket(ctx: &Ctx) -> Result<(UnixDatagram, String), Fail> {
    let path = ctx.path("host-notify.sock");
    let s = UnixDatagram::bind(&path).map_err(|e| Fail::Fail(format!("bind {path:?}: {e}")))?;
    Ok((s, path.display().to_string()))
}

/// The runtime with NOTIFY_SOCKET=`host` in its environment.
fn spawn_notify(ctx: &Ctx, host: &str, tag: &str, args: &[&str]) -> Result<Running, Fail> {
    let mut c = ctx.command(args);
    c.env("NOTIFY_SOCKET", host);
    cmd::spawn(c, &ctx.dir, tag)
}

fn rt_notify(ctx: &Ctx, host: &str, tag: &str, args: &[&str]) -> Result<Out, Fail> {
    spawn_notify(ctx, host, tag, args)?.wait(WAIT)
}

/// Datagrams already queued on the host socket (none is waited for: the
/// runtime must have forwarded them before it returned).
fn queued(s: &UnixDatagram) -> Result<Vec<String>, Fail> {
    s.set_nonblocking(true)
        .map_err(|e| Fail::Fail(e.to_string()))?;
    let mut v = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = s.recv(&mut buf) {
        v.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    Ok(v)
}

/// Bundle "b", written, whose payload reports READY=1 after a moment and
/// keeps running.
fn ready_later(ctx: &Ctx) -> Result<Bundle, Fail> {
    let mut b = ctx.bundle("b")?;
    sh(
        &mut b,
        &format!(
            "sleep 0.3; {} notify READY=1; exec sleep 30",
            config::CHECKER
        ),
    );
    b.write()?;
    Ok(b)
}

fn expect_forwarded(got: &[String], mainpid: i64) -> TestResult {
    ensure_eq!(
        got.to_vec(),
        vec!["READY=1\n".to_string(), format!("MAINPID={mainpid}\n")],
        "datagrams on the host's notify socket"
    );
    Ok(())
}

/// Container c1's init forwarded READY=1 and its MAINPID; then c1 goes.
fn expect_forwarded_from_c1(ctx: &Ctx, host: &UnixDatagram) -> TestResult {
    let pid = ctx.state("c1")?["pid"].as_i64().unwrap_or(0);
    expect_forwarded(&queued(host)?, pid)?;
    ctx.delete_force("c1")
}

fn create_start(ctx: &Ctx) -> TestResult {
    let (host, path) = host_socket(ctx)?;
    let b = ready_later(ctx)?;
    rt_notify(
        ctx,
        &path,
        "create",
        &["create", "--bundle", b.path(), "c1"],
    )?
    .ok()?;
    ensure!(
        queued(&host)?.is_empty(),
        "something was forwarded before start"
    );
    rt_notify(ctx, &path, "start", &["start", "c1"])?.ok()?;
    expect_forwarded_from_c1(ctx, &host)
}

fn run_detached(ctx: &Ctx) -> TestResult {
    let (host, path) = host_socket(ctx)?;
    let b = ready_later(ctx)?;
    rt_notify(
        ctx,
        &path,
        "run",
        &["run", "-d", "--bundle", b.path(), "c1"],
    )?
    .ok()?;
    expect_forwarded_from_c1(ctx, &host)
}

fn run_foreground(ctx: &Ctx) -> TestResult {
    let (host, path) = host_socket(ctx)?;
    let mut b = ctx.bundle("b")?;
    config::set_checker(&mut b.spec, &["env", "+", "notify", "READY=1"]);
    b.write()?;
    let run = spawn_notify(ctx, &path, "run", &["run", "--bundle", b.path(), "c1"])?;
    let runtime_pid = i64::from(run.pid());
    let out = run.wait(WAIT)?.ok()?;
    ensure!(
        out.stdout.contains("env.NOTIFY_SOCKET=/"),
        "the container has no NOTIFY_SOCKET: {}",
        out.stdout
    );
    ensure!(
        out.stdout.contains("=ok"),
        "the container could not send to its NOTIFY_SOCKET: {}",
        out.stdout
    );
    expect_forwarded(&queued(&host)?, runtime_pid)
}
