//! A config without a mount namespace (issue 12, section 2): config-linux.md
//! says a namespace type not listed is inherited from the runtime, so such a
//! container runs in the runtime's namespaces, its root entered by chroot.
//!
//! runc (1.1.5 and current) still mounts there: it makes the host's `/` a
//! recursive slave, binds the rootfs onto itself and makes the config's
//! mounts, all in the host's mount namespace, and leaves them after
//! `delete`. berth never mounts there: what would need a mount is refused,
//! and the host's mount table stays as it was. The cases that start such a
//! container are therefore not run against runc (they would change this
//! host's mounts): they report `skip`. Its refusal of masked and read-only
//! paths without a mount namespace runs on both, with runc's words.

use super::util::{expect_gone, expect_nothing_left, go};
use crate::harness::case::{case, Case};
use crate::harness::{config, read, Bundle, Ctx, Fail, TestResult};
use crate::{ensure, ensure_eq};
use oci_spec::runtime::LinuxNamespaceType as Ns;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::Duration;

pub const CASES: &[Case] = &[
    case("nsparity_no_namespaces", no_namespaces),
    case("nsparity_pid_ns_only", pid_ns_only),
    case(
        "nsparity_restricted_paths_refused",
        restricted_paths_refused,
    ),
    case("nsparity_mounts_refused", mounts_refused),
];

/// runc mounts in the host's mount namespace for these configs.
fn skip_runc(ctx: &Ctx) -> TestResult {
    let v = ctx.rt(&["--version"])?;
    if v.stdout.starts_with("runc version") {
        return Err(Fail::Skip(
            "runc mounts in the host's mount namespace without a mount namespace (/ made rslave, the rootfs bound onto itself); not run here".into(),
        ));
    }
    Ok(())
}

/// A bundle without a mount namespace and with nothing that needs one: the
/// namespaces given (None: no `linux.namespaces` at all), no mounts, no
/// masked or read-only paths, no hostname (no UTS namespace).
fn host_mnt_bundle(ctx: &Ctx, namespaces: Option<Vec<Ns>>) -> Result<Bundle, Fail> {
    let mut b = ctx.bundle("b")?;
    let l = config::linux_mut(&mut b.spec);
    l.set_namespaces(namespaces.map(|v| v.into_iter().map(|t| config::ns(t, None)).collect()));
    l.set_masked_paths(None);
    l.set_readonly_paths(None);
    b.spec.set_mounts(Some(Vec::new()));
    b.spec.set_hostname(None);
    Ok(b)
}

/// The host's mount table as far as a container could change it: the line
/// of `/` (its propagation) and every mount under the case's directory.
fn host_mounts(ctx: &Ctx) -> Result<Vec<String>, Fail> {
    let text = read(Path::new("/proc/self/mountinfo"))?;
    let dir = ctx.dir.to_string_lossy().into_owned();
    Ok(text
        .lines()
        .filter(|l| {
            let point = l.split(' ').nth(4).unwrap_or("");
            point == "/" || point.starts_with(&dir)
        })
        .map(String::from)
        .collect())
}

fn inode(path: &str) -> Result<u64, Fail> {
    std::fs::metadata(path)
        .map(|m| m.ino())
        .map_err(|e| Fail::Fail(format!("stat {path}: {e}")))
}

/// Starts `b` with a payload that writes its `$$` to /tmp/pid and waits;
/// checks the namespaces listed as `own` differ from the host's and the
/// others are the host's, the root is the rootfs, and no mount changed;
/// returns the payload's `$$`.
fn start_and_check(ctx: &Ctx, b: &mut Bundle, own: &[&str]) -> Result<String, Fail> {
    let before = host_mounts(ctx)?;
    super::util::sh(
        b,
        "echo $$ >/tmp/pid; while [ ! -e /tmp/go ]; do sleep 0.02; done",
    );
    ctx.create("c1", b)?.ok()?;
    ctx.rt(&["start", "c1"])?.ok()?;
    ctx.wait_status("c1", "running", Duration::from_secs(10))?;
    super::util::wait_file(&b.rootfs().join("tmp/pid"), Duration::from_secs(5))?;
    let pid = ctx.state("c1")?["pid"].as_i64().unwrap_or(0);
    ensure!(pid > 0, "no pid in state");
    for n in ["pid", "mnt", "net", "ipc", "uts", "cgroup"] {
        let inside = inode(&format!("/proc/{pid}/ns/{n}"))?;
        let host = inode(&format!("/proc/self/ns/{n}"))?;
        if own.contains(&n) {
            ensure!(inside != host, "{n} namespace is the host's");
        } else {
            ensure_eq!(inside, host, format!("{n} namespace (want the host's)"));
        }
    }
    let root = std::fs::metadata(format!("/proc/{pid}/root"))
        .map_err(|e| Fail::Fail(format!("stat /proc/{pid}/root: {e}")))?;
    let rootfs = std::fs::metadata(b.rootfs()).map_err(|e| format!("stat rootfs: {e}"))?;
    ensure!(
        (root.dev(), root.ino()) == (rootfs.dev(), rootfs.ino()),
        "the payload's root is not the bundle's rootfs"
    );
    ensure!(
        b.rootfs().join("dev/null").exists(),
        "no /dev/null made in the rootfs"
    );
    ensure_eq!(host_mounts(ctx)?, before, "host mounts while running");
    Ok(read(&b.rootfs().join("tmp/pid"))?.trim().to_string())
}

