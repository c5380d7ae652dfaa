//! Mounts: the default set, bind/rbind with flags and propagation, tmpfs
//! options, cgroup, root.readonly, rootfsPropagation, masked and readonly
//! paths, creation of missing destinations.

use super::util::{go, host_cgroup_v2, sh, wait_file};
use crate::harness::case::{case, Case, CGROUP};
use crate::harness::{config, sys, Bundle, Ctx, Facts, Fail, TestResult};
use crate::{ensure, ensure_eq};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

pub const CASES: &[Case] = &[
    case("mounts_default_set", default_set),
    case("mount_bind_flags", bind_flags),
    case("mount_rbind_submounts", rbind_submounts),
    case("mount_bind_propagation", bind_propagation),
    case("mount_tmpfs_size_mode", tmpfs_size_mode),
    case("mount_cgroup", cgroup_mount).tagged(&[CGROUP]),
    case("mount_destination_created", destination_created),
    case("root_readonly", root_readonly),
    case("rootfs_propagation_private_slave", rootfs_propagation),
    case("rootfs_propagation_shared", rootfs_propagation_shared),
    case("masked_paths", masked_paths),
    case("readonly_paths", readonly_paths),
];

/// Checker args `mount P1 + mount P2 ...`.
pub(super) fn mount_args<'a>(paths: &[&'a str]) -> Vec<&'a str> {
    let mut v = Vec::new();
    for p in paths {
        v.extend(["mount", p, "+"]);
    }
    v.pop();
    v
}

/// Expect mount `path` with fstype and the four per-mount flags
/// (ro, nosuid, nodev, noexec as 0/1).
fn expect_mount(f: &Facts, path: &str, fstype: &str, flags: [u8; 4]) -> TestResult {
    let count: u32 = f.get(&format!("mount:{path}.count"))?.parse().unwrap_or(0);
    ensure!(count > 0, "{path} is not a mount point");
    f.expect(&format!("mount:{path}.fstype"), fstype)?;
    for (name, want) in ["ro", "nosuid", "nodev", "noexec"].iter().zip(flags) {
        f.expect(&format!("mount:{path}.{name}"), &want.to_string())?;
    }
    Ok(())
}

fn default_set(ctx: &Ctx) -> TestResult {
    let mut b = ctx.bundle("b")?;
    let paths = [
        "/proc",
        "/dev",
        "/dev/pts",
        "/dev/shm",
        "/dev/mqueue",
        "/sys",
    ];
    let f = ctx.check(&mut b, &mount_args(&paths))?;
    expect_mount(&f, "/proc", "proc", [0, 0, 0, 0])?;
    expect_mount(&f, "/dev", "tmpfs", [0, 1, 0, 0])?;
    expect_mount(&f, "/dev/pts", "devpts", [0, 1, 0, 1])?;
    expect_mount(&f, "/dev/shm", "tmpfs", [0, 1, 1, 1])?;
    expect_mount(&f, "/dev/mqueue", "mqueue", [0, 1, 1, 1])?;
    expect_mount(&f, "/sys", "sysfs", [1, 1, 1, 1])?;
    let shm = f.get("mount:/dev/shm.superopts")?;
    ensure!(
        shm.split(',').any(|o| o == "size=65536k"),
        "/dev/shm options {shm:?}"
    );
    Ok(())
}

/// A host directory `<case>/NAME` holding `file` with `content`.
pub(super) fn host_dir(ctx: &Ctx, name: &str, content: &str) -> Result<String, Fail> {
    let d = ctx.path(name);
    std::fs::create_dir_all(&d).map_err(|e| format!("mkdir {d:?}: {e}"))?;
    std::fs::write(d.join("file"), content).map_err(|e| format!("write file: {e}"))?;
    Ok(d.to_str().unwrap_or_default().to_string())
}

