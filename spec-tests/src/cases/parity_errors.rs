//! runc's error texts where clients match them (issue 12, section 1): a
//! payload that cannot be exec'd (`exec /run.sh: no such file or
//! directory`, from the process itself with exit status 255 after `start`
//! or `exec` succeeded; and the forms of the lookup before it), a failing hook
//! (`error running <kind> hook #N: …`), an unreachable seccomp agent,
//! `unified` with cgroup v1, /proc on a symlink; and runc's warning for an
//! ambient capability the kernel will not raise.

use super::util::{check_json_log, host_cgroup_v2, is_runc_1_1, sh};
use crate::harness::case::{case, Case, CGROUP};
use crate::harness::cmd::Out;
use crate::harness::{config, write_script, Bundle, Ctx, Fail, TestResult};
use crate::{ensure, ensure_eq};

pub const CASES: &[Case] = &[
    case("parity_error_execve", execve),
    case("parity_execve_after_start", execve_after_start),
    case("parity_error_exec_lookup", exec_lookup),
    case("parity_error_hook", hook),
    case("parity_error_hook_timeout", hook_timeout),
    case("parity_error_proc_on_symlink", proc_on_symlink),
    case("parity_error_unified_on_v1", unified_on_v1).tagged(&[CGROUP]),
    case("parity_caps_ambient_warning", ambient_warning),
];

/// On runc 1.1, which predates `what` (current runc's wording or
/// behaviour), a failure becomes a skip.
fn newer_runc(ctx: &Ctx, what: &str, res: TestResult) -> TestResult {
    match res {
        Err(Fail::Fail(m)) if is_runc_1_1(ctx) => {
            Err(Fail::Skip(format!("runc 1.1 predates {what}: {m}")))
        }
        other => other,
    }
}

/// A failed command whose one stderr line carries `text` verbatim; with
/// `log`, the JSON log's last error record carries it too.
fn expect_text(out: &Out, log: Option<&std::path::Path>, text: &str) -> TestResult {
    ensure!(
        out.code != 0,
        "`{}` succeeded; stdout {:?}",
        out.cmdline,
        out.stdout
    );
    let lines: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| !l.trim().is_empty())
        .collect();
    ensure!(
        lines.len() == 1 && lines[0].contains(text),
        "`{}`: want one stderr line with {text:?}, got {:?}",
        out.cmdline,
        out.stderr
    );
    match log {
        Some(log) => check_json_log(log, &[text]),
        None => Ok(()),
    }
}

/// A bundle whose rootfs has /run.sh, a script whose interpreter is
/// missing (its execve fails with ENOENT), and /garbage, an executable
/// file of no known format (ENOEXEC).
fn bundle_with_bad_payloads(ctx: &Ctx) -> Result<Bundle, Fail> {
    let b = ctx.bundle("b")?;
    std::fs::write(b.rootfs().join("run.sh"), "#!/mmnnttbb foo bar\nsh\n")
        .map_err(|e| Fail::Fail(format!("write run.sh: {e}")))?;
    set_mode(&b.rootfs().join("run.sh"), 0o755)?;
    std::fs::write(b.rootfs().join("garbage"), b"garbage\0\x01")
        .map_err(|e| Fail::Fail(format!("write garbage: {e}")))?;
    set_mode(&b.rootfs().join("garbage"), 0o755)?;
    Ok(b)
}

/// execve itself fails (the file is there and executable): `run` and
/// `exec` print runc's `exec <path>: <errno>` (Go's errno text), not
/// Rust's `No such file or directory (os error 2)`. The process prints it
/// on its stderr after the hand-off, as runc's does, so no log has it.
fn execve(ctx: &Ctx) -> TestResult {
    let mut b = bundle_with_bad_payloads(ctx)?;
    for (arg, text) in [
        ("/run.sh", "exec /run.sh: no such file or directory"),
        ("/garbage", "exec /garbage: exec format error"),
    ] {
        config::set_args(&mut b.spec, &[arg]);
        b.write()?;
        let out = ctx.rt(&["run", "--bundle", b.path(), "c1"])?;
        delete_if_present(ctx)?;
        expect_text(&out, None, text)?;
    }
    super::util::start_waiting(ctx, "c1", &mut b)?;
    let res = (|| {
        let out = ctx.rt(&["exec", "c1", "/run.sh"])?;
        expect_text(&out, None, "exec /run.sh: no such file or directory")
    })();
    ctx.delete_force("c1")?;
    res
}

