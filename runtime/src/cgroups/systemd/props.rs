//! The unit properties berth asks systemd for: the scope's own (slice,
//! delegation, the init's pid, accounting) and those `linux.resources`
//! maps to, per cgroup version, as runc maps them (its docs/systemd.md
//! tables). Everything is also written to the cgroup files afterwards
//! (`Manager::apply`): the properties make systemd keep the values (it
//! rewrites a unit's files from its properties on reloads), the files
//! cover what systemd has no property for.
//!
//! Device rules are properties on v1 only (`device_props`: systemd rewrites
//! a v1 unit's devices cgroup from them on reloads). On v2 systemd is left
//! at `DevicePolicy=auto` with no `DeviceAllow=`, so it installs no eBPF
//! filter of its own, and berth's is the only one, as in cgroupfs mode.
//! (runc sends them on v2 too, and the kernel then runs both filters.)

use std::collections::HashMap;

use oci_spec::runtime::{LinuxCpu, LinuxResources};

use crate::cgroups::convert;
use crate::cgroups::error::{CgroupError, Result};

/// A property's D-Bus value (the signatures systemd expects for it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// `b`
    Bool(bool),
    /// `t`
    U64(u64),
    /// `s`
    Str(String),
    /// `ay` (a CPU or NUMA node bitmask)
    Bytes(Vec<u8>),
    /// `au` (PIDs)
    U32s(Vec<u32>),
    /// `a(ss)` (DeviceAllow: path and permissions)
    PathPerms(Vec<(String, String)>),
}

/// One `(sv)` of StartTransientUnit / SetUnitProperties.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Prop {
    pub name: &'static str,
    pub value: Value,
}

fn prop(name: &'static str, value: Value) -> Prop {
    Prop { name, value }
}

/// systemd's "infinity" (`USEC_INFINITY`, `CGROUP_LIMIT_MAX`).
const INFINITY: u64 = u64::MAX;
/// The kernel's default CFS period, assumed for a quota without one.
const DEFAULT_PERIOD: u64 = 100_000;
/// The first systemd versions with these properties.
const V_QUOTA_PERIOD: u32 = 242;
const V_CPUSET: u32 = 244;
const V_CPU_IDLE: u32 = 252;

/// The scope's own properties: what it is, where it goes, that it holds
/// `pid` and that its subtree is delegated to the container, accounting on
/// for every controller (as runc), and no default dependencies (a
/// container must not be stopped with the system's shutdown ordering).
pub fn scope(description: String, slice: &str, pid: u32, v2: bool) -> Vec<Prop> {
    let io_accounting = if v2 {
        "IOAccounting"
    } else {
        "BlockIOAccounting"
    };
    vec![
        prop("Description", Value::Str(description)),
        prop("Slice", Value::Str(slice.to_string())),
        prop("Delegate", Value::Bool(true)),
        prop("PIDs", Value::U32s(vec![pid])),
        prop("MemoryAccounting", Value::Bool(true)),
        prop("CPUAccounting", Value::Bool(true)),
        prop(io_accounting, Value::Bool(true)),
        prop("TasksAccounting", Value::Bool(true)),
        prop("DefaultDependencies", Value::Bool(false)),
    ]
}

/// The resource properties, and the CPU quota to write to the files when
/// systemd's rounding changed it (see `cpu_quota`). `version` is asked only
/// when a property depends on it (a D-Bus round trip).
#[derive(Debug)]
pub struct Resources {
    pub props: Vec<Prop>,
    pub rounded_quota: Option<i64>,
}

pub fn resources(
    r: &LinuxResources,
    v2: bool,
    version: &mut dyn FnMut() -> u32,
) -> Result<Resources> {
    let mut out = Resources {
        props: Vec::new(),
        rounded_quota: None,
    };
    memory(r, v2, &mut out.props)?;
    if let Some(c) = r.cpu() {
        cpu(c, v2, version, &mut out)?;
    }
    if let Some(p) = r.pids() {
        out.props
            .push(prop("TasksMax", Value::U64(tasks_max(p.limit()))));
    }
    if let Some(w) = r.block_io().as_ref().and_then(|b| b.weight()) {
        out.props.push(match v2 {
            true => prop(
                "IOWeight",
                Value::U64(convert::blkio_weight_to_io_weight(w)),
            ),
            false => prop("BlockIOWeight", Value::U64(u64::from(w))),
        });
    }
    if v2 {
        if let Some(u) = r.unified() {
            unified(u, &mut out.props)?;
        }
    }
    Ok(out)
}