/// Releases the payload, deletes the container, then fails with the
/// payload check's result or with anything left behind: state, cgroup,
/// process, or a change to the host's mounts since `before`.
fn finish(ctx: &Ctx, b: &Bundle, res: TestResult, before: &[String]) -> TestResult {
    let _ = go(b);
    ctx.delete_force("c1")?;
    res?;
    expect_gone(ctx, "c1")?;
    expect_nothing_left(ctx, "c1", b)?;
    ensure_eq!(host_mounts(ctx)?, before, "host mounts after delete");
    Ok(())
}

/// The payload's pid namespace is the host's (its `$$` is its host pid, not
/// 1), and `delete` removes everything.
fn no_namespaces(ctx: &Ctx) -> TestResult {
    skip_runc(ctx)?;
    let mut b = host_mnt_bundle(ctx, None)?;
    let before = host_mounts(ctx)?;
    let res = start_and_check(ctx, &mut b, &[]).and_then(|own| {
        let pid = ctx.state("c1")?["pid"].as_i64().unwrap_or(0);
        ensure!(own != "1", "the payload is pid 1: it has a pid namespace");
        ensure_eq!(own, pid.to_string(), "the payload's $$ and state's pid");
        Ok(())
    });
    finish(ctx, &b, res, &before)
}

/// Only a pid namespace: the payload is pid 1 there, every other namespace
/// is the host's, and an exec'd process joins the pid namespace.
fn pid_ns_only(ctx: &Ctx) -> TestResult {
    skip_runc(ctx)?;
    let mut b = host_mnt_bundle(ctx, Some(vec![Ns::Pid]))?;
    let before = host_mounts(ctx)?;
    let res = start_and_check(ctx, &mut b, &["pid"]).and_then(|own| {
        ensure_eq!(own, "1", "the payload's $$ in its pid namespace");
        // The exec'd process runs in the runtime's root, as runc's does.
        let out = ctx.rt(&["exec", "c1", "/bin/sh", "-c", "echo $$"])?.ok()?;
        let n: i64 = out.stdout.trim().parse().unwrap_or(0);
        ensure!(
            n > 1,
            "exec'd process's pid in the container: {:?}",
            out.stdout
        );
        Ok(())
    });
    finish(ctx, &b, res, &before)
}

/// `create` exits 1 with an error containing `want`, leaving nothing.
fn refused(ctx: &Ctx, b: &Bundle, want: &str) -> TestResult {
    let before = host_mounts(ctx)?;
    let out = ctx.create("c1", b)?;
    if out.code == 0 {
        let _ = ctx.delete_force("c1");
    }
    out.refused(want)?;
    expect_gone(ctx, "c1")?;
    expect_nothing_left(ctx, "c1", b)?;
    ensure_eq!(host_mounts(ctx)?, before, "host mounts");
    Ok(())
}

/// runc's own refusal: masked or read-only paths need a mount namespace.
fn restricted_paths_refused(ctx: &Ctx) -> TestResult {
    const WANT: &str = "unable to restrict sys entries without a private MNT namespace";
    let mut b = host_mnt_bundle(ctx, Some(vec![Ns::Pid]))?;
    let masked = vec!["/proc/kcore".to_string()];
    config::linux_mut(&mut b.spec).set_masked_paths(Some(masked.clone()));
    refused(ctx, &b, WANT)?;
    let l = config::linux_mut(&mut b.spec);
    l.set_masked_paths(None);
    l.set_readonly_paths(Some(masked));
    refused(ctx, &b, WANT)
}

/// What berth refuses where runc would mount in the host's mount namespace:
/// `mounts`, `rootfsPropagation`, a terminal (its pty bound onto
/// /dev/console); each error names the field.
fn mounts_refused(ctx: &Ctx) -> TestResult {
    skip_runc(ctx)?;
    let mut b = host_mnt_bundle(ctx, None)?;
    config::add_mount(&mut b.spec, config::mount("/proc", "proc", "proc", &[]));
    refused(ctx, &b, "mounts[0] (/proc)")?;
    b.spec.set_mounts(Some(Vec::new()));
    config::linux_mut(&mut b.spec).set_rootfs_propagation(Some("private".into()));
    refused(ctx, &b, "linux.rootfsPropagation")?;
    config::linux_mut(&mut b.spec).set_rootfs_propagation(None);
    config::process_mut(&mut b.spec).set_terminal(Some(true));
    refused(ctx, &b, "process.terminal")
}
