//! The runc CVEs of November 2025, each in a plain container and in a user
//! namespace (`userns.rs`'s `0 100000 65536` maps):
//!
//! - CVE-2025-31133: a masked path covered by a bind of the *container's*
//!   /dev/null, which the image (or a racing container) made a symlink to a
//!   procfs file, becomes a bind of that file.
//! - CVE-2025-52565: with `process.terminal`, the bind of the pty onto
//!   /dev/console follows a /dev/console symlink of the image.
//! - CVE-2025-52881: procfs writes of the runtime (sysctls, the exec fifo
//!   reopened through /proc/self/fd) redirected by a mount or a fake /proc
//!   onto an ordinary file.
//!
//! Every redirect target is a file of the case's own dir or bundle (or a
//! sysctl of the container's own namespaces), never a host-global file:
//! runc 1.1.5 is affected by all three and really writes there. A safe
//! runtime either refuses the config (exit 1, nothing left) or runs it with
//! the target untouched. On runc 1.1.x a failure is a documented skip.

use super::tty::receiver;
use super::userns::{write_userns_with, HOST_ROOT};
use super::util::{expect_gone, expect_nothing_left, is_runc_1_1, sh, write_patched};
use crate::harness::case::{case, Case};
use crate::harness::cmd::Out;
use crate::harness::{config, read, Bundle, Ctx, Fail, TestResult};
use crate::{ensure, ensure_eq};
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;

pub const CASES: &[Case] = &[
    case("cve_2025_31133_masked_null_symlink", masked_null_plain),
    case(
        "userns_cve_2025_31133_masked_null_symlink",
        masked_null_userns,
    ),
    case("cve_2025_52565_console_symlink", console_plain),
    case("userns_cve_2025_52565_console_symlink", console_userns),
    case("cve_2025_52881_sysctl_redirect", sysctl_plain),
    case("userns_cve_2025_52881_sysctl_redirect", sysctl_userns),
    case("cve_2025_52881_exec_fifo_redirect", fifo_plain),
    case("userns_cve_2025_52881_exec_fifo_redirect", fifo_userns),
];

const WAIT: Duration = Duration::from_secs(15);

/// What decoy files hold before the container runs.
const UNTOUCHED: &str = "untouched\n";

/// runc 1.1.x is affected by `cve`: a failure there is a documented skip.
fn affected_on_runc_1_1(ctx: &Ctx, cve: &str, res: TestResult) -> TestResult {
    match res {
        Err(Fail::Fail(m)) if is_runc_1_1(ctx) => Err(Fail::Skip(format!(
            "runc 1.1.5 is affected by {cve}; fixed in runc 1.2.8/1.3.3/1.4.0-rc.3: {m}"
        ))),
        other => other,
    }
}

/// Writes `b`'s config.json with `patches`, in a new user namespace or not.
fn write(b: &Bundle, userns: bool, patches: &[(&str, Value)]) -> TestResult {
    if userns {
        write_userns_with(b, patches)
    } else {
        write_patched(b, patches)
    }
}

fn io_err(what: &str, path: &Path, e: std::io::Error) -> Fail {
    Fail::Fail(format!("{what} {}: {e}", path.display()))
}

/// A decoy file at `path` holding `UNTOUCHED`; in a user namespace owned
/// by the container's root, so that a vulnerable runtime's write is not
/// stopped by permissions alone.
fn decoy(path: &Path, userns: bool) -> TestResult {
    std::fs::write(path, UNTOUCHED).map_err(|e| io_err("write", path, e))?;
    if userns {
        std::os::unix::fs::chown(path, Some(HOST_ROOT), Some(HOST_ROOT))
            .map_err(|e| io_err("chown", path, e))?;
    }
    Ok(())
}

/// The decoy at `path` still holds `UNTOUCHED` and is a regular file.
fn expect_untouched(path: &Path) -> TestResult {
    let m = std::fs::symlink_metadata(path).map_err(|e| io_err("stat", path, e))?;
    ensure!(
        m.is_file(),
        "{} is no longer a regular file",
        path.display()
    );
    ensure_eq!(read(path)?, UNTOUCHED, format!("{}", path.display()));
    Ok(())
}

/// Drops the config's /dev tmpfs, so that the image's own /dev is used
/// (where the image, or a container sharing it, plants links). In a user
/// namespace the image's /dev is given to the container's root, so that
/// the runtime can make the device mount points in it.
fn image_dev(b: &mut Bundle, userns: bool) -> TestResult {
    drop_mount(b, "/dev");
    if userns {
        let dev = b.rootfs().join("dev");
        std::os::unix::fs::chown(&dev, Some(HOST_ROOT), Some(HOST_ROOT))
            .map_err(|e| io_err("chown", &dev, e))?;
    }
    Ok(())
}

