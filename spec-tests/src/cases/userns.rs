//! User namespaces (issue 13): a container with `linux.uidMappings` and
//! `gidMappings` of `0 100000 65536` and a new user namespace. Its root is
//! root inside and 100000 on the host; it sees only the default devices,
//! gets /sys only as the kernel allows without its own network namespace,
//! `exec` joins its user namespace, and a second container can join that
//! namespace by path. The escape classes, the capability limits and the bad
//! input are in `userns_security.rs`.
//!
//! The bundle's rootfs stays owned by host root (the image is never
//! chowned): inside it shows as 65534 and is read-only for the container's
//! root except for the world-writable /tmp. Mount points are made by the
//! harness; host directories the container writes to are made in the
//! case's dir and chowned to the mapped root.

use super::util::{
    expect_error, expect_nothing_left, go, is_runc_1_1, sh, wait_file, write_patched,
};
use crate::harness::case::{case, Case};
use crate::harness::cmd::Out;
use crate::harness::{config, Bundle, Ctx, Facts, Fail, TestResult};
use crate::{ensure, ensure_eq};
use oci_spec::runtime::LinuxNamespaceType as Ns;
use serde_json::{json, Value};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const CASES: &[Case] = &[
    case("userns_id_and_maps", id_and_maps),
    case("userns_bind_file_owner", bind_file_owner),
    case("userns_no_sysfs_without_netns", no_sysfs_without_netns),
    case("userns_devices_default_only", devices_default_only),
    case("userns_exec_ids_caps", exec_ids_caps),
    case("userns_setgroups", setgroups),
    case("userns_join_by_path", join_by_path),
    case("userns_join_by_path_other_maps", join_by_path_other_maps),
];

/// The container's mapping, for uids and gids alike: container ids
/// `MAP[0]..` are host ids `MAP[1]..`, `MAP[2]` of them.
pub(super) const MAP: [u32; 3] = [0, 100_000, 65_536];

/// The host id of the container's root.
pub(super) const HOST_ROOT: u32 = MAP[1];

/// How /proc/self/uid_map shows `MAP` (whitespace normalised).
pub(super) const MAP_LINE: &str = "0 100000 65536";

/// Effective, permitted and bounding capabilities of the base config
/// (AUDIT_WRITE, KILL, NET_BIND_SERVICE) as /proc/self/status shows them.
pub(super) const DEFAULT_CAPS_HEX: &str = "0000000020000420";

const WAIT: Duration = Duration::from_secs(10);

