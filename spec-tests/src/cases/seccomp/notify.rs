//! SCMP_ACT_NOTIFY with `listenerPath`: the runtime hands each filter's
//! listener fd to our agent (berth-seccomp-agent) with the container process
//! state, and the agent's answers are what the container sees. The agent
//! makes mkdir/mkdirat fail with the errno of `listenerMetadata` and getpgid
//! return its value; it exits by itself once every listener is gone, and
//! after a timeout in any case.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use super::super::errors::create_fails;
use super::super::util::{go, known_runc_1_1_gap, start_waiting, wait_file};
use super::set_seccomp;
use crate::harness::cmd::spawn;
use crate::harness::{config, read, Bundle, Ctx, Facts, Fail, TestResult};
use crate::{ensure, ensure_eq};

/// How long the agent lives at most.
const AGENT_TIMEOUT_SECS: &str = "30";
const METADATA: &str = "errno=18;value=4242";

fn profile(listener: Option<&Path>) -> serde_json::Value {
    let mut p = serde_json::json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [
            {"names": ["mkdir", "mkdirat", "getpgid"], "action": "SCMP_ACT_NOTIFY"}
        ]
    });
    if let Some(l) = listener {
        p["listenerPath"] = l.display().to_string().into();
        p["listenerMetadata"] = METADATA.into();
    }
    p
}

/// What the agent saw.
struct Served<T> {
    /// The body's result.
    value: T,
    /// The container process states, in the order they came.
    states: Vec<serde_json::Value>,
    /// Whether the runtime closed each connection after its state (checked
    /// last by the cases, so that runc 1.1's deviation hides nothing else).
    closed: TestResult,
}

/// Runs `body` while the agent serves `conns` connections on `sock`.
fn with_agent<T>(
    ctx: &Ctx,
    sock: &Path,
    conns: usize,
    body: impl FnOnce() -> Result<T, Fail>,
) -> Result<Served<T>, Fail> {
    let exe = std::env::current_exe().map_err(|e| Fail::Fail(e.to_string()))?;
    let out = ctx.path("agent");
    std::fs::create_dir(&out).map_err(|e| Fail::Fail(format!("mkdir {out:?}: {e}")))?;
    let mut cmd = Command::new(exe.with_file_name("berth-seccomp-agent"));
    cmd.arg(sock)
        .arg(&out)
        .arg(conns.to_string())
        .arg(AGENT_TIMEOUT_SECS);
    let agent = spawn(cmd, &ctx.dir, "agent")?;
    let result = wait_file(&out.join("ready"), Duration::from_secs(5)).and_then(|_| body());
    // After a failure, stop the agent at once; otherwise it ends by itself
    // once the container's processes (and so the listeners) are gone.
    let grace = if result.is_ok() { 10 } else { 0 };
    let exit = agent.wait(Duration::from_secs(grace));
    let value = result?;
    let exit = exit?;
    let log = read(&out.join("log")).unwrap_or_default();
    ensure!(
        exit.code == 0,
        "agent exited {}: {} | log: {log}",
        exit.code,
        exit.stderr.trim()
    );
    let mut states = Vec::new();
    for i in 0..conns {
        let text = read(&out.join(format!("state-{i}.json")))?;
        states
            .push(serde_json::from_str(&text).map_err(|e| Fail::Fail(format!("state {i}: {e}")))?);
    }
    // The spec: "it MUST be closed after sending a seccomp state". runc 1.1
    // closes only a dup of the connection and keeps the socket open until
    // it exits.
    let closed = (0..conns).try_for_each(|i| {
        let c = read(&out.join(format!("conn-{i}")))?;
        ensure!(c == "closed", "connection {i} left {c} after the state");
        Ok(())
    });
    Ok(Served {
        value,
        states,
        closed: known_runc_1_1_gap(ctx, "seccomp agent connection left open", closed),
    })
}

/// The checks every container process state must pass.
fn check_state(s: &serde_json::Value, b: &Bundle, status: &str) -> TestResult {
    ensure!(
        s["ociVersion"].as_str().is_some_and(|v| !v.is_empty()),
        "ociVersion: {s}"
    );
    ensure_eq!(s["fds"], serde_json::json!(["seccompFd"]), "fds");
    ensure_eq!(s["metadata"], serde_json::json!(METADATA), "metadata");
    ensure_eq!(s["state"]["id"], serde_json::json!("c1"), "state.id");
    ensure_eq!(
        s["state"]["status"],
        serde_json::json!(status),
        "state.status"
    );
    ensure_eq!(
        s["state"]["bundle"],
        serde_json::json!(b.path()),
        "state.bundle"
    );
    ensure!(s["pid"].as_i64().is_some_and(|p| p > 0), "pid: {s}");
    Ok(())
}

