//! `linux.memoryPolicy` (runtime-spec 1.3): the NUMA memory policy of the
//! container's processes, set with `set_mempolicy(2)` in the init and in
//! every exec'd process, after the personality and before seccomp, as
//! current runc (1.3+) does; runc 1.1 ignores the field.
//!
//! Validation follows current runc: MPOL_DEFAULT and MPOL_LOCAL take no
//! nodes, MPOL_BIND, MPOL_INTERLEAVE, MPOL_PREFERRED_MANY and
//! MPOL_WEIGHTED_INTERLEAVE at least one, MPOL_PREFERRED any number.
//! Beyond runc, berth refuses up front (at create, naming the field) what
//! the kernel would refuse later with a bare EINVAL: node ids the host
//! cannot have, and MPOL_F_STATIC_NODES with MPOL_F_RELATIVE_NODES.

use oci_spec::runtime::{
    LinuxMemoryPolicy, MemoryPolicyFlagType as Flag, MemoryPolicyModeType as Mode,
};

use crate::error::{Error, Result};

/// The most nodes a mask holds (the kernel's MAX_NUMNODES is at most 1024).
const MAX_NODES: usize = 1024;

/// The policy as set_mempolicy(2) takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// The mode with its flags or'ed in.
    pub mode: i32,
    /// One bit per node, as long as the highest node needs (empty: none).
    pub nodes: Vec<u64>,
}

/// `MPOL_*` of `<linux/mempolicy.h>`.
fn mode_value(m: Mode) -> i32 {
    match m {
        Mode::MpolDefault => 0,
        Mode::MpolPreferred => 1,
        Mode::MpolBind => 2,
        Mode::MpolInterleave => 3,
        Mode::MpolLocal => 4,
        Mode::MpolPreferredMany => 5,
        Mode::MpolWeightedInterleave => 6,
    }
}

/// `MPOL_F_*` of `<linux/mempolicy.h>`.
fn flag_value(f: Flag) -> i32 {
    match f {
        Flag::MpolFStaticNodes => 1 << 15,
        Flag::MpolFRelativeNodes => 1 << 14,
        Flag::MpolFNumaBalancing => 1 << 13,
    }
}

/// How many NUMA nodes the host can have (/sys/devices/system/node/possible,
/// "0-N"); read at create only.
fn possible_nodes() -> usize {
    std::fs::read_to_string("/sys/devices/system/node/possible")
        .ok()
        .and_then(|s| s.trim().rsplit([',', '-']).next()?.parse::<usize>().ok())
        .map_or(MAX_NODES, |n| n + 1)
}

/// Parses a node list ("0-3,7"; spaces and empty elements allowed, as
/// runc's parser does) into a mask and the number of nodes in it.
fn parse_nodes(list: &str, possible: usize) -> Result<(Vec<u64>, usize)> {
    let bad = |why: String| Error::config(format!("linux.memoryPolicy.nodes: {why} in {list:?}"));
    let cap = possible.min(MAX_NODES);
    let mut mask: Vec<u64> = Vec::new();
    let mut count = 0;
    for (a, b) in super::id_list::ranges(list, "node", cap).map_err(bad)? {
        if mask.len() <= b / 64 {
            mask.resize(b / 64 + 1, 0);
        }
        for n in a..=b {
            if mask[n / 64] & 1 << (n % 64) == 0 {
                count += 1;
                mask[n / 64] |= 1 << (n % 64);
            }
        }
    }
    Ok((mask, count))
}

/// Checks `p` and returns what set_mempolicy takes; `possible` bounds the
/// node ids.
fn policy(p: &LinuxMemoryPolicy, possible: usize) -> Result<Policy> {
    let (nodes, count) = parse_nodes(p.nodes().as_deref().unwrap_or(""), possible)?;
    let mode = p.mode();
    let bad = |why: String| Err(Error::config(format!("linux.memoryPolicy: {why}")));
    match mode {
        Mode::MpolDefault | Mode::MpolLocal if count != 0 => {
            return bad(format!("mode {mode} requires 0 nodes but got {count}"));
        }
        Mode::MpolBind
        | Mode::MpolInterleave
        | Mode::MpolPreferredMany
        | Mode::MpolWeightedInterleave
            if count == 0 =>
        {
            return bad(format!("mode {mode} requires at least one node but got 0"));
        }
        _ => {}
    }
    let flags = p.flags().iter().flatten();
    let flags = flags.fold(0, |acc, f| acc | flag_value(*f));
    let both = flag_value(Flag::MpolFStaticNodes) | flag_value(Flag::MpolFRelativeNodes);
    if flags & both == both {
        return bad(
            "flags MPOL_F_STATIC_NODES and MPOL_F_RELATIVE_NODES exclude each other".into(),
        );
    }
    Ok(Policy {
        mode: mode_value(mode) | flags,
        nodes,
    })
}

