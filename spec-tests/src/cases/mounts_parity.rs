//! Mounts where runc's edge behaviour is what clients rely on: destinations
//! through symlinks planted in a hostile image, config order, deferred
//! read-only tmpfs and /dev, `tmpcopyup`; `--no-pivot` leaving no host
//! proc or sysfs that would let a nested user namespace mount its own.

use super::mounts::{host_dir, host_tmpfs, mount_args};
use super::util::is_runc_1_1;
use crate::harness::case::{case, Case};
use crate::harness::{config, sys, Bundle, Ctx, Fail, TestResult};
use crate::{ensure, ensure_eq};
use std::path::Path;

pub const CASES: &[Case] = &[
    case("mount_dest_symlinks_in_rootfs", dest_symlinks),
    case("mount_rbind_ro_top_only", rbind_ro_top_only),
    case("mount_tmpfs_takes_dir_mode", tmpfs_dir_mode),
    case("mount_order_sources_in_earlier_mounts", order_nested),
    case("mount_dev_readonly_with_submounts", dev_readonly),
    case("mount_tmpfs_ro_with_submounts", tmpfs_ro_submounts),
    case("mount_tmpfs_tmpcopyup", tmpcopyup),
    case("mount_bind_flags_replace_source_flags", bind_flags_replace),
    case("mount_bind_rw_clears_source_flags", bind_rw_clears),
    case("mount_no_pivot_hides_host_proc", no_pivot_hides_host_proc),
];

fn link(b: &Bundle, target: &str, at: &str) -> TestResult {
    std::os::unix::fs::symlink(target, b.rootfs().join(at))
        .map_err(|e| format!("symlink {at} -> {target}: {e}"))?;
    Ok(())
}

/// Bind destinations that are symlinks (dangling, absolute, through
/// `/etc/..`, chained, relative, to a file) are followed inside the rootfs
/// and created there, as runc resolves them (securejoin); nothing appears
/// on the host.
fn dest_symlinks(ctx: &Ctx) -> TestResult {
    let src = host_dir(ctx, "src", "data\n")?;
    let file = format!("{src}/file");
    let tag = format!("berth-spec-{}", std::process::id());
    let host_abs = format!("/tmp/{tag}-abs");
    let host_chain = format!("/tmp/{tag}-chain");
    let host_up = format!("/{tag}-up");
    let mut b = ctx.bundle("b")?;
    link(&b, &host_abs, "l_abs")?;
    link(&b, &format!("/etc/../../..{host_up}"), "l_up")?;
    link(&b, "l_chain2", "l_chain1")?;
    link(&b, &host_chain, "l_chain2")?;
    link(&b, "../../rel/sub", "l_rel")?;
    link(&b, "/etc/bound", "l_file")?;
    let bind = |dest: &str, s: &str| config::mount(dest, "bind", s, &["bind"]);
    for dest in ["/l_abs", "/l_up", "/l_chain1", "/l_rel"] {
        config::add_mount(&mut b.spec, bind(dest, &src));
    }
    config::add_mount(&mut b.spec, bind("/l_file", &file));
    let checks = [
        host_abs.clone(),
        host_up.clone(),
        host_chain.clone(),
        "/rel/sub".to_string(),
    ];
    let mut args: Vec<String> = Vec::new();
    for p in &checks {
        args.extend(["mount".into(), p.clone(), "+".into()]);
        args.extend(["read".into(), format!("{p}/file"), "+".into()]);
    }
    args.extend(["read".into(), "/etc/bound".into()]);
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let res = ctx.check(&mut b, &argv);
    for p in [&host_abs, &host_chain, &host_up] {
        ensure!(!Path::new(p).exists(), "{p} was created on the host");
    }
    let f = res?;
    for p in &checks {
        let n: u32 = f.get(&format!("mount:{p}.count"))?.parse().unwrap_or(0);
        ensure!(n > 0, "{p} is not a mount point in the container");
        f.expect(&format!("read:{p}/file.data"), "data\\n")?;
    }
    f.expect("read:/etc/bound.data", "data\\n")?;
    for p in ["l_abs", "l_up", "l_chain1", "l_chain2", "l_rel", "l_file"] {
        let md = std::fs::symlink_metadata(b.rootfs().join(p)).map_err(|e| format!("{p}: {e}"))?;
        ensure_eq!(md.file_type().is_symlink(), true, "{p} still a symlink");
    }
    Ok(())
}