/// `text` with every run of whitespace made one space, trimmed.
pub(super) fn normalised(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `MAP` as a `linux.uidMappings`/`gidMappings` value.
pub(super) fn map_json() -> Value {
    json!([{"containerID": MAP[0], "hostID": MAP[1], "size": MAP[2]}])
}

/// `b`'s namespaces plus `user` (a new one, or one joined by `path`), as
/// a `linux.namespaces` value.
pub(super) fn namespaces_with_user(b: &Bundle, path: Option<&str>) -> Result<Value, Fail> {
    let l = b.spec.linux().as_ref().ok_or("config without linux")?;
    let ns = l.namespaces().clone().unwrap_or_default();
    let mut v = serde_json::to_value(ns).map_err(|e| format!("namespaces: {e}"))?;
    let user = match path {
        Some(p) => json!({"type": "user", "path": p}),
        None => json!({"type": "user"}),
    };
    v.as_array_mut().ok_or("namespaces not a list")?.push(user);
    Ok(v)
}

/// The patches that give `b` a new user namespace with `MAP`.
pub(super) fn userns_patches(b: &Bundle) -> Result<Vec<(&'static str, Value)>, Fail> {
    Ok(vec![
        ("/linux/namespaces", namespaces_with_user(b, None)?),
        ("/linux/uidMappings", map_json()),
        ("/linux/gidMappings", map_json()),
    ])
}

/// Writes `b`'s config.json with a new user namespace and `MAP` (the
/// typed config builder carries no mappings, so they are patched in).
pub(super) fn write_userns(b: &Bundle) -> TestResult {
    write_userns_with(b, &[])
}

/// `write_userns` with `extra` patches applied after the user namespace's.
pub(super) fn write_userns_with(b: &Bundle, extra: &[(&str, Value)]) -> TestResult {
    let mut patches = userns_patches(b)?;
    patches.extend(extra.iter().cloned());
    write_patched(b, &patches)
}

/// `run c1` of `b` in a user namespace; it must exit 0.
pub(super) fn run_userns(ctx: &Ctx, b: &Bundle, extra: &[(&str, Value)]) -> Result<Out, Fail> {
    write_userns_with(b, extra)?;
    ctx.rt(&["run", "--bundle", b.path(), "c1"])?.ok()
}

/// A host directory in the case's dir owned by the container's root
/// (`HOST_ROOT`) with `mode`, bind-mounted at `dest` (its mount point made
/// in the rootfs by the harness, as root). Removed with the case's dir.
pub(super) fn host_volume(
    ctx: &Ctx,
    b: &mut Bundle,
    dest: &str,
    mode: u32,
) -> Result<PathBuf, Fail> {
    use std::os::unix::fs::PermissionsExt;
    let dir = ctx.path(&format!("vol-{}", dest.trim_start_matches('/')));
    std::fs::create_dir(&dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
    std::os::unix::fs::chown(&dir, Some(HOST_ROOT), Some(HOST_ROOT))
        .map_err(|e| format!("chown {}: {e}", dir.display()))?;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(mode))
        .map_err(|e| format!("chmod {}: {e}", dir.display()))?;
    let point = b.rootfs().join(dest.trim_start_matches('/'));
    std::fs::create_dir_all(&point).map_err(|e| format!("mkdir {}: {e}", point.display()))?;
    let src = dir.to_str().ok_or("non-utf-8 path")?;
    config::add_mount(&mut b.spec, config::mount(dest, "bind", src, &["rbind"]));
    Ok(dir)
}

/// (uid, gid) of `path` on the host.
pub(super) fn owner(path: &Path) -> Result<(u32, u32), Fail> {
    let m = std::fs::metadata(path).map_err(|e| format!("stat {}: {e}", path.display()))?;
    Ok((m.uid(), m.gid()))
}

/// Host pid of `id`'s init.
pub(super) fn init_pid(ctx: &Ctx, id: &str) -> Result<i64, Fail> {
    let pid = ctx.state(id)?["pid"].as_i64().unwrap_or(0);
    ensure!(pid > 0, "no pid in the state of {id}");
    Ok(pid)
}

/// A field of /proc/PID/status, whitespace normalised.
pub(super) fn status_field(pid: i64, key: &str) -> Result<String, Fail> {
    let path = format!("/proc/{pid}/status");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("read {path}: {e}"))?;
    text.lines()
        .find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix(':')))
        .map(normalised)
        .ok_or_else(|| Fail::Fail(format!("{path} has no {key}")))
}

/// Reads a /proc file whole, whitespace normalised.
pub(super) fn proc_text(path: &str) -> Result<String, Fail> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("read {path}: {e}"))?;
    Ok(normalised(&text))
}

/// The inode of a namespace file.
pub(super) fn ns_inode(path: &str) -> Result<u64, Fail> {
    std::fs::metadata(path)
        .map(|m| m.ino())
        .map_err(|e| Fail::Fail(format!("stat {path}: {e}")))
}

/// Creates and starts `c1` from `b` in a user namespace (`extra` patches
/// after it) with the payload `script`, then waiting for `go`; once the
/// script has run, calls `f` with the init's host pid; then lets the
/// payload finish and deletes `c1`. Returns the payload's stdout.
pub(super) fn running(
    ctx: &Ctx,
    b: &mut Bundle,
    script: &str,
    extra: &[(&str, Value)],
    f: impl FnOnce(i64) -> TestResult,
) -> Result<String, Fail> {
    sh(
        b,
        &format!("{script}\ntouch /tmp/ready; while [ ! -e /tmp/go ]; do sleep 0.02; done"),
    );
    write_userns_with(b, extra)?;
    let out = ctx.rt(&["create", "--bundle", b.path(), "c1"])?.ok()?;
    let res = (|| {
        ctx.rt(&["start", "c1"])?.ok()?;
        wait_file(&b.rootfs().join("tmp/ready"), WAIT)?;
        f(init_pid(ctx, "c1")?)?;
        go(b)?;
        ctx.wait_status("c1", "stopped", WAIT)
    })();
    let _ = go(b);
    ctx.delete_force("c1")?;
    res.map(|()| out.stdout_now())
}