/// A byte count where negative means no limit.
fn limit(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(INFINITY)
}

/// systemd refuses TasksMax=0; runc asks for 1, the closest it takes.
fn tasks_max(v: i64) -> u64 {
    match v {
        0 => 1,
        v => limit(v),
    }
}

fn memory(r: &LinuxResources, v2: bool, props: &mut Vec<Prop>) -> Result<()> {
    let Some(m) = r.memory() else {
        return Ok(());
    };
    let l = m.limit().unwrap_or(0);
    if !v2 {
        if l != 0 {
            props.push(prop("MemoryLimit", Value::U64(limit(l))));
        }
        return Ok(());
    }
    if l != 0 {
        props.push(prop("MemoryMax", Value::U64(limit(l))));
    }
    if let Some(low) = m.reservation().filter(|&v| v != 0) {
        props.push(prop("MemoryLow", Value::U64(limit(low))));
    }
    let swap = convert::swap_to_v2(m.swap().unwrap_or(0), l)?;
    if swap != 0 {
        props.push(prop("MemorySwapMax", Value::U64(limit(swap))));
    }
    Ok(())
}

fn cpu(
    c: &LinuxCpu,
    v2: bool,
    version: &mut dyn FnMut() -> u32,
    out: &mut Resources,
) -> Result<()> {
    let shares = c.shares().unwrap_or(0);
    let idle = v2 && c.idle() == Some(1) && version() >= V_CPU_IDLE;
    if idle {
        // systemd sets cpu.idle for a CPUWeight of 0 (and takes no weight
        // besides it).
        out.props.push(prop("CPUWeight", Value::U64(0)));
    } else if shares != 0 {
        out.props.push(match v2 {
            true => prop("CPUWeight", Value::U64(convert::shares_to_weight(shares))),
            false => prop("CPUShares", Value::U64(shares)),
        });
    }
    let (quota, period) = (c.quota().unwrap_or(0), c.period().unwrap_or(0));
    out.rounded_quota = cpu_quota(quota, period, version, &mut out.props);
    for (field, value, name) in [
        ("cpus", c.cpus(), "AllowedCPUs"),
        ("mems", c.mems(), "AllowedMemoryNodes"),
    ] {
        let Some(list) = value.as_deref().filter(|s| !s.is_empty()) else {
            continue;
        };
        let bits = bitmask(list).ok_or_else(|| {
            CgroupError::invalid(
                format!("linux.resources.cpu.{field}"),
                format!("{list:?} is not a list of numbers and ranges"),
            )
        })?;
        if version() >= V_CPUSET {
            out.props.push(prop(name, Value::Bytes(bits)));
        }
    }
    Ok(())
}

/// CPUQuotaPerSecUSec (and CPUQuotaPeriodUSec, systemd ≥ 242). systemd
/// keeps the quota as a whole percentage of a CPU, so a quota that is not
/// one is rounded up to the next, as runc does; the rounded quota is
/// returned so that the files get the value systemd will keep.
fn cpu_quota(
    quota: i64,
    period: u64,
    version: &mut dyn FnMut() -> u32,
    props: &mut Vec<Prop>,
) -> Option<i64> {
    if period != 0 && version() >= V_QUOTA_PERIOD {
        props.push(prop("CPUQuotaPeriodUSec", Value::U64(period)));
    }
    if quota == 0 && period == 0 {
        return None;
    }
    let Ok(q) = u64::try_from(quota) else {
        props.push(prop("CPUQuotaPerSecUSec", Value::U64(INFINITY)));
        return None;
    };
    if q == 0 {
        props.push(prop("CPUQuotaPerSecUSec", Value::U64(INFINITY)));
        return None;
    }
    let period = if period == 0 { DEFAULT_PERIOD } else { period };
    let mut per_sec = q.saturating_mul(1_000_000) / period;
    let mut rounded = None;
    if per_sec % 10_000 != 0 {
        per_sec = (per_sec / 10_000 + 1) * 10_000;
        rounded = i64::try_from(per_sec.saturating_mul(period) / 1_000_000).ok();
    }
    props.push(prop("CPUQuotaPerSecUSec", Value::U64(per_sec)));
    rounded
}