/// `rbind,ro` makes only the top mount read-only, as runc (a bind remount
/// never recurses); `rro` makes every submount read-only too.
fn rbind_ro_top_only(ctx: &Ctx) -> TestResult {
    let src = host_dir(ctx, "src", "x")?;
    let sub = Path::new(&src).join("sub");
    host_tmpfs(&sub)?;
    let res = (|| {
        let mut b = ctx.bundle("b")?;
        let m = |dest, opts: &[&str]| config::mount(dest, "bind", &src, opts);
        config::add_mount(&mut b.spec, m("/mnt/ro", &["rbind", "ro"]));
        config::add_mount(&mut b.spec, m("/mnt/rro", &["rbind", "rro"]));
        let mut args = mount_args(&["/mnt/ro", "/mnt/ro/sub", "/mnt/rro", "/mnt/rro/sub"]);
        args.extend(["+", "touch", "/mnt/ro/sub", "+", "touch", "/mnt/rro/sub"]);
        let f = ctx.check(&mut b, &args)?;
        f.expect("mount:/mnt/ro.ro", "1")?;
        f.expect("mount:/mnt/ro/sub.ro", "0")?;
        f.expect("mount:/mnt/rro.ro", "1")?;
        f.expect("mount:/mnt/rro/sub.ro", "1")?;
        f.expect("touch:/mnt/ro/sub", "ok")?;
        f.expect("touch:/mnt/rro/sub", &format!("err:{}", libc::EROFS))
    })();
    sys::umount_detach(&sub).map_err(|e| format!("umount {sub:?}: {e}"))?;
    res
}

/// A tmpfs over a directory of the image takes that directory's mode
/// (runc stats the destination); a tmpfs on a
/// directory the runtime creates keeps tmpfs's default 1777.
fn tmpfs_dir_mode(ctx: &Ctx) -> TestResult {
    use std::os::unix::fs::PermissionsExt;
    let mut b = ctx.bundle("b")?;
    let p = b.rootfs().join("img");
    std::fs::create_dir(&p).map_err(|e| format!("mkdir img: {e}"))?;
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o2710))
        .map_err(|e| format!("chmod img: {e}"))?;
    let t = |dest, opts: &[&str]| config::mount(dest, "tmpfs", "tmpfs", opts);
    config::add_mount(&mut b.spec, t("/img", &["nosuid"]));
    config::add_mount(&mut b.spec, t("/fresh", &[]));
    let mut args = mount_args(&["/img", "/fresh"]);
    args.extend(["+", "stat", "/img", "+", "stat", "/fresh"]);
    let f = ctx.check(&mut b, &args)?;
    f.expect("mount:/img.fstype", "tmpfs")?;
    f.expect("stat:/img.perm", "2710")?;
    f.expect("stat:/fresh.perm", "1777")
}