fn bind_flags(ctx: &Ctx) -> TestResult {
    let src = host_dir(ctx, "src", "data\n")?;
    let mut b = ctx.bundle("b")?;
    let m = |dest, opts: &[&str]| config::mount(dest, "bind", &src, opts);
    config::add_mount(&mut b.spec, m("/mnt/rw", &["bind"]));
    config::add_mount(
        &mut b.spec,
        m("/mnt/ro", &["bind", "ro", "nosuid", "nodev", "noexec"]),
    );
    config::add_mount(&mut b.spec, m("/mnt/rro", &["rbind", "ro"]));
    let mut args = mount_args(&["/mnt/rw", "/mnt/ro", "/mnt/rro"]);
    args.extend([
        "+",
        "read",
        "/mnt/ro/file",
        "+",
        "touch",
        "/mnt/ro",
        "+",
        "touch",
        "/mnt/rw",
        "+",
        "touch",
        "/mnt/rro",
    ]);
    let f = ctx.check(&mut b, &args)?;
    // The bind keeps the source's filesystem type, whatever /tmp is on.
    let t = f.get("mount:/mnt/rw.fstype")?.to_string();
    expect_mount(&f, "/mnt/rw", &t, [0, 0, 0, 0])?;
    expect_mount(&f, "/mnt/ro", &t, [1, 1, 1, 1])?;
    expect_mount(&f, "/mnt/rro", &t, [1, 0, 0, 0])?;
    f.expect("read:/mnt/ro/file.data", "data\\n")?;
    f.expect("touch:/mnt/ro", &format!("err:{}", libc::EROFS))?;
    f.expect("touch:/mnt/rro", &format!("err:{}", libc::EROFS))?;
    f.expect("touch:/mnt/rw", "ok")
}

/// Mount a small tmpfs at `path` (host side).
pub(super) fn host_tmpfs(path: &Path) -> TestResult {
    std::fs::create_dir_all(path).map_err(|e| format!("mkdir {path:?}: {e}"))?;
    let st = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "spec-tmpfs"])
        .arg(path)
        .status()
        .map_err(|e| format!("mount: {e}"))?;
    ensure!(st.success(), "mount tmpfs at {path:?} failed");
    Ok(())
}

fn rbind_submounts(ctx: &Ctx) -> TestResult {
    let src = host_dir(ctx, "src", "x")?;
    let sub = Path::new(&src).join("sub");
    host_tmpfs(&sub)?;
    let res = (|| {
        let mut b = ctx.bundle("b")?;
        config::add_mount(
            &mut b.spec,
            config::mount("/mnt/r", "bind", &src, &["rbind"]),
        );
        config::add_mount(
            &mut b.spec,
            config::mount("/mnt/n", "bind", &src, &["bind"]),
        );
        let f = ctx.check(&mut b, &mount_args(&["/mnt/r/sub", "/mnt/n/sub"]))?;
        f.expect("mount:/mnt/r/sub.count", "1")?;
        f.expect("mount:/mnt/r/sub.fstype", "tmpfs")?;
        f.expect("mount:/mnt/n/sub.count", "0")
    })();
    sys::umount_detach(&sub).map_err(|e| format!("umount {sub:?}: {e}"))?;
    res
}

