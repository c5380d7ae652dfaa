//! Mounts where runc's edge behaviour is what clients rely on: destinations
//! through symlinks planted in a hostile image.

use super::mounts::{host_dir, host_tmpfs, mount_args};
use crate::harness::case::{case, Case};
use crate::harness::{config, sys, Bundle, Ctx, TestResult};
use crate::{ensure, ensure_eq};
use std::path::Path;

pub const CASES: &[Case] = &[
    case("mount_dest_symlinks_in_rootfs", dest_symlinks),
    case("mount_rbind_ro_top_only", rbind_ro_top_only),
    case("mount_tmpfs_takes_dir_mode", tmpfs_dir_mode),
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