/// A failed execve is the payload's failure, not the runtime's (current
/// runc): `start` and `exec -d` succeed, the process prints the one line
/// `exec /run.sh: no such file or directory` on its own stderr and exits
/// 255, so `run` and `exec` exit 255 with exactly that line. runc 1.1.5
/// exits 1 there (255 came with runc 1.2's init rework for
/// CVE-2024-21626): a skip on runc 1.1 once the texts have passed.
fn execve_after_start(ctx: &Ctx) -> TestResult {
    const TEXT: &str = "exec /run.sh: no such file or directory";
    let mut b = bundle_with_bad_payloads(ctx)?;
    config::set_args(&mut b.spec, &["/run.sh"]);
    let created = ctx.create("c1", &b)?.ok()?;
    let start = ctx.rt(&["start", "c1"])?;
    ensure_eq!((start.code, start.stderr.as_str()), (0, ""), "start");
    ctx.wait_status("c1", "stopped", std::time::Duration::from_secs(10))?;
    // The init's stderr is the one `create` passed on.
    stderr_line_appears(&created, TEXT)?;
    ctx.delete_force("c1")?;
    let run = ctx.rt(&["run", "--bundle", b.path(), "c1"])?;
    delete_if_present(ctx)?;
    ensure_eq!(run.stderr.trim(), TEXT, "stderr of run");
    super::util::start_waiting(ctx, "c1", &mut b)?;
    let res = (|| {
        let detached = ctx.rt(&["exec", "-d", "c1", "/run.sh"])?.ok()?;
        stderr_line_appears(&detached, TEXT)?;
        let exec = ctx.rt(&["exec", "c1", "/run.sh"])?;
        ensure_eq!(exec.stderr.trim(), TEXT, "stderr of exec");
        Ok((run.code, exec.code))
    })();
    ctx.delete_force("c1")?;
    let codes = res?;
    newer_runc(
        ctx,
        "exit status 255 of a failed execve",
        (|| {
            ensure_eq!(codes, (255, 255), "exit status of run and exec");
            Ok(())
        })(),
    )
}

