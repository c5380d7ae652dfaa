//! The calling process's own scheduling and execution settings:
//! `sched_setattr(2)`, `ioprio_set(2)`, `personality(2)` and `set_mempolicy(2)`. Each acts on
//! the caller only (pid/who 0), and none is offered by `nix` or `std`.

use std::io;

/// `struct sched_attr` of `<linux/sched/types.h>`, version 1 (56 bytes,
/// with the utilisation clamps; they stay 0 unless a clamp flag is given).
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SchedAttr {
    pub size: u32,
    pub policy: u32,
    pub flags: u64,
    pub nice: i32,
    pub priority: u32,
    pub runtime: u64,
    pub deadline: u64,
    pub period: u64,
    pub util_min: u32,
    pub util_max: u32,
}

/// `SCHED_ATTR_SIZE_VER1`.
pub const SCHED_ATTR_SIZE: u32 = std::mem::size_of::<SchedAttr>() as u32;

/// `sched_setattr(0, attr, 0)`: the caller's policy and parameters.
pub fn sched_setattr(attr: &SchedAttr) -> io::Result<()> {
    let mut a = *attr;
    a.size = SCHED_ATTR_SIZE;
    // SAFETY: the kernel reads `a.size` bytes from the pointer, and `a` is a
    // live, initialised #[repr(C)] struct of exactly that size.
    let r = unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &a as *const SchedAttr, 0u32) };
    super::check(r).map(drop)
}

/// `IOPRIO_WHO_PROCESS` of `<linux/ioprio.h>`.
const IOPRIO_WHO_PROCESS: libc::c_long = 1;

/// `ioprio_set(IOPRIO_WHO_PROCESS, 0, ioprio)`: the caller's I/O priority
/// (`class << 13 | level`); children inherit it.
pub fn ioprio_set(ioprio: u16) -> io::Result<()> {
    // SAFETY: three integer arguments; the kernel touches no memory of ours.
    let r = unsafe {
        libc::syscall(
            libc::SYS_ioprio_set,
            IOPRIO_WHO_PROCESS,
            0,
            libc::c_long::from(ioprio),
        )
    };
    super::check(r).map(drop)
}

/// `personality(persona)`: sets the caller's execution domain; returns the
/// previous one. `0xffffffff` only queries it.
pub fn personality(persona: u32) -> io::Result<u32> {
    // SAFETY: one integer argument; the kernel touches no memory of ours.
    let r = unsafe { libc::syscall(libc::SYS_personality, libc::c_long::from(persona)) };
    super::check(r).map(|p| p as u32)
}

/// `set_mempolicy(mode, nodes, maxnode)`: the caller's NUMA memory policy
/// (`mode` with its `MPOL_F_*` flags); `nodes` is a bit mask, one bit per
/// node, empty for none (a NULL mask).
pub fn set_mempolicy(mode: i32, nodes: &[u64]) -> io::Result<()> {
    let ptr = if nodes.is_empty() {
        std::ptr::null()
    } else {
        nodes.as_ptr()
    };
    // The kernel reads maxnode - 1 bits (a long-standing off-by-one that
    // libnuma also allows for): one more than the mask holds.
    let maxnode = (nodes.len() * 64 + 1) as libc::c_ulong;
    // SAFETY: the kernel reads at most maxnode - 1 bits, i.e. the
    // `nodes.len()` words of the live slice, or nothing from a NULL mask.
    let r = unsafe { libc::syscall(libc::SYS_set_mempolicy, mode, ptr, maxnode) };
    super::check(r).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sched_attr_is_version_1() {
        assert_eq!(SCHED_ATTR_SIZE, 56);
    }

    #[test]
    fn set_own_thread_harmlessly() {
        // SCHED_OTHER at nice 10 and I/O class BE level 7 only lower this
        // test thread's own priority.
        let attr = SchedAttr {
            nice: 10,
            ..SchedAttr::default()
        };
        sched_setattr(&attr).unwrap();
        ioprio_set(2 << 13 | 7).unwrap();
        let bad = SchedAttr {
            policy: 77,
            ..SchedAttr::default()
        };
        assert_eq!(
            sched_setattr(&bad).unwrap_err().raw_os_error(),
            Some(libc::EINVAL)
        );
        assert_eq!(
            ioprio_set(7 << 13).unwrap_err().raw_os_error(),
            Some(libc::EINVAL)
        );
    }

    #[test]
    fn query_personality() {
        let p = personality(0xffff_ffff).unwrap();
        assert_eq!(personality(0xffff_ffff).unwrap(), p);
    }
}
