//! Targeted cases: actions, operators, argument grouping, ENOSYS, x32,
//! limits, errors, flags, cache format and keys.

use serde_json::{json, Value};

use super::exhaustive::check;
use super::fixtures::{self, FixtureError};
use super::interp::{run, Data};
use crate::seccomp::arch::{Arch, AUDIT_ARCH_I386, AUDIT_ARCH_X86_64};
use crate::seccomp::{bpf, cache_key, compile, compile_json, Program, SeccompError};

const ALLOW: u32 = 0x7fff_0000;
const KILL_PROCESS: u32 = 0x8000_0000;

fn errno(e: i32) -> u32 {
    0x0005_0000 | e as u32
}

fn nr(name: &str) -> u32 {
    Arch::X86_64.syscall(name).unwrap()
}

fn ret(p: &Program, arch: u32, nr: u32, args: [u64; 6]) -> u32 {
    run(&p.filter, &Data::new(arch, nr, args))
}

fn x86_64(p: &Program, name: &str, args: [u64; 6]) -> u32 {
    ret(p, AUDIT_ARCH_X86_64, nr(name), args)
}

fn error_of(profile: Value) -> String {
    compile_json(&profile).unwrap_err().to_string()
}

#[test]
fn every_action() {
    let cases = [
        ("SCMP_ACT_KILL", None, 0),
        ("SCMP_ACT_KILL_THREAD", None, 0),
        ("SCMP_ACT_KILL_PROCESS", None, KILL_PROCESS),
        ("SCMP_ACT_TRAP", None, 0x0003_0000),
        ("SCMP_ACT_ERRNO", None, errno(libc::EPERM)),
        ("SCMP_ACT_ERRNO", Some(13), errno(13)),
        ("SCMP_ACT_TRACE", None, 0x7ff0_0001),
        ("SCMP_ACT_TRACE", Some(7), 0x7ff0_0007),
        ("SCMP_ACT_LOG", None, 0x7ffc_0000),
        ("SCMP_ACT_NOTIFY", None, 0x7fc0_0000),
    ];
    for (action, errno_ret, want) in cases {
        let mut rule = json!({ "names": ["mkdir"], "action": action });
        if let Some(e) = errno_ret {
            rule["errnoRet"] = json!(e);
        }
        let p = compile_json(&json!({ "defaultAction": "SCMP_ACT_ALLOW", "syscalls": [rule] }))
            .unwrap();
        assert_eq!(x86_64(&p, "mkdir", [0; 6]), want, "{action} {errno_ret:?}");
        assert_eq!(x86_64(&p, "rmdir", [0; 6]), ALLOW, "{action}");
        assert_eq!(p.notify, action == "SCMP_ACT_NOTIFY");
    }
    // Default actions with and without defaultErrnoRet.
    let p = compile_json(&json!({ "defaultAction": "SCMP_ACT_ERRNO" })).unwrap();
    assert_eq!(x86_64(&p, "getpid", [0; 6]), errno(libc::EPERM));
    let p =
        compile_json(&json!({ "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38 })).unwrap();
    assert_eq!(x86_64(&p, "getpid", [0; 6]), errno(libc::ENOSYS));
    let p = compile_json(&json!({ "defaultAction": "SCMP_ACT_KILL_PROCESS" })).unwrap();
    assert_eq!(x86_64(&p, "getpid", [0; 6]), KILL_PROCESS);
}

/// Values on both sides of every 32-bit-half boundary of `v`.
fn around(v: u64) -> Vec<u64> {
    let mut out = vec![0, 1, u64::MAX, 0xFFFF_FFFF, 1 << 32, (1 << 32) + 1, 1 << 63];
    for d in [0u64, 1, 0xFFFF_FFFF, 1 << 32, (1 << 32) + 1] {
        out.extend([v.wrapping_add(d), v.wrapping_sub(d)]);
    }
    out.extend([v & 0xFFFF_FFFF, v & !0xFFFF_FFFF, v ^ (1 << 32), v ^ 1]);
    out
}

#[test]
fn every_operator_on_64_bit_values() {
    type OpFn = fn(u64, u64, u64) -> bool;
    let ops: [(&str, OpFn); 7] = [
        ("SCMP_CMP_NE", |a, v, _| a != v),
        ("SCMP_CMP_LT", |a, v, _| a < v),
        ("SCMP_CMP_LE", |a, v, _| a <= v),
        ("SCMP_CMP_EQ", |a, v, _| a == v),
        ("SCMP_CMP_GE", |a, v, _| a >= v),
        ("SCMP_CMP_GT", |a, v, _| a > v),
        ("SCMP_CMP_MASKED_EQ", |a, m, d| a & m == d),
    ];
    let values = [
        0u64,
        1,
        0xFFFF_FFFF,
        1 << 32,
        (1 << 32) + 5,
        0x1_FFFF_FFFF,
        0x8000_0000_0000_0000,
        u64::MAX,
        0x0000_00FF_0000_FF00,
    ];
    for (op, f) in ops {
        for &v in &values {
            for v2 in [0, v & 0xF0F0_F0F0_F0F0_F0F0, 0x1_0000_0000] {
                for index in [0u8, 3, 5] {
                    let p = compile_json(&json!({
                        "defaultAction": "SCMP_ACT_ERRNO",
                        "syscalls": [{ "names": ["ioctl"], "action": "SCMP_ACT_ALLOW",
                            "args": [{ "index": index, "value": v, "valueTwo": v2, "op": op }] }]
                    }))
                    .unwrap();
                    for a in around(v).into_iter().chain(around(v2)) {
                        let mut args = [0x5555_5555_5555_5555u64; 6];
                        args[usize::from(index)] = a;
                        let want = if f(a, v, v2) {
                            ALLOW
                        } else {
                            errno(libc::EPERM)
                        };
                        assert_eq!(
                            x86_64(&p, "ioctl", args),
                            want,
                            "{op} v={v:#x} v2={v2:#x} a={a:#x}"
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn conditions_on_one_index_are_ored_like_runc() {
    let rule = |args: Value| {
        compile_json(&json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "syscalls": [{ "names": ["socket"], "action": "SCMP_ACT_ALLOW", "args": args }]
        }))
        .unwrap()
    };
    let eq =
        |index: u64, value: u64| json!({ "index": index, "value": value, "op": "SCMP_CMP_EQ" });
    let deny = errno(libc::EPERM);
    // Different indexes: AND.
    let p = rule(json!([eq(0, 1), eq(1, 5)]));
    assert_eq!(x86_64(&p, "socket", [1, 5, 0, 0, 0, 0]), ALLOW);
    assert_eq!(x86_64(&p, "socket", [1, 6, 0, 0, 0, 0]), deny);
    assert_eq!(x86_64(&p, "socket", [2, 5, 0, 0, 0, 0]), deny);
    // Same index: OR.
    let p = rule(json!([eq(0, 1), eq(0, 2)]));
    assert_eq!(x86_64(&p, "socket", [1, 0, 0, 0, 0, 0]), ALLOW);
    assert_eq!(x86_64(&p, "socket", [2, 0, 0, 0, 0, 0]), ALLOW);
    assert_eq!(x86_64(&p, "socket", [3, 0, 0, 0, 0, 0]), deny);
    // A repeated index makes runc and crun OR every condition of the rule.
    let p = rule(json!([eq(0, 1), eq(0, 2), eq(1, 5)]));
    assert_eq!(x86_64(&p, "socket", [3, 5, 0, 0, 0, 0]), ALLOW);
    assert_eq!(x86_64(&p, "socket", [1, 0, 0, 0, 0, 0]), ALLOW);
    assert_eq!(x86_64(&p, "socket", [3, 0, 0, 0, 0, 0]), deny);
}

#[test]
fn rule_order_and_precedence() {
    let deny = errno(libc::EPERM);
    let p = compile_json(&json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [
            // Conditional rules: first match in profile order.
            { "names": ["socket"], "action": "SCMP_ACT_ERRNO", "errnoRet": 22,
              "args": [{ "index": 0, "value": 16, "op": "SCMP_CMP_EQ" }] },
            { "names": ["socket"], "action": "SCMP_ACT_ERRNO",
              "args": [{ "index": 0, "value": 10, "op": "SCMP_CMP_GE" }] },
            // An unconditional rule wins over conditional ones (libseccomp).
            { "names": ["kill"], "action": "SCMP_ACT_ERRNO", "errnoRet": 3,
              "args": [{ "index": 1, "value": 9, "op": "SCMP_CMP_EQ" }] },
            { "names": ["kill"], "action": "SCMP_ACT_LOG" },
            // Of two unconditional rules the first wins.
            { "names": ["mkdir"], "action": "SCMP_ACT_ERRNO" },
            { "names": ["mkdir"], "action": "SCMP_ACT_TRAP" },
            // A rule with the default action is dropped (runc, crun).
            { "names": ["rmdir"], "action": "SCMP_ACT_ALLOW" },
            { "names": ["rmdir"], "action": "SCMP_ACT_TRAP",
              "args": [{ "index": 0, "value": 1, "op": "SCMP_CMP_EQ" }] }
        ]
    }))
    .unwrap();
    assert_eq!(x86_64(&p, "socket", [16, 0, 0, 0, 0, 0]), errno(22));
    assert_eq!(x86_64(&p, "socket", [17, 0, 0, 0, 0, 0]), deny);
    assert_eq!(x86_64(&p, "socket", [2, 0, 0, 0, 0, 0]), ALLOW);
    assert_eq!(x86_64(&p, "kill", [1, 9, 0, 0, 0, 0]), 0x7ffc_0000);
    assert_eq!(x86_64(&p, "mkdir", [0; 6]), deny);
    assert_eq!(x86_64(&p, "rmdir", [1, 0, 0, 0, 0, 0]), 0x0003_0000);
    assert_eq!(x86_64(&p, "rmdir", [2, 0, 0, 0, 0, 0]), ALLOW);
}

#[test]
fn newer_syscalls_get_enosys() -> Result<(), FixtureError> {
    let p = compile_json(&fixtures::profile(fixtures::DOCKER)?).unwrap();
    let enosys = errno(libc::ENOSYS);
    // Docker's profile gives clone3 ENOSYS so glibc falls back to clone.
    assert_eq!(x86_64(&p, "clone3", [0; 6]), enosys);
    assert_eq!(
        ret(
            &p,
            AUDIT_ARCH_I386,
            Arch::X86.syscall("clone3").unwrap(),
            [0; 6]
        ),
        enosys
    );
    let x32_clone3 = Arch::X32.syscall("clone3").unwrap();
    assert_eq!(ret(&p, AUDIT_ARCH_X86_64, x32_clone3, [0; 6]), enosys);
    // Numbers past the newest syscall the profile names: ENOSYS.
    let newest = Arch::X86_64.table().iter().map(|(_, n)| *n).max().unwrap();
    for n in [newest + 1, newest + 20, 1000, 0x3FFF_FFFF] {
        assert_eq!(ret(&p, AUDIT_ARCH_X86_64, n, [0; 6]), enosys, "nr {n}");
    }
    // Known but not allowed, below the newest: the default errno (EPERM).
    assert_eq!(x86_64(&p, "kexec_load", [0; 6]), errno(libc::EPERM));
    assert_eq!(x86_64(&p, "getpid", [0; 6]), ALLOW);
    // Not with a permissive default action.
    let p = compile_json(&json!({ "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{ "names": ["mkdir"], "action": "SCMP_ACT_ERRNO" }] }))
    .unwrap();
    assert_eq!(ret(&p, AUDIT_ARCH_X86_64, 1000, [0; 6]), ALLOW);
    Ok(())
}

#[test]
fn x32_cannot_bypass_an_x86_64_profile() {
    let profile = |default: &str, action: &str| {
        compile_json(
            &json!({ "defaultAction": default, "architectures": ["SCMP_ARCH_X86_64"],
            "syscalls": [{ "names": ["mkdir", "read"], "action": action }] }),
        )
        .unwrap()
    };
    let x32_mkdir = Arch::X32.syscall("mkdir").unwrap();
    assert_eq!(x32_mkdir, 0x4000_0000 + 83);
    // Deny-list: the x32 mkdir must not get the ALLOW default.
    let p = profile("SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO");
    assert_eq!(x86_64(&p, "mkdir", [0; 6]), errno(libc::EPERM));
    assert_eq!(ret(&p, AUDIT_ARCH_X86_64, x32_mkdir, [0; 6]), KILL_PROCESS);
    // Allow-list: the x32 read must not get the x86_64 ALLOW.
    let p = profile("SCMP_ACT_ERRNO", "SCMP_ACT_ALLOW");
    assert_eq!(x86_64(&p, "read", [0; 6]), ALLOW);
    assert_eq!(
        ret(&p, AUDIT_ARCH_X86_64, 0x4000_0000, [0; 6]),
        KILL_PROCESS
    );
    // i386 (int 0x80 from a 64-bit process) without SCMP_ARCH_X86: killed.
    assert_eq!(ret(&p, AUDIT_ARCH_I386, 3, [0; 6]), KILL_PROCESS);
    // With SCMP_ARCH_X32, x32 numbers get the x32 rules.
    let p = compile_json(&json!({ "defaultAction": "SCMP_ACT_ERRNO",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X32"],
        "syscalls": [{ "names": ["rt_sigaction"], "action": "SCMP_ACT_ALLOW" }] }))
    .unwrap();
    assert_eq!(ret(&p, AUDIT_ARCH_X86_64, 0x4000_0200, [0; 6]), ALLOW);
    assert_eq!(
        ret(&p, AUDIT_ARCH_X86_64, 0x4000_000d, [0; 6]),
        errno(libc::EPERM)
    );
}

#[test]
fn instruction_limit_and_trampolines() {
    // Many conditional rules: far jumps need trampolines, and the whole
    // program must still be right.
    let names: Vec<&str> = Arch::X86_64
        .table()
        .iter()
        .map(|(n, _)| *n)
        .take(300)
        .collect();
    let rules: Vec<Value> = names
        .iter()
        .map(|n| {
            json!({ "names": [n], "action": "SCMP_ACT_ALLOW",
            "args": [{ "index": 1, "value": 0x1_0000_0007u64, "op": "SCMP_CMP_LE" }] })
        })
        .collect();
    let profile = json!({ "defaultAction": "SCMP_ACT_ERRNO", "syscalls": rules });
    let p = compile_json(&profile).unwrap();
    assert!(
        p.filter.iter().any(|i| i.code == bpf::JMP_JA),
        "no trampoline emitted"
    );
    check(&profile, Arch::X86_64);
    // Too many: a clear error.
    let rules: Vec<Value> = (0..1000u64)
        .map(|i| {
            json!({ "names": ["ioctl"], "action": "SCMP_ACT_ALLOW",
            "args": [{ "index": 1, "value": i << 32 | i, "op": "SCMP_CMP_EQ" }] })
        })
        .collect();
    let Err(err) = compile_json(&json!({ "defaultAction": "SCMP_ACT_ERRNO", "syscalls": rules }))
    else {
        panic!("a 5000-instruction program compiled");
    };
    assert!(
        matches!(err, SeccompError::TooLong { len } if len > 4096),
        "{err}"
    );
    assert!(err.to_string().contains("4096"));
}

#[test]
fn malformed_profiles_name_the_field() {
    let rule = |r: Value| json!({ "defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}, r] });
    let cases = [
        (rule(json!({ "names": ["read"], "action": "SCMP_ACT_FOO" })),
         "linux.seccomp.syscalls[1].action: unknown action \"SCMP_ACT_FOO\""),
        (rule(json!({ "names": ["read"], "action": "SCMP_ACT_ALLOW",
            "args": [{ "index": 0, "value": 1, "op": "SCMP_CMP_EQ" }, { "index": 1, "value": 1, "op": "SCMP_CMP_ABOUT" }] })),
         "linux.seccomp.syscalls[1].args[1].op: unknown operator \"SCMP_CMP_ABOUT\""),
        (rule(json!({ "names": ["read"], "action": "SCMP_ACT_ALLOW",
            "args": [{ "index": 7, "value": 1, "op": "SCMP_CMP_EQ" }] })),
         "linux.seccomp.syscalls[1].args[0].index: 7 is out of range (0-5)"),
        (rule(json!({ "names": ["read"], "action": "SCMP_ACT_ALLOW", "errnoRet": 1 })),
         "linux.seccomp.syscalls[1].errnoRet: SCMP_ACT_ALLOW does not take an errno"),
        (rule(json!({ "names": [], "action": "SCMP_ACT_ALLOW" })),
         "linux.seccomp.syscalls[1].names: must contain at least one syscall name"),
        (rule(json!({ "names": ["read"] })), "linux.seccomp.syscalls[1].action: is required"),
        (rule(json!({ "names": ["read"], "action": "SCMP_ACT_ALLOW", "args": [{ "index": 0, "op": "SCMP_CMP_EQ" }] })),
         "linux.seccomp.syscalls[1].args[0].value: is required"),
        (rule(json!({ "names": ["write"], "action": "SCMP_ACT_NOTIFY" })),
         "linux.seccomp.syscalls[1].action: SCMP_ACT_NOTIFY cannot be used for the write syscall"),
        (json!({ "defaultAction": "SCMP_ACT_KILL", "defaultErrnoRet": 1 }),
         "linux.seccomp.defaultErrnoRet: SCMP_ACT_KILL does not take an errno"),
        (json!({ "defaultAction": "SCMP_ACT_NOTIFY" }),
         "linux.seccomp.defaultAction: SCMP_ACT_NOTIFY cannot be the default action"),
        (json!({}), "linux.seccomp.defaultAction: is required"),
        (json!({ "defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_VAX"] }),
         "linux.seccomp.architectures[0]: unknown architecture \"SCMP_ARCH_VAX\""),
        (json!({ "defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_FAST"] }),
         "linux.seccomp.flags[0]: unknown flag \"SECCOMP_FILTER_FLAG_FAST\""),
        (rule(json!({ "names": ["close", "sendmsg"], "action": "SCMP_ACT_NOTIFY" })),
         "linux.seccomp.syscalls[1].action: SCMP_ACT_NOTIFY cannot be used for the sendmsg syscall"),
        (json!({ "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 70000 }),
         "linux.seccomp.defaultErrnoRet: 70000 is out of range (0-65535)"),
    ];
    for (profile, want) in cases {
        let got = error_of(profile);
        assert!(got.starts_with(want), "got {got:?}, want {want:?}");
    }
}

#[test]
fn unknown_names_and_unsupported_arches_are_skipped() {
    let p = compile_json(&json!({ "defaultAction": "SCMP_ACT_ERRNO",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_S390X"],
        "syscalls": [{ "names": ["no_such_syscall", "getpid"], "action": "SCMP_ACT_ALLOW" }] }))
    .unwrap();
    assert_eq!(x86_64(&p, "getpid", [0; 6]), ALLOW);
    assert_eq!(ret(&p, 0x8000_0016, 20, [0; 6]), KILL_PROCESS);
}

#[test]
fn flags() {
    let flags = |f: Value, notify: bool| {
        let action = if notify {
            "SCMP_ACT_NOTIFY"
        } else {
            "SCMP_ACT_ERRNO"
        };
        compile_json(&json!({ "defaultAction": "SCMP_ACT_ALLOW", "flags": f,
            "syscalls": [{ "names": ["mkdir"], "action": action }] }))
        .unwrap()
        .flags
    };
    let all = json!([
        "SECCOMP_FILTER_FLAG_TSYNC",
        "SECCOMP_FILTER_FLAG_LOG",
        "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
        "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"
    ]);
    assert_eq!(flags(json!([]), false), 0);
    assert_eq!(flags(all.clone(), false), 1 | 2 | 4);
    // NOTIFY: NEW_LISTENER, and TSYNC_ESRCH because the kernel requires it with TSYNC.
    assert_eq!(flags(all, true), 1 | 2 | 4 | 8 | 16 | 32);
    assert_eq!(flags(json!(["SECCOMP_FILTER_FLAG_LOG"]), true), 2 | 8);
}

#[test]
fn typed_and_json_paths_agree() -> Result<(), FixtureError> {
    let profile = fixtures::profile(fixtures::PODMAN)?;
    let typed: oci_spec::runtime::LinuxSeccomp = serde_json::from_value(profile.clone()).unwrap();
    assert_eq!(compile(&typed).unwrap(), compile_json(&profile).unwrap());
    Ok(())
}

/// Docker's default profile as oci-spec parses it.
fn docker_typed() -> Result<oci_spec::runtime::LinuxSeccomp, FixtureError> {
    Ok(serde_json::from_value(fixtures::profile(fixtures::DOCKER)?).unwrap())
}

#[test]
fn cache_format_round_trip_and_validation() -> Result<(), FixtureError> {
    let p = compile(&docker_typed()?).unwrap();
    let bytes = p.to_bytes();
    assert!(bytes.len().is_multiple_of(8));
    assert_eq!(Program::from_bytes(&bytes).unwrap(), p);
    let bad = |b: &[u8]| match Program::from_bytes(b) {
        Ok(_) => panic!("corrupt program accepted"),
        Err(e) => e.to_string(),
    };
    assert!(bad(&bytes[..bytes.len() - 3]).contains("whole instructions"));
    assert!(bad(&bytes[..8]).contains("whole instructions"));
    let mut wrong = bytes.clone();
    let last = wrong.len() - 8;
    wrong[last..last + 2].copy_from_slice(&bpf::LD_W_ABS.to_ne_bytes());
    wrong[last + 4..].copy_from_slice(&0u32.to_ne_bytes());
    assert!(bad(&wrong).contains("return"));
    let mut wrong = bytes.clone();
    wrong[0] = b'X';
    assert!(bad(&wrong).contains("magic"));
    let mut wrong = bytes.clone();
    wrong[4..8].copy_from_slice(&0x8000u32.to_le_bytes());
    assert!(bad(&wrong).contains("flags"));
    // The last conditional jump, made to jump past the end.
    let last_jump = p
        .filter
        .iter()
        .rposition(|i| i.code == bpf::JMP_JGE_K)
        .unwrap();
    let mut wrong = bytes.clone();
    wrong[8 + 8 * last_jump + 2] = 255;
    assert!(bad(&wrong).contains("invalid"));
    let mut long = bytes[..8].to_vec();
    long.extend(std::iter::repeat_n(bytes[bytes.len() - 8..].to_vec(), 4097).flatten());
    assert!(bad(&long).contains("4097"));
    Ok(())
}

#[test]
fn cache_key_is_stable_and_distinguishes_profiles() -> Result<(), FixtureError> {
    let typed = docker_typed()?;
    let key = cache_key(&typed).unwrap();
    assert_eq!(key.len(), 64);
    assert!(key.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(cache_key(&typed.clone()).unwrap(), key);
    let mut with_listener = typed.clone();
    with_listener.set_listener_path(Some("/run/agent.sock".into()));
    assert_eq!(cache_key(&with_listener).unwrap(), key);
    let mut other = typed.clone();
    other.set_default_errno_ret(Some(38));
    assert_ne!(cache_key(&other).unwrap(), key);
    Ok(())
}

#[test]
fn tables_match_the_kernel_numbers() {
    let x86_64 = [
        ("read", libc::SYS_read),
        ("mkdir", libc::SYS_mkdir),
        ("mkdirat", libc::SYS_mkdirat),
        ("getpid", libc::SYS_getpid),
        ("clone", libc::SYS_clone),
        ("clone3", libc::SYS_clone3),
        ("seccomp", libc::SYS_seccomp),
        ("openat2", libc::SYS_openat2),
        ("rt_sigaction", libc::SYS_rt_sigaction),
        ("set_mempolicy_home_node", libc::SYS_set_mempolicy_home_node),
    ];
    for (name, want) in x86_64 {
        assert_eq!(Arch::X86_64.syscall(name), Some(want as u32), "{name}");
    }
    assert_eq!(Arch::X86.syscall("mkdir"), Some(39));
    assert_eq!(Arch::X86.syscall("socketcall"), Some(102));
    assert_eq!(Arch::X86.syscall("clone3"), Some(435));
    assert_eq!(Arch::X32.syscall("read"), Some(0x4000_0000));
    assert_eq!(Arch::X32.syscall("rt_sigaction"), Some(0x4000_0200));
    assert_eq!(Arch::Aarch64.syscall("openat"), Some(56));
    assert_eq!(Arch::Aarch64.syscall("getpid"), Some(172));
    assert_eq!(Arch::Aarch64.syscall("mkdirat"), Some(34));
    assert_eq!(Arch::Aarch64.syscall("mkdir"), None);
    for arch in Arch::ALL {
        assert!(
            arch.table().windows(2).all(|w| w[0].0 < w[1].0),
            "{arch:?} table not sorted"
        );
    }
}

/// Not a test of behaviour: prints the numbers asked for in the brief.
/// `cargo test -p berth --release seccomp::tests::cases::measure -- --nocapture`
#[test]
fn measure() -> Result<(), FixtureError> {
    let typed = docker_typed()?;
    // The machine may be shared: report the median and the best of many runs.
    let time = |f: &dyn Fn()| {
        let mut t: Vec<std::time::Duration> = (0..300)
            .map(|_| {
                let start = std::time::Instant::now();
                f();
                start.elapsed()
            })
            .collect();
        t.sort();
        (t[t.len() / 2], t[0])
    };
    let per = time(&|| {
        std::hint::black_box(compile(&typed).unwrap());
    });
    let len = compile(&typed).unwrap().filter.len();
    let key = time(&|| {
        std::hint::black_box(cache_key(&typed).unwrap());
    });
    let bytes = compile(&typed).unwrap().to_bytes();
    let load = time(&|| {
        std::hint::black_box(Program::from_bytes(&bytes).unwrap());
    });
    eprintln!(
        "Docker 20.10's default profile (x86_64+x86+x32), (median, best): compile {per:?}, {len} instructions; cache_key {key:?}; from_bytes {load:?}"
    );
    Ok(())
}