/// The create-time check, against the host's possible nodes.
pub fn validate(p: &LinuxMemoryPolicy) -> Result<()> {
    policy(p, possible_nodes()).map(drop)
}

/// Sets the calling process's memory policy, if the config has one (the
/// config was validated at create; /sys may be absent in the container).
pub fn apply(p: Option<&LinuxMemoryPolicy>) -> Result<()> {
    let Some(p) = p else { return Ok(()) };
    let pol = policy(p, MAX_NODES)?;
    crate::sys::sched::set_mempolicy(pol.mode, &pol.nodes).map_err(|e| {
        Error::msg(format!(
            "linux.memoryPolicy: set_mempolicy({}): {e}",
            p.mode()
        ))
    })
}

/// The modes and flags `features` lists (runc's names, sorted).
pub fn known() -> (Vec<String>, Vec<String>) {
    let modes = [
        Mode::MpolDefault,
        Mode::MpolPreferred,
        Mode::MpolBind,
        Mode::MpolInterleave,
        Mode::MpolLocal,
        Mode::MpolPreferredMany,
        Mode::MpolWeightedInterleave,
    ];
    let flags = [
        Flag::MpolFStaticNodes,
        Flag::MpolFRelativeNodes,
        Flag::MpolFNumaBalancing,
    ];
    let mut modes: Vec<String> = modes.iter().map(|m| m.to_string()).collect();
    let mut flags: Vec<String> = flags.iter().map(|f| f.to_string()).collect();
    modes.sort();
    flags.sort();
    (modes, flags)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mp(json: &str) -> LinuxMemoryPolicy {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn values() {
        let j = r#"{"mode":"MPOL_BIND","nodes":"0","flags":["MPOL_F_STATIC_NODES"]}"#;
        let p = policy(&mp(j), 1).unwrap();
        assert_eq!(p.mode, 2 | 1 << 15);
        assert_eq!(p.nodes, vec![1]);
        let p = policy(&mp(r#"{"mode":"MPOL_LOCAL"}"#), 1).unwrap();
        assert_eq!((p.mode, p.nodes.len()), (4, 0));
        let p = policy(
            &mp(r#"{"mode":"MPOL_INTERLEAVE","nodes":" 0-1, 65,"}"#),
            128,
        );
        assert_eq!(p.unwrap().nodes, vec![3, 2]);
        let p = policy(&mp(r#"{"mode":"MPOL_PREFERRED"}"#), 1).unwrap();
        assert_eq!((p.mode, p.nodes.len()), (1, 0));
    }

    #[test]
    fn runc_rules() {
        for (j, want) in [
            (r#"{"mode":"MPOL_BIND"}"#, "at least one node"),
            (
                r#"{"mode":"MPOL_WEIGHTED_INTERLEAVE","nodes":""}"#,
                "at least one node",
            ),
            (r#"{"mode":"MPOL_DEFAULT","nodes":"0"}"#, "requires 0 nodes"),
            (
                r#"{"mode":"MPOL_INTERLEAVE","nodes":"1"}"#,
                "nodes: node 1 out of range",
            ),
            (r#"{"mode":"MPOL_BIND","nodes":"1-0"}"#, "invalid range"),
            (r#"{"mode":"MPOL_BIND","nodes":"x"}"#, "invalid node"),
            (
                r#"{"mode":"MPOL_BIND","nodes":"0","flags":["MPOL_F_STATIC_NODES","MPOL_F_RELATIVE_NODES"]}"#,
                "exclude each other",
            ),
        ] {
            let e = policy(&mp(j), 1).unwrap_err().to_string();
            assert!(
                e.contains("linux.memoryPolicy") && e.contains(want),
                "{j}: {e}"
            );
        }
        assert!(serde_json::from_str::<LinuxMemoryPolicy>(r#"{"mode":"MPOL_BINDD"}"#).is_err());
    }

    #[test]
    fn known_names() {
        let (modes, flags) = known();
        assert_eq!(modes.len(), 7);
        assert!(modes.contains(&"MPOL_WEIGHTED_INTERLEAVE".to_string()));
        assert_eq!(flags[0], "MPOL_F_NUMA_BALANCING");
    }
}