/// The facts `uid_map` and `gid_map` (`echo` of the file: the shell
/// splits the columns, and leaves a space after `=`) show `MAP`.
fn expect_maps(facts: &Facts) -> TestResult {
    for key in ["uid_map", "gid_map"] {
        ensure_eq!(normalised(facts.get(key)?), MAP_LINE, key);
    }
    Ok(())
}

/// `id` inside is root, /proc/self/uid_map and gid_map show the mapping;
/// from the host the init runs as 100000 with that map, in a user
/// namespace other than the host's. `features` lists the user namespace.
fn id_and_maps(ctx: &Ctx) -> TestResult {
    let mut b = ctx.bundle("b")?;
    let script = "echo uid=$(id -u); echo gid=$(id -g); echo name=$(id -un)\n\
        echo uid_map=$(cat /proc/self/uid_map); echo gid_map=$(cat /proc/self/gid_map)";
    let stdout = running(ctx, &mut b, script, &[], |pid| {
        let ids = format!("{HOST_ROOT} {HOST_ROOT} {HOST_ROOT} {HOST_ROOT}");
        ensure_eq!(status_field(pid, "Uid")?, ids, "the init's Uid on the host");
        ensure_eq!(status_field(pid, "Gid")?, ids, "the init's Gid on the host");
        for m in ["uid_map", "gid_map"] {
            let got = proc_text(&format!("/proc/{pid}/{m}"))?;
            ensure_eq!(got, MAP_LINE, format!("the init's {m} seen from the host"));
        }
        let inside = ns_inode(&format!("/proc/{pid}/ns/user"))?;
        ensure!(
            inside != ns_inode("/proc/self/ns/user")?,
            "the init is in the host's user namespace"
        );
        Ok(())
    })?;
    let facts = Facts::parse(&stdout);
    facts.expect("uid", "0")?;
    facts.expect("gid", "0")?;
    facts.expect("name", "root")?;
    expect_maps(&facts)?;
    let feats: Value = serde_json::from_str(&ctx.rt(&["features"])?.ok()?.stdout)
        .map_err(|e| format!("features: {e}"))?;
    let listed = feats["linux"]["namespaces"].as_array();
    ensure!(
        listed.is_some_and(|a| a.iter().any(|n| n == "user")),
        "features does not list the user namespace: {}",
        feats["linux"]["namespaces"]
    );
    Ok(())
}

/// Files the container's root creates on a bind mount of a host directory
/// (owned by 100000) and in the rootfs's /tmp are owned by 100000:100000 on
/// the host; the rootfs itself and the volume keep their owners (nothing
/// is chowned).
fn bind_file_owner(ctx: &Ctx) -> TestResult {
    let mut b = ctx.bundle("b")?;
    let vol = host_volume(ctx, &mut b, "/vol", 0o755)?;
    sh(
        &mut b,
        "touch /vol/f && mkdir /vol/d && touch /tmp/t && echo made",
    );
    let out = run_userns(ctx, &b, &[])?;
    ensure_eq!(out.stdout.trim(), "made", "the payload's output");
    let mapped = (HOST_ROOT, HOST_ROOT);
    for p in [vol.join("f"), vol.join("d"), b.rootfs().join("tmp/t")] {
        ensure_eq!(owner(&p)?, mapped, format!("owner of {}", p.display()));
    }
    ensure_eq!(owner(&vol)?, mapped, "owner of the volume after the run");
    for p in ["", "bin/busybox", "tmp", "etc/passwd"] {
        let path = b.rootfs().join(p);
        ensure_eq!(owner(&path)?, (0, 0), format!("owner of rootfs/{p}"));
    }
    Ok(())
}

/// The checker's facts about /sys in a container without its own network
/// namespace: the mount, a write, a fresh sysfs on /mnt, the net namespace.
fn sys_facts(out: &Out) -> Result<Facts, Fail> {
    let facts = Facts::parse(&out.stdout);
    let host_net = ns_inode("/proc/self/ns/net")?.to_string();
    facts.expect("ns:net", &host_net)?;
    facts.expect("stat:/sys/kernel.type", "d")?;
    facts.expect("mount:/sys.ro", "1")?;
    // EROFS: /sys is read-only, whatever is mounted there.
    facts.expect("touch:/sys", "err:30")?;
    // EPERM: the kernel allows a fresh sysfs only to the owner of the
    // network namespace, which is the host's.
    facts.expect("sys:sysfs", "err:1")?;
    Ok(facts)
}