/// The agent's answers as the container sees them.
fn expect_answers(f: &Facts, b: &Bundle) -> TestResult {
    f.expect("sys:mkdir", "err:18")?;
    f.expect("sys:getpgid", "4242")?;
    super::expect_success(f, "sys:getpid")?;
    ensure!(!b.rootfs().join("tmp/n").exists(), "mkdir went through");
    Ok(())
}

/// `run` with noNewPrivileges (the filter is loaded late, yet while the
/// runtime can still take the listener fd).
pub fn run(ctx: &Ctx) -> TestResult {
    let mut b = ctx.bundle("b")?;
    let sock = ctx.path("agent.sock");
    set_seccomp(&mut b, profile(Some(&sock)))?;
    config::set_checker(
        &mut b.spec,
        &[
            "seccomp",
            "+",
            "sys",
            "mkdir:/tmp/n",
            "+",
            "sys",
            "mkdirat:/tmp/n",
        ]
        .into_iter()
        .chain(["+", "sys", "getpgid", "+", "sys", "getpid"])
        .collect::<Vec<_>>(),
    );
    let served = with_agent(ctx, &sock, 1, || ctx.run("c1", &b)?.ok())?;
    let f = Facts::parse(&served.value.stdout);
    f.expect("seccomp", "2")?;
    f.expect("sys:mkdirat", "err:18")?;
    f.expect("sys:getpid", "1")?;
    expect_answers(&f, &b)?;
    let s = &served.states[0];
    check_state(s, &b, "creating")?;
    ensure_eq!(
        s["pid"],
        s["state"]["pid"],
        "pid of the init and of the container"
    );
    served.closed
}

/// Without noNewPrivileges; each exec'd process (with and without
/// --no-new-privs) gets its own listener, sent with the running container's
/// state.
pub fn exec(ctx: &Ctx) -> TestResult {
    let mut b = ctx.bundle("b")?;
    config::process_mut(&mut b.spec).set_no_new_privileges(Some(false));
    let sock = ctx.path("agent.sock");
    set_seccomp(&mut b, profile(Some(&sock)))?;
    let served = with_agent(ctx, &sock, 3, || {
        start_waiting(ctx, "c1", &mut b)?;
        let init = ctx.state("c1")?["pid"].clone();
        let checks = [
            config::CHECKER,
            "sys",
            "mkdir:/tmp/n",
            "+",
            "sys",
            "getpgid",
            "+",
            "sys",
            "getpid",
        ];
        let plain = ctx.rt(&[&["exec", "c1"][..], &checks].concat());
        let nnp = ctx.rt(&[&["exec", "--no-new-privs", "c1"][..], &checks].concat());
        go(&b)?;
        ctx.wait_status("c1", "stopped", Duration::from_secs(10))?;
        ctx.rt(&["delete", "c1"])?.ok()?;
        Ok(([plain?.ok()?, nnp?.ok()?], init))
    })?;
    let ((outs, init), states) = (&served.value, &served.states);
    for out in outs {
        expect_answers(&Facts::parse(&out.stdout), &b)
            .map_err(|e| Fail::Fail(format!("`{}`: {e:?}", out.cmdline)))?;
    }
    check_state(&states[0], &b, "creating")?;
    ensure_eq!(states[0]["pid"], *init, "pid in the init's state");
    for s in &states[1..] {
        check_state(s, &b, "running")?;
        ensure_eq!(s["state"]["pid"], *init, "state.pid for an exec'd process");
        ensure!(
            s["pid"] != *init,
            "an exec'd process's state names the init: {s}"
        );
    }
    served.closed
}

/// NOTIFY without listenerPath, and with no agent listening: create fails
/// with a clear error and leaves nothing behind.
pub fn errors(ctx: &Ctx) -> TestResult {
    let mut b = ctx.bundle("b1")?;
    set_seccomp(&mut b, profile(None))?;
    b.write()?;
    // runc: "listenerPath is not set".
    create_fails(ctx, &b, &["listenerPath"])?;
    let mut b = ctx.bundle("b2")?;
    set_seccomp(&mut b, profile(Some(&ctx.path("nobody.sock"))))?;
    b.write()?;
    // runc: "failed to connect with seccomp agent specified in the seccomp profile".
    create_fails(
        ctx,
        &b,
        &["failed to connect with seccomp agent", "nobody.sock"],
    )
}
