//! Error paths: exit 1, one clear error on stderr, a JSON log record naming
//! the problem, and nothing left behind.

use super::util::{expect_error, expect_nothing_left, sh};
use crate::harness::case::{case, Case};
use crate::harness::{config, read, Bundle, Ctx, Fail, TestResult};
use crate::{ensure, ensure_eq};
use oci_spec::runtime::{PosixRlimitBuilder, PosixRlimitType};

pub const CASES: &[Case] = &[
    case("error_missing_config", missing_config),
    case("error_invalid_json", invalid_json),
    case("error_unknown_id", unknown_id),
    case("error_rootfs_missing", rootfs_missing),
    case("error_rlimit_above_hard_limit", rlimit_above_hard),
    case("mount_symlink_escape_absolute", symlink_escape_absolute),
    case("mount_symlink_escape_relative", symlink_escape_relative),
];

/// `create` of `b` (config already in place) must fail naming `words`,
/// leaving nothing behind.
pub fn create_fails(ctx: &Ctx, b: &Bundle, words: &[&str]) -> TestResult {
    let (out, log) = ctx.rt_logged(&["create", "--bundle", b.path(), "c1"])?;
    expect_error(&out, &log, words)?;
    expect_nothing_left(ctx, "c1", b)
}

fn missing_config(ctx: &Ctx) -> TestResult {
    let b = ctx.bundle("b")?;
    create_fails(ctx, &b, &["config.json"])
}

fn invalid_json(ctx: &Ctx) -> TestResult {
    let b = ctx.bundle("b")?;
    std::fs::write(b.dir.join("config.json"), "{ not json }")
        .map_err(|e| Fail::Fail(format!("write config: {e}")))?;
    // runc passes on Go's decoder message ("invalid character 'n' looking
    // for beginning of object key string"); naming the file is better.
    create_fails(ctx, &b, &["config.json|json|invalid character"])
}

fn unknown_id(ctx: &Ctx) -> TestResult {
    for args in [
        &["state", "nosuch"][..],
        &["kill", "nosuch", "KILL"][..],
        &["delete", "nosuch"][..],
        &["start", "nosuch"][..],
    ] {
        let (out, log) = ctx.rt_logged(args)?;
        expect_error(&out, &log, &["container does not exist"])
            .map_err(|e| Fail::Fail(format!("{}: {e:?}", args[0])))?;
    }
    Ok(())
}

fn rootfs_missing(ctx: &Ctx) -> TestResult {
    let mut b = ctx.bundle("b")?;
    b.spec.set_root(Some(
        oci_spec::runtime::RootBuilder::default()
            .path("no-such-rootfs")
            .readonly(false)
            .build()
            .map_err(|e| format!("root: {e}"))?,
    ));
    b.write()?;
    create_fails(ctx, &b, &["no-such-rootfs"])
}

fn rlimit_above_hard(ctx: &Ctx) -> TestResult {
    let mut b = ctx.bundle("b")?;
    // Above fs.nr_open, so refused even where the runtime holds
    // CAP_SYS_RESOURCE (and above any hard limit it has).
    let nr_open: u64 = std::fs::read_to_string("/proc/sys/fs/nr_open")
        .map_err(|e| format!("read fs.nr_open: {e}"))?
        .trim()
        .parse()
        .map_err(|e| format!("fs.nr_open: {e}"))?;
    let nofile = PosixRlimitBuilder::default()
        .typ(PosixRlimitType::RlimitNofile)
        .hard(nr_open + 1)
        .soft(nr_open + 1)
        .build()
        .map_err(|e| format!("rlimit: {e}"))?;
    config::process_mut(&mut b.spec).set_rlimits(Some(vec![nofile]));
    b.write()?;
    // runc: "error setting rlimit type 7: operation not permitted".
    create_fails(ctx, &b, &["rlimit", "operation not permitted|hard limit"])
}

/// A mount whose destination is a symlink out of the rootfs must not touch
/// the host: either the runtime fails cleanly, or it mounts inside the
/// rootfs (runc resolves the link within the rootfs, securejoin-style).
fn symlink_escape(ctx: &Ctx, target: impl Fn(&Bundle, &str) -> String) -> TestResult {
    let host = ctx.path("hostdir");
    std::fs::create_dir(&host).map_err(|e| format!("mkdir hostdir: {e}"))?;
    std::fs::write(host.join("marker"), "host\n").map_err(|e| format!("marker: {e}"))?;
    let mut b = ctx.bundle("b")?;
    let host_s = host.to_str().unwrap_or_default().to_string();
    let link = target(&b, &host_s);
    std::os::unix::fs::symlink(&link, b.rootfs().join("evil"))
        .map_err(|e| format!("symlink: {e}"))?;
    config::add_mount(
        &mut b.spec,
        config::mount("/evil", "tmpfs", "tmpfs", &["size=1m"]),
    );
    sh(
        &mut b,
        "ls /evil; echo pwned > /evil/pwned; cat /evil/pwned",
    );
    b.write()?;
    let (out, log) = ctx.rt_logged(&["run", "--bundle", b.path(), "c1"])?;
    let host_entries: Vec<String> = std::fs::read_dir(&host)
        .map_err(|e| format!("read hostdir: {e}"))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    ensure_eq!(host_entries, vec!["marker".to_string()], "host dir entries");
    ensure_eq!(read(&host.join("marker"))?, "host\n", "host marker");
    let mounts = crate::harness::cleanup::mounts_under(&host);
    ensure!(mounts.is_empty(), "host dir got mounts: {mounts:?}");
    if out.code == 0 {
        // Mounted inside the rootfs: the tmpfs was empty and took the write.
        ensure_eq!(out.stdout, "pwned\n", "container output");
        Ok(())
    } else {
        expect_error(&out, &log, &["evil"])?;
        expect_nothing_left(ctx, "c1", &b)
    }
}

fn symlink_escape_absolute(ctx: &Ctx) -> TestResult {
    symlink_escape(ctx, |_, host| host.to_string())
}

fn symlink_escape_relative(ctx: &Ctx) -> TestResult {
    symlink_escape(ctx, |_, host| format!("../../../../../../../../..{host}"))
}
