//! spec-tests: OCI runtime conformance suite for any runc-compatible binary.
//!
//! Usage: `spec-tests [--filter SUBSTR]... [--tag TAG]... [--list] [--timeout SECS]`
//! A filter or tag that selects no case fails the run (harness::case).
//! Env: `RUNTIME` (runtime binary; default: `berth` next to this binary),
//! `CHECKER` (berth-checker binary; default: next to this binary),
//! `SPEC_FIXTURES` (the recorded client configs; default: spec-tests/fixtures).
//!
//! Each case runs in a forked child in its own process group, with a private
//! temp dir and a private `--root`; the parent is a child subreaper, enforces
//! the timeout and removes whatever the case left, failing a case that passed
//! but leaked containers, mounts or processes.

mod cases;
mod harness;

use harness::case::{self, Case, CaseFn};
use harness::{cleanup, sys, Ctx, Env, Fail};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const USAGE: &str =
    "usage: spec-tests [--filter SUBSTR]... [--tag TAG]... [--list] [--timeout SECS]";

struct Opts {
    filters: Vec<String>,
    tags: Vec<String>,
    list: bool,
    timeout: Duration,
}

fn parse_opts() -> Result<Opts, String> {
    let mut o = Opts {
        filters: Vec::new(),
        tags: Vec::new(),
        list: false,
        timeout: Duration::from_secs(60),
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--filter" | "-f" => o.filters.push(args.next().ok_or("--filter needs a value")?),
            "--tag" | "-t" => o.tags.push(args.next().ok_or("--tag needs a value")?),
            "--list" => o.list = true,
            "--timeout" => {
                let s = args.next().ok_or("--timeout needs seconds")?;
                o.timeout = Duration::from_secs(s.parse().map_err(|e| format!("--timeout: {e}"))?);
            }
            "-h" | "--help" => {
                println!("{USAGE}\ntags: {}", case::TAGS.join(", "));
                std::process::exit(0);
            }
            _ => return Err(format!("unknown argument {a:?}")),
        }
    }
    Ok(o)
}

/// `$var`, or the binary `name` next to this one (the workspace's release
/// binaries are built side by side).
fn binary(var: &str, name: &str) -> Result<PathBuf, String> {
    let p = match std::env::var_os(var) {
        Some(p) => PathBuf::from(p),
        None => std::env::current_exe()
            .map_err(|e| format!("current_exe: {e}"))?
            .with_file_name(name),
    };
    std::fs::canonicalize(&p).map_err(|e| format!("{}: {e}", p.display()))
}

fn setup(work: &Path) -> Result<Env, String> {
    let runtime = binary("RUNTIME", "berth")?;
    let checker = binary("CHECKER", "berth-checker")?;
    let template = work.join("template");
    harness::rootfs::build_template(&template, &checker).map_err(|e| format!("{e:?}"))?;
    Ok(Env {
        runtime,
        template,
        systemd: harness::systemd::enabled(),
    })
}

/// How long a SIGKILLed case process may take to go away.
const KILL_GRACE: Duration = Duration::from_secs(10);

enum Outcome {
    Pass,
    Fail(String),
    Skip(String),
}

/// Run one case in a forked child; returns its outcome after cleanup.
fn run_case(env: &Env, dir: PathBuf, f: CaseFn, timeout: Duration) -> Outcome {
    if let Err(e) = std::fs::create_dir(&dir) {
        return Outcome::Fail(format!("mkdir {dir:?}: {e}"));
    }
    let result_file = dir.join(".result");
    let _ = std::io::stdout().flush();
    let child = match sys::fork() {
        Err(e) => return Outcome::Fail(format!("fork: {e}")),
        Ok(sys::Forked::Child) => {
            let _ = sys::new_process_group();
            let ctx = Ctx::new(env, dir.clone());
            let text = match f(&ctx) {
                Ok(()) => "pass\n".to_string(),
                Err(Fail::Fail(m)) => format!("fail\n{m}"),
                Err(Fail::Skip(m)) => format!("skip\n{m}"),
            };
            let _ = std::fs::write(&result_file, text);
            sys::exit_now(0);
        }
        Ok(sys::Forked::Parent(pid)) => pid,
    };
    let outcome = wait_child(child, timeout, &dir, &result_file);
    cleanup::reap_for(Duration::from_millis(5));
    let root = dir.join("root");
    let leaks = cleanup::leftovers(env, &dir, &root, child);
    let cleaned = cleanup::clean(env, &dir, &root, child);
    match (outcome, leaks.is_empty(), cleaned) {
        (_, _, Err(e)) => Outcome::Fail(format!("cleanup: {e}")),
        (Outcome::Pass, false, _) => Outcome::Fail(format!("left behind: {}", leaks.join(", "))),
        (o, _, _) => o,
    }
}

