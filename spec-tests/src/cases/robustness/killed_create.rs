//! A create SIGKILLed half-way (cgroup made, init started, no state yet)
//! must stay removable by `delete --force`, and the id reusable.

use super::cgroup::{cgroup_dirs_of, set_cgroups_path, CaseCgroups};
use crate::cases::util::{expect_gone, expect_nothing_left, known_runc_1_1_gap, sh, wait_file};
use crate::ensure;
use crate::harness::cmd::Running;
use crate::harness::{config, read, write_script, Bundle, Ctx, Fail, TestResult};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Field 22 of /proc/PID/stat (start time), to tell a recycled pid apart.
fn start_time(pid: i64) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split(' ').nth(19).map(str::to_string)
}

/// Wait until none of `procs` (pid, start time) runs any more.
fn wait_gone(procs: &[(i64, Option<String>, &str)], timeout: Duration) -> TestResult {
    let start = Instant::now();
    loop {
        let alive: Vec<String> = procs
            .iter()
            .filter(|(pid, st, _)| st.is_some() && start_time(*pid) == *st)
            .map(|(pid, _, what)| format!("{what} ({pid})"))
            .collect();
        if alive.is_empty() {
            return Ok(());
        }
        ensure!(
            start.elapsed() < timeout,
            "still running after delete: {}",
            alive.join(", ")
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A create SIGKILLed while its createRuntime hook runs (container cgroup
/// made, init started, no state yet) must stay removable: `delete --force`
/// exits 0 and removes the cgroup and every process, and the id can be
/// used again. Once with an explicit `cgroupsPath`, once with the
/// runtime's default cgroup.
pub fn killed_create_is_removable(ctx: &Ctx) -> TestResult {
    crate::cases::util::skip_in_systemd_mode(
        ctx,
        "one half makes its cgroupfs cgroupsPath's cgroup itself, the other finds the default cgroup by the id",
    )?;
    let mut cg = CaseCgroups::new("c1");
    let explicit = killed_create(ctx, "b1", "c1", &mut cg, true);
    let id = format!("robust-{}", std::process::id());
    let default = killed_create(ctx, "b2", &id, &mut cg, false);
    let (hard1, leak1) = explicit?;
    let (hard2, leak2) = default?;
    hard1.map_err(|e| prefix("cgroupsPath", e))?;
    hard2.map_err(|e| prefix("default cgroup", e))?;
    let msgs: Vec<String> = [("cgroupsPath", leak1), ("default cgroup", leak2)]
        .into_iter()
        .filter_map(|(what, r)| match r {
            Err(Fail::Fail(m)) => Some(format!("{what}: {m}")),
            _ => None,
        })
        .collect();
    let leaks = if msgs.is_empty() {
        Ok(())
    } else {
        Err(Fail::Fail(msgs.join("; ")))
    };
    known_runc_1_1_gap(
        ctx,
        "delete of a create killed before its state.json was written leaves the cgroup",
        leaks,
    )
}

fn prefix(what: &str, e: Fail) -> Fail {
    match e {
        Fail::Fail(m) => Fail::Fail(format!("{what}: {m}")),
        s => s,
    }
}

/// One killed create; the outer error is a setup problem, the inner pair
/// the checks that must hold everywhere and the cgroup-leak check.
fn killed_create(
    ctx: &Ctx,
    bname: &str,
    id: &str,
    cg: &mut CaseCgroups,
    explicit: bool,
) -> Result<(TestResult, TestResult), Fail> {
    let hook = HookFiles::new(ctx, id);
    let mut b = hanging_bundle(ctx, bname, cg, explicit, &hook)?;
    let create = ctx.spawn(&["create", "--bundle", b.path(), id])?;
    let waited = wait_file(&hook.mark, Duration::from_secs(10));
    let hook_pid = hook.hook_pid();
    let init_pid = hook.init_pid();
    let init_start = start_time(init_pid);
    let cg_dirs = container_cgroups(cg, id, init_pid, explicit)?;
    let hook_start = start_time(hook_pid);
    kill_create(create, hook_pid);
    waited?;
    ensure!(
        init_pid > 0,
        "the createRuntime hook got no pid in its state"
    );
    ensure!(
        !cg_dirs.is_empty(),
        "no cgroup of the container found for init {init_pid}"
    );
    let procs = [
        (init_pid, init_start, "the container's init"),
        (hook_pid, hook_start, "the hook's sleep"),
    ];
    let hard = delete_removes_all(ctx, id, &procs);
    let leak = no_cgroup_left(&cg_dirs);
    if let Err(Fail::Fail(m)) = hard {
        let also = match &leak {
            Err(Fail::Fail(l)) => format!(" (and {l})"),
            _ => String::new(),
        };
        return Ok((Err(Fail::Fail(format!("{m}{also}"))), leak));
    }
    Ok((id_reusable(ctx, id, &mut b), leak))
}

/// The files through which the createRuntime hook reports: the container
/// state it was given, and its own pid in `mark` (moved into place last, so
/// once it is there both are written).
struct HookFiles {
    mark: PathBuf,
    state: PathBuf,
    script: PathBuf,
}

impl HookFiles {
    fn new(ctx: &Ctx, id: &str) -> HookFiles {
        HookFiles {
            mark: ctx.path(&format!("{id}.mark")),
            state: ctx.path(&format!("{id}.state")),
            script: ctx.path(&format!("{id}.hook.sh")),
        }
    }

    /// The hook's pid; 0 if it did not report.
    fn hook_pid(&self) -> i64 {
        read(&self.mark)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0)
    }

    /// The container init's pid, from the state the hook got; 0 if none.
    fn init_pid(&self) -> i64 {
        read(&self.state)
            .ok()
            .and_then(|s| serde_json::from_str::<serde_json::Value>(&s).ok())
            .and_then(|v| v["pid"].as_i64())
            .unwrap_or(0)
    }
}

/// Writes the hook script and a bundle (in the case's cgroup when
/// `explicit`) whose createRuntime hook reports through `hook` and then
/// sleeps, so that create hangs half-way.
fn hanging_bundle(
    ctx: &Ctx,
    bname: &str,
    cg: &CaseCgroups,
    explicit: bool,
    hook: &HookFiles,
) -> Result<Bundle, Fail> {
    write_script(
        &hook.script,
        &format!(
            "cat > {st}; echo $$ > {m}.tmp; mv {m}.tmp {m}; exec sleep 30",
            st = hook.state.display(),
            m = hook.mark.display()
        ),
    )?;
    let mut b = ctx.bundle(bname)?;
    if explicit {
        set_cgroups_path(&mut b, &cg.cgroups_path());
    }
    sh(&mut b, "exit 0");
    let h = config::hook(
        hook.script.to_str().unwrap_or_default(),
        &["hook"],
        &["PATH=/usr/sbin:/usr/bin:/sbin:/bin"],
        Some(60),
    );
    config::hooks_mut(&mut b.spec).set_create_runtime(Some(vec![h]));
    b.write()?;
    Ok(b)
}

/// The container's cgroups, seen while it is being created: the case's own
/// with an explicit cgroupsPath; else those of the init named after the id
/// that this process is not in, which the case then cleans up too.
fn container_cgroups(
    cg: &mut CaseCgroups,
    id: &str,
    init_pid: i64,
    explicit: bool,
) -> Result<Vec<PathBuf>, Fail> {
    let own = cgroup_dirs_of(std::process::id() as i64, &cg.hier)?;
    let cg_dirs: Vec<PathBuf> = if explicit {
        cg.dirs()
    } else if init_pid > 0 {
        cgroup_dirs_of(init_pid, &cg.hier)?
            .into_iter()
            .filter(|d| !own.contains(d) && d.file_name() == Some(id.as_ref()))
            .collect()
    } else {
        Vec::new()
    };
    if !explicit {
        cg.extra.extend(cg_dirs.iter().cloned());
    }
    Ok(cg_dirs)
}

/// SIGKILLs the runtime's create and the hook's sleep, and reaps the create.
fn kill_create(create: Running, hook_pid: i64) {
    let _ = crate::harness::sys::kill(create.pid() as i32, libc::SIGKILL);
    if hook_pid > 0 {
        let _ = crate::harness::sys::kill(hook_pid as i32, libc::SIGKILL);
    }
    let _ = create.wait(Duration::from_secs(5));
}

/// `delete --force` exits 0, the container is gone, and so are `procs`.
fn delete_removes_all(ctx: &Ctx, id: &str, procs: &[(i64, Option<String>, &str)]) -> TestResult {
    let del = ctx.rt(&["delete", "--force", id])?;
    ensure!(
        del.code == 0,
        "`delete --force` after the killed create exited {}: {}",
        del.code,
        del.stderr.trim()
    );
    expect_gone(ctx, id)?;
    wait_gone(procs, Duration::from_secs(3))?;
    Ok(())
}

/// None of the container's cgroup directories is left.
fn no_cgroup_left(cg_dirs: &[PathBuf]) -> TestResult {
    let left: Vec<&PathBuf> = cg_dirs.iter().filter(|d| d.exists()).collect();
    ensure!(
        left.is_empty(),
        "cgroup dirs left after delete --force: {left:?}"
    );
    Ok(())
}

/// The id is free again: the same config without the hook creates, and
/// deletes without leftovers.
fn id_reusable(ctx: &Ctx, id: &str, b: &mut Bundle) -> TestResult {
    b.spec.set_hooks(None);
    let out = ctx.create(id, b)?;
    ensure!(
        out.code == 0,
        "create of the same id after the delete exited {}: {}",
        out.code,
        out.stderr.trim()
    );
    ctx.delete_force(id)?;
    expect_nothing_left(ctx, id, b)
}