/// Without its own network namespace a userns container may not mount a
/// fresh sysfs. (1) /sys as `runc spec --rootless` writes it then (an
/// `rbind` of the host's /sys, ro): the container starts, /sys is there,
/// read-only, and `mount -t sysfs` inside fails with EPERM. (2) The config's
/// own `sysfs` mount: runc (1.1.5 and current: no fallback in
/// `mountToRootfs`) fails the create with `error mounting "sysfs" to rootfs
/// at "/sys": ... operation not permitted`; a runtime may instead fall back
/// to a read-only bind of the host's /sys (issue 13), and then the same
/// holds as in (1).
fn no_sysfs_without_netns(ctx: &Ctx) -> TestResult {
    let args = [
        "ns",
        "net",
        "+",
        "stat",
        "/sys/kernel",
        "+",
        "mount",
        "/sys",
        "+",
        "touch",
        "/sys",
        "+",
        "sys",
        "sysfs:/mnt",
    ];
    let bundle = |name: &str, rbind: bool| -> Result<Bundle, Fail> {
        let mut b = ctx.bundle(name)?;
        let l = config::linux_mut(&mut b.spec);
        let ns = l.namespaces().clone().unwrap_or_default();
        l.set_namespaces(Some(
            ns.into_iter().filter(|n| n.typ() != Ns::Network).collect(),
        ));
        if rbind {
            let mut mounts = b.spec.mounts().clone().unwrap_or_default();
            mounts.retain(|m| m.destination() != Path::new("/sys"));
            let opts = ["rbind", "nosuid", "noexec", "nodev", "ro"];
            mounts.push(config::mount("/sys", "none", "/sys", &opts));
            b.spec.set_mounts(Some(mounts));
        }
        config::set_checker(&mut b.spec, &args);
        std::fs::create_dir_all(b.rootfs().join("mnt")).map_err(|e| format!("mkdir mnt: {e}"))?;
        Ok(b)
    };
    let b = bundle("rbind", true)?;
    sys_facts(&run_userns(ctx, &b, &[])?)?;
    let b = bundle("sysfs", false)?;
    write_userns(&b)?;
    let (out, log) = ctx.rt_logged(&["run", "--bundle", b.path(), "c1"])?;
    if out.code == 0 {
        return sys_facts(&out).map(|_| ());
    }
    let words = ["sysfs", "operation not permitted|permission denied"];
    expect_error(&out, &log, &words)?;
    expect_nothing_left(ctx, "c1", &b)
}

/// The checker's view of /dev: entry names and the default devices.
fn dev_facts(ctx: &Ctx, userns: bool) -> Result<Facts, Fail> {
    let mut b = ctx.bundle(if userns { "userns" } else { "plain" })?;
    let mut args = vec!["ls", "/dev"];
    for d in DEFAULT_DEVICES {
        args.extend(["+", "stat", d.0]);
    }
    args.extend(["+", "openw", "/dev/null", "+", "openw", "/dev/zero"]);
    args.extend(["+", "read", "/dev/zero", "+", "read", "/dev/urandom"]);
    config::set_checker(&mut b.spec, &args);
    let out = if userns {
        run_userns(ctx, &b, &[])?
    } else {
        ctx.run("c1", &b)?.ok()?
    };
    Ok(Facts::parse(&out.stdout))
}

/// The default devices (config-linux.md) and their numbers.
const DEFAULT_DEVICES: [(&str, &str); 6] = [
    ("/dev/null", "1:3"),
    ("/dev/zero", "1:5"),
    ("/dev/full", "1:7"),
    ("/dev/random", "1:8"),
    ("/dev/urandom", "1:9"),
    ("/dev/tty", "5:0"),
];