/// Propagation of bind mounts: a host tmpfs made shared is bound with
/// rprivate, rslave and rshared; a mount made on the host after the
/// container started must show up in the slave and shared copies only.
fn bind_propagation(ctx: &Ctx) -> TestResult {
    let src = ctx.path("shared");
    host_tmpfs(&src)?;
    let res = (|| {
        let st = Command::new("mount")
            .arg("--make-shared")
            .arg(&src)
            .status();
        ensure!(
            st.map(|s| s.success()).unwrap_or(false),
            "make-shared failed"
        );
        let s = src.to_str().unwrap_or_default();
        let mut b = ctx.bundle("b")?;
        for (dest, prop) in [
            ("/mnt/p", "rprivate"),
            ("/mnt/s", "rslave"),
            ("/mnt/h", "rshared"),
        ] {
            config::add_mount(
                &mut b.spec,
                config::mount(dest, "bind", s, &["rbind", prop]),
            );
        }
        let chk = "/bin/berth-checker mount /mnt/p + mount /mnt/s + mount /mnt/h \
                   + mount /mnt/p/late + mount /mnt/s/late + mount /mnt/h/late";
        sh(
            &mut b,
            &format!("touch /tmp/ready; while [ ! -e /tmp/go ]; do sleep 0.02; done; {chk}"),
        );
        let out = ctx.create("c1", &b)?.ok()?;
        ctx.rt(&["start", "c1"])?.ok()?;
        wait_file(&b.rootfs().join("tmp/ready"), Duration::from_secs(10))?;
        host_tmpfs(&src.join("late"))?;
        go(&b)?;
        ctx.wait_status("c1", "stopped", Duration::from_secs(10))?;
        ctx.rt(&["delete", "c1"])?.ok()?;
        let f = Facts::parse(&out.stdout_now());
        f.expect("mount:/mnt/p.prop", "private")?;
        f.expect("mount:/mnt/s.prop", "slave")?;
        let h = f.get("mount:/mnt/h.prop")?;
        ensure!(
            h.starts_with("shared"),
            "rshared mount has propagation {h:?}"
        );
        f.expect("mount:/mnt/p/late.count", "0")?;
        f.expect("mount:/mnt/s/late.count", "1")?;
        f.expect("mount:/mnt/h/late.count", "1")
    })();
    let _ = sys::umount_detach(&src.join("late"));
    sys::umount_detach(&src).map_err(|e| format!("umount {src:?}: {e}"))?;
    res
}

fn tmpfs_size_mode(ctx: &Ctx) -> TestResult {
    let mut b = ctx.bundle("b")?;
    config::add_mount(
        &mut b.spec,
        config::mount(
            "/mnt/t",
            "tmpfs",
            "tmpfs",
            &["size=1m", "mode=0711", "nosuid", "noexec"],
        ),
    );
    let f = ctx.check(&mut b, &["mount", "/mnt/t", "+", "stat", "/mnt/t"])?;
    expect_mount(&f, "/mnt/t", "tmpfs", [0, 1, 0, 1])?;
    let opts = f.get("mount:/mnt/t.superopts")?;
    let parts: Vec<&str> = opts.split(',').collect();
    ensure!(
        parts.contains(&"size=1024k") && parts.contains(&"mode=711"),
        "tmpfs options {opts:?}"
    );
    f.expect("stat:/mnt/t.perm", "0711")
}

