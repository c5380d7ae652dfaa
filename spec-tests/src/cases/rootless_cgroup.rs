//! Rootless with a delegated cgroup (issue 13 §4): a cgroup subtree handed
//! to an unprivileged user (made theirs, as systemd's `Delegate=yes` or an
//! admin's chown does) is used by a rootless container of that user: its
//! limits are written and its init is placed there, and delete removes the
//! leaf. The user is nobody, with the single self-map (no subordinate ids).
//!
//! cgroup v2: the delegated directory enables memory and pids for its
//! children, and the runtime is started from a `runner` leaf inside it (a
//! process may only be moved between cgroups by a writer of their common
//! ancestor's cgroup.procs: the delegation's top, not the host's root).
//! cgroup v1 (hybrid host): every hierarchy gets a directory owned by the
//! user (with an explicit cgroupsPath, runc ignores no permission error in
//! any hierarchy, rootless or not).

use std::os::unix::fs::chown;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::rootless::{write_rootless_spec, Ids, NOBODY, ROOTLESS_SYSTEMD};
use super::util::{expect_nothing_left, host_cgroup_v2, skip_in_systemd_mode};
use crate::harness::case::{case, Case, CGROUP};
use crate::harness::cmd::{self, Out};
use crate::harness::{read, sys, Ctx, Fail, TestResult, CMD_TIMEOUT};
use crate::{ensure, ensure_eq};

pub const CASES: &[Case] = &[case("rootless_delegated_cgroup", delegated_cgroup).tagged(&[CGROUP])];

/// The delegated directory's name under each hierarchy's root.
const TOP: &str = "berth-spec-delegated";
const MEMORY: u64 = 64 << 20;
const PIDS: u64 = 20;

/// The delegated directories (one on v2; memory and pids on v1), removed
/// with whatever is left below them on drop.
struct Delegation {
    tops: Vec<PathBuf>,
    /// v2 only: the leaf the runtime is started from.
    runner: Option<PathBuf>,
}

impl Delegation {
    fn make() -> Result<Delegation, Fail> {
        let mut d = Delegation {
            tops: Vec::new(),
            runner: None,
        };
        for (mount, v2) in hierarchies()? {
            let top = d.add_top(&mount)?;
            if v2 {
                d.delegate_v2(&mount, &top)?;
            } else {
                for f in ["cgroup.procs", "tasks"] {
                    give(&top.join(f))?;
                }
                // A new cpuset starts empty: the top gets the root's sets,
                // which the runtime copies into the container's leaf.
                for f in ["cpuset.cpus", "cpuset.mems"] {
                    if mount.join(f).exists() {
                        write(&top.join(f), read(&mount.join(f))?.trim())?;
                    }
                }
            }
        }
        Ok(d)
    }

    fn add_top(&mut self, mount: &Path) -> Result<PathBuf, Fail> {
        let top = mount.join(TOP);
        mkdir(&top)?;
        self.tops.push(top.clone());
        give(&top)?;
        Ok(top)
    }

    /// The v2 top enables memory and pids for its children where the root
    /// does (a pure v2 host; a hybrid host's v2 has no controllers), and
    /// gets the runner leaf.
    fn delegate_v2(&mut self, mount: &Path, top: &Path) -> TestResult {
        let enabled = read(&mount.join("cgroup.subtree_control"))?;
        let has = |c: &str| enabled.split_whitespace().any(|x| x == c);
        if host_cgroup_v2() {
            if !has("memory") || !has("pids") {
                return Err(Fail::Skip(
                    "the v2 root does not enable memory and pids".into(),
                ));
            }
            write(&top.join("cgroup.subtree_control"), "+memory +pids")?;
        }
        for f in ["cgroup.procs", "cgroup.threads", "cgroup.subtree_control"] {
            give(&top.join(f))?;
        }
        let runner = top.join("runner");
        mkdir(&runner)?;
        give(&runner)?;
        give(&runner.join("cgroup.procs"))?;
        self.runner = Some(runner);
        Ok(())
    }

    /// The container's leaf in every delegated hierarchy.
    fn leaves(&self) -> Vec<PathBuf> {
        self.tops.iter().map(|t| t.join("c1")).collect()
    }
}

/// Every cgroup hierarchy mounted here, as (mount point, is v2).
fn hierarchies() -> Result<Vec<(PathBuf, bool)>, Fail> {
    let text = read(Path::new("/proc/self/mountinfo"))?;
    Ok(text
        .lines()
        .filter_map(|l| {
            let (head, tail) = l.split_once(" - ")?;
            let mount = head.split(' ').nth(4)?;
            match tail.split(' ').next()? {
                "cgroup" => Some((PathBuf::from(mount), false)),
                "cgroup2" => Some((PathBuf::from(mount), true)),
                _ => None,
            }
        })
        .collect())
}

impl Drop for Delegation {
    fn drop(&mut self) {
        for top in self.tops.iter().rev() {
            for leaf in ["c1", "runner"] {
                let _ = std::fs::remove_dir(top.join(leaf));
            }
            let _ = std::fs::remove_dir(top);
        }
    }
}