/// Removes the config's mount at `dest`.
fn drop_mount(b: &mut Bundle, dest: &str) {
    let mounts = b.spec.mounts().clone().unwrap_or_default();
    let keep = mounts
        .into_iter()
        .filter(|m| m.destination() != Path::new(dest))
        .collect();
    b.spec.set_mounts(Some(keep));
}

fn symlink(target: &str, link: &Path) -> TestResult {
    std::os::unix::fs::symlink(target, link).map_err(|e| io_err("symlink", link, e))
}

/// A refused config: exit 1 and nothing of `c1` left.
fn refused(ctx: &Ctx, out: &Out, b: &Bundle) -> TestResult {
    ensure!(
        out.code == 1,
        "`{}` exited {} (want 0, or 1 for a refusal): {}",
        out.cmdline,
        out.code,
        out.stderr.trim()
    );
    expect_gone(ctx, "c1")?;
    expect_nothing_left(ctx, "c1", b)
}

fn masked_null_plain(ctx: &Ctx) -> TestResult {
    masked_null(ctx, false)
}

fn masked_null_userns(ctx: &Ctx) -> TestResult {
    masked_null(ctx, true)
}

/// CVE-2025-31133: `maskedPaths: ["/secret"]` in a container without a
/// /dev tmpfs, whose /dev/null is a symlink, planted in the image or
/// swapped in by a createRuntime hook after the runtime made its devices
/// (as a container sharing the image's /dev would race it), to each of
/// `NULL_LINKS`. /secret must be the 1:3 character device and read empty,
/// and /decoy stay untouched (or the config be refused); a vulnerable
/// runtime binds the link's target there, writable (runc 1.1.5 also
/// reopens the init's stdio onto it, and truncates it making its devices).
fn masked_null(ctx: &Ctx, userns: bool) -> TestResult {
    let mut res = Ok(());
    for (i, link) in NULL_LINKS.iter().enumerate() {
        for swapped in [false, true] {
            res = res.and_then(|()| masked_null_variant(ctx, userns, swapped, link, i));
        }
    }
    affected_on_runc_1_1(ctx, "CVE-2025-31133", res)
}

/// What /dev/null is made a link to: a procfs file (harmless: the name of
/// a process of the container), and a file of the bundle (a runtime in a
/// user namespace cannot open the former for writing: non-dumpable
/// processes' /proc files belong to the host's root, so runc 1.1.5 fails
/// there for that reason alone).
const NULL_LINKS: [&str; 2] = ["/proc/self/comm", "/decoy"];

fn masked_null_variant(ctx: &Ctx, userns: bool, swapped: bool, link: &str, i: usize) -> TestResult {
    let how = if swapped { "swapped" } else { "image" };
    let mut b = ctx.bundle(&format!("{how}{i}"))?;
    image_dev(&mut b, userns)?;
    decoy(&b.rootfs().join("secret"), false)?;
    let decoy_path = b.rootfs().join("decoy");
    decoy(&decoy_path, userns)?;
    let null = b.rootfs().join("dev/null");
    if swapped {
        let script = format!("ln -sfn {link} '{}'", null.display());
        let hook = config::hook("/bin/sh", &["sh", "-c", &script], &[], Some(10));
        config::hooks_mut(&mut b.spec).set_create_runtime(Some(vec![hook]));
    } else {
        symlink(link, &null)?;
    }
    // Nothing in the payload may use /dev/null: it is the link now. The
    // result goes to a file: runc 1.1 reopens stdio onto the link.
    sh(
        &mut b,
        "{ stat -c 'secret=%F %t:%T' /secret; echo \"content=$(cat /secret)\"; } >/tmp/result",
    );
    write(&b, userns, &[("/linux/maskedPaths", json!(["/secret"]))])?;
    let out = ctx.rt(&["run", "--bundle", b.path(), "c1"])?;
    let which = format!("/dev/null a link to {link} ({how})");
    let named = |e: Fail| match e {
        Fail::Fail(m) => Fail::Fail(format!("{which}: {m}")),
        skip => skip,
    };
    if out.code != 0 {
        refused(ctx, &out, &b).map_err(named)?;
        return expect_untouched(&decoy_path).map_err(named);
    }
    let result = read(&b.rootfs().join("tmp/result")).unwrap_or_default();
    let lines: Vec<&str> = result.lines().map(str::trim).collect();
    ensure!(
        lines.contains(&"secret=character special file 1:3") && lines.contains(&"content="),
        "{which}: the masked /secret is not /dev/null: {result:?}"
    );
    expect_untouched(&decoy_path).map_err(named)
}

