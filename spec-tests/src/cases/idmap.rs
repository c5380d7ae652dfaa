//! Idmapped bind mounts (issue 13 §3): `mounts[].uidMappings/gidMappings`
//! and the `idmap` / `ridmap` options, without a container user namespace
//! (current runc allows a mount's own mappings without one). A mapping
//! `{containerID C, hostID H}` shows what the filesystem stores as C as H
//! (kernel and runc: the mount's user namespace maps C to H; without a
//! container user namespace the payload sees H). Host directories owned
//! by 1000 show as the mapped ids inside, `ridmap`
//! reaches an rbind's submounts, files made through the mount get the
//! host id, and bad input is refused. runc 1.1 predates idmapped mounts:
//! every case is a documented skip there.

use std::os::unix::fs::{chown, MetadataExt};
use std::path::{Path, PathBuf};

use super::mounts::host_tmpfs;
use super::runc_features::{bundle, refused};
use super::util::{is_runc_1_1, sh, write_patched};
use crate::ensure;
use crate::harness::case::{case, Case};
use crate::harness::{config, sys, Ctx, Fail, TestResult};
use serde_json::{json, Value};

pub const CASES: &[Case] = &[
    case("idmap_bind_shows_mapped_owner", bind_shows_mapped_owner),
    case("idmap_bind_custom_mapping", bind_custom_mapping),
    case("idmap_ridmap_submount", ridmap_submount),
    case("idmap_created_file_host_owner", created_file_host_owner),
    case("idmap_tmpfs_refused", tmpfs_refused),
    case("idmap_bad_input", bad_input),
    case("idmap_unsupported_filesystem", unsupported_filesystem),
];

fn skip_on_runc_1_1(ctx: &Ctx) -> TestResult {
    if is_runc_1_1(ctx) {
        return Err(Fail::Skip(
            "runc 1.1 predates idmapped mounts (runc 1.2+)".into(),
        ));
    }
    Ok(())
}

/// `[{containerID, hostID, size}]`.
fn map(c: u32, h: u32, s: u32) -> Value {
    json!([{"containerID": c, "hostID": h, "size": s}])
}

/// A bind mount entry with `options` and, if given, mappings.
fn idmapped(
    dest: &str,
    src: &Path,
    options: &[&str],
    uid: Option<Value>,
    gid: Option<Value>,
) -> Value {
    let mut m = json!({"destination": dest, "type": "bind", "source": src, "options": options});
    if let Some(u) = uid {
        m["uidMappings"] = u;
    }
    if let Some(g) = gid {
        m["gidMappings"] = g;
    }
    m
}

/// The base config's mounts followed by `extra`.
fn mounts_with(extra: Vec<Value>) -> Result<Value, Fail> {
    let base = serde_json::to_value(config::base().mounts().clone().unwrap_or_default())
        .map_err(|e| format!("mounts: {e}"))?;
    let mut all = base.as_array().cloned().unwrap_or_default();
    all.extend(extra);
    Ok(Value::Array(all))
}

/// A host directory `name` in the case's dir, holding `entries` (file name,
/// uid, gid), the directory itself owned by 1000:1000.
fn host_dir(ctx: &Ctx, name: &str, entries: &[(&str, u32, u32)]) -> Result<PathBuf, Fail> {
    let d = ctx.path(name);
    std::fs::create_dir_all(&d).map_err(|e| format!("mkdir {d:?}: {e}"))?;
    chown(&d, Some(1000), Some(1000)).map_err(|e| format!("chown {d:?}: {e}"))?;
    for (f, uid, gid) in entries {
        let p = d.join(f);
        std::fs::write(&p, "x").map_err(|e| format!("write {p:?}: {e}"))?;
        chown(&p, Some(*uid), Some(*gid)).map_err(|e| format!("chown {p:?}: {e}"))?;
    }
    Ok(d)
}

/// `run` of `sh -c script` with the extra mounts; its stdout.
fn run_sh(ctx: &Ctx, extra: Vec<Value>, script: &str) -> Result<String, Fail> {
    let mut b = bundle(ctx)?;
    sh(&mut b, script);
    write_patched(&b, &[("/mounts", mounts_with(extra)?)])?;
    Ok(ctx.rt(&["run", "--bundle", b.path(), "c1"])?.ok()?.stdout)
}