fn wait_child(child: i32, timeout: Duration, dir: &Path, result_file: &Path) -> Outcome {
    let start = Instant::now();
    let mut killed = false;
    let status = loop {
        match sys::reap_any() {
            Some((pid, st)) if pid == child => break st,
            Some(_) => continue,
            None => {}
        }
        if !killed && start.elapsed() > timeout {
            let _ = sys::kill(-child, libc::SIGKILL);
            let _ = sys::kill(child, libc::SIGKILL);
            killed = true;
        }
        // A case process that outlives its SIGKILL is blocked in the
        // kernel: report what it waits on and go on without it.
        if killed && start.elapsed() > timeout + KILL_GRACE {
            let stuck = cleanup::processes(dir, child);
            let pids: Vec<i32> = std::iter::once(child)
                .chain(stuck.iter().map(|(p, _)| *p).filter(|&p| p != child))
                .collect();
            return Outcome::Fail(format!(
                "timed out after {timeout:?}, and still there {KILL_GRACE:?} after SIGKILL: {}",
                harness::stuck::describe(&pids)
            ));
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    if killed {
        return Outcome::Fail(format!("timed out after {timeout:?}"));
    }
    let text = std::fs::read_to_string(result_file).unwrap_or_default();
    match text.split_once('\n') {
        Some(("pass", _)) => Outcome::Pass,
        Some(("fail", m)) => Outcome::Fail(m.replace('\n', " | ")),
        Some(("skip", m)) => Outcome::Skip(m.replace('\n', " | ")),
        _ => Outcome::Fail(format!(
            "case process died (exit {}) without a result",
            sys::exit_code(status)
        )),
    }
}

fn main() {
    let (opts, selected) = match parse_opts()
        .and_then(|o| case::select(&cases::all(), &o.filters, &o.tags).map(|s| (o, s)))
    {
        Ok(v) => v,
        Err(e) => {
            eprintln!("spec-tests: {e}");
            std::process::exit(2);
        }
    };
    if opts.list {
        selected.iter().for_each(|c| println!("{}", c.name));
        return;
    }
    // A marker in the runtime's environment: neither the container nor a
    // hook may see it (their env comes from config.json only).
    std::env::set_var("BERTH_SPEC_SENTINEL", "runtime-env");
    let work = std::env::temp_dir().join(format!("berth-spec.{}", std::process::id()));
    let code = match std::fs::create_dir(&work)
        .map_err(|e| e.to_string())
        .and_then(|_| setup(&work))
    {
        Ok(env) => run_all(&env, &work, &selected, opts.timeout),
        Err(e) => {
            eprintln!("spec-tests: setup: {e}");
            2
        }
    };
    if let Err(e) = std::fs::remove_dir_all(&work) {
        eprintln!("spec-tests: remove {}: {e}", work.display());
    }
    std::process::exit(code);
}

fn run_all(env: &Env, work: &Path, cases: &[Case], timeout: Duration) -> i32 {
    if let Err(e) = sys::set_child_subreaper() {
        eprintln!("spec-tests: PR_SET_CHILD_SUBREAPER: {e}");
        return 2;
    }
    let (mut passed, mut failed, mut skipped) = (0, 0, 0);
    for (i, Case { name, run, .. }) in cases.iter().enumerate() {
        let dir = work.join(format!("c{i}"));
        match run_case(env, dir, *run, timeout) {
            Outcome::Pass => {
                passed += 1;
                println!("ok {name}");
            }
            Outcome::Fail(m) => {
                failed += 1;
                println!("FAIL {name}: {m}");
            }
            Outcome::Skip(m) => {
                skipped += 1;
                println!("skip {name}: {m}");
            }
        }
    }
    if skipped > 0 {
        println!("{passed} passed, {failed} failed, {skipped} skipped");
    } else {
        println!("{passed} passed, {failed} failed");
    }
    i32::from(failed > 0)
}