/// `out`'s stderr file (`<tag>.err`, next to its stdout) gets the one line
/// `text` within a few seconds: a process the command left behind writes it.
fn stderr_line_appears(out: &Out, text: &str) -> TestResult {
    let path = out.stdout_path.with_extension("err");
    let t0 = std::time::Instant::now();
    loop {
        let got = std::fs::read_to_string(&path).unwrap_or_default();
        if got.trim() == text || t0.elapsed() > std::time::Duration::from_secs(5) {
            ensure_eq!(got.trim(), text, format!("{}", path.display()));
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

fn set_mode(p: &std::path::Path, mode: u32) -> TestResult {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode))
        .map_err(|e| Fail::Fail(format!("chmod {}: {e}", p.display())))
}

fn delete_if_present(ctx: &Ctx) -> TestResult {
    if ctx.rt(&["state", "c1"])?.code == 0 {
        ctx.delete_force("c1")?;
    }
    Ok(())
}

/// args[0] that cannot be exec'd, found before execve (Go's exec.LookPath
/// in runc): `create` and `exec` fail with `exec: "<arg>": <why>`. A
/// directory is "is a directory" in current runc (Go 1.20+); runc 1.1.5,
/// built with an older Go, says "permission denied".
fn exec_lookup(ctx: &Ctx) -> TestResult {
    let mut b = ctx.bundle("b")?;
    std::fs::write(b.rootfs().join("noexec"), "echo hi\n")
        .map_err(|e| Fail::Fail(format!("write noexec: {e}")))?;
    set_mode(&b.rootfs().join("noexec"), 0o644)?;
    std::fs::create_dir(b.rootfs().join("adir")).map_err(|e| format!("mkdir adir: {e}"))?;
    let forms = [
        (
            "/nosuch",
            r#"exec: "/nosuch": stat /nosuch: no such file or directory"#,
        ),
        ("/noexec", r#"exec: "/noexec": permission denied"#),
        (
            "nosuch",
            r#"exec: "nosuch": executable file not found in $PATH"#,
        ),
    ];
    for (arg, text) in forms {
        lookup_fails(ctx, &mut b, arg, text)?;
    }
    let res = lookup_fails(ctx, &mut b, "/adir", r#"exec: "/adir": is a directory"#);
    newer_runc(ctx, "'is a directory' for a directory as args[0]", res)
}

/// `create` with args[0] `arg` fails with `text`, and so does `exec` of
/// `arg` in a running container.
fn lookup_fails(ctx: &Ctx, b: &mut Bundle, arg: &str, text: &str) -> TestResult {
    config::set_args(&mut b.spec, &[arg]);
    b.write()?;
    let (out, log) = ctx.rt_logged(&["create", "--bundle", b.path(), "c1"])?;
    delete_if_present(ctx)?;
    expect_text(&out, Some(&log), text)?;
    super::util::start_waiting(ctx, "c1", b)?;
    let res = (|| {
        let (out, log) = ctx.rt_logged(&["exec", "c1", arg])?;
        expect_text(&out, Some(&log), text)
    })();
    ctx.delete_force("c1")?;
    res
}

/// The hooks of `kind`: `/bin/true`, then a script failing with output on
/// both streams.
fn failing_hooks(ctx: &Ctx, b: &mut Bundle, kind: &str) -> TestResult {
    let script = ctx.path("fail.sh");
    write_script(&script, "echo out-text; echo err-text >&2; exit 3")?;
    let hooks = vec![
        config::hook("/bin/true", &["true"], &[], None),
        config::hook(script.to_str().unwrap_or_default(), &["fail"], &[], None),
    ];
    let h = config::hooks_mut(&mut b.spec);
    match kind {
        "prestart" => h.set_prestart(Some(hooks)),
        "createRuntime" => h.set_create_runtime(Some(hooks)),
        _ => h.set_create_container(Some(hooks)),
    };
    Ok(())
}

/// A failing hook: `error running <kind> hook #<index within the kind>:
/// exit status 3, stdout: …, stderr: …` (runc 1.2+; runc 1.1 says `error
/// running hook #1: error running hook: exit status 3, …`, without the kind).
fn hook(ctx: &Ctx) -> TestResult {
    for kind in ["prestart", "createRuntime", "createContainer"] {
        let mut b = ctx.bundle(&format!("b-{kind}"))?;
        failing_hooks(ctx, &mut b, kind)?;
        sh(&mut b, "true");
        b.write()?;
        let (out, log) = ctx.rt_logged(&["create", "--bundle", b.path(), "c1"])?;
        delete_if_present(ctx)?;
        let text = format!("error running {kind} hook #1: exit status 3");
        let res = expect_text(&out, Some(&log), &text).and_then(|_| {
            for s in ["stdout: out-text", "stderr: err-text"] {
                ensure!(out.stderr.contains(s), "stderr lacks {s:?}: {}", out.stderr);
            }
            Ok(())
        });
        newer_runc(ctx, "the hook kind in hook errors", res)?;
    }
    Ok(())
}

/// A hook past its timeout: `hook ran past specified timeout of 1.0s`.
fn hook_timeout(ctx: &Ctx) -> TestResult {
    let script = ctx.path("slow.sh");
    write_script(&script, "exec sleep 10")?;
    let mut b = ctx.bundle("b")?;
    let slow = config::hook(script.to_str().unwrap_or_default(), &["slow"], &[], Some(1));
    config::hooks_mut(&mut b.spec).set_create_runtime(Some(vec![slow]));
    sh(&mut b, "true");
    b.write()?;
    let (out, log) = ctx.rt_logged(&["create", "--bundle", b.path(), "c1"])?;
    delete_if_present(ctx)?;
    let res = expect_text(
        &out,
        Some(&log),
        "error running createRuntime hook #0: hook ran past specified timeout of 1.0s",
    );
    newer_runc(ctx, "the hook kind in hook errors", res)
}

/// /proc in the image is a symlink: the proc mount is refused with runc's
/// `filesystem "proc" must be mounted on ordinary directory`
/// (CVE-2019-19921), and nothing is mounted through the link.
fn proc_on_symlink(ctx: &Ctx) -> TestResult {
    let mut b = ctx.bundle("b")?;
    let proc = b.rootfs().join("proc");
    let _ = std::fs::remove_dir_all(&proc);
    std::fs::create_dir(b.rootfs().join("bad-proc")).map_err(|e| format!("mkdir: {e}"))?;
    std::os::unix::fs::symlink("/bad-proc", &proc).map_err(|e| format!("symlink: {e}"))?;
    sh(&mut b, "true");
    b.write()?;
    let (out, log) = ctx.rt_logged(&["run", "--bundle", b.path(), "c1"])?;
    delete_if_present(ctx)?;
    expect_text(
        &out,
        Some(&log),
        r#"filesystem "proc" must be mounted on ordinary directory"#,
    )?;
    super::util::expect_nothing_left(ctx, "c1", &b)
}

/// v1 resources with `linux.resources.unified`: on a v1 or hybrid host runc
/// refuses `unified` with `invalid configuration: cannot use unified on
/// cgroup v1`; on a pure v2 host it takes both (the unified keys win).
fn unified_on_v1(ctx: &Ctx) -> TestResult {
    let mut b = ctx.bundle("b")?;
    let v: serde_json::Value = serde_json::json!({
        "memory": {"limit": 67108864},
        "unified": {"memory.min": "131072"}
    });
    let r = serde_json::from_value(v).map_err(|e| Fail::Fail(format!("resources: {e}")))?;
    config::linux_mut(&mut b.spec).set_resources(Some(r));
    sh(&mut b, "true");
    b.write()?;
    let (out, log) = ctx.rt_logged(&["run", "--bundle", b.path(), "c1"])?;
    delete_if_present(ctx)?;
    if host_cgroup_v2() {
        ensure_eq!(out.code, 0, format!("run on cgroup v2: {}", out.stderr));
        return Ok(());
    }
    expect_text(
        &out,
        Some(&log),
        "invalid configuration: cannot use unified on cgroup v1",
    )?;
    super::util::expect_nothing_left(ctx, "c1", &b)
}

/// An ambient capability that inheritable lacks cannot be raised: runc 1.2+
/// warns `can't raise ambient capability CAP_NET_RAW: operation not
/// permitted` and runs the container without it (runc 1.1 is silent).
fn ambient_warning(ctx: &Ctx) -> TestResult {
    let mut b = ctx.bundle("b")?;
    config::set_checker(&mut b.spec, &["caps"]);
    let listed = serde_json::json!(["CAP_KILL", "CAP_NET_RAW"]);
    let caps = "/process/capabilities";
    super::util::write_patched(
        &b,
        &[
            (&format!("{caps}/bounding"), listed.clone()),
            (&format!("{caps}/effective"), listed.clone()),
            (&format!("{caps}/permitted"), listed.clone()),
            (
                &format!("{caps}/inheritable"),
                serde_json::json!(["CAP_KILL"]),
            ),
            (&format!("{caps}/ambient"), listed),
        ],
    )?;
    let out = ctx.rt(&["run", "--bundle", b.path(), "c1"])?.ok()?;
    let f = crate::harness::Facts::parse(&out.stdout);
    // CAP_KILL is 5: raised; CAP_NET_RAW (13) is not.
    f.expect("cap.amb", "0000000000000020")?;
    let res = (|| {
        let want = "can't raise ambient capability CAP_NET_RAW: operation not permitted";
        ensure!(
            out.stderr.contains(want),
            "no warning {want:?}: {}",
            out.stderr
        );
        ensure!(
            !out.stderr.contains("CAP_KILL"),
            "a warning for CAP_KILL: {}",
            out.stderr
        );
        Ok(())
    })();
    newer_runc(ctx, "the ambient capability warning", res)
}
