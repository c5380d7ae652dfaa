//! Config input a runtime must handle without surprises: a device entry
//! naming a file of the image, paths meaning the container's root, a huge
//! id, an env entry without `=`, uid/gid -1, duplicated JSON keys and a
//! hook timeout of 0.

use super::{create_refused, mentions};
use crate::cases::util::{expect_gone, expect_nothing_left, known_runc_1_1_gap, sh};
use crate::harness::{cleanup, config, read, write_script, Bundle, Ctx, Fail, TestResult};
use crate::{ensure, ensure_eq};
use oci_spec::runtime::{LinuxDevice, LinuxDeviceBuilder, LinuxDeviceType};
use std::os::unix::fs::{FileTypeExt, MetadataExt};

fn char_dev(path: &str, major: i64, minor: i64) -> Result<LinuxDevice, Fail> {
    LinuxDeviceBuilder::default()
        .path(path)
        .typ(LinuxDeviceType::C)
        .major(major)
        .minor(minor)
        .build()
        .map_err(|e| Fail::Fail(format!("device: {e}")))
}

fn set_readonly_root(b: &mut Bundle, readonly: bool) -> TestResult {
    b.spec.set_root(Some(
        oci_spec::runtime::RootBuilder::default()
            .path("rootfs")
            .readonly(readonly)
            .build()
            .map_err(|e| format!("root: {e}"))?,
    ));
    Ok(())
}

/// `mknod PATH c MAJOR:MINOR` on the host.
fn mknod_char(path: &std::path::Path, major: u32, minor: u32) -> TestResult {
    let c = std::ffi::CString::new(path.to_str().unwrap_or_default())
        .map_err(|e| Fail::Fail(e.to_string()))?;
    // SAFETY: mknod with a NUL-terminated path and integer arguments.
    let r = unsafe {
        libc::mknod(
            c.as_ptr(),
            libc::S_IFCHR | 0o644,
            libc::makedev(major, minor),
        )
    };
    ensure!(
        r == 0,
        "mknod {}: {}",
        path.display(),
        std::io::Error::last_os_error()
    );
    Ok(())
}

/// A `linux.devices` entry whose path is a regular file of a read-only
/// image: the file is not the runtime's to replace. runc's mknod gets
/// EEXIST and keeps the file (create succeeds); a runtime may also refuse
/// the mismatch. Either way the image is unchanged afterwards. A node
/// already in the image with the device's type and numbers is reused.
pub fn device_keeps_image_file(ctx: &Ctx) -> TestResult {
    const CONTENT: &str = "important image data\n";
    let mut b = ctx.bundle("b")?;
    let file = b.rootfs().join("etc/important");
    std::fs::write(&file, CONTENT).map_err(|e| format!("write {file:?}: {e}"))?;
    set_readonly_root(&mut b, true)?;
    config::linux_mut(&mut b.spec).set_devices(Some(vec![char_dev("/etc/important", 1, 3)?]));
    sh(&mut b, "exit 0");
    let created = ctx.create("c1", &b)?;
    if created.code == 0 {
        ctx.delete_force("c1")?;
    }
    expect_gone(ctx, "c1")?;
    expect_nothing_left(ctx, "c1", &b)?;
    let meta = std::fs::symlink_metadata(&file).map_err(|e| format!("lstat {file:?}: {e}"))?;
    ensure!(
        meta.file_type().is_file(),
        "/etc/important of the image is no longer a regular file ({:?}, rdev {:#x}) after create + delete",
        meta.file_type(),
        meta.rdev()
    );
    ensure_eq!(read(&file)?, CONTENT, "/etc/important content");
    // runc keeps the file and succeeds; config-linux.md would have the
    // mismatch refused. Either is fine, a refusal only with a clean error.
    ensure!(
        created.code == 0 || (created.code == 1 && !created.stderr.trim().is_empty()),
        "create with a device entry over an image file exited {}: {:?}",
        created.code,
        created.stderr.trim()
    );

    // The same device node already in the image: reused as it is.
    let mut b2 = ctx.bundle("b2")?;
    let node = b2.rootfs().join("etc/nulldev");
    mknod_char(&node, 1, 3)?;
    let before = std::fs::symlink_metadata(&node).map_err(|e| format!("lstat: {e}"))?;
    config::linux_mut(&mut b2.spec).set_devices(Some(vec![char_dev("/etc/nulldev", 1, 3)?]));
    sh(&mut b2, "exit 0");
    let created = ctx.create("c2", &b2)?;
    if created.code == 0 {
        ctx.delete_force("c2")?;
    }
    ensure!(
        created.code == 0,
        "create with a device entry matching a node of the image exited {}: {}",
        created.code,
        created.stderr.trim()
    );
    let after = std::fs::symlink_metadata(&node).map_err(|e| format!("lstat {node:?}: {e}"))?;
    ensure!(
        after.file_type().is_char_device()
            && after.rdev() == before.rdev()
            && after.ino() == before.ino(),
        "/etc/nulldev of the image was replaced (ino {} -> {}, rdev {:#x} -> {:#x})",
        before.ino(),
        after.ino(),
        before.rdev(),
        after.rdev()
    );
    expect_gone(ctx, "c2")
}

