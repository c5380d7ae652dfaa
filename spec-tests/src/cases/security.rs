//! Regression tests for the known container-escape classes the runtime must
//! defend against. Each is written against observable behaviour, so it holds
//! for any safe runtime (runc's defences differ from berth's).

use super::util::until_go;
use crate::ensure;
use crate::harness::case::{case, Case};
use crate::harness::{config, Bundle, Ctx, Facts, Fail, TestResult};

pub const CASES: &[Case] = &[
    case("cve_2019_5736_init_exe_not_writable", init_exe_not_writable),
    case("cve_2024_21626_cwd_via_leaked_fd", cwd_via_leaked_fd),
];

/// CVE-2019-5736: a process in the container could reopen the runtime's own
/// binary through /proc/<init>/exe and overwrite it on the host. The init
/// that waits for `start` must run from a read-only or sealed image.
fn init_exe_not_writable(ctx: &Ctx) -> TestResult {
    init_exe_not_writable_with(ctx, Bundle::write)
}

/// `init_exe_not_writable` with config.json written by `write` (e.g. with a
/// user namespace).
pub(super) fn init_exe_not_writable_with(
    ctx: &Ctx,
    write: fn(&Bundle) -> TestResult,
) -> TestResult {
    let mut b = ctx.bundle("b")?;
    until_go(&mut b);
    write(&b)?;
    ctx.rt(&["create", "--bundle", b.path(), "c1"])?.ok()?;
    let pid = ctx.state("c1")?["pid"].as_i64().unwrap_or(0);
    ensure!(pid > 0, "no pid for the created container");
    let exe = format!("/proc/{pid}/exe");
    let target =
        std::fs::read_link(&exe).map_err(|e| Fail::Fail(format!("readlink {exe}: {e}")))?;
    let sealed_memfd = target.to_string_lossy().starts_with("/memfd:");
    let c = std::ffi::CString::new(exe.clone()).map_err(|e| Fail::Fail(e.to_string()))?;
    // SAFETY: statvfs on a NUL-terminated path into a zeroed out-struct.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::statvfs(c.as_ptr(), &mut st) };
    let read_only = r == 0 && st.f_flag & libc::ST_RDONLY != 0;
    ensure!(
        sealed_memfd || read_only,
        "the created container's init runs from {} on a writable mount",
        target.display()
    );
    let writable = std::fs::OpenOptions::new().write(true).open(&exe);
    ensure!(writable.is_err(), "{exe} could be opened for writing");
    ctx.delete_force("c1")
}

/// CVE-2024-21626: an fd of the runtime leaked into the init made
/// `cwd: /proc/self/fd/N` a directory outside the container. The container
/// must either fail to start or have its cwd inside its root.
fn cwd_via_leaked_fd(ctx: &Ctx) -> TestResult {
    cwd_via_leaked_fd_with(ctx, Bundle::write)
}

/// `cwd_via_leaked_fd` with config.json written by `write`.
pub(super) fn cwd_via_leaked_fd_with(ctx: &Ctx, write: fn(&Bundle) -> TestResult) -> TestResult {
    for n in 3..=9 {
        let mut b = ctx.bundle(&format!("b{n}"))?;
        config::process_mut(&mut b.spec).set_cwd(format!("/proc/self/fd/{n}").into());
        config::set_checker(&mut b.spec, &["cwd"]);
        write(&b)?;
        let out = ctx.rt(&["run", "--bundle", b.path(), &format!("c{n}")])?;
        if out.code != 0 {
            continue; // refused: safe
        }
        let cwd = Facts::parse(&out.stdout).get("cwd")?.to_string();
        ensure!(
            cwd.starts_with('/') && !cwd.contains("unreachable"),
            "cwd /proc/self/fd/{n} gave the container the cwd {cwd:?}, outside its root"
        );
    }
    Ok(())
}