fn cgroup_mount(ctx: &Ctx) -> TestResult {
    let mut b = ctx.bundle("b")?;
    let mut list = config::base_namespaces();
    list.push(config::ns(
        oci_spec::runtime::LinuxNamespaceType::Cgroup,
        None,
    ));
    config::linux_mut(&mut b.spec).set_namespaces(Some(list));
    config::add_mount(
        &mut b.spec,
        config::mount(
            "/sys/fs/cgroup",
            "cgroup",
            "cgroup",
            &["nosuid", "noexec", "nodev", "relatime", "ro"],
        ),
    );
    if host_cgroup_v2() {
        // cgroup2 itself, read-only, rooted at the container's own cgroup
        // (pids.max exists only below the root). Without a pids limit it
        // is "max"; with the systemd driver, the scope's TasksMax is
        // systemd's default (runc 1.1.5 and current runc set none).
        let mut args = mount_args(&["/sys/fs/cgroup"]);
        args.extend(["+", "read", "/sys/fs/cgroup/pids.max"]);
        let want = match ctx.env.systemd {
            true => crate::harness::systemd::manager("DefaultTasksMax")?,
            false => "max".to_string(),
        };
        let f = ctx.check(&mut b, &args)?;
        expect_mount(&f, "/sys/fs/cgroup", "cgroup2", [1, 1, 1, 1])?;
        f.expect("mount:/sys/fs/cgroup.root", "/")?;
        let want = want.replace("infinity", "max");
        return f.expect("read:/sys/fs/cgroup/pids.max.data", &format!("{want}\\n"));
    }
    let f = ctx.check(
        &mut b,
        &mount_args(&[
            "/sys/fs/cgroup",
            "/sys/fs/cgroup/memory",
            "/sys/fs/cgroup/pids",
        ]),
    )?;
    // On cgroup v1 (hybrid, like this project's hosts): a tmpfs holding one
    // read-only cgroup mount per hierarchy, as runc lays it out (runc leaves
    // the tmpfs itself writable, so its ro flag is not asserted).
    f.expect("mount:/sys/fs/cgroup.fstype", "tmpfs")?;
    for flag in ["nosuid", "nodev", "noexec"] {
        f.expect(&format!("mount:/sys/fs/cgroup.{flag}"), "1")?;
    }
    for c in ["memory", "pids"] {
        let p = format!("/sys/fs/cgroup/{c}");
        expect_mount(&f, &p, "cgroup", [1, 1, 1, 1])?;
        let so = f.get(&format!("mount:{p}.superopts"))?;
        ensure!(so.split(',').any(|o| o == c), "{p} superopts {so:?}");
        // In a new cgroup namespace the container's cgroup is the root.
        f.expect(&format!("mount:{p}.root"), "/")?;
    }
    Ok(())
}

fn destination_created(ctx: &Ctx) -> TestResult {
    let src = host_dir(ctx, "src", "bound file\n")?;
    let file = format!("{src}/file");
    let mut b = ctx.bundle("b")?;
    config::add_mount(
        &mut b.spec,
        config::mount("/new/deep/dir", "tmpfs", "tmpfs", &[]),
    );
    config::add_mount(
        &mut b.spec,
        config::mount("/etc/newfile", "bind", &file, &["bind"]),
    );
    let f = ctx.check(
        &mut b,
        &[
            "mount",
            "/new/deep/dir",
            "+",
            "stat",
            "/etc/newfile",
            "+",
            "read",
            "/etc/newfile",
        ],
    )?;
    f.expect("mount:/new/deep/dir.fstype", "tmpfs")?;
    f.expect("stat:/etc/newfile.type", "f")?;
    f.expect("read:/etc/newfile.data", "bound file\\n")
}

fn root_readonly(ctx: &Ctx) -> TestResult {
    let mut b = ctx.bundle("b")?;
    b.spec.set_root(Some(
        oci_spec::runtime::RootBuilder::default()
            .path("rootfs")
            .readonly(true)
            .build()
            .map_err(|e| format!("root: {e}"))?,
    ));
    let f = ctx.check(
        &mut b,
        &[
            "mount", "/", "+", "touch", "/", "+", "touch", "/tmp", "+", "touch", "/dev", "+",
            "touch", "/dev/shm",
        ],
    )?;
    f.expect("mount:/.ro", "1")?;
    let erofs = format!("err:{}", libc::EROFS);
    f.expect("touch:/", &erofs)?;
    f.expect("touch:/tmp", &erofs)?;
    f.expect("touch:/dev", "ok")?;
    f.expect("touch:/dev/shm", "ok")
}

fn propagation_of_root(ctx: &Ctx, prop: &str) -> Result<String, Fail> {
    let mut b: Bundle = ctx.bundle(&format!("b-{prop}"))?;
    config::linux_mut(&mut b.spec).set_rootfs_propagation(Some(prop.to_string()));
    let f = ctx.check(&mut b, &["mount", "/"])?;
    Ok(f.get("mount:/.prop")?.to_string())
}

