//! runc's error texts where clients match them (issue 12, section 1): a
//! payload that cannot be exec'd (`exec /run.sh: no such file or
//! directory`, and the forms of the lookup before it), a failing hook
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

/// Whether the runtime under test is runc (any version).
fn is_runc(ctx: &Ctx) -> bool {
    ctx.rt(&["--version"])
        .map(|o| o.stdout.starts_with("runc version"))
        .unwrap_or(false)
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

/// runc prints an execve failure from its init, after the sync channel is
/// closed: stderr has it, the log does not. berth logs it as well.
fn log_of<'a>(ctx: &Ctx, log: &'a std::path::Path) -> Option<&'a std::path::Path> {
    (!is_runc(ctx)).then_some(log)
}

/// execve itself fails (the file is there and executable): `run` and
/// `exec` fail with runc's `exec <path>: <errno>` (Go's errno text), not
/// Rust's `No such file or directory (os error 2)`. The script's
/// interpreter is missing (ENOENT); a file that is no executable format
/// gives ENOEXEC.
fn execve(ctx: &Ctx) -> TestResult {
    let mut b = ctx.bundle("b")?;
    std::fs::write(b.rootfs().join("run.sh"), "#!/mmnnttbb foo bar\nsh\n")
        .map_err(|e| Fail::Fail(format!("write run.sh: {e}")))?;
    set_mode(&b.rootfs().join("run.sh"), 0o755)?;
    std::fs::write(b.rootfs().join("garbage"), b"garbage\0\x01")
        .map_err(|e| Fail::Fail(format!("write garbage: {e}")))?;
    set_mode(&b.rootfs().join("garbage"), 0o755)?;
    for (arg, text) in [
        ("/run.sh", "exec /run.sh: no such file or directory"),
        ("/garbage", "exec /garbage: exec format error"),
    ] {
        config::set_args(&mut b.spec, &[arg]);
        b.write()?;
        let (out, log) = ctx.rt_logged(&["run", "--bundle", b.path(), "c1"])?;
        delete_if_present(ctx)?;
        expect_text(&out, log_of(ctx, &log), text)?;
    }
    super::util::start_waiting(ctx, "c1", &mut b)?;
    let res = (|| {
        let (out, log) = ctx.rt_logged(&["exec", "c1", "/run.sh"])?;
        expect_text(
            &out,
            log_of(ctx, &log),
            "exec /run.sh: no such file or directory",
        )
    })();
    ctx.delete_force("c1")?;
    res
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
