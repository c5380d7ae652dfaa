//! Every syscall number of every architecture, plus numbers past the tables
//! and sampled argument values, compiled program vs reference evaluator.

use serde_json::Value;

use super::fixtures::{self, FixtureError};
use super::interp::{run, Data};
use super::reference::Reference;
use crate::seccomp::arch::{Arch, AUDIT_ARCH_AARCH64, AUDIT_ARCH_I386, AUDIT_ARCH_X86_64};
use crate::seccomp::{bpf, compile_for};

pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed | 1)
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Interesting values for an argument compared by `conds`.
fn candidates(conds: &[&Value]) -> Vec<u64> {
    let mut out = vec![0, 1, 0xFFFF_FFFF, 1 << 32, u64::MAX, 1 << 63];
    for c in conds {
        let v = c["value"].as_u64().unwrap();
        let v2 = c.get("valueTwo").and_then(Value::as_u64).unwrap_or(0);
        let low_bit = v & v.wrapping_neg();
        out.extend([
            v,
            v.wrapping_add(1),
            v.wrapping_sub(1),
            v ^ (1 << 32),
            v.wrapping_add(1 << 32),
            v.wrapping_sub(1 << 32),
            v & 0xFFFF_FFFF,
            v2,
            v2 | !v,
            v2 ^ low_bit,
        ]);
    }
    out.sort();
    out.dedup();
    out
}

/// Argument vectors exercising the conditions on each index, alone and combined.
pub fn arg_samples(conds: &[Value], rng: &mut Rng) -> Vec<[u64; 6]> {
    let mut samples = vec![[0u64; 6], std::array::from_fn(|_| rng.next())];
    if conds.is_empty() {
        return samples;
    }
    let per_index: Vec<Vec<u64>> = (0..6u64)
        .map(|i| {
            let on_i: Vec<&Value> = conds.iter().filter(|c| c["index"] == i).collect();
            if on_i.is_empty() {
                vec![0, rng.next()]
            } else {
                candidates(&on_i)
            }
        })
        .collect();
    let longest = per_index.iter().map(Vec::len).max().unwrap_or(1);
    for (i, cands) in per_index.iter().enumerate() {
        for &c in cands {
            let mut a = [0u64; 6];
            a[i] = c;
            samples.push(a);
        }
    }
    for j in 0..longest {
        samples.push(std::array::from_fn(|i| {
            per_index[i][j % per_index[i].len()]
        }));
    }
    for _ in 0..64 {
        samples.push(std::array::from_fn(|i| {
            let c = &per_index[i];
            c[(rng.next() % c.len() as u64) as usize]
        }));
    }
    samples
}

fn abi_of(audit: u32, nr: u32) -> Option<Arch> {
    match audit {
        AUDIT_ARCH_X86_64 if nr & 0x4000_0000 != 0 => Some(Arch::X32),
        AUDIT_ARCH_X86_64 => Some(Arch::X86_64),
        AUDIT_ARCH_I386 => Some(Arch::X86),
        AUDIT_ARCH_AARCH64 => Some(Arch::Aarch64),
        _ => None,
    }
}

/// Syscall numbers to try: every table entry of every ABI and well past them.
pub fn numbers() -> Vec<u32> {
    let mut nrs: Vec<u32> = (0..=700).collect();
    nrs.extend(0x4000_0000..=0x4000_0000 + 700);
    nrs.extend([
        1000,
        4095,
        4096,
        0xFFFF,
        0x3FFF_FFFF,
        0x7FFF_FFFF,
        0x8000_0000,
        0xBFFF_FFFF,
        0xC000_0000,
        0xFFFF_FFFE,
        0xFFFF_FFFF,
    ]);
    for arch in Arch::ALL {
        assert!(arch.table().iter().all(|(_, nr)| nrs.contains(nr)));
    }
    nrs
}

/// Checks the compiled `profile` against the reference; returns the number
/// of (arch, nr, args) cases checked and the program length.
pub fn check(profile: &Value, native: Arch) -> (usize, usize) {
    let prog = compile_for(profile, native).unwrap_or_else(|e| panic!("compile: {e}"));
    bpf::validate(&prog.filter).unwrap();
    let reference = Reference::new(profile, native);
    let mut rng = Rng::new(0x5eed_cafe_f00d);
    let audits = [
        AUDIT_ARCH_X86_64,
        AUDIT_ARCH_I386,
        AUDIT_ARCH_AARCH64,
        0x4000_0028,
        0,
    ];
    let mut cases = 0;
    for audit in audits {
        for nr in numbers() {
            let conds = abi_of(audit, nr)
                .map(|abi| reference.conditions(abi, nr))
                .unwrap_or_default();
            for args in arg_samples(&conds, &mut rng) {
                let got = run(&prog.filter, &Data::new(audit, nr, args));
                let want = reference.eval(audit, nr, &args);
                assert_eq!(
                    got, want,
                    "arch {audit:#x} nr {nr:#x} args {args:x?}: filter {got:#x}, reference {want:#x}"
                );
                cases += 1;
            }
        }
    }
    (cases, prog.filter.len())
}

#[test]
fn docker_20_10_config() -> Result<(), FixtureError> {
    let p = fixtures::profile(fixtures::DOCKER)?;
    let (cases, len) = check(&p, Arch::X86_64);
    eprintln!("docker-20.10 config (x86_64+x86+x32): {cases} cases, {len} instructions");
    Ok(())
}

/// Docker's profile with every capability: the rules for CAP_SYS_ADMIN,
/// CAP_SYS_PTRACE, CAP_SYS_TIME and the others are in, clone and clone3 lose
/// their CAP_SYS_ADMIN-less restrictions.
#[test]
fn docker_20_10_all_caps() -> Result<(), FixtureError> {
    let p = fixtures::profile(fixtures::DOCKER_ALL_CAPS)?;
    let (cases, len) = check(&p, Arch::X86_64);
    eprintln!("docker-20.10 all caps: {cases} cases, {len} instructions");
    Ok(())
}

#[test]
fn docker_profile_on_aarch64() -> Result<(), FixtureError> {
    let mut p = fixtures::profile(fixtures::DOCKER)?;
    p["architectures"] = serde_json::json!(["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]);
    let (cases, len) = check(&p, Arch::Aarch64);
    eprintln!("docker-20.10 profile on aarch64: {cases} cases, {len} instructions");
    Ok(())
}

#[test]
fn podman_4_3_config() -> Result<(), FixtureError> {
    let p = fixtures::profile(fixtures::PODMAN)?;
    let (cases, len) = check(&p, Arch::X86_64);
    eprintln!("podman-4.3 config: {cases} cases, {len} instructions");
    Ok(())
}

#[test]
fn containerd_1_6_config_has_no_profile() -> Result<(), FixtureError> {
    // `ctr run` without --seccomp hands the runtime no seccomp section.
    assert!(fixtures::seccomp(fixtures::CONTAINERD)?.is_none());
    Ok(())
}

#[test]
fn podman_with_every_arch() -> Result<(), FixtureError> {
    let mut p = fixtures::profile(fixtures::PODMAN)?;
    p["architectures"] = serde_json::json!([
        "SCMP_ARCH_X86_64",
        "SCMP_ARCH_X86",
        "SCMP_ARCH_X32",
        "SCMP_ARCH_AARCH64"
    ]);
    check(&p, Arch::X86_64);
    Ok(())
}