/// Mounts are made in config order, each destination and each bind source
/// resolved after the earlier ones: a bind below an earlier tmpfs lands in
/// that tmpfs (not in the image), and a bind whose source is a path in the
/// rootfs sees what the earlier entries mounted there.
fn order_nested(ctx: &Ctx) -> TestResult {
    let src = host_dir(ctx, "src", "data\n")?;
    let mut b = ctx.bundle("b")?;
    let inner = b.rootfs().join("a/b");
    let inner = inner.to_str().unwrap_or_default().to_string();
    let bind = |dest, s: &str| config::mount(dest, "bind", s, &["bind"]);
    config::add_mount(&mut b.spec, config::mount("/a", "tmpfs", "tmpfs", &[]));
    config::add_mount(&mut b.spec, bind("/a/b", &src));
    config::add_mount(&mut b.spec, bind("/c", &inner));
    let mut args = mount_args(&["/a", "/a/b", "/c"]);
    args.extend(["+", "read", "/a/b/file", "+", "read", "/c/file"]);
    let f = ctx.check(&mut b, &args)?;
    f.expect("mount:/a.fstype", "tmpfs")?;
    f.expect("mount:/a/b.count", "1")?;
    f.expect("mount:/c.count", "1")?;
    f.expect("read:/a/b/file.data", "data\\n")?;
    f.expect("read:/c/file.data", "data\\n")?;
    ensure!(
        !b.rootfs().join("a/b").exists(),
        "/a/b was made in the image, not in the tmpfs"
    );
    Ok(())
}

/// A read-only /dev tmpfs with devpts, shm and mqueue below it: /dev is
/// mounted writable, filled, and made read-only at the end (runc's
/// finalizeRootfs); the payload sees /dev read-only, /dev/pts mounted and
/// /dev/null working.
fn dev_readonly(ctx: &Ctx) -> TestResult {
    let mut b = ctx.bundle("b")?;
    for m in b.spec.mounts_mut().iter_mut().flatten() {
        if m.destination() == Path::new("/dev") {
            m.options_mut()
                .get_or_insert_with(Vec::new)
                .push("ro".into());
        }
    }
    let mut args = mount_args(&["/dev", "/dev/pts", "/dev/shm"]);
    args.extend(["+", "openw", "/dev/null", "+", "stat", "/dev/ptmx"]);
    args.extend(["+", "touch", "/dev", "+", "touch", "/dev/shm"]);
    let f = ctx.check(&mut b, &args)?;
    f.expect("mount:/dev.fstype", "tmpfs")?;
    f.expect("mount:/dev.ro", "1")?;
    f.expect("mount:/dev/pts.fstype", "devpts")?;
    f.expect("mount:/dev/pts.ro", "0")?;
    f.expect("mount:/dev/shm.ro", "0")?;
    f.expect("openw:/dev/null", "ok")?;
    f.expect("stat:/dev/ptmx.type", "l")?;
    f.expect("touch:/dev", &format!("err:{}", libc::EROFS))?;
    f.expect("touch:/dev/shm", "ok")
}

/// A read-only tmpfs is mounted writable and made read-only at the end
/// (runc's finalizeRootfs), so a bind below it can still be made.
fn tmpfs_ro_submounts(ctx: &Ctx) -> TestResult {
    let src = host_dir(ctx, "src", "data\n")?;
    let mut b = ctx.bundle("b")?;
    let ro = config::mount("/ro", "tmpfs", "tmpfs", &["ro", "nosuid"]);
    config::add_mount(&mut b.spec, ro);
    config::add_mount(
        &mut b.spec,
        config::mount("/ro/sub", "bind", &src, &["bind"]),
    );
    let mut args = mount_args(&["/ro", "/ro/sub"]);
    args.extend(["+", "read", "/ro/sub/file", "+", "touch", "/ro"]);
    let f = ctx.check(&mut b, &args)?;
    f.expect("mount:/ro.ro", "1")?;
    f.expect("mount:/ro.nosuid", "1")?;
    f.expect("mount:/ro/sub.ro", "0")?;
    f.expect("read:/ro/sub/file.data", "data\\n")?;
    f.expect("touch:/ro", &format!("err:{}", libc::EROFS))
}

fn io(what: &str, r: std::io::Result<()>) -> TestResult {
    r.map_err(|e| format!("{what}: {e}").into())
}

