//! Raw syscalls for seccomp checks. Each call is harmless when allowed and
//! its allowed outcome is known, so a seccomp verdict is told apart from the
//! kernel's: e.g. `mount(NULL, NULL, ...)` fails with EFAULT when the filter
//! lets it through, `unshare(0)` succeeds.

use crate::errno_str;
use std::ffi::CString;
use std::fmt::Write;

/// `seccomp=<mode>` and `seccomp_filters=<n>` from /proc/self/status.
pub fn seccomp(out: &mut String) -> Result<(), String> {
    let text = std::fs::read_to_string("/proc/self/status").map_err(|e| format!("status: {e}"))?;
    for (key, name) in [
        ("Seccomp", "seccomp"),
        ("Seccomp_filters", "seccomp_filters"),
    ] {
        let v = text
            .lines()
            .find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix(':')))
            .map(str::trim)
            .unwrap_or("missing");
        let _ = writeln!(out, "{name}={v}");
    }
    Ok(())
}

fn path_arg(arg: Option<&str>, name: &str) -> Result<CString, String> {
    let p = arg.ok_or_else(|| format!("sys {name} needs :PATH"))?;
    CString::new(p).map_err(|_| format!("sys {name}: NUL in path"))
}

/// `sys NAME[:ARG]`: prints `sys:NAME=<return value>` or `sys:NAME=err:<errno>`.
///
/// NAME: unshare, mount, keyctl, clone3, add_key, kcmp, getpid, getpgid,
/// mkdir:PATH, mkdirat:PATH, unlink:PATH; for the capability checks of a
/// user namespace: init_module (an empty image: ENOEXEC once permitted),
/// finit_module (fd -1: EBADF once permitted), settimeofday (no time and no
/// zone: only the capability check), sysfs:PATH (mount a fresh sysfs).
pub fn sys(spec: &str, out: &mut String) -> Result<(), String> {
    let (name, arg) = match spec.split_once(':') {
        Some((n, a)) => (n, Some(a)),
        None => (spec, None),
    };
    // SAFETY: every call passes integers, NULL (the kernel checks user
    // pointers and returns EFAULT) or a valid NUL-terminated path that
    // outlives the call; none of them changes this process in a way the
    // checker depends on.
    let ret = unsafe {
        match name {
            "unshare" => libc::syscall(libc::SYS_unshare, 0),
            "mount" => libc::syscall(libc::SYS_mount, 0, 0, 0, 0, 0),
            "keyctl" => libc::syscall(
                libc::SYS_keyctl,
                libc::KEYCTL_GET_KEYRING_ID,
                libc::KEY_SPEC_SESSION_KEYRING,
                0,
            ),
            "clone3" => libc::syscall(libc::SYS_clone3, 0, 0),
            "add_key" => libc::syscall(libc::SYS_add_key, 0, 0, 0, 0, 0),
            "kcmp" => {
                let me = libc::getpid();
                libc::syscall(libc::SYS_kcmp, me, me, 999, 0, 0)
            }
            "getpid" => libc::syscall(libc::SYS_getpid),
            "getpgid" => libc::syscall(libc::SYS_getpgid, 0),
            "mkdir" => {
                let p = path_arg(arg, name)?;
                libc::syscall(libc::SYS_mkdir, p.as_ptr(), 0o755)
            }
            "mkdirat" => {
                let p = path_arg(arg, name)?;
                libc::syscall(libc::SYS_mkdirat, libc::AT_FDCWD, p.as_ptr(), 0o755)
            }
            "unlink" => {
                let p = path_arg(arg, name)?;
                libc::syscall(libc::SYS_unlink, p.as_ptr())
            }
            "init_module" => libc::syscall(libc::SYS_init_module, 0, 0, c"".as_ptr()),
            "finit_module" => libc::syscall(libc::SYS_finit_module, -1, c"".as_ptr(), 0),
            "settimeofday" => libc::syscall(libc::SYS_settimeofday, 0, 0),
            "sysfs" => {
                let p = path_arg(arg, name)?;
                let fs = c"sysfs".as_ptr();
                libc::syscall(libc::SYS_mount, fs, p.as_ptr(), fs, 0, 0)
            }
            _ => return Err(format!("sys: unknown call {name:?}")),
        }
    };
    let value = if ret < 0 {
        errno_str()
    } else {
        ret.to_string()
    };
    let _ = writeln!(out, "sys:{name}={value}");
    Ok(())
}
