//! `exec` and `ps`: a new process in a running container — exit status, user, env,
//! namespaces, fds, --process, sub-cgroups (--cgroup), and the error paths
//! (runc exits 255 for its own exec failures).

use super::util::{start_waiting, until_go};
use crate::harness::case::{case, Case, CGROUP, CGROUPV2};
use crate::harness::{systemd, Ctx, Fail, TestResult};
use crate::{ensure, ensure_eq};

pub const CASES: &[Case] = &[
    case("exec_exit_status", exec_exit_status).tagged(&[CGROUPV2]),
    case("exec_user_env_cwd", exec_user_env_cwd).tagged(&[CGROUPV2]),
    case("exec_joins_namespaces", exec_joins_namespaces).tagged(&[CGROUPV2]),
    case("exec_fds", exec_fds).tagged(&[CGROUPV2]),
    case("exec_process_file", exec_process_file).tagged(&[CGROUPV2]),
    case("exec_errors", exec_errors).tagged(&[CGROUPV2]),
    case("exec_sub_cgroup", exec_sub_cgroup).tagged(&[CGROUP]),
    case("ps_formats", ps_formats).tagged(&[CGROUP]),
];

fn exec_exit_status(ctx: &Ctx) -> TestResult {
    let mut b = ctx.bundle("b")?;
    start_waiting(ctx, "c1", &mut b)?;
    ctx.rt(&["exec", "c1", "sh", "-c", "exit 5"])?.code(5)?;
    ctx.rt(&["exec", "c1", "sh", "-c", "kill -9 $$"])?
        .code(137)?;
    let out = ctx.rt(&["exec", "c1", "echo", "hi"])?.ok()?;
    ensure_eq!(out.stdout, "hi\n", "exec stdout");
    ctx.delete_force("c1")
}

fn exec_user_env_cwd(ctx: &Ctx) -> TestResult {
    let mut b = ctx.bundle("b")?;
    start_waiting(ctx, "c1", &mut b)?;
    let id = ctx
        .rt(&["exec", "--user", "1000:1000", "c1", "id", "-u"])?
        .ok()?;
    ensure_eq!(id.stdout.trim(), "1000", "uid with --user 1000:1000");
    let gid = ctx
        .rt(&["exec", "-u", "1000:1000", "c1", "id", "-g"])?
        .ok()?;
    ensure_eq!(gid.stdout.trim(), "1000", "gid with --user 1000:1000");
    let env = ctx.rt(&["exec", "--env", "A=1", "c1", "env"])?.ok()?;
    ensure!(
        env.stdout.lines().any(|l| l == "A=1"),
        "A=1 missing from env: {}",
        env.stdout
    );
    let cwd = ctx.rt(&["exec", "--cwd", "/tmp", "c1", "pwd"])?.ok()?;
    ensure_eq!(cwd.stdout.trim(), "/tmp", "cwd with --cwd /tmp");
    ctx.delete_force("c1")
}

fn ns_inode(path: &str) -> Result<String, Fail> {
    std::fs::read_link(path)
        .map(|p| p.display().to_string())
        .map_err(|e| Fail::Fail(format!("readlink {path}: {e}")))
}

fn exec_joins_namespaces(ctx: &Ctx) -> TestResult {
    let mut b = ctx.bundle("b")?;
    start_waiting(ctx, "c1", &mut b)?;
    let pid = ctx.state("c1")?["pid"].as_i64().unwrap_or(0);
    for ns in ["mnt", "uts", "ipc", "net", "pid", "cgroup"] {
        let want = ns_inode(&format!("/proc/{pid}/ns/{ns}"))?;
        let out = ctx
            .rt(&["exec", "c1", "readlink", &format!("/proc/self/ns/{ns}")])?
            .ok()?;
        ensure_eq!(out.stdout.trim(), want, "exec'd process's {ns} namespace");
    }
    let out = ctx.rt(&["exec", "c1", "sh", "-c", "echo $$"])?.ok()?;
    ensure!(
        out.stdout.trim() != "1",
        "exec'd process is pid 1 in the container"
    );
    ctx.delete_force("c1")
}