/// `tmpcopyup`: the image directory's files, subdirectories and symlinks,
/// with owner and mode, are copied into the new tmpfs, which takes writes;
/// the image's copy stays as it was.
fn tmpcopyup(ctx: &Ctx) -> TestResult {
    use std::os::unix::fs::PermissionsExt;
    let mut b = ctx.bundle("b")?;
    let d = b.rootfs().join("cu");
    let mode = |p: &Path, m| std::fs::set_permissions(p, std::fs::Permissions::from_mode(m));
    io("mkdir", std::fs::create_dir_all(d.join("s")))?;
    io("write a", std::fs::write(d.join("a"), "alpha\n"))?;
    io("write s/b", std::fs::write(d.join("s/b"), "beta\n"))?;
    io("chmod a", mode(&d.join("a"), 0o604))?;
    io(
        "chown a",
        std::os::unix::fs::chown(d.join("a"), Some(1000), Some(1000)),
    )?;
    io("symlink", std::os::unix::fs::symlink("a", d.join("l")))?;
    io("chmod cu", mode(&d, 0o750))?;
    let t = config::mount("/cu", "tmpfs", "tmpfs", &["tmpcopyup", "nosuid"]);
    config::add_mount(&mut b.spec, t);
    let args = [
        "mount", "/cu", "+", "stat", "/cu", "+", "read", "/cu/a", "+", "stat", "/cu/a", "+",
        "read", "/cu/s/b", "+", "stat", "/cu/l", "+", "touch", "/cu",
    ];
    let f = ctx.check(&mut b, &args)?;
    f.expect("mount:/cu.fstype", "tmpfs")?;
    f.expect("stat:/cu.perm", "0750")?;
    f.expect("read:/cu/a", "ok:6")?;
    f.expect("read:/cu/a.data", "alpha\\n")?;
    f.expect("stat:/cu/a.perm", "0604")?;
    f.expect("stat:/cu/a.uid", "1000")?;
    f.expect("stat:/cu/a.gid", "1000")?;
    f.expect("read:/cu/s/b.data", "beta\\n")?;
    f.expect("stat:/cu/l.type", "l")?;
    f.expect("stat:/cu/l.link", "a")?;
    f.expect("touch:/cu", "ok")
}

/// Runs `f` with a host tmpfs (holding `file`) whose mount is read-only and
/// nosuid (the superblock stays writable), unmounted afterwards.
fn with_ro_nosuid_source(ctx: &Ctx, f: impl FnOnce(&str) -> TestResult) -> TestResult {
    let src = ctx.path("rosrc");
    host_tmpfs(&src)?;
    let res = (|| {
        io("write file", std::fs::write(src.join("file"), "data\n"))?;
        let st = std::process::Command::new("mount")
            .args(["-o", "remount,bind,ro,nosuid"])
            .arg(&src)
            .status()
            .map_err(|e| format!("mount: {e}"))?;
        ensure!(st.success(), "remount {src:?} ro,nosuid failed");
        f(src.to_str().unwrap_or_default())
    })();
    sys::umount_detach(&src).map_err(|e| format!("umount {src:?}: {e}"))?;
    res
}

/// As runc (`MS_BIND|MS_REMOUNT` with the options' flags): a bind without
/// flag options keeps its source's ro,nosuid; a bind naming a flag gets
/// exactly the flags it names, so it is writable and suid.
fn bind_flags_replace(ctx: &Ctx) -> TestResult {
    with_ro_nosuid_source(ctx, |src| {
        let mut b = ctx.bundle("b")?;
        let m = |dest, opts: &[&str]| config::mount(dest, "bind", src, opts);
        config::add_mount(&mut b.spec, m("/m/inherit", &["bind"]));
        config::add_mount(&mut b.spec, m("/m/nodev", &["bind", "nodev"]));
        let mut args = mount_args(&["/m/inherit", "/m/nodev"]);
        args.extend(["+", "touch", "/m/inherit", "+", "touch", "/m/nodev"]);
        let f = ctx.check(&mut b, &args)?;
        f.expect("mount:/m/inherit.ro", "1")?;
        f.expect("mount:/m/inherit.nosuid", "1")?;
        f.expect("mount:/m/nodev.ro", "0")?;
        f.expect("mount:/m/nodev.nosuid", "0")?;
        f.expect("mount:/m/nodev.nodev", "1")?;
        f.expect("touch:/m/inherit", &format!("err:{}", libc::EROFS))?;
        f.expect("touch:/m/nodev", "ok")
    })
}