/// rootfsPropagation sets the propagation of the container's `/`. The
/// host's mounts here are private, so a slave `/` has no master and shows
/// as private.
fn rootfs_propagation(ctx: &Ctx) -> TestResult {
    ensure_eq!(
        propagation_of_root(ctx, "private")?,
        "private",
        "rootfsPropagation private"
    );
    ensure_eq!(
        propagation_of_root(ctx, "slave")?,
        "private",
        "rootfsPropagation slave"
    );
    Ok(())
}

/// rootfsPropagation shared must leave the container's `/` shared. runc
/// 1.1 applies the flag before pivot_root only, so `/` ends up private.
fn rootfs_propagation_shared(ctx: &Ctx) -> TestResult {
    let res = propagation_of_root(ctx, "shared").and_then(|p| {
        ensure!(
            p.starts_with("shared"),
            "rootfsPropagation shared: / is {p:?}"
        );
        Ok(())
    });
    super::util::known_runc_1_1_gap(ctx, "rootfsPropagation shared is lost", res)
}

fn masked_paths(ctx: &Ctx) -> TestResult {
    let mut b = ctx.bundle("b")?;
    let root = b.rootfs();
    std::fs::write(root.join("etc/secret"), "top secret\n").map_err(|e| format!("{e}"))?;
    std::fs::create_dir(root.join("secretdir")).map_err(|e| format!("{e}"))?;
    std::fs::write(root.join("secretdir/inner"), "x").map_err(|e| format!("{e}"))?;
    let masked = [
        "/etc/secret",
        "/secretdir",
        "/proc/timer_list",
        "/proc/acpi",
        "/does/not/exist",
    ];
    config::linux_mut(&mut b.spec).set_masked_paths(Some(masked.map(String::from).to_vec()));
    let f = ctx.check(
        &mut b,
        &[
            "read",
            "/etc/secret",
            "+",
            "ls",
            "/secretdir",
            "+",
            "read",
            "/proc/timer_list",
            "+",
            "ls",
            "/proc/acpi",
            "+",
            "stat",
            "/etc/secret",
            "+",
            "touch",
            "/secretdir",
            "+",
            "ls",
            "/does",
        ],
    )?;
    f.expect("read:/etc/secret", "ok:0")?;
    f.expect("stat:/etc/secret.type", "c")?;
    f.expect("stat:/etc/secret.rdev", "1:3")?;
    f.expect("ls:/secretdir", "")?;
    f.expect("touch:/secretdir", &format!("err:{}", libc::EROFS))?;
    f.expect("read:/proc/timer_list", "ok:0")?;
    f.expect("ls:/proc/acpi", "")?;
    // A masked path that does not exist is skipped, not created.
    f.expect("ls:/does", &format!("err:{}", libc::ENOENT))
}

fn readonly_paths(ctx: &Ctx) -> TestResult {
    let mut b = ctx.bundle("b")?;
    std::fs::create_dir(b.rootfs().join("data")).map_err(|e| format!("{e}"))?;
    let ro = ["/proc/sys", "/data", "/does/not/exist"];
    config::linux_mut(&mut b.spec).set_readonly_paths(Some(ro.map(String::from).to_vec()));
    let f = ctx.check(
        &mut b,
        &[
            "touch",
            "/data",
            "+",
            "touch",
            "/tmp",
            "+",
            "openw",
            "/proc/sys/kernel/hostname",
            "+",
            "mount",
            "/proc/sys",
            "+",
            "mount",
            "/data",
            "+",
            "ls",
            "/does",
        ],
    )?;
    let erofs = format!("err:{}", libc::EROFS);
    f.expect("touch:/data", &erofs)?;
    f.expect("touch:/tmp", "ok")?;
    f.expect("openw:/proc/sys/kernel/hostname", &erofs)?;
    f.expect("mount:/proc/sys.ro", "1")?;
    f.expect("mount:/data.ro", "1")?;
    f.expect("ls:/does", &format!("err:{}", libc::ENOENT))
}
