//! The command line as runc users' scripts drive it: every `update` flag
//! and form, `exec`'s flags and `--process` files, `kill` edge cases.
//! Where current runc (1.2+) and runc 1.1 differ, the case follows current
//! runc and skips on runc 1.1 (`older_runc`).

use super::cgroups::{cgroup2_dir, cgroup_dir, read_trim};
use super::util::{go, host_cgroup_v2, is_berth, is_runc_1_1, sh, start_waiting, wait_file};
use crate::harness::case::{case, Case, CGROUP};
use crate::harness::config::{self, CHECKER};
use crate::harness::{cmd, read, Ctx, Facts, Fail, TestResult};
use crate::{ensure, ensure_eq};
use oci_spec::runtime::LinuxNamespaceType;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

pub const CASES: &[Case] = &[
    case("update_runc_forms", update_runc_forms).tagged(&[CGROUP]),
    case("update_runc_1_2_flags", update_runc_1_2_flags).tagged(&[CGROUP]),
    case("update_runc_other_flags", update_runc_other_flags).tagged(&[CGROUP]),
    case("exec_runc_flags", exec_runc_flags),
    case(
        "exec_process_file_optional_fields",
        exec_process_file_optional,
    ),
    case("exec_paused_needs_ignore_paused", exec_paused).tagged(&[CGROUP]),
    case("kill_signal_0_and_stopped", kill_signal_0),
    case("kill_host_pidns_kills_cgroup", kill_host_pidns).tagged(&[CGROUP]),
    case("help_runc_layout", help_layout),
    case("version_runc_lines", version_lines),
    case("log_file_open_error", log_open_error),
    case("exec_missing_binary_error_text", exec_missing_binary),
    case("spec_bundle_errors", spec_bundle_errors),
];

/// `spec --bundle` as runc: a missing or non-directory bundle fails with
/// Go's `chdir DIR: …`, an existing config.json is not overwritten.
fn spec_bundle_errors(ctx: &Ctx) -> TestResult {
    let missing = ctx.path("no-such-bundle");
    let m = missing.to_str().ok_or("utf-8")?;
    ctx.rt(&["spec", "--bundle", m])?
        .refused(&format!("chdir {m}: no such file or directory"))?;
    let file = ctx.path("a-file");
    std::fs::write(&file, "").map_err(|e| format!("write: {e}"))?;
    let f = file.to_str().ok_or("utf-8")?;
    ctx.rt(&["spec", "--bundle", f])?
        .refused(&format!("chdir {f}: not a directory"))?;
    let dir = ctx.path("spec-twice");
    std::fs::create_dir(&dir).map_err(|e| format!("mkdir: {e}"))?;
    let d = dir.to_str().ok_or("utf-8")?;
    ctx.rt(&["spec", "--bundle", d])?.ok()?;
    let first = read(&dir.join("config.json"))?;
    ctx.rt(&["spec", "--bundle", d])?
        .refused("File config.json exists. Remove it first")?;
    ensure!(
        read(&dir.join("config.json"))? == first,
        "a second spec changed config.json"
    );
    Ok(())
}

/// Skips the case on runc 1.1, which predates the behaviour `what` of
/// current runc.
fn older_runc(ctx: &Ctx, what: &str) -> TestResult {
    if is_runc_1_1(ctx) {
        return Err(Fail::Skip(format!("runc 1.1 predates {what}")));
    }
    Ok(())
}

/// A container cgroup file: `v1` in the v1 hierarchy of `ctrl`, or `v2`
/// on a cgroup v2 host (None: not compared there).
fn cg_file(pid: i64, ctrl: &str, v1: &str, v2: Option<&str>) -> Result<Option<PathBuf>, Fail> {
    if host_cgroup_v2() {
        return Ok(match v2 {
            Some(f) => Some(cgroup2_dir(pid)?.join(f)),
            None => None,
        });
    }
    Ok(Some(cgroup_dir(pid, ctrl)?.join(v1)))
}