fn mkdir(p: &Path) -> TestResult {
    std::fs::create_dir(p).map_err(|e| Fail::Fail(format!("mkdir {p:?}: {e}")))
}

fn write(p: &Path, text: &str) -> TestResult {
    std::fs::write(p, text).map_err(|e| Fail::Fail(format!("write {text:?} to {p:?}: {e}")))
}

/// Hands `p` to nobody.
fn give(p: &Path) -> TestResult {
    chown(p, Some(NOBODY), Some(NOBODY)).map_err(|e| Fail::Fail(format!("chown {p:?}: {e}")))
}

fn delegated_cgroup(ctx: &Ctx) -> TestResult {
    skip_in_systemd_mode(ctx, ROOTLESS_SYSTEMD)?;
    let deleg = Delegation::make()?;
    let root = std::env::temp_dir().join(format!("spec-delegated-{}", std::process::id()));
    std::fs::create_dir(&root).map_err(|e| format!("mkdir {root:?}: {e}"))?;
    let res = run_delegated(ctx, &deleg, &root);
    let _ = std::fs::remove_dir_all(&root);
    res
}

fn run_delegated(ctx: &Ctx, deleg: &Delegation, root: &Path) -> TestResult {
    chown(root, Some(NOBODY), Some(NOBODY)).map_err(|e| format!("chown {root:?}: {e}"))?;
    let ids = Ids::nobody_self_map();
    let (b, dir) = write_rootless_spec(ctx, &ids, |v| {
        v["process"]["args"] = serde_json::json!(["sleep", "60"]);
        v["linux"]["cgroupsPath"] = format!("/{TOP}/c1").into();
        v["linux"]["resources"] = serde_json::json!({
            "memory": {"limit": MEMORY},
            "pids": {"limit": PIDS},
        });
    })?;
    let bundle = dir.to_str().ok_or("path")?;
    let res = check_placed(ctx, deleg, root, bundle);
    // Whatever happened: the container goes, as its user.
    let _ = as_nobody(ctx, deleg, root, "kill", &["kill", "c1", "KILL"]);
    std::thread::sleep(Duration::from_millis(100));
    let del = as_nobody(ctx, deleg, root, "delete", &["delete", "--force", "c1"]);
    res?;
    del?.ok()?;
    for leaf in deleg.leaves() {
        ensure!(!leaf.exists(), "delete left {leaf:?}");
    }
    expect_nothing_left(ctx, "c1", &b)
}

/// `create` as nobody: the init is in the delegated leaf of every
/// delegated hierarchy, with the limits written there.
fn check_placed(ctx: &Ctx, deleg: &Delegation, root: &Path, bundle: &str) -> TestResult {
    as_nobody(
        ctx,
        deleg,
        root,
        "create",
        &["create", "--bundle", bundle, "c1"],
    )?
    .ok()?;
    let state = as_nobody(ctx, deleg, root, "state", &["state", "c1"])?.ok()?;
    let state: serde_json::Value =
        serde_json::from_str(&state.stdout).map_err(|e| format!("state: {e}"))?;
    let pid = state["pid"].as_i64().unwrap_or(0);
    ensure!(pid > 0, "no pid in {state}");
    for leaf in deleg.leaves() {
        let procs = read(&leaf.join("cgroup.procs"))?;
        ensure!(
            procs.lines().any(|l| l.trim() == pid.to_string()),
            "init {pid} not in {leaf:?}: {procs:?}"
        );
    }
    let limits: [(&str, &str, u64); 2] = if host_cgroup_v2() {
        [("", "memory.max", MEMORY), ("", "pids.max", PIDS)]
    } else {
        [
            ("memory", "memory.limit_in_bytes", MEMORY),
            ("pids", "pids.max", PIDS),
        ]
    };
    for (hier, file, want) in limits {
        let leaf = deleg
            .leaves()
            .into_iter()
            .find(|l| l.starts_with(Path::new("/sys/fs/cgroup").join(hier)))
            .ok_or("no leaf")?;
        let got = read(&leaf.join(file))?;
        ensure_eq!(got.trim(), want.to_string(), format!("{leaf:?}/{file}"));
    }
    Ok(())
}

/// The runtime run by nobody (from the delegation's runner leaf on v2).
fn as_nobody(
    ctx: &Ctx,
    deleg: &Delegation,
    root: &Path,
    tag: &str,
    args: &[&str],
) -> Result<Out, Fail> {
    let procs = match &deleg.runner {
        Some(r) => {
            let p = r.join("cgroup.procs");
            let f = std::fs::OpenOptions::new()
                .write(true)
                .open(&p)
                .map_err(|e| format!("open {p:?}: {e}"))?;
            Some(f)
        }
        None => None,
    };
    let mut c = Command::new(&ctx.env.runtime);
    c.arg("--root").arg(root).args(args);
    sys::join_cgroup_then_become(&mut c, procs, NOBODY, NOBODY);
    cmd::spawn(c, &ctx.dir, tag)?.wait(CMD_TIMEOUT)
}
