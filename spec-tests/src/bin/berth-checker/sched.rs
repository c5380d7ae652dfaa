//! Scheduling facts of the checker process itself: `sched_getattr(2)`,
//! `ioprio_get(2)`, `personality(2)` and `uname -m`.

use crate::errno_str;
use std::fmt::Write;

fn line(out: &mut String, key: &str, value: impl std::fmt::Display) {
    let _ = writeln!(out, "{key}={value}");
}

/// `struct sched_attr`, version 1.
#[repr(C)]
#[derive(Default)]
struct SchedAttr {
    size: u32,
    policy: u32,
    flags: u64,
    nice: i32,
    priority: u32,
    runtime: u64,
    deadline: u64,
    period: u64,
    util_min: u32,
    util_max: u32,
}

/// `sched.policy sched.nice sched.priority sched.flags sched.runtime
/// sched.deadline sched.period` (policy and flags as numbers; reset-on-fork
/// is flag 1).
pub fn sched(out: &mut String) -> Result<(), String> {
    let mut a = SchedAttr::default();
    let size = std::mem::size_of::<SchedAttr>() as u32;
    // SAFETY: the kernel writes at most `size` bytes into `a`, which we own.
    let r = unsafe {
        libc::syscall(
            libc::SYS_sched_getattr,
            0,
            &mut a as *mut SchedAttr,
            size,
            0,
        )
    };
    if r != 0 {
        line(out, "sched.policy", errno_str());
        return Ok(());
    }
    line(out, "sched.policy", a.policy);
    line(out, "sched.nice", a.nice);
    line(out, "sched.priority", a.priority);
    line(out, "sched.flags", a.flags);
    line(out, "sched.runtime", a.runtime);
    line(out, "sched.deadline", a.deadline);
    line(out, "sched.period", a.period);
    Ok(())
}

/// `ioprio.class ioprio.level` of the process (IOPRIO_WHO_PROCESS 0);
/// class 0 is "none" (derived from the nice value).
pub fn ioprio(out: &mut String) -> Result<(), String> {
    // SAFETY: integer arguments only.
    let r = unsafe { libc::syscall(libc::SYS_ioprio_get, 1, 0) };
    if r < 0 {
        line(out, "ioprio.class", errno_str());
        return Ok(());
    }
    line(out, "ioprio.class", r >> 13);
    line(out, "ioprio.level", r & 0x1fff);
    Ok(())
}

/// `personality=<hex>` (query only) and `machine=` from uname(2).
pub fn personality(out: &mut String) -> Result<(), String> {
    // SAFETY: 0xffffffff only queries the current persona.
    let r = unsafe { libc::personality(0xffff_ffff) };
    if r < 0 {
        line(out, "personality", errno_str());
    } else {
        line(out, "personality", format!("{r:#x}"));
    }
    // SAFETY: uname fills a plain struct we own.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    if unsafe { libc::uname(&mut u) } != 0 {
        return Err(format!("uname: {}", errno_str()));
    }
    // SAFETY: utsname fields are NUL-terminated within their arrays.
    let m = unsafe { std::ffi::CStr::from_ptr(u.machine.as_ptr()) };
    line(out, "machine", m.to_string_lossy());
    Ok(())
}

/// `cpus=` the process's CPU affinity (Cpus_allowed_list of
/// /proc/self/status).
pub fn affinity(out: &mut String) -> Result<(), String> {
    let text = std::fs::read_to_string("/proc/self/status").map_err(|e| format!("status: {e}"))?;
    let v = text
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .map(str::trim)
        .unwrap_or("missing");
    line(out, "cpus", v);
    Ok(())
}
