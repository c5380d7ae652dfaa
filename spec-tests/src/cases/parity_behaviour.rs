//! Behaviour runc users rely on at the edges (issue 12, section 2): a
//! seccomp allow-list profile that does not list the syscalls the runtime
//! itself makes after loading it (getcwd, close_range); `process.env` with
//! duplicate names and an empty or missing HOME, for the init and exec;
//! capability names the runtime does not know; `hostname` with a UTS
//! namespace joined by path; the pty owned by the process's user.

use super::seccomp::BASE_ALLOW;
use super::util::{known_runc_1_1_gap, start_waiting};
use crate::harness::case::{case, Case};
use crate::harness::{config, Ctx, Fail, TestResult};
use crate::{ensure, ensure_eq};

pub const CASES: &[Case] = &[
    case("parity_seccomp_blocks_getcwd", seccomp_blocks_getcwd),
    case(
        "parity_seccomp_blocks_close_range",
        seccomp_blocks_close_range,
    ),
    case("parity_env_dedup_home", env_dedup_home),
    case("parity_exec_user_home", exec_user_home),
    case("parity_caps_unknown_ignored", caps_unknown_ignored),
    case("parity_hostname_joined_uts", hostname_joined_uts),
    case("parity_tty_owned_by_user", tty_owned_by_user),
];

/// What the runtime's init and an exec'd process still do after a filter
/// without no_new_privs is loaded (the user switch, the sync channel, the
/// exec fifo), and what the waiting payload (busybox sh) needs, on top of
/// BASE_ALLOW.
const MORE_ALLOW: &[&str] = &[
    "clock_nanosleep",
    "fork",
    "vfork",
    "getpgrp",
    "getppid",
    "recvfrom",
    "recvmsg",
    "sendmsg",
    "sendto",
    "setresgid",
    "setresuid",
    "umask",
    "wait4",
];

/// An allow-list profile (default EPERM) that lists neither getcwd nor
/// close_range, as profiles written before 2020 do: loaded without
/// no_new_privs (so before the user switch and the cwd), the container
/// still starts and runs, and so does an exec'd process. runc checks the
/// cwd with getcwd after loading the filter and fails (CVE-2024-21626 fix,
/// also in Debian's 1.1.5+deb12u1): a known runc deviation.
fn seccomp_blocks_getcwd(ctx: &Ctx) -> TestResult {
    let res = blocks(ctx, &["getcwd", "close_range"], false);
    known_runc_1_1_gap(ctx, "getcwd checked under the seccomp filter", res)
}

/// The same allow-list without close_range alone (getcwd allowed), loaded
/// early (without no_new_privs) and late (with it): the runtime marks the
/// host's fds close-on-exec before the filter or falls back to a walk of
/// /proc/self/fd. runc (1.1.5: a walk; current: close_range, then the walk
/// on failure) runs both too.
fn seccomp_blocks_close_range(ctx: &Ctx) -> TestResult {
    blocks(ctx, &["close_range"], false)?;
    blocks(ctx, &["close_range"], true)
}

/// `c1` under an allow-list profile (default EPERM) without `blocked`,
/// with `nnp` as no_new_privs: it starts, and so does an exec'd process.
fn blocks(ctx: &Ctx, blocked: &[&str], nnp: bool) -> TestResult {
    let allow: Vec<&str> = BASE_ALLOW
        .iter()
        .chain(MORE_ALLOW)
        .copied()
        .filter(|s| !blocked.contains(s))
        .collect();
    let mut b = ctx.bundle(if nnp { "b-nnp" } else { "b" })?;
    let profile = serde_json::json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [{"names": allow, "action": "SCMP_ACT_ALLOW"}]
    });
    let s = serde_json::from_value(profile).map_err(|e| Fail::Fail(format!("profile: {e}")))?;
    config::linux_mut(&mut b.spec).set_seccomp(Some(s));
    let p = config::process_mut(&mut b.spec);
    p.set_no_new_privileges(Some(nnp));
    p.set_cwd("/tmp".into());
    start_waiting(ctx, "c1", &mut b)?;
    let out = ctx.rt(&["exec", "c1", "/bin/echo", "exec-ok"])?;
    ctx.delete_force("c1")?;
    let out = out.ok()?;
    ensure!(
        out.stdout.contains("exec-ok"),
        "exec output: {}",
        out.stdout
    );
    Ok(())
}