fn exec_fds(ctx: &Ctx) -> TestResult {
    let mut b = ctx.bundle("b")?;
    start_waiting(ctx, "c1", &mut b)?;
    // ls opens the directory it lists as fd 3; nothing else may be there.
    let out = ctx.rt(&["exec", "c1", "ls", "/proc/self/fd"])?.ok()?;
    let fds: Vec<&str> = out.stdout.split_whitespace().collect();
    ensure_eq!(fds, vec!["0", "1", "2", "3"], "fds of an exec'd process");
    let mut cmd = ctx.command(&["exec", "--preserve-fds", "1", "c1", "ls", "/proc/self/fd"]);
    let file = std::fs::File::open("/dev/null").map_err(|e| Fail::Fail(e.to_string()))?;
    use std::os::fd::AsRawFd;
    let raw = file.as_raw_fd();
    use std::os::unix::process::CommandExt;
    // SAFETY: in the forked child, dup2/fcntl are async-signal-safe.
    unsafe {
        cmd.pre_exec(move || {
            // dup2 onto another fd clears O_CLOEXEC; onto itself it does not.
            let r = if raw == 3 {
                libc::fcntl(3, libc::F_SETFD, 0)
            } else {
                libc::dup2(raw, 3)
            };
            if r < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = cmd
        .output()
        .map_err(|e| Fail::Fail(format!("spawn: {e}")))?;
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let fds: Vec<&str> = text.split_whitespace().collect();
    ensure_eq!(
        fds,
        vec!["0", "1", "2", "3", "4"],
        "fds with --preserve-fds 1"
    );
    ctx.delete_force("c1")
}

fn exec_process_file(ctx: &Ctx) -> TestResult {
    let mut b = ctx.bundle("b")?;
    start_waiting(ctx, "c1", &mut b)?;
    let p = serde_json::json!({
        "args": ["sh", "-c", "echo $FOO; id -u; exit 4"],
        "env": ["PATH=/bin", "FOO=from-file"],
        "cwd": "/",
        "user": {"uid": 1000, "gid": 1000}
    });
    let path = ctx.path("process.json");
    std::fs::write(&path, p.to_string()).map_err(|e| Fail::Fail(e.to_string()))?;
    let path = path.display().to_string();
    let out = ctx.rt(&["exec", "--process", &path, "c1"])?.code(4)?;
    ensure_eq!(
        out.stdout,
        "from-file\n1000\n",
        "output of the process.json process"
    );
    ctx.delete_force("c1")
}

fn exec_errors(ctx: &Ctx) -> TestResult {
    let out = ctx.rt(&["exec", "nosuch", "true"])?.code(255)?;
    ensure!(
        out.stderr.contains("does not exist"),
        "stderr: {}",
        out.stderr
    );
    let mut b = ctx.bundle("b")?;
    until_go(&mut b);
    b.write()?;
    super::util::go(&b)?;
    ctx.rt(&["run", "-d", "--bundle", b.path(), "c1"])?.ok()?;
    ctx.wait_status("c1", "stopped", std::time::Duration::from_secs(10))?;
    let out = ctx.rt(&["exec", "c1", "true"])?.code(255)?;
    ensure!(out.stderr.contains("stopped"), "stderr: {}", out.stderr);
    ctx.rt(&["delete", "c1"])?.ok()?;
    Ok(())
}

/// `ps`: JSON lists the init and an exec'd process; the table is ps's own,
/// filtered to them (extra arguments go to ps).
fn ps_formats(ctx: &Ctx) -> TestResult {
    let mut b = ctx.bundle("b")?;
    // A steady payload: until_go's loop forks short-lived sleeps.
    super::util::sh(&mut b, "exec sleep 300");
    ctx.create("c1", &b)?.ok()?;
    ctx.rt(&["start", "c1"])?.ok()?;
    ctx.wait_status("c1", "running", std::time::Duration::from_secs(10))?;
    let init = ctx.state("c1")?["pid"].as_i64().unwrap_or(0);
    ctx.rt(&["exec", "-d", "c1", "sleep", "30"])?.ok()?;
    let out = ctx.rt(&["ps", "--format", "json", "c1"])?.ok()?;
    let pids: Vec<i64> = serde_json::from_str(out.stdout.trim())
        .map_err(|e| Fail::Fail(format!("ps json {:?}: {e}", out.stdout)))?;
    ensure!(
        pids.contains(&init),
        "ps json {pids:?} lacks the init {init}"
    );
    ensure!(pids.len() >= 2, "ps json {pids:?} lacks the exec'd sleep");
    let out = ctx.rt(&["ps", "c1", "-o", "pid,comm"])?.ok()?;
    let mut lines = out.stdout.lines();
    ensure_eq!(
        lines
            .next()
            .map(|h| h.split_whitespace().collect::<Vec<_>>()),
        Some(vec!["PID", "COMMAND"]),
        "ps table header"
    );
    let rows: Vec<&str> = lines.collect();
    ensure_eq!(rows.len(), pids.len(), "ps table rows");
    ensure!(
        rows.iter().any(|r| r.ends_with("sleep")),
        "no sleep row in {rows:?}"
    );
    ctx.delete_force("c1")
}

/// `hierarchy id:controllers` → cgroup path, from a /proc/PID/cgroup text.
fn cgroup_lines(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| l.rsplit_once(':'))
        .map(|(k, p)| (k.to_string(), p.to_string()))
        .collect()
}

/// The host directory of cgroup `path` in the hierarchy of `key` ("N:ctrls"):
/// the cgroup2 mount for an empty controller list, else the v1 mount whose
/// options carry every controller.
fn host_cgroup_dir(key: &str, path: &str) -> Result<std::path::PathBuf, Fail> {
    let ctrls: Vec<&str> = key.split_once(':').map_or("", |k| k.1).split(',').collect();
    let info = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| Fail::Fail(format!("mountinfo: {e}")))?;
    for line in info.lines() {
        let Some((pre, post)) = line.split_once(" - ") else {
            continue;
        };
        let (pre, post): (Vec<&str>, Vec<&str>) =
            (pre.split(' ').collect(), post.split(' ').collect());
        let (Some(point), Some(fstype), Some(opts)) = (pre.get(4), post.first(), post.get(2))
        else {
            continue;
        };
        let opts: Vec<&str> = opts.split(',').collect();
        let hit = match *fstype {
            "cgroup2" => ctrls == [""],
            "cgroup" => ctrls != [""] && ctrls.iter().all(|c| opts.contains(c)),
            _ => false,
        };
        if hit && pre.get(3) == Some(&"/") {
            return Ok(std::path::Path::new(point).join(path.trim_start_matches('/')));
        }
    }
    Err(Fail::Fail(format!("no mount of cgroup hierarchy {key}")))
}

/// mkdir `<dir>/<sub>`; a v1 cpuset child needs its parent's cpus and mems.
fn make_sub(dir: &std::path::Path, sub: &str, made: &mut Vec<std::path::PathBuf>) -> TestResult {
    let d = dir.join(sub);
    std::fs::create_dir(&d).map_err(|e| Fail::Fail(format!("mkdir {}: {e}", d.display())))?;
    made.push(d.clone());
    // A v1 cpuset child starts empty and must be filled before use; on v2
    // the child has no cpuset files unless the controller is delegated.
    for f in ["cpuset.cpus", "cpuset.mems"] {
        if !d.join(f).exists() {
            continue;
        }
        if let Ok(v) = std::fs::read_to_string(dir.join(f)) {
            std::fs::write(d.join(f), v.trim())
                .map_err(|e| Fail::Fail(format!("write {f}: {e}")))?;
        }
    }
    Ok(())
}

/// `exec --cgroup SUB` puts the process in SUB below the container's cgroup
/// in every hierarchy; `--cgroup memory,pids:SUB2` only in those (v1).
fn exec_sub_cgroup(ctx: &Ctx) -> TestResult {
    let mut b = ctx.bundle("b")?;
    let cg = if ctx.env.systemd {
        // The bundle's cgroupsPath names the scope (harness::systemd).
        let unit = systemd::unit(&ctx.unit_name("b"));
        format!("/{}/{unit}", systemd::SLICE)
    } else {
        let cg = format!("/berth-spec-{}-excg", std::process::id());
        crate::harness::config::linux_mut(&mut b.spec).set_cgroups_path(Some(cg.clone().into()));
        cg
    };
    start_waiting(ctx, "c1", &mut b)?;
    let pid = ctx.state("c1")?["pid"].as_i64().unwrap_or(0);
    let init = std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
        .map_err(|e| Fail::Fail(format!("read /proc/{pid}/cgroup: {e}")))?;
    let init = cgroup_lines(&init);
    let ours: Vec<&(String, String)> = init.iter().filter(|(_, p)| *p == cg).collect();
    ensure!(!ours.is_empty(), "the init is not in {cg}: {init:?}");
    let mut made = Vec::new();
    let res = sub_cgroup_checks(ctx, &cg, &init, &ours, &mut made);
    for d in made.iter().rev() {
        let _ = std::fs::remove_dir(d);
    }
    res?;
    ctx.delete_force("c1")
}

fn sub_cgroup_checks(
    ctx: &Ctx,
    cg: &str,
    init: &[(String, String)],
    ours: &[&(String, String)],
    made: &mut Vec<std::path::PathBuf>,
) -> TestResult {
    for (key, path) in ours {
        make_sub(&host_cgroup_dir(key, path)?, "sub", made)?;
    }
    let out = ctx
        .rt(&["exec", "--cgroup", "sub", "c1", "cat", "/proc/self/cgroup"])?
        .ok()?;
    let got = cgroup_lines(&out.stdout);
    let want: Vec<(String, String)> = init
        .iter()
        .map(|(k, p)| match p == cg {
            true => (k.clone(), format!("{cg}/sub")),
            false => (k.clone(), p.clone()),
        })
        .collect();
    ensure_eq!(got, want, "cgroups of a process exec'd with --cgroup sub");
    ctx.rt(&["exec", "--cgroup", "nosuch", "c1", "true"])?
        .code(255)?;
    ctx.rt(&["exec", "--cgroup", "../x", "c1", "true"])?
        .code(255)?;
    // Per-controller form: only where memory and pids have v1 hierarchies.
    let v1 = |c: &str| ours.iter().find(|(k, _)| k.split(':').nth(1) == Some(c));
    let (Some(mem), Some(pids)) = (v1("memory"), v1("pids")) else {
        return Ok(());
    };
    for (key, path) in [mem, pids] {
        make_sub(&host_cgroup_dir(key, path)?, "sub2", made)?;
    }
    let out = ctx
        .rt(&[
            "exec",
            "--cgroup",
            "memory,pids:sub2",
            "c1",
            "cat",
            "/proc/self/cgroup",
        ])?
        .ok()?;
    let got = cgroup_lines(&out.stdout);
    let want: Vec<(String, String)> = init
        .iter()
        .map(|(k, p)| match *k == mem.0 || *k == pids.0 {
            true => (k.clone(), format!("{cg}/sub2")),
            false => (k.clone(), p.clone()),
        })
        .collect();
    ensure_eq!(
        got,
        want,
        "cgroups of a process exec'd with --cgroup memory,pids:sub2"
    );
    Ok(())
}