/// /dev of a userns container has the same entries as without a user
/// namespace (the default devices, the standard symlinks, pts, shm,
/// mqueue; runc 1.1.5: fd full mqueue null ptmx pts random shm stderr stdin
/// stdout tty urandom zero): no host device such as /dev/kmsg, /dev/mem or
/// a disk. The default devices are the right character devices (bind
/// mounts of the host's in runc) and work: /dev/null and /dev/zero open
/// for writing, /dev/zero reads zeros.
fn devices_default_only(ctx: &Ctx) -> TestResult {
    let plain = dev_facts(ctx, false)?;
    let facts = dev_facts(ctx, true)?;
    let names = facts.get("ls:/dev")?;
    ensure_eq!(
        names,
        plain.get("ls:/dev")?,
        "/dev entries (userns vs none)"
    );
    let listed: Vec<&str> = names.split(',').collect();
    for host_only in ["kmsg", "mem", "kmem", "port", "sda", "vda", "loop0", "tty0"] {
        ensure!(
            !listed.contains(&host_only),
            "/dev/{host_only} is in the container: {names}"
        );
    }
    for (dev, rdev) in DEFAULT_DEVICES {
        facts.expect(&format!("stat:{dev}.type"), "c")?;
        facts.expect(&format!("stat:{dev}.rdev"), rdev)?;
    }
    facts.expect("openw:/dev/null", "ok")?;
    facts.expect("openw:/dev/zero", "ok")?;
    facts.expect("read:/dev/zero", "ok:4096")?;
    facts.expect("read:/dev/urandom", "ok:4096")?;
    let zeros = facts.get("read:/dev/zero.data")?;
    ensure!(
        zeros.len() == 200 && zeros.bytes().all(|c| c == 0),
        "/dev/zero read something other than zeros"
    );
    Ok(())
}

/// `exec` into a userns container: root inside, in the init's user
/// namespace with its map, with the config's capabilities; `--user
/// 1000:1000` runs as 1000 and its files on a bind mount are owned by
/// 101000 on the host.
fn exec_ids_caps(ctx: &Ctx) -> TestResult {
    let mut b = ctx.bundle("b")?;
    let vol = host_volume(ctx, &mut b, "/vol", 0o777)?;
    running(ctx, &mut b, "true", &[], |pid| {
        let checker = [
            "exec",
            "c1",
            config::CHECKER,
            "ids",
            "+",
            "caps",
            "+",
            "ns",
            "user",
            "+",
            "read",
            "/proc/self/uid_map",
        ];
        let facts = Facts::parse(&ctx.rt(&checker)?.ok()?.stdout);
        facts.expect("uid", "0")?;
        facts.expect("gid", "0")?;
        for set in ["eff", "prm", "bnd"] {
            facts.expect(&format!("cap.{set}"), DEFAULT_CAPS_HEX)?;
        }
        let init_ns = ns_inode(&format!("/proc/{pid}/ns/user"))?;
        facts.expect("ns:user", &init_ns.to_string())?;
        let map = facts
            .get("read:/proc/self/uid_map.data")?
            .replace("\\n", " ");
        ensure_eq!(normalised(&map), MAP_LINE, "the exec'd process's uid_map");
        let script = "touch /vol/u1000 && echo uid=$(id -u) && echo gid=$(id -g)";
        let args = ["exec", "--user", "1000:1000", "c1", "sh", "-c", script];
        let facts = Facts::parse(&ctx.rt(&args)?.ok()?.stdout);
        facts.expect("uid", "1000")?;
        facts.expect("gid", "1000")?;
        let want = (HOST_ROOT + 1000, HOST_ROOT + 1000);
        ensure_eq!(
            owner(&vol.join("u1000"))?,
            want,
            "owner of /vol/u1000 on the host"
        );
        Ok(())
    })?;
    Ok(())
}

/// runc as root (not rootless) leaves /proc/PID/setgroups at "allow", so
/// `additionalGids` are set: groups 2000,3000 inside, 102000 103000 on the
/// host. (Rootless runc without a helper writes "deny" and refuses
/// additionalGids; not tested here.)
fn setgroups(ctx: &Ctx) -> TestResult {
    let mut b = ctx.bundle("b")?;
    let script = "echo setgroups=$(cat /proc/self/setgroups); echo groups=$(id -G)";
    let extra = [("/process/user/additionalGids", json!([2000, 3000]))];
    let stdout = running(ctx, &mut b, script, &extra, |pid| {
        ensure_eq!(
            proc_text(&format!("/proc/{pid}/setgroups"))?,
            "allow",
            "the init's setgroups seen from the host"
        );
        ensure_eq!(
            status_field(pid, "Groups")?,
            format!("{} {}", HOST_ROOT + 2000, HOST_ROOT + 3000),
            "the init's Groups on the host"
        );
        Ok(())
    })?;
    let facts = Facts::parse(&stdout);
    facts.expect("setgroups", "allow")?;
    // `id -G` lists the primary group first.
    facts.expect("groups", "0 2000 3000")
}

