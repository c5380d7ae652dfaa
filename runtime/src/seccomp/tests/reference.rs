//! What a profile means, evaluated directly from its JSON, written without
//! looking at the compiler: the expected return value for one syscall.

use std::collections::HashMap;

use serde_json::Value;

use crate::seccomp::arch::{Arch, AUDIT_ARCH_AARCH64, AUDIT_ARCH_I386, AUDIT_ARCH_X86_64};

const KILL_PROCESS: u32 = 0x8000_0000;
const ENOSYS_RET: u32 = 0x0005_0000 | 38;

pub struct Reference<'a> {
    profile: &'a Value,
    arches: Vec<Arch>,
    default: u32,
    /// nr → names, per ABI.
    names: HashMap<Arch, HashMap<u32, Vec<&'static str>>>,
}

fn ret_of(action: &str, errno: Option<u64>) -> u32 {
    let data = errno.unwrap_or(1) as u32;
    match action {
        "SCMP_ACT_KILL" | "SCMP_ACT_KILL_THREAD" => 0,
        "SCMP_ACT_KILL_PROCESS" => KILL_PROCESS,
        "SCMP_ACT_TRAP" => 0x0003_0000,
        "SCMP_ACT_ERRNO" => 0x0005_0000 | data,
        "SCMP_ACT_TRACE" => 0x7ff0_0000 | data,
        "SCMP_ACT_LOG" => 0x7ffc_0000,
        "SCMP_ACT_ALLOW" => 0x7fff_0000,
        "SCMP_ACT_NOTIFY" => 0x7fc0_0000,
        other => panic!("action {other}"),
    }
}

fn holds(cond: &Value, args: &[u64; 6]) -> bool {
    let a = args[cond["index"].as_u64().unwrap() as usize];
    let v = cond["value"].as_u64().unwrap();
    let v2 = cond.get("valueTwo").and_then(Value::as_u64).unwrap_or(0);
    match cond["op"].as_str().unwrap() {
        "SCMP_CMP_NE" => a != v,
        "SCMP_CMP_LT" => a < v,
        "SCMP_CMP_LE" => a <= v,
        "SCMP_CMP_EQ" => a == v,
        "SCMP_CMP_GE" => a >= v,
        "SCMP_CMP_GT" => a > v,
        "SCMP_CMP_MASKED_EQ" => a & v == v2,
        other => panic!("op {other}"),
    }
}

/// runc/crun: AND, unless an index repeats; then OR of all conditions.
fn args_match(conds: &[Value], args: &[u64; 6]) -> bool {
    let mut indexes: Vec<u64> = conds.iter().map(|c| c["index"].as_u64().unwrap()).collect();
    let n = indexes.len();
    indexes.sort();
    indexes.dedup();
    if indexes.len() < n {
        conds.iter().any(|c| holds(c, args))
    } else {
        conds.iter().all(|c| holds(c, args))
    }
}

impl<'a> Reference<'a> {
    pub fn new(profile: &'a Value, native: Arch) -> Self {
        let mut arches = vec![native];
        for a in profile["architectures"].as_array().into_iter().flatten() {
            let a = match a.as_str().unwrap() {
                "SCMP_ARCH_X86_64" => Arch::X86_64,
                "SCMP_ARCH_X86" => Arch::X86,
                "SCMP_ARCH_X32" => Arch::X32,
                "SCMP_ARCH_AARCH64" => Arch::Aarch64,
                _ => continue,
            };
            arches.push(a);
        }
        let mut names = HashMap::new();
        for arch in Arch::ALL {
            let mut by_nr: HashMap<u32, Vec<&'static str>> = HashMap::new();
            for (name, nr) in arch.table() {
                by_nr.entry(*nr).or_default().push(name);
            }
            names.insert(arch, by_nr);
        }
        let default = ret_of(
            profile["defaultAction"].as_str().unwrap(),
            profile.get("defaultErrnoRet").and_then(Value::as_u64),
        );
        Reference {
            profile,
            arches,
            default,
            names,
        }
    }

    fn abi(&self, audit: u32, nr: u32) -> Option<Arch> {
        let abi = match audit {
            AUDIT_ARCH_X86_64 if nr & 0x4000_0000 != 0 => Arch::X32,
            AUDIT_ARCH_X86_64 => Arch::X86_64,
            AUDIT_ARCH_I386 => Arch::X86,
            AUDIT_ARCH_AARCH64 => Arch::Aarch64,
            _ => return None,
        };
        self.arches.contains(&abi).then_some(abi)
    }

    fn rules(&self) -> &[Value] {
        self.profile["syscalls"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    fn rule_ret(rule: &Value) -> u32 {
        ret_of(
            rule["action"].as_str().unwrap(),
            rule.get("errnoRet").and_then(Value::as_u64),
        )
    }

    fn names_rule(rule: &Value, names: &[&str]) -> bool {
        rule["names"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| names.contains(&n.as_str().unwrap()))
    }

    /// The highest number of any syscall the profile names on `abi`.
    fn newest(&self, abi: Arch) -> Option<u32> {
        self.rules()
            .iter()
            .flat_map(|r| r["names"].as_array().unwrap())
            .filter_map(|n| abi.syscall(n.as_str().unwrap()))
            .max()
    }

    /// The filter's expected return value.
    pub fn eval(&self, audit: u32, nr: u32, args: &[u64; 6]) -> u32 {
        let Some(abi) = self.abi(audit, nr) else {
            return KILL_PROCESS;
        };
        let names = self.names[&abi].get(&nr).cloned().unwrap_or_default();
        let live: Vec<&Value> = self
            .rules()
            .iter()
            .filter(|r| Self::names_rule(r, &names) && Self::rule_ret(r) != self.default)
            .collect();
        let unconditional = |r: &&&Value| {
            r.get("args")
                .and_then(Value::as_array)
                .is_none_or(|a| a.is_empty())
        };
        if let Some(r) = live.iter().find(unconditional) {
            return Self::rule_ret(r);
        }
        for r in &live {
            if args_match(r["args"].as_array().unwrap(), args) {
                return Self::rule_ret(r);
            }
        }
        let permissive =
            [0x7fff_0000, 0x7ffc_0000].contains(&self.default) || self.default >> 16 == 0x7ff0;
        match self.newest(abi) {
            Some(newest) if nr > newest && !permissive => ENOSYS_RET,
            _ => self.default,
        }
    }

    /// Every condition any rule naming one of `names` has (for sampling).
    pub fn conditions(&self, abi: Arch, nr: u32) -> Vec<Value> {
        let names = self.names[&abi].get(&nr).cloned().unwrap_or_default();
        self.rules()
            .iter()
            .filter(|r| Self::names_rule(r, &names))
            .flat_map(|r| {
                r.get("args")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default()
            })
            .collect()
    }
}