fn console_plain(ctx: &Ctx) -> TestResult {
    console(ctx, false)
}

fn console_userns(ctx: &Ctx) -> TestResult {
    console(ctx, true)
}

/// CVE-2025-52565: `process.terminal` in a container without a /dev tmpfs
/// whose image has /dev/console as a symlink to /decoy, a file of the
/// bundle. The pty's bind must not follow the link (current runc refuses
/// the config); a vulnerable runtime truncates /decoy and mounts the pty
/// over it. Either way /decoy must be untouched, seen from the host and
/// from the container.
fn console(ctx: &Ctx, userns: bool) -> TestResult {
    let res = console_check(ctx, userns);
    affected_on_runc_1_1(ctx, "CVE-2025-52565", res)
}

fn console_check(ctx: &Ctx, userns: bool) -> TestResult {
    let mut b = ctx.bundle("b")?;
    image_dev(&mut b, userns)?;
    let decoy_path = b.rootfs().join("decoy");
    decoy(&decoy_path, userns)?;
    symlink("/decoy", &b.rootfs().join("dev/console"))?;
    // No read of /decoy: a pty bound there would wait for input.
    sh(&mut b, "stat -c 'decoy=%F' /decoy");
    config::set_terminal(&mut b.spec, 24, 80);
    write(&b, userns, &[])?;
    let (recv, sock) = receiver(ctx, "\n")?;
    let args = [
        "run",
        "-d",
        "--console-socket",
        &sock,
        "--bundle",
        b.path(),
        "c1",
    ];
    let out = ctx.rt(&args)?;
    if out.code != 0 {
        let _ = recv.wait(WAIT);
        refused(ctx, &out, &b)?;
        return expect_untouched(&decoy_path);
    }
    let got = recv.wait(WAIT);
    ctx.wait_status("c1", "stopped", WAIT)?;
    ctx.rt(&["delete", "c1"])?.ok()?;
    let got = got?.ok()?;
    ensure!(
        got.stdout.contains("decoy=regular file"),
        "/decoy in the container is not the regular file: {:?}",
        got.stdout
    );
    expect_untouched(&decoy_path)
}

fn sysctl_plain(ctx: &Ctx) -> TestResult {
    sysctl(ctx, false)
}

fn sysctl_userns(ctx: &Ctx) -> TestResult {
    sysctl(ctx, true)
}

/// CVE-2025-52881, sysctls: `net.ipv4.ip_forward=1` with the container's
/// /proc/sys/net/ipv4/ip_forward redirected onto a decoy file, twice: by a
/// config bind of a file of the case's dir over it (runc refuses any bind
/// inside /proc but a few lxcfs files), and by a fake /proc of the image
/// (no proc mount, /proc/sys/net/ipv4/ip_forward a regular file). A safe
/// runtime writes the sysctl through a procfs it verified: the decoy stays
/// untouched and the container's network namespace forwards (or the config
/// is refused). The host's own ip_forward is only read, never written.
fn sysctl(ctx: &Ctx, userns: bool) -> TestResult {
    let host = read(Path::new("/proc/sys/net/ipv4/ip_forward"))?;
    let res = sysctl_variant(ctx, userns, false).and_then(|()| sysctl_variant(ctx, userns, true));
    let after = read(Path::new("/proc/sys/net/ipv4/ip_forward"))?;
    ensure_eq!(after, host, "the host's net.ipv4.ip_forward");
    affected_on_runc_1_1(ctx, "CVE-2025-52881", res)
}

fn sysctl_variant(ctx: &Ctx, userns: bool, fake_proc: bool) -> TestResult {
    let mut b = ctx.bundle(if fake_proc { "fake-proc" } else { "bind" })?;
    let target = if fake_proc {
        let dir = b.rootfs().join("proc/sys/net/ipv4");
        std::fs::create_dir_all(&dir).map_err(|e| io_err("mkdir", &dir, e))?;
        drop_mount(&mut b, "/proc");
        dir.join("ip_forward")
    } else {
        let file = ctx.path("ip_forward");
        let src = file.to_str().ok_or("non-utf-8 path")?;
        let m = config::mount("/proc/sys/net/ipv4/ip_forward", "bind", src, &["bind"]);
        config::add_mount(&mut b.spec, m);
        file
    };
    decoy(&target, userns)?;
    let which = if fake_proc { "a fake /proc" } else { "a bind" };
    let sysctl = json!({"net.ipv4.ip_forward": "1"});
    write(&b, userns, &[("/linux/sysctl", sysctl)])?;
    let out = ctx.rt(&["create", "--bundle", b.path(), "c1"])?;
    if out.code != 0 {
        refused(ctx, &out, &b)?;
        return expect_untouched(&target).map_err(|e| redirected(e, which));
    }
    let res = (|| {
        expect_untouched(&target).map_err(|e| redirected(e, which))?;
        let pid = ctx.state("c1")?["pid"].as_i64().unwrap_or(0);
        ensure!(pid > 0, "no pid for the created container");
        let got = in_netns(pid, "/proc/sys/net/ipv4/ip_forward")?;
        ensure_eq!(
            got.trim(),
            "1",
            format!("with {which}: the container's ip_forward")
        );
        Ok(())
    })();
    ctx.delete_force("c1")?;
    res
}

