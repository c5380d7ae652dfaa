//! cgroup robustness: populated, frozen or foreign cgroups are refused, and the created init keeps no fd
//! into the host's cgroupfs. The cases make their cgroups under
//! `/spec-robust-<pid>` in every hierarchy and remove them (thawing and
//! killing what is inside by pid) even when they fail.

use super::mentions;
use crate::cases::util::{
    expect_error, expect_gone, expect_nothing_left, host_cgroup_v2, known_runc_1_1_gap, sh,
    skip_in_systemd_mode, until_go,
};
use crate::harness::{cgroup_procs, config, read, Bundle, Ctx, Fail, TestResult};
use crate::{ensure, ensure_eq};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Why the cases that make their own cgroup are skipped in systemd mode.
pub(super) const CGROUPFS_ONLY: &str =
    "the case makes its cgroupfs cgroupsPath's cgroup itself, where the systemd driver has systemd make a scope";

/// One mounted cgroup hierarchy.
pub(super) struct Hier {
    path: PathBuf,
    /// Super options: the v1 controllers (`cpu,cpuacct`, `name=systemd`).
    opts: String,
    v2: bool,
}

impl Hier {
    fn has(&self, ctrl: &str) -> bool {
        self.opts.split(',').any(|o| o == ctrl)
    }
}

/// Every cgroup (v1) and cgroup2 mount of the host.
fn hierarchies() -> Vec<Hier> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut v: Vec<Hier> = text
        .lines()
        .filter_map(|l| {
            let (left, right) = l.split_once(" - ")?;
            let point = left.split(' ').nth(4)?;
            let mut r = right.split(' ');
            let fstype = r.next()?;
            let opts = r.nth(1).unwrap_or("").to_string();
            matches!(fstype, "cgroup" | "cgroup2").then(|| Hier {
                path: PathBuf::from(point),
                opts,
                v2: fstype == "cgroup2",
            })
        })
        .collect();
    v.sort_by(|a, b| a.path.cmp(&b.path));
    v.dedup_by(|a, b| a.path == b.path);
    v
}

/// The host directories of `pid`'s cgroups, one per hierarchy.
pub(super) fn cgroup_dirs_of(pid: i64, hier: &[Hier]) -> Result<Vec<PathBuf>, Fail> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
        .map_err(|e| Fail::Fail(format!("read /proc/{pid}/cgroup: {e}")))?;
    let mut v = Vec::new();
    for line in text.lines() {
        let mut f = line.splitn(3, ':');
        let (_, ctrls, path) = (f.next(), f.next().unwrap_or(""), f.next().unwrap_or(""));
        let h = hier.iter().find(|h| {
            if ctrls.is_empty() {
                h.v2
            } else {
                !h.v2 && ctrls.split(',').any(|c| h.has(c))
            }
        });
        if let Some(h) = h {
            v.push(h.path.join(path.trim_start_matches('/')));
        }
    }
    Ok(v)
}

/// Every directory of the cgroup tree at `dir`, parents before children.
fn tree(dir: &Path) -> Vec<PathBuf> {
    let mut v = Vec::new();
    if dir.is_dir() {
        v.push(dir.to_path_buf());
        if let Ok(rd) = std::fs::read_dir(dir) {
            for e in rd.filter_map(|e| e.ok()) {
                if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                    v.extend(tree(&e.path()));
                }
            }
        }
    }
    v
}