/// The `uid:gid` lines the payload printed, one per path.
fn owners(out: &str) -> Vec<&str> {
    out.split_whitespace().collect()
}

/// `containerID 1000 hostID 0 size 1`: the directory and a file owned by
/// 1000 show as 0:0; a file owned by an unmapped id (2000) shows as the
/// overflow id 65534. `features` says idmapped mounts are supported.
fn bind_shows_mapped_owner(ctx: &Ctx) -> TestResult {
    skip_on_runc_1_1(ctx)?;
    let src = host_dir(ctx, "src", &[("f", 1000, 1000), ("other", 2000, 2000)])?;
    let m = idmapped(
        "/mnt/i",
        &src,
        &["bind", "idmap"],
        Some(map(1000, 0, 1)),
        Some(map(1000, 0, 1)),
    );
    let script = "stat -c %u:%g /mnt/i /mnt/i/f /mnt/i/other; echo fds; ls /proc/self/fd";
    let out = run_sh(ctx, vec![m], script)?;
    let (ids, fds) = out.split_once("fds").unwrap_or((&out, ""));
    ensure!(
        owners(ids) == ["0:0", "0:0", "65534:65534"],
        "owners inside (dir, f, other): {ids:?}, want 0:0 0:0 65534:65534"
    );
    // stdio and the fd `ls` reads the directory with: no prepared tree
    // (nor its user namespace) reached the payload.
    ensure!(
        owners(fds) == ["0", "1", "2", "3"],
        "fds open in the payload: {fds:?}, want 0 1 2 3"
    );
    let feats: Value = serde_json::from_str(&ctx.rt(&["features"])?.ok()?.stdout)
        .map_err(|e| format!("features: {e}"))?;
    let got = &feats["linux"]["mountExtensions"]["idmap"]["enabled"];
    ensure!(
        *got == json!(true),
        "features mountExtensions.idmap.enabled: {got}"
    );
    Ok(())
}

/// A mapping other than to 0: uids 1000-1009 as 500-509, gid 1000 as 7, and
/// mappings without the `idmap` option (they alone make the mount idmapped).
fn bind_custom_mapping(ctx: &Ctx) -> TestResult {
    skip_on_runc_1_1(ctx)?;
    let src = host_dir(ctx, "src", &[("f", 1003, 1000)])?;
    let with_opt = idmapped(
        "/mnt/a",
        &src,
        &["bind", "idmap"],
        Some(map(1000, 500, 10)),
        Some(map(1000, 7, 1)),
    );
    let bare = idmapped(
        "/mnt/b",
        &src,
        &["bind"],
        Some(map(1000, 500, 10)),
        Some(map(1000, 7, 1)),
    );
    let out = run_sh(
        ctx,
        vec![with_opt, bare],
        "stat -c %u:%g /mnt/a /mnt/a/f /mnt/b/f",
    )?;
    ensure!(
        owners(&out) == ["500:7", "503:7", "503:7"],
        "owners inside (/mnt/a, /mnt/a/f, /mnt/b/f): {out:?}, want 500:7 503:7 503:7"
    );
    Ok(())
}

/// An rbind of a directory with a tmpfs submount (root owned by 1000):
/// with `ridmap` the submount is idmapped too (shows 0:0); with `idmap`
/// only the top is, and the submount shows its real owner.
fn ridmap_submount(ctx: &Ctx) -> TestResult {
    skip_on_runc_1_1(ctx)?;
    let src = host_dir(ctx, "src", &[])?;
    let sub = src.join("sub");
    host_tmpfs(&sub)?;
    let res = (|| {
        chown(&sub, Some(1000), Some(1000)).map_err(|e| format!("chown {sub:?}: {e}"))?;
        let maps = || (Some(map(1000, 0, 1)), Some(map(1000, 0, 1)));
        let (u, g) = maps();
        let rec = idmapped("/mnt/r", &src, &["rbind", "ridmap"], u, g);
        let (u, g) = maps();
        let top = idmapped("/mnt/t", &src, &["rbind", "idmap"], u, g);
        let out = run_sh(
            ctx,
            vec![rec, top],
            "stat -c %u:%g /mnt/r /mnt/r/sub /mnt/t /mnt/t/sub",
        )?;
        ensure!(
            owners(&out) == ["0:0", "0:0", "0:0", "1000:1000"],
            "owners inside (/mnt/r, /mnt/r/sub, /mnt/t, /mnt/t/sub): {out:?}, want 0:0 0:0 0:0 1000:1000"
        );
        Ok(())
    })();
    sys::umount_detach(&sub).map_err(|e| format!("umount {sub:?}: {e}"))?;
    res
}

