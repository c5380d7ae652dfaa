//! The syscall tables reach the newest kernels: every syscall added after the
//! installed 6.1 headers, up to Linux 6.19, has its kernel number on every
//! ABI, and compiled filters treat those syscalls by name.

use serde_json::json;

use super::exhaustive::check;
use super::fixtures::{self, FixtureError};
use super::interp::{run, Data};
use crate::seccomp::arch::{Arch, AUDIT_ARCH_AARCH64, AUDIT_ARCH_I386, AUDIT_ARCH_X86_64};
use crate::seccomp::{compile_for, compile_json};

const ALLOW: u32 = 0x7fff_0000;
const X32: u32 = 0x4000_0000;

fn errno(e: i32) -> u32 {
    0x0005_0000 | e as u32
}

/// Added since 6.1, numbered alike on x86_64, x86, x32 (plus the x32 bit)
/// and the generic table aarch64 uses (syscall_64.tbl, syscall_32.tbl,
/// scripts/syscall.tbl of Linux 6.19).
const SINCE_6_1: &[(&str, u32)] = &[
    ("cachestat", 451),
    ("fchmodat2", 452),
    ("map_shadow_stack", 453),
    ("futex_wake", 454),
    ("futex_wait", 455),
    ("futex_requeue", 456),
    ("statmount", 457),
    ("listmount", 458),
    ("lsm_get_self_attr", 459),
    ("lsm_set_self_attr", 460),
    ("lsm_list_modules", 461),
    ("mseal", 462),
    ("setxattrat", 463),
    ("getxattrat", 464),
    ("listxattrat", 465),
    ("removexattrat", 466),
    ("open_tree_attr", 467),
    ("file_getattr", 468),
    ("file_setattr", 469),
    ("listns", 470),
];

#[test]
fn syscalls_up_to_linux_6_19_on_every_abi() {
    for &(name, nr) in SINCE_6_1 {
        assert_eq!(Arch::X86_64.syscall(name), Some(nr), "x86_64 {name}");
        assert_eq!(Arch::X86.syscall(name), Some(nr), "x86 {name}");
        assert_eq!(Arch::X32.syscall(name), Some(X32 | nr), "x32 {name}");
        assert_eq!(Arch::Aarch64.syscall(name), Some(nr), "aarch64 {name}");
    }
    // x86_64-only ("common" in syscall_64.tbl, so x32 has them too).
    for (name, nr) in [("uretprobe", 335), ("uprobe", 336)] {
        assert_eq!(Arch::X86_64.syscall(name), Some(nr), "x86_64 {name}");
        assert_eq!(Arch::X32.syscall(name), Some(X32 | nr), "x32 {name}");
        assert_eq!(Arch::X86.syscall(name), None, "x86 {name}");
        assert_eq!(Arch::Aarch64.syscall(name), None, "aarch64 {name}");
    }
    // Where the libc crate knows them, it agrees.
    assert_eq!(
        Arch::X86_64.syscall("fchmodat2"),
        Some(libc::SYS_fchmodat2 as u32)
    );
    assert_eq!(Arch::X86_64.syscall("mseal"), Some(libc::SYS_mseal as u32));
    for arch in [Arch::X86_64, Arch::X86, Arch::Aarch64] {
        let newest = arch.table().iter().map(|(_, n)| *n).max();
        assert_eq!(newest, Some(470), "{arch:?}: newest syscall");
    }
    // x32's own numbers 512-547 stay above the common ones.
    let newest = Arch::X32.table().iter().map(|(_, n)| n & !X32).max();
    assert_eq!(newest, Some(547), "x32: newest syscall");
}

/// Docker 20.10's default profile with the syscalls that Docker's current
/// profile (moby's profiles/seccomp/default.json) allows and 20.10's predates,
/// as a newer dockerd passes it: it names syscalls up to removexattrat (466).
fn docker_with_newer_syscalls() -> Result<serde_json::Value, FixtureError> {
    let mut p = fixtures::profile(fixtures::DOCKER)?;
    let newer = json!({
        "names": [
            "cachestat", "fchmodat2", "map_shadow_stack", "futex_wake", "futex_wait",
            "futex_requeue", "statmount", "listmount", "mseal", "setxattrat",
            "getxattrat", "listxattrat", "removexattrat", "uretprobe"
        ],
        "action": "SCMP_ACT_ALLOW"
    });
    p["syscalls"].as_array_mut().unwrap().push(newer);
    Ok(p)
}

/// Docker's profile names syscalls up to removexattrat (466): those are
/// allowed on x86_64, x86 and x32 now that berth knows them, CAP_SYS_ADMIN-only
/// ones get the default errno, and anything newer than 466 gets ENOSYS (on
/// x32, whose own numbers reach 547, the newer ones get the default errno).
#[test]
fn docker_profile_allows_the_new_syscalls_it_names() -> Result<(), FixtureError> {
    let profile = docker_with_newer_syscalls()?;
    check(&profile, Arch::X86_64);
    let p = compile_json(&profile).unwrap();
    let at = |arch: u32, nr: u32| run(&p.filter, &Data::new(arch, nr, [0; 6]));
    for name in [
        "cachestat",
        "fchmodat2",
        "futex_wait",
        "listmount",
        "mseal",
        "removexattrat",
    ] {
        let nr = Arch::X86_64.syscall(name).unwrap();
        assert_eq!(at(AUDIT_ARCH_X86_64, nr), ALLOW, "x86_64 {name}");
        assert_eq!(at(AUDIT_ARCH_I386, nr), ALLOW, "x86 {name}");
        assert_eq!(at(AUDIT_ARCH_X86_64, X32 | nr), ALLOW, "x32 {name}");
    }
    assert_eq!(at(AUDIT_ARCH_X86_64, 335), ALLOW, "uretprobe");
    let eperm = errno(libc::EPERM);
    assert_eq!(at(AUDIT_ARCH_X86_64, 459), eperm, "lsm_get_self_attr");
    let enosys = errno(libc::ENOSYS);
    for nr in [467, 468, 469, 470, 471] {
        assert_eq!(at(AUDIT_ARCH_X86_64, nr), enosys, "x86_64 {nr}");
        assert_eq!(at(AUDIT_ARCH_I386, nr), enosys, "x86 {nr}");
        assert_eq!(at(AUDIT_ARCH_X86_64, X32 | nr), eperm, "x32 {nr}");
    }
    assert_eq!(at(AUDIT_ARCH_X86_64, X32 | 548), enosys, "x32 548");
    Ok(())
}

#[test]
fn aarch64_profile_with_the_newest_syscalls() {
    let profile = json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "architectures": ["SCMP_ARCH_AARCH64"],
        "syscalls": [
            { "names": ["mseal", "file_setattr", "listns"], "action": "SCMP_ACT_ALLOW" },
            { "names": ["open_tree_attr"], "action": "SCMP_ACT_ERRNO", "errnoRet": libc::EXDEV }
        ]
    });
    let p = compile_for(&profile, Arch::Aarch64).unwrap();
    let at = |nr: u32| run(&p.filter, &Data::new(AUDIT_ARCH_AARCH64, nr, [0; 6]));
    assert_eq!(at(462), ALLOW);
    assert_eq!(at(469), ALLOW);
    assert_eq!(at(470), ALLOW);
    assert_eq!(at(467), errno(libc::EXDEV));
    assert_eq!(at(463), errno(libc::EPERM));
    assert_eq!(at(471), errno(libc::ENOSYS));
}