/// Thaw every freezer, SIGKILL (by pid) what is inside and rmdir the cgroup
/// trees at `tops`, deepest first (a frozen process in one hierarchy keeps
/// the dirs of all the others busy until it is thawed).
fn remove_trees(tops: &[PathBuf]) {
    let dirs: Vec<PathBuf> = tops.iter().flat_map(|t| tree(t)).collect();
    for d in &dirs {
        for (file, thawed) in [("freezer.state", "THAWED"), ("cgroup.freeze", "0")] {
            if d.join(file).exists() {
                let _ = std::fs::write(d.join(file), thawed);
            }
        }
    }
    let start = Instant::now();
    loop {
        let mut busy = false;
        for d in dirs.iter().rev().filter(|d| d.exists()) {
            for pid in cgroup_procs(d) {
                let _ = crate::harness::sys::kill(pid, libc::SIGKILL);
            }
            busy |= std::fs::remove_dir(d).is_err();
        }
        if !busy || start.elapsed() > Duration::from_secs(5) {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The case's cgroup `/spec-robust-<pid>/<leaf>` in every hierarchy, and the
/// host processes the case started; all removed on drop.
pub(super) struct CaseCgroups {
    pub(super) hier: Vec<Hier>,
    top: String,
    rel: String,
    children: Vec<Child>,
    /// Extra cgroup dirs found at run time (a runtime's default cgroup).
    pub(super) extra: Vec<PathBuf>,
}

impl CaseCgroups {
    pub(super) fn new(leaf: &str) -> CaseCgroups {
        let top = format!("spec-robust-{}", std::process::id());
        CaseCgroups {
            hier: hierarchies(),
            rel: format!("{top}/{leaf}"),
            top,
            children: Vec::new(),
            extra: Vec::new(),
        }
    }

    /// The value for `linux.cgroupsPath`.
    pub(super) fn cgroups_path(&self) -> String {
        format!("/{}", self.rel)
    }

    pub(super) fn dirs(&self) -> Vec<PathBuf> {
        self.hier.iter().map(|h| h.path.join(&self.rel)).collect()
    }

    /// Make the leaf in every hierarchy (cpuset ones get their parent's
    /// cpus and mems, or no process could join).
    fn make(&self) -> TestResult {
        for h in &self.hier {
            for rel in [&self.top, &self.rel] {
                let d = h.path.join(rel);
                if let Err(e) = std::fs::create_dir(&d) {
                    ensure!(
                        e.kind() == std::io::ErrorKind::AlreadyExists,
                        "mkdir {}: {e}",
                        d.display()
                    );
                }
                if !h.v2 && h.has("cpuset") {
                    let parent = d.parent().unwrap_or(&h.path);
                    for f in ["cpuset.cpus", "cpuset.mems"] {
                        let v = std::fs::read_to_string(parent.join(f)).unwrap_or_default();
                        std::fs::write(d.join(f), v.trim())
                            .map_err(|e| format!("write {}/{f}: {e}", d.display()))?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Move `pid` into the leaf of every hierarchy.
    fn add(&self, pid: u32) -> TestResult {
        for d in self.dirs() {
            std::fs::write(d.join("cgroup.procs"), pid.to_string())
                .map_err(|e| format!("add {pid} to {}: {e}", d.display()))?;
        }
        Ok(())
    }

    /// A host `sleep 1000`, killed and reaped on drop.
    fn sleeper(&mut self) -> Result<u32, Fail> {
        let child = Command::new("sleep")
            .arg("1000")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("spawn sleep: {e}"))?;
        let pid = child.id();
        self.children.push(child);
        Ok(pid)
    }

    /// Whether the `i`th sleeper is still running.
    fn alive(&mut self, i: usize) -> bool {
        matches!(self.children[i].try_wait(), Ok(None))
    }

    /// Leaf dirs that exist.
    fn left(&self) -> Vec<PathBuf> {
        self.dirs().into_iter().filter(|d| d.exists()).collect()
    }
}

impl Drop for CaseCgroups {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        let mut tops = self.extra.clone();
        tops.extend(self.hier.iter().map(|h| h.path.join(&self.top)));
        remove_trees(&tops);
    }
}

pub(super) fn set_cgroups_path(b: &mut Bundle, path: &str) {
    config::linux_mut(&mut b.spec).set_cgroups_path(Some(PathBuf::from(path)));
}

fn set_resources(b: &mut Bundle, v: serde_json::Value) -> TestResult {
    let r = serde_json::from_value(v).map_err(|e| Fail::Fail(format!("resources: {e}")))?;
    config::linux_mut(&mut b.spec).set_resources(Some(r));
    Ok(())
}

/// A `cgroupsPath` whose cgroup already holds a host process is refused
/// (sharing it would let delete kill or freeze the host process); the
/// process stays where it is. runc 1.1 only warns ("won't be supported in
/// runc 1.2").
pub fn refuses_populated_cgroup(ctx: &Ctx) -> TestResult {
    skip_in_systemd_mode(ctx, CGROUPFS_ONLY)?;
    let mut cg = CaseCgroups::new("c1");
    cg.make()?;
    let pid = cg.sleeper()?;
    cg.add(pid)?;
    let mut b = ctx.bundle("b")?;
    set_cgroups_path(&mut b, &cg.cgroups_path());
    sh(&mut b, "exit 0");
    let out = ctx.create("c1", &b)?;
    let stderr = out.stderr.trim().to_string();
    let refused = (|| {
        ensure!(
            out.code == 1,
            "create in a cgroup holding a host process exited {} (want 1): {stderr:?}",
            out.code
        );
        ensure!(
            mentions(&stderr, &["not empty"]),
            "the error {stderr:?} does not say the cgroup is not empty"
        );
        Ok(())
    })();
    let _ = ctx.rt(&["delete", "--force", "c1"])?;
    expect_gone(ctx, "c1")?;
    expect_nothing_left(ctx, "c1", &b)?;
    ensure!(cg.alive(0), "the host process in the cgroup was killed");
    for d in cg.dirs() {
        ensure!(
            cgroup_procs(&d).contains(&(pid as i32)),
            "the host process {pid} is no longer in {}",
            d.display()
        );
    }
    known_runc_1_1_gap(ctx, "a populated cgroup is only a warning", refused)
}

/// `linux.resources.unified` must not move a host process:
/// `cgroup.procs` there is refused (on a v1 or hybrid host `unified` is
/// refused altogether).
pub fn unified_refuses_procs(ctx: &Ctx) -> TestResult {
    // On a hybrid host runc refuses `unified` altogether; on cgroup v2 it
    // writes cgroup.procs and moves the host process into the container.
    known_runc_1_1_gap(
        ctx,
        "on cgroup v2 unified cgroup.procs is written, moving a host process into the container's cgroup",
        unified_procs_case(ctx),
    )
}

fn unified_procs_case(ctx: &Ctx) -> TestResult {
    let mut cg = CaseCgroups::new("c1");
    let pid = cg.sleeper()?;
    let before = read(Path::new(&format!("/proc/{pid}/cgroup")))?;
    let mut b = ctx.bundle("b")?;
    set_cgroups_path(&mut b, &cg.cgroups_path());
    set_resources(
        &mut b,
        serde_json::json!({"unified": {"cgroup.procs": pid.to_string()}}),
    )?;
    sh(&mut b, "exit 0");
    b.write()?;
    let out = ctx.rt(&["create", "--bundle", b.path(), "c1"])?;
    if out.code == 0 {
        let _ = ctx.delete_force("c1");
    }
    ensure!(
        out.code == 1,
        "create with unified cgroup.procs exited {} (want 1): {}",
        out.code,
        out.stderr.trim()
    );
    ensure!(
        !out.stderr.trim().is_empty(),
        "create failed without an error"
    );
    ensure!(
        cg.alive(0),
        "the host process named in cgroup.procs was killed"
    );
    let after = read(Path::new(&format!("/proc/{pid}/cgroup")))?;
    ensure_eq!(after, before, "the host process's cgroups");
    expect_gone(ctx, "c1")?;
    expect_nothing_left(ctx, "c1", &b)?;
    let left = cg.left();
    ensure!(left.is_empty(), "cgroup dirs left: {left:?}");
    Ok(())
}

/// statfs type of the file behind `path` (following magic links).
fn fs_type(path: &str) -> Option<i64> {
    let c = std::ffi::CString::new(path).ok()?;
    // SAFETY: statfs on a NUL-terminated path into a zeroed out-struct.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::statfs(c.as_ptr(), &mut st) };
    (r == 0).then_some(st.f_type as i64)
}

/// The init waiting for `start` runs the container's code later; an fd of
/// it into the host's cgroupfs would let that code escape its cgroup.
pub fn created_init_has_no_host_cgroup_fd(ctx: &Ctx) -> TestResult {
    const CGROUP_SUPER_MAGIC: i64 = 0x27e0eb;
    const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;
    let mut b = ctx.bundle("b")?;
    until_go(&mut b);
    ctx.create("c1", &b)?.ok()?;
    let pid = ctx.state("c1")?["pid"].as_i64().unwrap_or(0);
    let res = (|| {
        ensure!(pid > 0, "no pid for the created container");
        let dir = format!("/proc/{pid}/fd");
        let rd = std::fs::read_dir(&dir).map_err(|e| format!("read {dir}: {e}"))?;
        let mut fds = Vec::new();
        let mut bad = Vec::new();
        for e in rd.filter_map(|e| e.ok()) {
            let p = e.path();
            let link = std::fs::read_link(&p)
                .map(|l| l.display().to_string())
                .unwrap_or_default();
            let ty = fs_type(p.to_str().unwrap_or_default());
            let cgroupfs = matches!(ty, Some(CGROUP_SUPER_MAGIC | CGROUP2_SUPER_MAGIC));
            let name = e.file_name().to_string_lossy().into_owned();
            if cgroupfs || link.starts_with("/sys/fs/cgroup") {
                bad.push(format!("{name} -> {link}"));
            }
            fds.push(name);
        }
        ensure!(!fds.is_empty(), "the created init has no fds at all");
        ensure!(
            bad.is_empty(),
            "the created init holds fds into the host's cgroupfs: {bad:?}"
        );
        Ok(())
    })();
    ctx.delete_force("c1")?;
    res
}

/// A cgroup frozen before create must make create fail quickly (joining
/// it would freeze the init and hang the runtime), leaving nothing.
pub fn frozen_cgroup_refused(ctx: &Ctx) -> TestResult {
    frozen_refused(ctx, false)
}

/// The same with only the parent of a new `cgroupsPath` frozen: the leaf
/// the runtime makes starts frozen (v1 and v2 alike). The leaf it made is
/// removed again.
pub(crate) fn frozen_parent_refused(ctx: &Ctx) -> TestResult {
    frozen_refused(ctx, true)
}

fn frozen_refused(ctx: &Ctx, parent: bool) -> TestResult {
    skip_in_systemd_mode(ctx, CGROUPFS_ONLY)?;
    let cg = CaseCgroups::new("c1");
    let at = if parent { &cg.top } else { &cg.rel };
    // The v1 freezer, or cgroup.freeze on a cgroup v2 host.
    let v1 = cg.hier.iter().find(|h| !h.v2 && h.has("freezer"));
    let v2 = cg.hier.iter().find(|h| h.v2);
    let (state, frozen) = match (v1, v2) {
        (Some(h), _) => (h.path.join(at).join("freezer.state"), "FROZEN"),
        (None, Some(h)) if host_cgroup_v2() => (h.path.join(at).join("cgroup.freeze"), "1"),
        _ => return Err(Fail::Skip("no freezer on this host".into())),
    };
    cg.make()?;
    if parent {
        for d in cg.dirs() {
            std::fs::remove_dir(&d).map_err(|e| format!("rmdir {}: {e}", d.display()))?;
        }
    }
    std::fs::write(&state, frozen).map_err(|e| format!("freeze {}: {e}", state.display()))?;
    // v1 may say FREEZING for a moment (a just-removed child going offline).
    let since = Instant::now();
    while read(&state)?.trim() != frozen && since.elapsed() < Duration::from_secs(2) {
        std::thread::sleep(Duration::from_millis(20));
    }
    ensure_eq!(
        read(&state)?.trim().to_string(),
        frozen,
        format!("{} of the cgroup", state.display())
    );
    let mut b = ctx.bundle("b")?;
    set_cgroups_path(&mut b, &cg.cgroups_path());
    until_go(&mut b);
    b.write()?;
    let start = Instant::now();
    let out = ctx
        .spawn(&["run", "-d", "--bundle", b.path(), "c1"])?
        .wait(Duration::from_secs(5));
    let took = start.elapsed();
    let procs: Vec<i32> = cg.dirs().iter().flat_map(|d| cgroup_procs(d)).collect();
    let _ = ctx.rt(&["delete", "--force", "c1"]);
    let out = out?;
    ensure!(
        out.code == 1,
        "run -d in a frozen cgroup exited {} after {took:?} (want 1): {}",
        out.code,
        out.stderr.trim()
    );
    ensure!(
        mentions(&out.stderr, &["frozen"]),
        "the error {:?} does not say the cgroup is frozen",
        out.stderr.trim()
    );
    ensure!(
        procs.is_empty(),
        "processes left in the frozen cgroup: {procs:?}"
    );
    expect_gone(ctx, "c1")?;
    expect_nothing_left(ctx, "c1", &b)?;
    let left = if parent { cg.left() } else { Vec::new() };
    ensure!(left.is_empty(), "cgroup dirs left: {left:?}");
    Ok(())
}

/// A limit the kernel refuses (cpuset.cpus naming CPUs that do not exist)
/// fails create once the cgroup is being set up, with the init already
/// forked on a v1 or hybrid host (berth makes the cgroup while the init
/// makes its network namespace): the error names the file, and no leaf is
/// left in any hierarchy, the v2 one the init was born in included.
pub fn refused_limit_leaves_no_cgroup(ctx: &Ctx) -> TestResult {
    skip_in_systemd_mode(ctx, CGROUPFS_ONLY)?;
    let cg = CaseCgroups::new("c1");
    let mut b = ctx.bundle("b")?;
    set_cgroups_path(&mut b, &cg.cgroups_path());
    set_resources(&mut b, serde_json::json!({"cpu": {"cpus": "0-4095"}}))?;
    sh(&mut b, "exit 0");
    b.write()?;
    let (out, log) = ctx.rt_logged(&["create", "--bundle", b.path(), "c1"])?;
    if out.code == 0 {
        let _ = ctx.delete_force("c1");
    }
    expect_error(&out, &log, &["cpuset.cpus"])?;
    expect_gone(ctx, "c1")?;
    expect_nothing_left(ctx, "c1", &b)?;
    let left = cg.left();
    ensure!(left.is_empty(), "cgroup leaves left: {left:?}");
    Ok(())
}