fn redirected(e: Fail, which: &str) -> Fail {
    match e {
        Fail::Fail(m) => Fail::Fail(format!("a procfs write followed {which}: {m}")),
        skip => skip,
    }
}

/// Reads `path` (a /proc/sys/net file) in the network namespace of `pid`.
fn in_netns(pid: i64, path: &str) -> Result<String, Fail> {
    let out = std::process::Command::new("nsenter")
        .arg(format!("--net=/proc/{pid}/ns/net"))
        .args(["cat", path])
        .output()
        .map_err(|e| Fail::Fail(format!("nsenter: {e}")))?;
    ensure!(
        out.status.success(),
        "nsenter cat {path}: {}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn fifo_plain(ctx: &Ctx) -> TestResult {
    fifo(ctx, false)
}

fn fifo_userns(ctx: &Ctx) -> TestResult {
    fifo(ctx, true)
}

/// The descriptors a runtime's exec fifo could be at in its init.
const TRAP_FDS: std::ops::RangeInclusive<u32> = 3..=64;

/// CVE-2025-52881, the exec fifo: a runtime that reopens its fifo through
/// the container's /proc/self/fd/N (to write the start byte) must not be
/// led onto an ordinary file there, twice: by a config bind over
/// /proc/self/fd (which resolves to the init's own /proc/1/fd at mount
/// time; runc refuses binds inside /proc), and by a fake /proc of the image
/// (no proc mount, /proc/self/fd/N regular files). The trap dir has a decoy
/// for every likely N; create and start must leave them untouched and the
/// payload must run (or the config be refused). berth was affected (the
/// start byte "0" landed in the bind's file) until it checked the reopened
/// fd. runc 1.1.5 refuses both configs (a bind inside /proc; its fd loop
/// checks /proc/self/fd is procfs), so this case passes there.
fn fifo(ctx: &Ctx, userns: bool) -> TestResult {
    let res = fifo_variant(ctx, userns, false).and_then(|()| fifo_variant(ctx, userns, true));
    affected_on_runc_1_1(ctx, "CVE-2025-52881", res)
}

fn fifo_variant(ctx: &Ctx, userns: bool, fake_proc: bool) -> TestResult {
    let mut b = ctx.bundle(if fake_proc { "fake-proc" } else { "bind" })?;
    let trap = if fake_proc {
        drop_mount(&mut b, "/proc");
        b.rootfs().join("proc/self/fd")
    } else {
        let trap = ctx.path("fdtrap");
        let src = trap.to_str().ok_or("non-utf-8 path")?;
        let m = config::mount("/proc/self/fd", "bind", src, &["bind"]);
        config::add_mount(&mut b.spec, m);
        trap
    };
    std::fs::create_dir_all(&trap).map_err(|e| io_err("mkdir", &trap, e))?;
    for n in TRAP_FDS {
        decoy(&trap.join(n.to_string()), userns)?;
    }
    let which = if fake_proc {
        "a fake /proc"
    } else {
        "a bind over /proc/self/fd"
    };
    sh(&mut b, "echo ran");
    write(&b, userns, &[])?;
    let out = ctx.rt(&["create", "--bundle", b.path(), "c1"])?;
    if out.code != 0 {
        refused(ctx, &out, &b)?;
        return traps_untouched(&trap, which);
    }
    let res = (|| {
        traps_untouched(&trap, which)?;
        ctx.rt(&["start", "c1"])?.ok()?;
        ctx.wait_status("c1", "stopped", WAIT)?;
        traps_untouched(&trap, which)?;
        ensure!(
            out.stdout_now().contains("ran"),
            "with {which}: the payload did not run: {:?}",
            out.stdout_now()
        );
        Ok(())
    })();
    ctx.delete_force("c1")?;
    res
}

fn traps_untouched(trap: &Path, which: &str) -> TestResult {
    for n in TRAP_FDS {
        expect_untouched(&trap.join(n.to_string())).map_err(|e| redirected(e, which))?;
    }
    Ok(())
}