/// `linux.maskedPaths` naming the container's root itself.
/// runc 1.1 mounts a read-only tmpfs over `/`, which the init never sees
/// (its root is the mount below), so `/` stays readable (config-linux.md:
/// masked paths MUST NOT be readable) while `exec` lands in the empty tmpfs.
pub fn masked_root_refused(ctx: &Ctx) -> TestResult {
    let res = (|| {
        for (i, p) in ["/.", "/", "/a/.."].iter().enumerate() {
            let mut b = ctx.bundle(&format!("b{i}"))?;
            config::linux_mut(&mut b.spec).set_masked_paths(Some(vec![p.to_string()]));
            sh(&mut b, "echo ran > /tmp/ran");
            create_refused(ctx, "c1", &b, &["maskedPaths|mask"])
                .map_err(|e| Fail::Fail(format!("maskedPaths [{p:?}]: {}", msg(e))))?;
        }
        Ok(())
    })();
    known_runc_1_1_gap(ctx, "masking / is accepted and leaves / readable", res)
}

fn msg(e: Fail) -> String {
    match e {
        Fail::Fail(m) | Fail::Skip(m) => m,
    }
}

/// A `linux.devices` entry whose path is `/` (config-linux.md: a file at
/// the path that does not match the device MUST be an error). runc 1.1
/// ignores the EEXIST of its mknod and goes on.
pub fn device_at_root_refused(ctx: &Ctx) -> TestResult {
    let mut b = ctx.bundle("b")?;
    config::linux_mut(&mut b.spec).set_devices(Some(vec![char_dev("/", 1, 3)?]));
    sh(&mut b, "exit 0");
    let res = create_refused(ctx, "c1", &b, &["device|mknod"]);
    known_runc_1_1_gap(ctx, "mknod over / gets EEXIST, which is ignored", res)
}

/// A 5000-character id is an invalid id, not a path error.
pub fn long_id_invalid(ctx: &Ctx) -> TestResult {
    let b = ctx.bundle("b")?;
    b.write()?;
    let id: String = "abcdefghij".repeat(500);
    let out = ctx.rt(&["create", "--bundle", b.path(), &id])?;
    let stderr = out.stderr.trim().to_string();
    let short: String = stderr.chars().take(300).collect();
    ensure!(
        out.code == 1,
        "create with a 5000-character id exited {} (want 1): {short}",
        out.code
    );
    let res = (|| {
        ensure!(
            mentions(&stderr, &["invalid id"]) && !mentions(&stderr, &["name too long"]),
            "create with a 5000-character id: {short:?}, want an invalid id error"
        );
        Ok(())
    })();
    let left = cleanup::state_entries(&ctx.root);
    ensure!(left.is_empty(), "state left under --root: {left:?}");
    expect_nothing_left(ctx, "x", &b)?;
    known_runc_1_1_gap(ctx, "ids are not length-checked", res)
}

/// `process.env` with an entry without `=`.
pub fn env_without_equals_refused(ctx: &Ctx) -> TestResult {
    let mut b = ctx.bundle("b")?;
    config::process_mut(&mut b.spec)
        .set_env(Some(vec![config::PATH_ENV.to_string(), "FOO".to_string()]));
    sh(&mut b, "echo ran > /tmp/ran");
    create_refused(ctx, "c1", &b, &["env", "FOO"])?;
    ensure!(!b.rootfs().join("tmp/ran").exists(), "the payload ran");
    Ok(())
}