/// Current runc also remounts a bind whose only flag option clears a flag
/// (`rw`), so it loses the source's ro and nosuid; runc 1.1 remounted only
/// for set flags and kept the source's.
fn bind_rw_clears(ctx: &Ctx) -> TestResult {
    let res = with_ro_nosuid_source(ctx, |src| {
        let mut b = ctx.bundle("b")?;
        config::add_mount(
            &mut b.spec,
            config::mount("/m", "bind", src, &["bind", "rw"]),
        );
        let f = ctx.check(&mut b, &["mount", "/m", "+", "touch", "/m"])?;
        f.expect("mount:/m.ro", "0")?;
        f.expect("mount:/m.nosuid", "0")?;
        f.expect("touch:/m", "ok")
    });
    match res {
        Err(Fail::Fail(m)) if is_runc_1_1(ctx) => Err(Fail::Skip(format!(
            "runc 1.1 predates remounting a bind for cleared flags: {m}"
        ))),
        other => other,
    }
}

/// In a namespace of its own (`unshare -Urmpfn`, as a non-root user), a
/// process may mount a fresh proc or sysfs only if one is fully visible
/// in that mount namespace. The container's /proc is masked and its /sys
/// read-only, so only the host's, left in the namespace by `--no-pivot`
/// (MS_MOVE + chroot keeps the old root's mounts), could let through a
/// proc without masks or a writable sysfs. runc hides them since
/// 1.0.0-rc7 (1.1.5 too); so must berth, with and without a user namespace
/// for the container. A tmpfs mount in the same namespace shows the
/// namespace itself works.
fn no_pivot_hides_host_proc(ctx: &Ctx) -> TestResult {
    const ATTACK: &str = "unshare -Urmpfn sh -c 'echo uid=$(id -u); \
        mount -t tmpfs t /pp && echo tmpfs=ok && umount /pp; \
        mount -t proc proc /pp && echo proc=mounted; \
        mount -t sysfs sysfs /ss && echo sysfs=mounted; echo end'";
    for userns in [false, true] {
        let mut b = ctx.bundle(if userns { "userns" } else { "b" })?;
        for d in ["pp", "ss"] {
            std::fs::create_dir(b.rootfs().join(d)).map_err(|e| format!("mkdir {d}: {e}"))?;
        }
        super::util::sh(&mut b, ATTACK);
        config::set_user(&mut b.spec, 1000, 1000)?;
        let l = config::linux_mut(&mut b.spec);
        l.set_masked_paths(Some(vec!["/proc/kcore".into()]));
        l.set_readonly_paths(Some(vec!["/proc/sys".into()]));
        match userns {
            true => super::userns::write_userns(&b)?,
            false => b.write()?,
        }
        let out = ctx
            .rt(&["run", "--no-pivot", "--bundle", b.path(), "c1"])?
            .ok()?;
        let lines: Vec<&str> = out.stdout.lines().collect();
        ensure_eq!(
            lines,
            ["uid=0", "tmpfs=ok", "end"],
            format!(
                "unshare in a --no-pivot container (userns: {userns}; stderr {:?})",
                out.stderr
            )
        );
    }
    for p in ["/proc/self/status", "/sys/kernel"] {
        ensure!(Path::new(p).exists(), "{p} is gone on the host");
    }
    Ok(())
}