/// A second container joins the first's user namespace by path, with its
/// own mount, pid, ipc, uts and network namespaces. (1) With the mappings
/// the namespace already has (what containerd and CRI-O pass; current runc
/// accepts a matching pair with a warning, runc 1.1 requires them).
/// (2) With no mappings of its own (current runc reads them from the
/// namespace; runc 1.1.5 refuses: "User namespaces enabled, but no uid
/// mappings found."). Either way: root inside, the first one's map, the
/// same user namespace.
fn join_by_path(ctx: &Ctx) -> TestResult {
    let mut b = ctx.bundle("b1")?;
    let mut gap = Ok(());
    running(ctx, &mut b, "true", &[], |pid| {
        let path = format!("/proc/{pid}/ns/user");
        let want = ns_inode(&path)?.to_string();
        let with_maps = join_with(ctx, "b2", &path, true)?.ok()?;
        joined_facts(&with_maps, &want)?;
        let out = join_with(ctx, "b3", &path, false)?;
        let res = out.ok().and_then(|o| joined_facts(&o, &want));
        gap = match res {
            Err(Fail::Fail(m)) if is_runc_1_1(ctx) => Err(Fail::Skip(format!(
                "runc 1.1 predates joining a user namespace by path without mappings \
                 (runc 1.2+ reads them from the namespace): {m}"
            ))),
            other => other,
        };
        Ok(())
    })?;
    gap
}

/// Joining by path with maps that are not the namespace's: current runc's
/// "…both namespace path and non-matching mapping specified…", exit 1,
/// nothing left. runc 1.1 uses the namespace and ignores them.
fn join_by_path_other_maps(ctx: &Ctx) -> TestResult {
    let mut b = ctx.bundle("b1")?;
    let mut res = Ok(());
    running(ctx, &mut b, "true", &[], |pid| {
        let path = format!("/proc/{pid}/ns/user");
        let b2 = ctx.bundle("b2")?;
        let other = json!([{"containerID": 0, "hostID": 200_000, "size": 65_536}]);
        write_patched(
            &b2,
            &[
                ("/linux/namespaces", namespaces_with_user(&b2, Some(&path))?),
                ("/linux/uidMappings", other.clone()),
                ("/linux/gidMappings", other),
            ],
        )?;
        let (out, log) = ctx.rt_logged(&["run", "--bundle", b2.path(), "c2"])?;
        res = expect_error(&out, &log, &["non-matching mapping"])
            .and_then(|()| expect_nothing_left(ctx, "c2", &b2));
        if out.code == 0 {
            let _ = ctx.delete_force("c2");
        }
        if let (Err(Fail::Fail(m)), true) = (&res, is_runc_1_1(ctx)) {
            res = Err(Fail::Skip(format!(
                "runc 1.1 predates the check of a joined namespace's maps (1.2+): {m}"
            )));
        }
        Ok(())
    })?;
    res
}

/// `run c2` of a bundle joining the user namespace at `path` (with `MAP`
/// as its mappings when `maps`) printing its ids, map and namespace.
fn join_with(ctx: &Ctx, name: &str, path: &str, maps: bool) -> Result<Out, Fail> {
    let mut b = ctx.bundle(name)?;
    sh(
        &mut b,
        "echo uid=$(id -u); echo uid_map=$(cat /proc/self/uid_map); \
         echo gid_map=$(cat /proc/self/gid_map); echo ns=$(stat -L -c %i /proc/self/ns/user)",
    );
    let mut patches = vec![("/linux/namespaces", namespaces_with_user(&b, Some(path))?)];
    if maps {
        patches.push(("/linux/uidMappings", map_json()));
        patches.push(("/linux/gidMappings", map_json()));
    }
    write_patched(&b, &patches)?;
    ctx.rt(&["run", "--bundle", b.path(), "c2"])
}

/// The joined container's output: root, `MAP`, the namespace `ns`.
fn joined_facts(out: &Out, ns: &str) -> TestResult {
    let facts = Facts::parse(&out.stdout);
    facts.expect("uid", "0")?;
    expect_maps(&facts)?;
    facts.expect("ns", ns)
}