/// One entry per name, the last one winning, and an empty HOME replaced by
/// the user's home from the container's /etc/passwd (runc 1.1 and current).
fn env_dedup_home(ctx: &Ctx) -> TestResult {
    let mut b = ctx.bundle("b")?;
    let vars = [config::PATH_ENV, "A=1", "HOME=", "B=x", "A=2"];
    config::process_mut(&mut b.spec).set_env(Some(vars.map(String::from).to_vec()));
    let f = ctx.check(&mut b, &["env"])?;
    f.expect("env.A", "2")?;
    f.expect("env.B", "x")?;
    f.expect("env.HOME", "/root")?;
    f.expect("envcount", "4")
}

/// `exec --user` gets that user's HOME when the container's env has none
/// (or an empty one, given with `--env`), and `--env` keeps the rest.
fn exec_user_home(ctx: &Ctx) -> TestResult {
    let mut b = ctx.bundle("b")?;
    start_waiting(ctx, "c1", &mut b)?;
    let res = exec_homes(ctx);
    ctx.delete_force("c1")?;
    res
}

fn exec_homes(ctx: &Ctx) -> TestResult {
    let show = ["/bin/sh", "-c", "echo \"$HOME|$PATH|$X\""];
    let path = &config::PATH_ENV[5..];
    let runs: [(&[&str], String); 3] = [
        (&["--user", "1000:1000"], format!("/home/user|{path}|")),
        (
            &["--user", "1000", "--env", "HOME=", "--env", "X=1"],
            format!("/home/user|{path}|1"),
        ),
        (
            &["--env", "HOME=/h", "--env", "X=1"],
            format!("/h|{path}|1"),
        ),
    ];
    for (flags, want) in runs {
        let args: Vec<&str> = ["exec"]
            .iter()
            .chain(flags)
            .chain(&["c1"])
            .chain(&show)
            .copied()
            .collect();
        let out = ctx.rt(&args)?.ok()?;
        ensure_eq!(out.stdout.trim(), want.as_str(), format!("exec {flags:?}"));
    }
    Ok(())
}

/// runc (1.1 and current) ignores capability names it does not know, with
/// a warning ("ignoring unknown or unavailable capabilities: [...]", the
/// names sorted, as Go prints a string slice), so a config written for a
/// newer kernel still runs. runc looks names up exactly as `CAP_X`: `X`
/// alone or in lower case is unknown too, and grants nothing.
fn caps_unknown_ignored(ctx: &Ctx) -> TestResult {
    let mut b = ctx.bundle("b")?;
    config::set_checker(&mut b.spec, &["caps"]);
    let listed = serde_json::json!([
        "CAP_KILL",
        "CAP_NOSUCH",
        "CAP_ALSO_NOT_A_CAP",
        "NET_RAW",
        "cap_sys_nice"
    ]);
    let caps = "/process/capabilities";
    super::util::write_patched(
        &b,
        &[
            (&format!("{caps}/bounding"), listed.clone()),
            (&format!("{caps}/effective"), listed.clone()),
            (&format!("{caps}/permitted"), listed),
            (&format!("{caps}/inheritable"), serde_json::json!([])),
            (&format!("{caps}/ambient"), serde_json::json!([])),
        ],
    )?;
    let out = ctx.rt(&["run", "--bundle", b.path(), "c1"])?.ok()?;
    let f = crate::harness::Facts::parse(&out.stdout);
    // CAP_KILL is 5.
    f.expect("cap.bnd", "0000000000000020")?;
    f.expect("cap.eff", "0000000000000020")?;
    let want = "ignoring unknown or unavailable capabilities: \
                [CAP_ALSO_NOT_A_CAP CAP_NOSUCH NET_RAW cap_sys_nice]";
    ensure!(
        out.stderr.contains(want),
        "no warning {want:?}: {}",
        out.stderr
    );
    Ok(())
}