/// Fail unless the file (when compared on this host, and present there
/// when `optional`) holds `want`.
fn expect_file(f: &Option<PathBuf>, want: &str, optional: bool) -> TestResult {
    let Some(f) = f else { return Ok(()) };
    if optional && !f.exists() {
        return Ok(());
    }
    ensure_eq!(read_trim(f)?, want, f.display().to_string());
    Ok(())
}

fn init_pid(ctx: &Ctx) -> Result<i64, Fail> {
    Ok(ctx.state("c1")?["pid"].as_i64().unwrap_or(0))
}

/// `update -r -`: the runtime reads the resources from its stdin.
fn update_from_stdin(ctx: &Ctx, file: &Path) -> TestResult {
    let base = ctx.command(&["update", "-r", "-", "c1"]);
    let mut sh = Command::new("/bin/sh");
    sh.args(["-c", "exec \"$@\" < \"$RES\"", "sh"])
        .arg(base.get_program())
        .args(base.get_args())
        .env("RES", file);
    cmd::spawn(sh, &ctx.dir, "update-stdin")?
        .wait(crate::harness::CMD_TIMEOUT)?
        .ok()?;
    Ok(())
}

/// runc's flags before the id (`-1` values included), then `-r FILE` and
/// `-r -`, then a bad size naming its flag.
fn update_runc_forms(ctx: &Ctx) -> TestResult {
    let mut b = ctx.bundle("b")?;
    start_waiting(ctx, "c1", &mut b)?;
    let pid = init_pid(ctx)?;
    let v2 = host_cgroup_v2();
    let memory = cg_file(pid, "memory", "memory.limit_in_bytes", Some("memory.max"))?;
    let swap = cg_file(
        pid,
        "memory",
        "memory.memsw.limit_in_bytes",
        Some("memory.swap.max"),
    )?;
    let shares = cg_file(pid, "cpu", "cpu.shares", None)?;
    let quota = cg_file(pid, "cpu", "cpu.cfs_quota_us", Some("cpu.max"))?;
    let pids = cg_file(pid, "pids", "pids.max", Some("pids.max"))?;
    ctx.rt(&[
        "update",
        "--memory",
        "256M",
        "--memory-swap",
        "-1",
        "--cpu-share",
        "512",
        "--cpu-quota",
        "20000",
        "--cpu-period",
        "100000",
        "--pids-limit",
        "-1",
        "c1",
    ])?
    .ok()?;
    expect_file(&memory, "268435456", false)?;
    let unlimited = if v2 { "max" } else { "9223372036854771712" };
    expect_file(&swap, unlimited, true)?;
    expect_file(&shares, "512", false)?;
    expect_file(&quota, if v2 { "20000 100000" } else { "20000" }, false)?;
    expect_file(&pids, "max", false)?;

    let res = ctx.path("res.json");
    let write = |text: &str| {
        std::fs::write(&res, text).map_err(|e| Fail::Fail(format!("write res.json: {e}")))
    };
    write(r#"{"pids": {"limit": 30}, "memory": {"limit": 134217728}}"#)?;
    let res_s = res.to_str().unwrap_or_default();
    ctx.rt(&["update", "-r", res_s, "c1"])?.ok()?;
    expect_file(&pids, "30", false)?;
    expect_file(&memory, "134217728", false)?;
    write(r#"{"pids": {"limit": 40}}"#)?;
    update_from_stdin(ctx, &res)?;
    expect_file(&pids, "40", false)?;

    ctx.rt(&["update", "--memory", "lots", "c1"])?
        .refused("invalid value for memory")?;
    expect_file(&pids, "40", false)?;
    ctx.delete_force("c1")
}

/// The rest of runc 1.1's `update` flags: `--memory-reservation`,
/// `--cpuset-cpus`, `--cpuset-mems`, and (cgroup v1 with RT group
/// scheduling; v2 has no such files) `--cpu-rt-period` and
/// `--cpu-rt-runtime`; the RT runtime stays 0, as a container's parent
/// has no RT budget to hand down. `--blkio-weight` is left out: this
/// host's block devices have no CFQ/BFQ weights (both runtimes fail).
fn update_runc_other_flags(ctx: &Ctx) -> TestResult {
    let mut b = ctx.bundle("b")?;
    start_waiting(ctx, "c1", &mut b)?;
    let pid = init_pid(ctx)?;
    let soft = cg_file(
        pid,
        "memory",
        "memory.soft_limit_in_bytes",
        Some("memory.low"),
    )?;
    let cpus = cg_file(pid, "cpuset", "cpuset.cpus", Some("cpuset.cpus"))?;
    let mems = cg_file(pid, "cpuset", "cpuset.mems", Some("cpuset.mems"))?;
    let rt_period = cg_file(pid, "cpu", "cpu.rt_period_us", None)?;
    let rt_runtime = cg_file(pid, "cpu", "cpu.rt_runtime_us", None)?;
    let cpu = if std::thread::available_parallelism().map_or(1, |n| n.get()) > 1 {
        "1"
    } else {
        "0"
    };
    let mut args = vec![
        "update",
        "--memory-reservation",
        "64M",
        "--cpuset-cpus",
        cpu,
        "--cpuset-mems",
        "0",
    ];
    if rt_period.as_ref().is_some_and(|f| f.exists()) {
        args.extend(["--cpu-rt-period", "900000", "--cpu-rt-runtime", "0"]);
    }
    args.push("c1");
    ctx.rt(&args)?.ok()?;
    expect_file(&soft, "67108864", false)?;
    expect_file(&cpus, cpu, false)?;
    expect_file(&mems, "0", false)?;
    expect_file(&rt_period, "900000", true)?;
    expect_file(&rt_runtime, "0", true)?;
    ctx.rt(&["update", "--cpu-rt-period", "x", "c1"])?
        .refused("invalid value for cpu-rt-period")?;
    ctx.delete_force("c1")
}

/// Current runc: flags after the id, `--cpu-burst`, `--cpu-idle`, and a
/// pids limit of 0 written as 1 (runc 1.2+ and its systemd driver).
fn update_runc_1_2_flags(ctx: &Ctx) -> TestResult {
    older_runc(
        ctx,
        "--cpu-burst, --cpu-idle, flags after the id and pids limit 0 as 1",
    )?;
    // A payload that never forks: with pids.max 1 below, a shell dies at
    // its next fork, and under systemd its scope's cgroup goes with it
    // (seen in the systemd VM under load: pids.max read after it was gone).
    let mut b = ctx.bundle("b")?;
    config::set_args(&mut b.spec, &["/bin/sleep", "1000"]);
    ctx.create("c1", &b)?.ok()?;
    ctx.rt(&["start", "c1"])?.ok()?;
    ctx.wait_status("c1", "running", Duration::from_secs(10))?;
    ctx.rt(&["update", "c1", "--cpu-burst", "-5"])?
        .refused("invalid value for cpu-burst")?;
    let pid = init_pid(ctx)?;
    let burst = cg_file(pid, "cpu", "cpu.cfs_burst_us", Some("cpu.max.burst"))?;
    let idle = cg_file(pid, "cpu", "cpu.idle", Some("cpu.idle"))?;
    let pids = cg_file(pid, "pids", "pids.max", Some("pids.max"))?;
    let has = |f: &Option<PathBuf>| f.as_ref().is_some_and(|f| f.exists());
    let mut args = vec!["update", "c1", "--pids-limit", "0"];
    if has(&burst) {
        args.extend([
            "--cpu-quota",
            "50000",
            "--cpu-period",
            "100000",
            "--cpu-burst",
            "1000",
        ]);
    }
    if has(&idle) {
        args.extend(["--cpu-idle", "1"]);
    }
    ctx.rt(&args)?.ok()?;
    expect_file(&pids, "1", false)?;
    expect_file(&burst, "1000", true)?;
    expect_file(&idle, "1", true)?;
    ctx.delete_force("c1")
}

/// Whether capability number `bit` is in the hex mask `set` (/proc status).
fn has_cap(set: &str, bit: u32) -> bool {
    u64::from_str_radix(set, 16).is_ok_and(|m| m & (1 << bit) != 0)
}

/// `exec --cap` of `exec_runc_flags` on its container c1.
fn exec_cap_flags(ctx: &Ctx) -> TestResult {
    const CAP_SYS_PTRACE: u32 = 19;
    const CAP_SYS_NICE: u32 = 23;
    let out = ctx.rt(&[
        "exec",
        "--cap",
        "CAP_SYS_PTRACE",
        "--cap",
        "SYS_NICE",
        "--cap",
        "CAP_NOPE",
        "c1",
        CHECKER,
        "caps",
    ])?;
    let out = out.ok()?;
    let f = Facts::parse(&out.stdout);
    let bare = is_berth(ctx);
    for set in ["cap.eff", "cap.prm", "cap.bnd"] {
        ensure!(
            has_cap(f.get(set)?, CAP_SYS_PTRACE),
            "{set} lacks CAP_SYS_PTRACE: {}",
            f.get(set)?
        );
        ensure_eq!(
            has_cap(f.get(set)?, CAP_SYS_NICE),
            bare,
            format!("CAP_SYS_NICE (from --cap SYS_NICE) in {set}")
        );
    }
    ensure!(
        !has_cap(f.get("cap.inh")?, CAP_SYS_PTRACE),
        "--cap reached the inheritable set"
    );
    let ignored = if bare {
        "[CAP_NOPE]"
    } else {
        "[CAP_NOPE SYS_NICE]"
    };
    let want = format!("ignoring unknown or unavailable capabilities: {ignored}");
    ensure!(
        out.stderr.contains(&want),
        "no warning {want:?}: {}",
        out.stderr
    );
    Ok(())
}

/// `--cap` in runc's form; a bare name (`SYS_NICE`), which runc ignores
/// with its warning (the exec still runs) and berth grants (issue 12:
/// `--cap` takes `CAP_KILL` and `KILL`); a name nobody knows, ignored with
/// runc's warning. `--env` overriding one variable and keeping the
/// others, `--additional-gids` added to the process's own.
fn exec_runc_flags(ctx: &Ctx) -> TestResult {
    let mut b = ctx.bundle("b")?;
    let p = config::process_mut(&mut b.spec);
    let mut env = p.env().clone().unwrap_or_default();
    env.extend(["KEEP=yes".to_string(), "OVER=old".to_string()]);
    p.set_env(Some(env));
    p.user_mut().set_additional_gids(Some(vec![5]));
    start_waiting(ctx, "c1", &mut b)?;
    exec_cap_flags(ctx)?;

    let out = ctx.rt(&[
        "exec", "--env", "OVER=new", "--env", "NEW=1", "c1", CHECKER, "env",
    ])?;
    let f = Facts::parse(&out.ok()?.stdout);
    f.expect("env.OVER", "new")?;
    f.expect("env.NEW", "1")?;
    f.expect("env.KEEP", "yes")?;
    f.expect("env.PATH", config::PATH_ENV.trim_start_matches("PATH="))?;

    let out = ctx.rt(&[
        "exec",
        "--additional-gids",
        "10",
        "--additional-gids",
        "20",
        "c1",
        CHECKER,
        "ids",
    ])?;
    Facts::parse(&out.ok()?.stdout).expect("groups", "5,10,20")?;
    let out = ctx.rt(&["exec", "--additional-gids", "-1", "c1", "true"])?;
    ensure!(
        out.code != 0
            && out
                .stderr
                .contains("additional-gids must be a positive number"),
        "exec --additional-gids -1: exit {}, stderr {:?}",
        out.code,
        out.stderr.trim()
    );
    ctx.delete_force("c1")
}

/// A `--process` file may leave out what runc's Go struct leaves at its
/// zero value (`user`: uid 0, gid 0; `env`). Capability names runc does
/// not know are ignored with its warning there too, as in config.json.
fn exec_process_file_optional(ctx: &Ctx) -> TestResult {
    let mut b = ctx.bundle("b")?;
    start_waiting(ctx, "c1", &mut b)?;
    let path = ctx.path("process.json");
    let p = serde_json::json!({"args": [CHECKER, "ids"], "cwd": "/"});
    std::fs::write(&path, p.to_string()).map_err(|e| Fail::Fail(e.to_string()))?;
    let path_s = path.display().to_string();
    let out = ctx.rt(&["exec", "-p", &path_s, "c1"])?.ok()?;
    let f = Facts::parse(&out.stdout);
    f.expect("uid", "0")?;
    f.expect("gid", "0")?;
    let listed = serde_json::json!(["CAP_KILL", "CAP_NOSUCH", "SYS_NICE"]);
    let p = serde_json::json!({"args": [CHECKER, "caps"], "cwd": "/",
        "capabilities": {"bounding": listed, "effective": listed, "permitted": listed}});
    std::fs::write(&path, p.to_string()).map_err(|e| Fail::Fail(e.to_string()))?;
    let out = ctx.rt(&["exec", "-p", &path_s, "c1"])?.ok()?;
    // CAP_KILL is 5.
    Facts::parse(&out.stdout).expect("cap.eff", "0000000000000020")?;
    let want = "ignoring unknown or unavailable capabilities: [CAP_NOSUCH SYS_NICE]";
    ensure!(
        out.stderr.contains(want),
        "no warning {want:?}: {}",
        out.stderr
    );
    ctx.delete_force("c1")
}

/// exec into a paused container: refused (exit 255, runc's text) without
/// `--ignore-paused`; with it, the exec completes once resumed.
fn exec_paused(ctx: &Ctx) -> TestResult {
    let mut b = ctx.bundle("b")?;
    start_waiting(ctx, "c1", &mut b)?;
    ctx.rt(&["pause", "c1"])?.ok()?;
    let out = ctx.rt(&["exec", "c1", "true"])?;
    ensure!(
        out.code == 255
            && out
                .stderr
                .contains("cannot exec in a paused container (use --ignore-paused to override)"),
        "exec into paused: exit {}, stderr {:?}",
        out.code,
        out.stderr.trim()
    );
    let exec = ctx.spawn(&["exec", "--ignore-paused", "c1", "echo", "ok"])?;
    std::thread::sleep(Duration::from_millis(500));
    ensure_eq!(exec.stdout_now(), "", "output while paused");
    ctx.rt(&["resume", "c1"])?.ok()?;
    let out = exec.wait(crate::harness::CMD_TIMEOUT)?.ok()?;
    ensure_eq!(out.stdout, "ok\n", "exec --ignore-paused output");
    ctx.delete_force("c1")
}

/// `kill ID 0` probes a running container and fails with runc's "container
/// not running" once it stopped; `kill --all` of a stopped container
/// succeeds.
fn kill_signal_0(ctx: &Ctx) -> TestResult {
    let mut b = ctx.bundle("b")?;
    start_waiting(ctx, "c1", &mut b)?;
    ctx.rt(&["kill", "c1", "0"])?.ok()?;
    go(&b)?;
    ctx.wait_status("c1", "stopped", Duration::from_secs(10))?;
    ctx.rt(&["kill", "c1", "0"])?
        .refused("container not running")?;
    ctx.rt(&["kill", "c1", "KILL"])?
        .refused("container not running")?;
    // runc 1.1 and current runc alike: --all of a stopped container whose
    // cgroup is still there signals nobody and succeeds.
    ctx.rt(&["kill", "--all", "c1", "KILL"])?.ok()?;
    ctx.rt(&["delete", "c1"])?.ok()?;
    Ok(())
}

/// Whether `pid` is gone or a zombie.
fn dead(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => s
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z')),
        Err(_) => true,
    }
}

/// Without a private pid namespace, `kill KILL` kills every process of the
/// container's cgroup, also once the init has exited (current runc; runc
/// 1.1 kills only the init and then reports "container not running").
fn kill_host_pidns(ctx: &Ctx) -> TestResult {
    older_runc(ctx, "killing the cgroup with a host pid namespace")?;
    let mut b = ctx.bundle("b")?;
    let l = config::linux_mut(&mut b.spec);
    let ns = l.namespaces().clone().unwrap_or_default();
    l.set_namespaces(Some(
        ns.into_iter()
            .filter(|n| n.typ() != LinuxNamespaceType::Pid)
            .collect(),
    ));
    sh(
        &mut b,
        "sleep 600 & echo $! >/tmp/bg; while [ ! -e /tmp/go ]; do sleep 0.02; done",
    );
    ctx.create("c1", &b)?.ok()?;
    ctx.rt(&["start", "c1"])?.ok()?;
    let bg = b.rootfs().join("tmp/bg");
    wait_file(&bg, Duration::from_secs(10))?;
    std::thread::sleep(Duration::from_millis(50));
    let text = std::fs::read_to_string(&bg).map_err(|e| Fail::Fail(format!("read bg: {e}")))?;
    let pid: i32 = text
        .trim()
        .parse()
        .map_err(|_| Fail::Fail(format!("bg pid {text:?}")))?;
    go(&b)?;
    ctx.wait_status("c1", "stopped", Duration::from_secs(10))?;
    ensure!(
        !dead(pid),
        "the background process {pid} died with the init"
    );
    ctx.rt(&["kill", "c1", "KILL"])?.ok()?;
    let start = Instant::now();
    while !dead(pid) {
        ensure!(
            start.elapsed() < Duration::from_secs(5),
            "process {pid} survived kill KILL"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    ctx.rt(&["delete", "c1"])?.ok()?;
    Ok(())
}

/// runc's help layout (urfave/cli): the root's sections, every command
/// listed, `NAME:` then `   RT CMD - …` per command, and `No help topic`
/// (non-zero) for a topic that is no command. runc 1.1's root help has no
/// `DESCRIPTION:` heading (current runc's has).
fn help_layout(ctx: &Ctx) -> TestResult {
    let rt = ctx
        .env
        .runtime
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let mut heads = vec![
        "NAME:\n",
        "\nUSAGE:\n",
        "\nVERSION:\n",
        "\nCOMMANDS:\n",
        "\nGLOBAL OPTIONS:\n",
    ];
    if !is_runc_1_1(ctx) {
        heads.push("\nDESCRIPTION:\n");
    }
    for args in [&["--help"][..], &["help"], &["-h"]] {
        let out = ctx.rt(args)?.ok()?;
        ensure!(
            out.stdout.starts_with(&format!("NAME:\n   {rt} - ")),
            "{args:?}: {:?}",
            out.stdout
        );
        for h in &heads {
            ensure!(
                out.stdout.contains(h),
                "{args:?} lacks {h:?}: {}",
                out.stdout
            );
        }
        let commands = out.stdout.split("\nCOMMANDS:\n").nth(1).unwrap_or_default();
        for c in [
            "create", "start", "run", "state", "kill", "delete", "exec", "list", "pause", "resume",
            "events", "update", "ps", "spec", "features",
        ] {
            ensure!(
                commands.contains(&format!("\n   {c} "))
                    || commands.starts_with(&format!("   {c} ")),
                "{c} not listed: {commands}"
            );
        }
    }
    for args in [&["kill", "--help"][..], &["help", "kill"], &["kill", "-h"]] {
        let out = ctx.rt(args)?.ok()?;
        let want = format!("NAME:\n   {rt} kill - ");
        ensure!(out.stdout.starts_with(&want), "{args:?}: {:?}", out.stdout);
        ensure!(
            out.stdout.contains("\nUSAGE:\n   "),
            "{args:?}: {:?}",
            out.stdout
        );
    }
    for args in [&["help", "nosuch"][..], &["nosuch", "-h"]] {
        let out = ctx.rt(args)?;
        ensure!(
            out.code != 0 && out.stderr.contains("No help topic for 'nosuch'"),
            "{args:?}: exit {}, stderr {:?}",
            out.code,
            out.stderr.trim()
        );
    }
    Ok(())
}

/// `--version` and `-v`: runc's first three lines, `RT version X`,
/// `commit: …` (Docker's `info` parses it) and `spec: …`; runc adds `go:`
/// and `libseccomp:` lines after them.
fn version_lines(ctx: &Ctx) -> TestResult {
    let rt = ctx
        .env
        .runtime
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    for flag in ["--version", "-v"] {
        let out = ctx.rt(&[flag])?.ok()?;
        let lines: Vec<&str> = out.stdout.lines().collect();
        let ok = lines.len() >= 3
            && lines[0]
                .strip_prefix(&format!("{rt} version "))
                .is_some_and(|v| !v.is_empty())
            && lines[1]
                .strip_prefix("commit: ")
                .is_some_and(|v| !v.is_empty())
            && lines[2]
                .strip_prefix("spec: ")
                .is_some_and(|v| v.starts_with("1."));
        ensure!(ok, "{flag}: {:?}", out.stdout);
    }
    Ok(())
}

/// A `--log` file that cannot be opened: exit 1 and one record in the
/// chosen format on stderr with Go's wording, as runc.
fn log_open_error(ctx: &Ctx) -> TestResult {
    let log = ctx.path("no-such-dir").join("x.log");
    let log = log.to_str().ok_or("path")?;
    let want = format!("open {log}: no such file or directory");
    for format in ["text", "json"] {
        let out = ctx.rt(&["--log", log, "--log-format", format, "state", "c1"])?;
        ensure_eq!(out.code, 1, format!("--log-format {format}: exit"));
        let line = out.stderr.trim();
        let ok = match format {
            "json" => serde_json::from_str::<serde_json::Value>(line).is_ok_and(|v| {
                v["level"] == "error" && v["msg"] == want.as_str() && v["time"].is_string()
            }),
            _ => {
                line.starts_with("time=\"")
                    && line.ends_with(&format!("level=error msg=\"{want}\""))
            }
        };
        ensure!(
            ok,
            "--log-format {format}: stderr {line:?}, want msg {want:?}"
        );
    }
    Ok(())
}

/// `exec` of a program that does not exist: exit 255 and runc's text,
/// "exec failed: unable to start container process: exec: …", which
/// clients match on (Docker turns "no such file or directory" into 127).
fn exec_missing_binary(ctx: &Ctx) -> TestResult {
    let mut b = ctx.bundle("b")?;
    start_waiting(ctx, "c1", &mut b)?;
    let (out, log) = ctx.rt_logged(&["exec", "c1", "/nonexistent"])?;
    ctx.delete_force("c1")?;
    ensure_eq!(out.code, 255, "exit of exec /nonexistent");
    let want = "exec failed: unable to start container process: \
                exec: \"/nonexistent\": stat /nonexistent: no such file or directory";
    let text = std::fs::read_to_string(&log).map_err(|e| format!("{log:?}: {e}"))?;
    let msgs: Vec<String> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["level"] == "error")
        .filter_map(|v| v["msg"].as_str().map(str::to_string))
        .collect();
    ensure!(
        msgs.iter().any(|m| m == want),
        "error records {msgs:?}, want {want:?}"
    );
    Ok(())
}
