//! The seccomp compiler: profile → classic BPF.
//!
//! Input starting with `{` is a raw `linux.seccomp` JSON object, compiled
//! both as raw JSON (`compile_json`, what `spec::parse` uses to name a bad
//! field) and as a typed `LinuxSeccomp` (`compile`, what `create` uses).
//! Any other input is turned by `arbitrary` into a structured profile of
//! real syscall names, actions, operators and flags, which reaches deep into
//! the compiler far more often than mutated JSON.
//!
//! Checked: no panic; a program has 1..=4096 instructions (else the error is
//! `TooLong`); its cache encoding reloads (`Program::from_bytes` validates
//! opcodes, jumps and the final return) to the same program.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use berth::fuzzing::seccomp::{self, Arch, Program, SeccompError};
use libfuzzer_sys::fuzz_target;
use oci_spec::runtime::LinuxSeccomp;
use serde_json::{json, Value};

fuzz_target!(|data: &[u8]| {
    let value = if data.first() == Some(&b'{') {
        match serde_json::from_slice::<Value>(data) {
            Ok(v) => v,
            Err(_) => return,
        }
    } else {
        match Profile::arbitrary_take_rest(Unstructured::new(data)) {
            Ok(p) => p.to_json(),
            Err(_) => return,
        }
    };
    check(seccomp::compile_json(&value));
    if let Ok(typed) = serde_json::from_value::<LinuxSeccomp>(value) {
        check(seccomp::compile(&typed));
        let key = seccomp::cache_key(&typed).expect("a typed profile serialises");
        assert_eq!(key.len(), 64);
    }
});

fn check(r: Result<Program, SeccompError>) {
    match r {
        Ok(p) => {
            assert!(
                !p.filter.is_empty() && p.filter.len() <= 4096,
                "{} instructions",
                p.filter.len()
            );
            let back = Program::from_bytes(&p.to_bytes()).expect("compiled program reloads");
            assert_eq!(back, p);
        }
        Err(SeccompError::TooLong { len }) => assert!(len > 4096),
        Err(e) => drop(e.to_string()),
    }
}

const ACTIONS: [&str; 9] = [
    "SCMP_ACT_KILL",
    "SCMP_ACT_KILL_THREAD",
    "SCMP_ACT_KILL_PROCESS",
    "SCMP_ACT_TRAP",
    "SCMP_ACT_ERRNO",
    "SCMP_ACT_TRACE",
    "SCMP_ACT_ALLOW",
    "SCMP_ACT_LOG",
    "SCMP_ACT_NOTIFY",
];
const OPS: [&str; 7] = [
    "SCMP_CMP_NE",
    "SCMP_CMP_LT",
    "SCMP_CMP_LE",
    "SCMP_CMP_EQ",
    "SCMP_CMP_GE",
    "SCMP_CMP_GT",
    "SCMP_CMP_MASKED_EQ",
];
const ARCHES: [&str; 8] = [
    "SCMP_ARCH_X86_64",
    "SCMP_ARCH_X86",
    "SCMP_ARCH_X32",
    "SCMP_ARCH_AARCH64",
    "SCMP_ARCH_NATIVE",
    "SCMP_ARCH_ARM",
    "SCMP_ARCH_RISCV64",
    "SCMP_ARCH_BOGUS",
];
const FLAGS: [&str; 4] = [
    "SECCOMP_FILTER_FLAG_TSYNC",
    "SECCOMP_FILTER_FLAG_LOG",
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
];

/// A string drawn from a fixed list, or (rarely useful) any string.
#[derive(Arbitrary, Debug)]
enum Pick {
    Known(u8),
    Raw(String),
}

impl Pick {
    fn get(&self, list: &[&str]) -> String {
        match self {
            Pick::Known(i) => list[usize::from(*i) % list.len()].to_string(),
            Pick::Raw(s) => s.clone(),
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Name {
    /// Index into a syscall table of the chosen architecture.
    Known {
        arch: u8,
        index: u16,
    },
    Raw(String),
}

#[derive(Arbitrary, Debug)]
struct Arg {
    index: u8,
    value: u64,
    value_two: Option<u64>,
    op: Pick,
}

#[derive(Arbitrary, Debug)]
struct Syscall {
    names: Vec<Name>,
    action: Pick,
    errno_ret: Option<u32>,
    args: Vec<Arg>,
}

#[derive(Arbitrary, Debug)]
struct Profile {
    default_action: Pick,
    default_errno_ret: Option<u32>,
    architectures: Vec<Pick>,
    flags: Vec<Pick>,
    listener_path: bool,
    syscalls: Vec<Syscall>,
}

impl Profile {
    fn to_json(&self) -> Value {
        let mut v = json!({
            "defaultAction": self.default_action.get(&ACTIONS),
            "architectures": self.architectures.iter().map(|a| a.get(&ARCHES)).collect::<Vec<_>>(),
            "flags": self.flags.iter().map(|f| f.get(&FLAGS)).collect::<Vec<_>>(),
            "syscalls": self.syscalls.iter().map(Syscall::to_json).collect::<Vec<_>>(),
        });
        if let Some(e) = self.default_errno_ret {
            v["defaultErrnoRet"] = e.into();
        }
        if self.listener_path {
            v["listenerPath"] = "/run/agent.sock".into();
        }
        v
    }
}

impl Syscall {
    fn to_json(&self) -> Value {
        let names: Vec<String> = self
            .names
            .iter()
            .map(|n| match n {
                Name::Known { arch, index } => {
                    let table = Arch::ALL[usize::from(*arch) % Arch::ALL.len()].table();
                    table[usize::from(*index) % table.len()].0.to_string()
                }
                Name::Raw(s) => s.clone(),
            })
            .collect();
        let args: Vec<Value> = self
            .args
            .iter()
            .map(|a| {
                let mut v = json!({
                    // Mostly valid indexes (0-5), sometimes out of range.
                    "index": a.index % 7,
                    "value": a.value,
                    "op": a.op.get(&OPS),
                });
                if let Some(t) = a.value_two {
                    v["valueTwo"] = t.into();
                }
                v
            })
            .collect();
        let mut v = json!({
            "names": names,
            "action": self.action.get(&ACTIONS),
            "args": args,
        });
        if let Some(e) = self.errno_ret {
            v["errnoRet"] = e.into();
        }
        v
    }
}