/// `hostname` with the UTS namespace given by path is accepted (runc checks
/// only that the config has a UTS namespace entry) and set in that
/// namespace.
fn hostname_joined_uts(ctx: &Ctx) -> TestResult {
    let mut holder = std::process::Command::new("unshare")
        .args(["--uts", "--", "sleep", "60"])
        .stdin(std::process::Stdio::null())
        .spawn()
        .map_err(|e| Fail::Fail(format!("spawn unshare: {e}")))?;
    let res = joined_uts(ctx, holder.id());
    let _ = holder.kill();
    let _ = holder.wait();
    res
}

fn joined_uts(ctx: &Ctx, pid: u32) -> TestResult {
    let comm = format!("/proc/{pid}/comm");
    super::util::wait_file(
        std::path::Path::new(&comm),
        std::time::Duration::from_secs(5),
    )?;
    let start = std::time::Instant::now();
    // unshare(1) unshares, then execs sleep: wait for the exec.
    while std::fs::read_to_string(&comm).unwrap_or_default() != "sleep\n" {
        ensure!(
            start.elapsed().as_secs() < 5,
            "the uts holder did not start"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let path = format!("/proc/{pid}/ns/uts");
    let mut b = ctx.bundle("b")?;
    let mut list = config::base_namespaces();
    list.retain(|n| n.typ() != oci_spec::runtime::LinuxNamespaceType::Uts);
    list.push(config::ns(
        oci_spec::runtime::LinuxNamespaceType::Uts,
        Some(&path),
    ));
    config::linux_mut(&mut b.spec).set_namespaces(Some(list));
    b.spec.set_hostname(Some("joined-host".into()));
    let f = ctx.check(&mut b, &["uts"])?;
    f.expect("hostname", "joined-host")?;
    let out = std::process::Command::new("nsenter")
        .args(["-t", &pid.to_string(), "-u", "hostname"])
        .output()
        .map_err(|e| Fail::Fail(format!("nsenter: {e}")))?;
    let seen = String::from_utf8_lossy(&out.stdout);
    ensure_eq!(
        seen.trim(),
        "joined-host",
        "hostname in the joined namespace"
    );
    Ok(())
}

/// Prints the owner uid and gid of the process's terminal.
const TTY_OWNER: &str = "set -- $(ls -ln $(tty)); echo owner:$3:$4";

/// The pty belongs to process.user's uid (the group stays devpts' `tty`,
/// gid 5), for `run` and for `exec -t --user`, as runc leaves it.
fn tty_owned_by_user(ctx: &Ctx) -> TestResult {
    let wait = std::time::Duration::from_secs(15);
    let mut b = ctx.bundle("b")?;
    super::util::sh(&mut b, TTY_OWNER);
    config::set_terminal(&mut b.spec, 24, 80);
    config::set_user(&mut b.spec, 1000, 1000)?;
    b.write()?;
    let (recv, sock) = super::tty::receiver(ctx, "")?;
    let run = [
        "run",
        "-d",
        "--console-socket",
        &sock,
        "--bundle",
        b.path(),
        "c1",
    ];
    ctx.rt(&run)?.ok()?;
    let out = recv.wait(wait)?.ok()?;
    ensure!(out.stdout.contains("owner:1000:5"), "run: {:?}", out.stdout);
    ctx.wait_status("c1", "stopped", wait)?;
    ctx.rt(&["delete", "c1"])?.ok()?;

    let mut b = ctx.bundle("b2")?;
    start_waiting(ctx, "c1", &mut b)?;
    // The first receiver's ready file would answer for the second one.
    let _ = std::fs::remove_file(ctx.path("console.sock.ready"));
    let res = (|| {
        let (recv, sock) = super::tty::receiver(ctx, "")?;
        let exec = [
            "exec",
            "-t",
            "-d",
            "--console-socket",
            &sock,
            "--user",
            "1000:1000",
        ];
        let args: Vec<&str> = exec
            .iter()
            .chain(&["c1", "sh", "-c", TTY_OWNER])
            .copied()
            .collect();
        ctx.rt(&args)?.ok()?;
        let out = recv.wait(wait)?.ok()?;
        ensure!(
            out.stdout.contains("owner:1000:5"),
            "exec: {:?}",
            out.stdout
        );
        Ok(())
    })();
    ctx.delete_force("c1")?;
    res
}
