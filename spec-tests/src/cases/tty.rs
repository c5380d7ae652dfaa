//! Terminals with `--console-socket`: the pty master reaches the receiver
//! (our own, as containerd's shim would), consoleSize is applied, input and
//! output flow, for `run` and `exec -t`.

use super::util::{sh, start_waiting, wait_file};
use crate::ensure;
use crate::harness::case::{case, Case};
use crate::harness::cmd::{spawn, Running};
use crate::harness::{config, Ctx, Fail, TestResult};
use std::process::Command;
use std::time::Duration;

pub const CASES: &[Case] = &[
    case("tty_run_console_socket", tty_run),
    case("tty_exec_console_socket", tty_exec),
    case("tty_without_console_socket_fails", tty_without_socket),
];

const WAIT: Duration = Duration::from_secs(15);

/// Starts the receiver on a socket in the case's dir; returns it and the path.
pub(super) fn receiver(ctx: &Ctx, input: &str) -> Result<(Running, String), Fail> {
    let exe = std::env::current_exe().map_err(|e| Fail::Fail(e.to_string()))?;
    let recv = exe.with_file_name("berth-console-recv");
    let sock = ctx.path("console.sock").display().to_string();
    let mut cmd = Command::new(recv);
    cmd.args([&sock, input, "10"]);
    let r = spawn(cmd, &ctx.path(""), "recv")?;
    wait_file(std::path::Path::new(&format!("{sock}.ready")), WAIT)?;
    Ok((r, sock))
}

fn tty_run(ctx: &Ctx) -> TestResult {
    let mut b = ctx.bundle("b")?;
    sh(&mut b, "stty size; tty; read l; echo got:$l");
    config::set_terminal(&mut b.spec, 33, 101);
    b.write()?;
    let (recv, sock) = receiver(ctx, "hello\n")?;
    ctx.rt(&[
        "run",
        "-d",
        "--console-socket",
        &sock,
        "--bundle",
        b.path(),
        "c1",
    ])?
    .ok()?;
    let out = recv.wait(WAIT)?.ok()?;
    ensure!(
        out.stdout.contains("33 101"),
        "consoleSize not applied: {:?}",
        out.stdout
    );
    ensure!(
        out.stdout.contains("/dev/pts/"),
        "stdin is not a pty: {:?}",
        out.stdout
    );
    ensure!(
        out.stdout.contains("got:hello"),
        "input did not reach the container: {:?}",
        out.stdout
    );
    ctx.wait_status("c1", "stopped", WAIT)?;
    ctx.rt(&["delete", "c1"])?.ok()?;
    Ok(())
}

fn tty_exec(ctx: &Ctx) -> TestResult {
    let mut b = ctx.bundle("b")?;
    start_waiting(ctx, "c1", &mut b)?;
    let (recv, sock) = receiver(ctx, "world\n")?;
    let script = "tty; read l; echo got:$l";
    ctx.rt(&[
        "exec",
        "-t",
        "-d",
        "--console-socket",
        &sock,
        "c1",
        "sh",
        "-c",
        script,
    ])?
    .ok()?;
    let out = recv.wait(WAIT)?.ok()?;
    ensure!(
        out.stdout.contains("/dev/pts/"),
        "exec -t stdin is not a pty: {:?}",
        out.stdout
    );
    ensure!(
        out.stdout.contains("got:world"),
        "input did not reach the process: {:?}",
        out.stdout
    );
    ctx.delete_force("c1")
}

fn tty_without_socket(ctx: &Ctx) -> TestResult {
    let mut b = ctx.bundle("b")?;
    config::set_terminal(&mut b.spec, 24, 80);
    b.write()?;
    let out = ctx
        .rt(&["run", "-d", "--bundle", b.path(), "c1"])?
        .code(1)?;
    ensure!(
        out.stderr.contains("console socket"),
        "stderr: {}",
        out.stderr
    );
    ensure!(!ctx.root.join("c1").exists(), "state dir left behind");
    Ok(())
}
