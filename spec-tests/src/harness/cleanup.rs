//! Finding and removing what a case left behind: containers in its private
//! `--root`, mounts referring to its temp dir, processes whose root is one of
//! its rootfs directories or that still sit in its process group, and in
//! systemd mode the scopes named after the case.

use super::{stuck, sys, systemd, Env};
use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// Container ids that still have state under `root`.
pub fn state_entries(root: &Path) -> Vec<String> {
    let Ok(rd) = std::fs::read_dir(root) else {
        return Vec::new();
    };
    // Only names a container id can have (runc's rule): a runtime may keep
    // other things under its root, e.g. berth's `.cache:seccomp`.
    let is_id = |n: &str| {
        n.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_+-.".contains(c))
    };
    let mut v: Vec<String> = rd
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| is_id(n))
        .collect();
    v.sort();
    v
}

/// Whether `m` is an entry of `root` that no container id can name (with
/// ':', as `state_entries` skips): a runtime's own, such as berth's pinned
/// mount namespace template on a host with many mounts (its
/// `rootfs::compact`). `clean` still unmounts it with the case's directory.
pub fn runtime_entry(root: &Path, m: &Path) -> bool {
    m.parent() == Some(root)
        && m.file_name()
            .is_some_and(|n| n.to_string_lossy().contains(':'))
}

/// Mount points in our mount namespace whose mount point or mounted root
/// lies under `dir`.
pub fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    let prefix = dir.to_string_lossy().into_owned();
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut v: Vec<PathBuf> = text
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            let (root, point) = (*f.get(3)?, *f.get(4)?);
            let hit = |p: &str| p == prefix || p.starts_with(&format!("{prefix}/"));
            (hit(root) || hit(point)).then(|| PathBuf::from(point))
        })
        .collect();
    v.sort();
    v.dedup();
    v
}

/// (dev, ino) of every `<dir>/*/rootfs` (the bundles of a case).
fn rootfs_ids(dir: &Path) -> HashSet<(u64, u64)> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return HashSet::new();
    };
    rd.filter_map(|e| e.ok())
        .filter_map(|e| std::fs::metadata(e.path().join("rootfs")).ok())
        .map(|m| (m.dev(), m.ino()))
        .collect()
}

fn all_pids() -> Vec<i32> {
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    rd.filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect()
}

/// The command name and the fields after it (state, ppid, pgrp, ...) of
/// /proc/PID/stat; None once the process is gone.
pub fn proc_stat(pid: i32) -> Option<(String, Vec<String>)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let comm = stat.get(open + 1..close)?.to_string();
    let rest = stat[close + 1..].split_whitespace().map(str::to_string);
    Some((comm, rest.collect()))
}

/// Process group id and command name from /proc/PID/stat.
fn pgrp_comm(pid: i32) -> Option<(i32, String)> {
    let (comm, rest) = proc_stat(pid)?;
    Some((rest.get(2)?.parse().ok()?, comm))
}

/// Processes rooted in one of the case's rootfs dirs or in group `pgid`.
pub fn processes(dir: &Path, pgid: i32) -> Vec<(i32, String)> {
    let roots = rootfs_ids(dir);
    let me = std::process::id() as i32;
    all_pids()
        .into_iter()
        .filter(|&p| p != me)
        .filter_map(|p| {
            let (grp, comm) = pgrp_comm(p)?;
            let rooted = std::fs::metadata(format!("/proc/{p}/root"))
                .map(|m| roots.contains(&(m.dev(), m.ino())))
                .unwrap_or(false);
            (rooted || (pgid > 0 && grp == pgid)).then_some((p, comm))
        })
        .collect()
}

/// Reap every exited child for a short while.
pub fn reap_for(d: Duration) {
    let start = Instant::now();
    while start.elapsed() < d {
        if sys::reap_any().is_none() {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

/// The name of the case's directory (`c<N>`), which its systemd units carry.
fn case_name(dir: &Path) -> String {
    dir.file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned()
}

/// Everything the case left: state entries, mounts, processes, units.
pub fn leftovers(env: &Env, dir: &Path, root: &Path, pgid: i32) -> Vec<String> {
    let mut v = Vec::new();
    if env.systemd {
        for u in systemd::case_units(&case_name(dir)) {
            v.push(format!("systemd unit {u}"));
        }
    }
    for id in state_entries(root) {
        v.push(format!("container state {id:?} under --root"));
    }
    for m in mounts_under(dir)
        .into_iter()
        .filter(|m| !runtime_entry(root, m))
    {
        v.push(format!("mount {}", m.display()));
    }
    for (pid, comm) in processes(dir, pgid) {
        v.push(format!("process {pid} ({comm})"));
    }
    v
}

/// Remove everything the case left behind, then its directory. Every step
/// runs even if one before it failed; returns the failures (a runtime or a
/// process that would not go, a unit that would not stop, a mount that
/// kept the directory in place).
pub fn clean(env: &Env, dir: &Path, root: &Path, pgid: i32) -> Result<(), String> {
    let mut errors = delete_containers(env, root);
    kill_processes(dir, pgid);
    if env.systemd {
        if let Err(e) = systemd::stop(&systemd::case_units(&case_name(dir))) {
            errors.push(e);
        }
    }
    for _ in 0..5 {
        let mut mounts = mounts_under(dir);
        if mounts.is_empty() {
            break;
        }
        mounts.sort_by_key(|m| std::cmp::Reverse(m.as_os_str().len()));
        for m in mounts {
            let _ = sys::umount_detach(&m);
        }
    }
    let left = mounts_under(dir);
    if left.is_empty() {
        if let Err(e) = std::fs::remove_dir_all(dir) {
            errors.push(format!("remove {dir:?}: {e}"));
        }
    } else {
        errors.push(format!("cannot unmount {left:?}; leaving {dir:?} in place"));
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("; "))
    }
}

/// `delete --force` every container left under `root`, each bounded: one
/// still there 5 s after its SIGKILL is reported, not waited for.
fn delete_containers(env: &Env, root: &Path) -> Vec<String> {
    let mut errors = Vec::new();
    for id in state_entries(root) {
        let child = env
            .runtime_command()
            .arg("--root")
            .arg(root)
            .args(["delete", "--force", &id])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let Ok(mut c) = child else { continue };
        let exited = |c: &mut std::process::Child| !matches!(c.try_wait(), Ok(None));
        if stuck::within(Duration::from_secs(5), || exited(&mut c)) {
            continue;
        }
        let _ = c.kill();
        if !stuck::within(Duration::from_secs(5), || exited(&mut c)) {
            errors.push(format!(
                "`delete --force {id}` still there 5 s after SIGKILL: {}",
                stuck::describe(&[c.id() as i32])
            ));
        }
    }
    errors
}

/// SIGKILL the case's process group and every process rooted in one of
/// its bundles, for at most 5 s, reaping what exits.
fn kill_processes(dir: &Path, pgid: i32) {
    if pgid > 0 {
        let _ = sys::kill(-pgid, libc::SIGKILL);
    }
    let start = Instant::now();
    loop {
        let procs = processes(dir, pgid);
        if procs.is_empty() || start.elapsed() > Duration::from_secs(5) {
            break;
        }
        for (pid, _) in procs {
            let _ = sys::kill(pid, libc::SIGKILL);
        }
        reap_for(Duration::from_millis(20));
    }
    reap_for(Duration::from_millis(5));
}