/// A file and a directory created through the idmapped mount (1000 shown
/// as 0) by the container's uid 0 are owned by 1000:1000 on the host.
fn created_file_host_owner(ctx: &Ctx) -> TestResult {
    skip_on_runc_1_1(ctx)?;
    let src = host_dir(ctx, "src", &[])?;
    let m = idmapped(
        "/mnt/i",
        &src,
        &["bind", "idmap"],
        Some(map(1000, 0, 1)),
        Some(map(1000, 0, 1)),
    );
    let out = run_sh(
        ctx,
        vec![m],
        "echo hi > /mnt/i/new && mkdir /mnt/i/d && stat -c %u:%g /mnt/i/new",
    )?;
    ensure!(owners(&out) == ["0:0"], "owner inside: {out:?}, want 0:0");
    for p in [src.join("new"), src.join("d")] {
        let md = std::fs::metadata(&p).map_err(|e| format!("stat {p:?}: {e}"))?;
        ensure!(
            (md.uid(), md.gid()) == (1000, 1000),
            "{p:?} on the host is owned by {}:{}, want 1000:1000",
            md.uid(),
            md.gid()
        );
    }
    Ok(())
}

/// `idmap` on a tmpfs (not a bind), as runc: refused before anything is made.
fn tmpfs_refused(ctx: &Ctx) -> TestResult {
    skip_on_runc_1_1(ctx)?;
    let m = json!({"destination": "/mnt/t", "type": "tmpfs", "source": "tmpfs",
        "options": ["idmap"], "uidMappings": map(1000, 0, 1), "gidMappings": map(1000, 0, 1)});
    refused(
        ctx,
        &[("/mounts", mounts_with(vec![m])?)],
        &["id-mapped mounts are only supported for bind-mounts"],
    )
}

/// Only uid mappings, `idmap` without mappings or a user namespace, a
/// range of size 0, overlapping ranges: exit 1, one error line, nothing left.
fn bad_input(ctx: &Ctx) -> TestResult {
    skip_on_runc_1_1(ctx)?;
    let src = host_dir(ctx, "src", &[])?;
    let both = "id-mapped mounts must have both uid and gid mappings specified";
    let two = json!([{"containerID": 0, "hostID": 1000, "size": 10},
        {"containerID": 5, "hostID": 5000, "size": 1}]);
    let cases: [(Value, &[&str]); 4] = [
        (
            idmapped(
                "/mnt/i",
                &src,
                &["bind", "idmap"],
                Some(map(1000, 0, 1)),
                None,
            ),
            &[both],
        ),
        (
            idmapped("/mnt/i", &src, &["bind", "ridmap"], None, None),
            &[both],
        ),
        (
            idmapped(
                "/mnt/i",
                &src,
                &["bind", "idmap"],
                Some(map(0, 1000, 0)),
                Some(map(1000, 0, 1)),
            ),
            &["uidMappings|uid_map|mapping", "size|invalid argument"],
        ),
        (
            idmapped(
                "/mnt/i",
                &src,
                &["bind", "idmap"],
                Some(map(1000, 0, 1)),
                Some(two),
            ),
            &["gidMappings|gid_map|mapping", "overlap|invalid argument"],
        ),
    ];
    for (m, words) in cases {
        refused(ctx, &[("/mounts", mounts_with(vec![m])?)], words)?;
    }
    Ok(())
}

/// A bind of a sysfs directory with `idmap`: the kernel refuses to idmap
/// sysfs; the error names the mount, the source and the filesystem.
fn unsupported_filesystem(ctx: &Ctx) -> TestResult {
    skip_on_runc_1_1(ctx)?;
    let m = idmapped(
        "/mnt/s",
        Path::new("/sys/kernel"),
        &["bind", "idmap"],
        Some(map(1000, 0, 1)),
        Some(map(1000, 0, 1)),
    );
    refused(
        ctx,
        &[("/mounts", mounts_with(vec![m])?)],
        &["/sys/kernel", "sysfs|MOUNT_ATTR_IDMAP", "idmap"],
    )
}