/// A cpuset list ("0-3,7") as systemd's bitmask: byte i holds CPUs
/// 8i..8i+7, lowest bit first. `None` for a malformed list.
pub fn bitmask(list: &str) -> Option<Vec<u8>> {
    let mut bits: Vec<u8> = Vec::new();
    for part in list.trim().split(',') {
        let (a, b) = match part.split_once('-') {
            Some((a, b)) => (a.trim().parse::<usize>().ok()?, b.trim().parse().ok()?),
            None => {
                let n = part.trim().parse::<usize>().ok()?;
                (n, n)
            }
        };
        // Bounded: no machine has a million CPUs or nodes.
        if a > b || b >= 1 << 20 {
            return None;
        }
        for n in a..=b {
            if bits.len() <= n / 8 {
                bits.resize(n / 8 + 1, 0);
            }
            bits[n / 8] |= 1 << (n % 8);
        }
    }
    Some(bits)
}

/// The `unified` keys systemd has a property for (runc's table); the rest
/// are written to the files only.
fn unified(map: &HashMap<String, String>, props: &mut Vec<Prop>) -> Result<()> {
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort();
    for k in keys {
        let v = map[k].trim();
        let name = match k.as_str() {
            "memory.high" => "MemoryHigh",
            "memory.low" => "MemoryLow",
            "memory.min" => "MemoryMin",
            "memory.max" => "MemoryMax",
            "memory.swap.max" => "MemorySwapMax",
            "pids.max" => "TasksMax",
            "cpu.weight" => "CPUWeight",
            _ => continue,
        };
        let n = match v {
            "max" => INFINITY,
            v => v.parse::<u64>().map_err(|_| {
                CgroupError::invalid(
                    format!("linux.resources.unified.{k}"),
                    format!("{v:?} is not a number or \"max\""),
                )
            })?,
        };
        let n = if name == "TasksMax" && n == 0 { 1 } else { n };
        props.push(prop(name, Value::U64(n)));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(json: serde_json::Value) -> LinuxResources {
        serde_json::from_value(json).unwrap()
    }

    fn names(p: &[Prop]) -> Vec<&str> {
        p.iter().map(|p| p.name).collect()
    }

    fn get<'a>(p: &'a [Prop], name: &str) -> &'a Value {
        &p.iter().find(|p| p.name == name).unwrap().value
    }

    #[test]
    fn scope_properties() {
        let p = scope("berth container c1".into(), "system.slice", 42, true);
        assert_eq!(
            names(&p),
            [
                "Description",
                "Slice",
                "Delegate",
                "PIDs",
                "MemoryAccounting",
                "CPUAccounting",
                "IOAccounting",
                "TasksAccounting",
                "DefaultDependencies"
            ]
        );
        assert_eq!(get(&p, "PIDs"), &Value::U32s(vec![42]));
        assert_eq!(get(&p, "Delegate"), &Value::Bool(true));
        assert_eq!(get(&p, "DefaultDependencies"), &Value::Bool(false));
        let v1 = scope("d".into(), "a.slice", 1, false);
        assert!(names(&v1).contains(&"BlockIOAccounting"));
    }

    #[test]
    fn v2_resources_map_as_runc() {
        let r = res(serde_json::json!({
            "memory": {"limit": 104857600, "reservation": 52428800, "swap": 209715200},
            "cpu": {"shares": 1024, "quota": 50000, "period": 100000, "cpus": "0-1,3", "mems": "0"},
            "pids": {"limit": 0},
            "blockIO": {"weight": 500}
        }));
        let out = resources(&r, true, &mut || 252).unwrap();
        let p = &out.props;
        assert_eq!(get(p, "MemoryMax"), &Value::U64(104857600));
        assert_eq!(get(p, "MemoryLow"), &Value::U64(52428800));
        assert_eq!(get(p, "MemorySwapMax"), &Value::U64(104857600));
        assert_eq!(
            get(p, "CPUWeight"),
            &Value::U64(convert::shares_to_weight(1024))
        );
        assert_eq!(get(p, "CPUQuotaPeriodUSec"), &Value::U64(100000));
        assert_eq!(get(p, "CPUQuotaPerSecUSec"), &Value::U64(500000));
        assert_eq!(get(p, "AllowedCPUs"), &Value::Bytes(vec![0b1011]));
        assert_eq!(get(p, "AllowedMemoryNodes"), &Value::Bytes(vec![1]));
        assert_eq!(get(p, "TasksMax"), &Value::U64(1));
        assert_eq!(
            get(p, "IOWeight"),
            &Value::U64(convert::blkio_weight_to_io_weight(500))
        );
        assert_eq!(out.rounded_quota, None);
    }

    #[test]
    fn v1_resources_and_unlimited_values() {
        let r = res(serde_json::json!({
            "memory": {"limit": -1},
            "cpu": {"shares": 512, "quota": -1},
            "pids": {"limit": -1},
            "blockIO": {"weight": 300}
        }));
        let out = resources(&r, false, &mut || 252).unwrap();
        let p = &out.props;
        assert_eq!(get(p, "MemoryLimit"), &Value::U64(u64::MAX));
        assert_eq!(get(p, "CPUShares"), &Value::U64(512));
        assert_eq!(get(p, "CPUQuotaPerSecUSec"), &Value::U64(u64::MAX));
        assert_eq!(get(p, "TasksMax"), &Value::U64(u64::MAX));
        assert_eq!(get(p, "BlockIOWeight"), &Value::U64(300));
        assert!(!names(p).contains(&"MemoryMax"));
    }

    #[test]
    fn a_fractional_quota_is_rounded_up_for_both() {
        // 12345us per 100ms = 12.345% of a CPU: systemd keeps 13%.
        let r = res(serde_json::json!({"cpu": {"quota": 12345, "period": 100000}}));
        let out = resources(&r, true, &mut || 252).unwrap();
        assert_eq!(get(&out.props, "CPUQuotaPerSecUSec"), &Value::U64(130000));
        assert_eq!(out.rounded_quota, Some(13000));
    }

    #[test]
    fn old_systemd_gets_no_newer_properties() {
        let r = res(
            serde_json::json!({"cpu": {"quota": 50000, "period": 50000, "cpus": "0", "idle": 1}}),
        );
        let out = resources(&r, true, &mut || 241).unwrap();
        let n = names(&out.props);
        assert!(
            !n.contains(&"CPUQuotaPeriodUSec") && !n.contains(&"AllowedCPUs"),
            "{n:?}"
        );
        assert!(!n.contains(&"CPUWeight"), "{n:?}");
        assert_eq!(
            get(&out.props, "CPUQuotaPerSecUSec"),
            &Value::U64(1_000_000)
        );
        // idle on a new systemd: weight 0.
        let out = resources(&r, true, &mut || 252).unwrap();
        assert_eq!(get(&out.props, "CPUWeight"), &Value::U64(0));
    }

    #[test]
    fn nothing_asked_nothing_set_and_version_not_asked() {
        let out = resources(&res(serde_json::json!({})), true, &mut || {
            panic!("version asked without need")
        })
        .unwrap();
        assert!(out.props.is_empty());
    }

    #[test]
    fn unified_keys_and_bad_values() {
        let r = res(
            serde_json::json!({"unified": {"memory.high": "max", "pids.max": "0", "io.weight": "50"}}),
        );
        let out = resources(&r, true, &mut || 252).unwrap();
        assert_eq!(get(&out.props, "MemoryHigh"), &Value::U64(u64::MAX));
        assert_eq!(get(&out.props, "TasksMax"), &Value::U64(1));
        assert_eq!(out.props.len(), 2);
        let bad = res(serde_json::json!({"unified": {"memory.max": "lots"}}));
        let e = resources(&bad, true, &mut || 252).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("linux.resources.unified.memory.max:"),
            "{e}"
        );
        let bad = res(serde_json::json!({"cpu": {"cpus": "3-1"}}));
        assert!(resources(&bad, true, &mut || 252).is_err());
    }

    #[test]
    fn bitmasks() {
        assert_eq!(bitmask("0").unwrap(), [1]);
        assert_eq!(bitmask("0-7,9").unwrap(), [0xff, 0x02]);
        assert_eq!(bitmask(" 2 , 4-5 ").unwrap(), [0b110100]);
        for bad in ["", "a", "1-", "5-2", "99999999"] {
            assert!(bitmask(bad).is_none(), "{bad}");
        }
    }
}