/// uid or gid 4294967295 is -1 to setresuid/setresgid ("leave it"): the
/// process would keep root's id. It must be refused.
pub fn uid_minus_one_refused(ctx: &Ctx) -> TestResult {
    let mut fails = Vec::new();
    for (i, (uid, gid, field)) in [(u32::MAX, 0, "uid"), (0, u32::MAX, "gid")]
        .into_iter()
        .enumerate()
    {
        let mut b = ctx.bundle(&format!("b{i}"))?;
        config::set_user(&mut b.spec, uid, gid)?;
        sh(&mut b, "id > /tmp/ran");
        let res = create_refused(ctx, "c1", &b, &["uid|gid|user"]).and_then(|_| {
            ensure!(!b.rootfs().join("tmp/ran").exists(), "the payload ran");
            Ok(())
        });
        if let Err(e) = res {
            fails.push(format!("{field} 4294967295: {}", msg(e)));
        }
    }
    ensure!(fails.is_empty(), "{}", fails.join("; "));
    Ok(())
}

/// A config with `hostname` twice: Go's encoding/json (runc) takes the last
/// value, and so must any runc-compatible runtime.
pub fn duplicate_json_keys_last_wins(ctx: &Ctx) -> TestResult {
    let mut b = ctx.bundle("b")?;
    b.spec.set_hostname(Some("last-wins".to_string()));
    sh(&mut b, "hostname");
    let json = config::to_json(&b.spec)?;
    let rest = json
        .strip_prefix('{')
        .ok_or("generated config does not start with {")?;
    let text = format!("{{\n  \"hostname\": \"first-loses\",{rest}");
    ensure!(
        text.matches("\"hostname\":").count() == 2,
        "config text does not carry hostname twice"
    );
    std::fs::write(b.dir.join("config.json"), text)
        .map_err(|e| Fail::Fail(format!("write config.json: {e}")))?;
    let out = ctx.rt(&["run", "--bundle", b.path(), "c1"])?.ok()?;
    ensure_eq!(out.stdout.trim(), "last-wins", "hostname in the container");
    expect_gone(ctx, "c1")
}

/// A createRuntime hook with `timeout: 0` (config.md: MUST be > 0) fails
/// create, though the hook itself would succeed.
pub fn hook_timeout_zero(ctx: &Ctx) -> TestResult {
    let script = ctx.path("hook.sh");
    let mark = ctx.path("hook-ran");
    write_script(
        &script,
        &format!("sleep 1; touch {}; exit 0", mark.display()),
    )?;
    let mut b = ctx.bundle("b")?;
    let h = config::hook(
        script.to_str().unwrap_or_default(),
        &["hook"],
        &["PATH=/usr/sbin:/usr/bin:/sbin:/bin"],
        Some(0),
    );
    config::hooks_mut(&mut b.spec).set_create_runtime(Some(vec![h]));
    sh(&mut b, "echo ran > /tmp/ran");
    create_refused(ctx, "c1", &b, &["hook|timeout"])?;
    ensure!(!b.rootfs().join("tmp/ran").exists(), "the payload ran");
    Ok(())
}

/// A createRuntime hook with a long timeout (2^32 s, valid for runc, whose
/// timeouts are Go durations) that exits at once: create succeeds. A
/// runtime that narrows the timeout to 32 bits (of ms or s) times the hook
/// out at once.
pub fn hook_timeout_large(ctx: &Ctx) -> TestResult {
    let mark = ctx.path("hook-ran");
    let mut b = ctx.bundle("b")?;
    let h = config::hook(
        "/bin/sh",
        &["sh", "-c", &format!("touch {}", mark.display())],
        &["PATH=/usr/sbin:/usr/bin:/sbin:/bin"],
        Some(1 << 32),
    );
    config::hooks_mut(&mut b.spec).set_create_runtime(Some(vec![h]));
    sh(&mut b, "exit 0");
    let out = ctx.create("c1", &b)?;
    if out.code == 0 {
        ctx.delete_force("c1")?;
    }
    ensure!(
        out.code == 0,
        "create with a hook timeout of 4294967296 s exited {}: {}",
        out.code,
        out.stderr.trim()
    );
    ensure!(mark.exists(), "the hook did not run");
    expect_gone(ctx, "c1")
}
