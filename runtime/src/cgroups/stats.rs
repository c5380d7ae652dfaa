//! Resource usage for `events --stats` and the shim's Stats, in the JSON
//! shape of runc's `types.Stats` (Go's `omitempty` becomes
//! `skip_serializing_if`; struct fields are always present, as in Go).
//! Read from the controllers' stat files; a missing file leaves zeros.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use super::fs::{self, keyed, read, read_u64};

fn zero(v: &u64) -> bool {
    *v == 0
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Stats {
    pub cpu: Cpu,
    pub cpuset: CpuSet,
    pub memory: Memory,
    pub pids: Pids,
    pub blkio: Blkio,
    pub hugetlb: BTreeMap<String, Hugetlb>,
    pub intel_rdt: IntelRdt,
    pub network_interfaces: Option<Vec<()>>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Cpu {
    pub usage: CpuUsage,
    pub throttling: Throttling,
}

/// Nanoseconds.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct CpuUsage {
    #[serde(skip_serializing_if = "zero")]
    pub total: u64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub percpu: Vec<u64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub percpu_kernel: Vec<u64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub percpu_user: Vec<u64>,
    pub kernel: u64,
    pub user: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Throttling {
    #[serde(skip_serializing_if = "zero")]
    pub periods: u64,
    #[serde(rename = "throttledPeriods", skip_serializing_if = "zero")]
    pub throttled_periods: u64,
    #[serde(rename = "throttledTime", skip_serializing_if = "zero")]
    pub throttled_time: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct CpuSet {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cpus: Vec<u16>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mems: Vec<u16>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct MemoryEntry {
    pub limit: u64,
    #[serde(skip_serializing_if = "zero")]
    pub usage: u64,
    #[serde(skip_serializing_if = "zero")]
    pub max: u64,
    pub failcnt: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Memory {
    #[serde(skip_serializing_if = "zero")]
    pub cache: u64,
    pub usage: MemoryEntry,
    pub swap: MemoryEntry,
    pub kernel: MemoryEntry,
    #[serde(rename = "kernelTCP")]
    pub kernel_tcp: MemoryEntry,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub raw: BTreeMap<String, u64>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Pids {
    #[serde(skip_serializing_if = "zero")]
    pub current: u64,
    #[serde(skip_serializing_if = "zero")]
    pub limit: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct BlkioEntry {
    #[serde(skip_serializing_if = "zero")]
    pub major: u64,
    #[serde(skip_serializing_if = "zero")]
    pub minor: u64,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub op: String,
    #[serde(skip_serializing_if = "zero")]
    pub value: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Blkio {
    #[serde(
        rename = "ioServiceBytesRecursive",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub io_service_bytes_recursive: Vec<BlkioEntry>,
    #[serde(rename = "ioServicedRecursive", skip_serializing_if = "Vec::is_empty")]
    pub io_serviced_recursive: Vec<BlkioEntry>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Hugetlb {
    #[serde(skip_serializing_if = "zero")]
    pub usage: u64,
    #[serde(skip_serializing_if = "zero")]
    pub max: u64,
    pub failcnt: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct IntelRdt {}

/// runc's `events` record (its `types.Event`), keys in runc's order:
/// `{"type":"stats","id":ID,"data":{...}}`, or `{"type":"oom","id":ID}`
/// (Go's `omitempty` on `data`). A struct, as serde_json's maps would sort
/// the keys.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Event<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<&'a Stats>,
}

impl Event<'_> {
    /// The record of an OOM in the container's cgroup.
    pub fn oom(id: &str) -> Event<'_> {
        Event {
            kind: "oom",
            id,
            data: None,
        }
    }
}

impl Stats {
    /// The `stats` record of `events`.
    pub fn event<'a>(&'a self, id: &'a str) -> Event<'a> {
        Event {
            kind: "stats",
            id,
            data: Some(self),
        }
    }
}

/// USER_HZ: the unit of cpuacct.stat (fixed at 100 on Linux).
const USER_HZ: u64 = 100;

fn list(dir: &Path, file: &str) -> Vec<u64> {
    read(dir, file)
        .map(|s| {
            s.split_whitespace()
                .filter_map(|v| v.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// v1 cpuacct: total, per-cpu and user/kernel time.
pub fn v1_cpuacct(dir: &Path, s: &mut Cpu) {
    s.usage.total = read_u64(dir, "cpuacct.usage").unwrap_or(0);
    s.usage.percpu = list(dir, "cpuacct.usage_percpu");
    s.usage.percpu_user = list(dir, "cpuacct.usage_percpu_user");
    s.usage.percpu_kernel = list(dir, "cpuacct.usage_percpu_sys");
    if let Ok(t) = read(dir, "cpuacct.stat") {
        let ns = 1_000_000_000 / USER_HZ;
        s.usage.user = keyed(&t, "user").unwrap_or(0) * ns;
        s.usage.kernel = keyed(&t, "system").unwrap_or(0) * ns;
    }
}

/// v1 cpu: CFS throttling.
pub fn v1_throttling(dir: &Path, s: &mut Cpu) {
    if let Ok(t) = read(dir, "cpu.stat") {
        s.throttling.periods = keyed(&t, "nr_periods").unwrap_or(0);
        s.throttling.throttled_periods = keyed(&t, "nr_throttled").unwrap_or(0);
        s.throttling.throttled_time = keyed(&t, "throttled_time").unwrap_or(0);
    }
}

/// v2 cpu.stat: microseconds, converted to nanoseconds.
pub fn v2_cpu(dir: &Path, s: &mut Cpu) {
    if let Ok(t) = read(dir, "cpu.stat") {
        let us = |k| keyed(&t, k).unwrap_or(0) * 1000;
        s.usage.total = us("usage_usec");
        s.usage.user = us("user_usec");
        s.usage.kernel = us("system_usec");
        s.throttling.periods = keyed(&t, "nr_periods").unwrap_or(0);
        s.throttling.throttled_periods = keyed(&t, "nr_throttled").unwrap_or(0);
        s.throttling.throttled_time = us("throttled_usec");
    }
}

fn v1_entry(dir: &Path, prefix: &str) -> MemoryEntry {
    let f = |suffix: &str| read_u64(dir, &format!("{prefix}{suffix}")).unwrap_or(0);
    MemoryEntry {
        limit: f("limit_in_bytes"),
        usage: f("usage_in_bytes"),
        max: f("max_usage_in_bytes"),
        failcnt: f("failcnt"),
    }
}

fn raw_stat(dir: &Path, file: &str) -> BTreeMap<String, u64> {
    read(dir, file)
        .map(|t| fs::keyed_all(&t).map(|(k, v)| (k.to_string(), v)).collect())
        .unwrap_or_default()
}

/// v1 memory: usage, memsw (memory+swap), kmem, kmem.tcp, memory.stat.
pub fn v1_memory(dir: &Path, s: &mut Memory) {
    s.usage = v1_entry(dir, "memory.");
    s.swap = v1_entry(dir, "memory.memsw.");
    s.kernel = v1_entry(dir, "memory.kmem.");
    s.kernel_tcp = v1_entry(dir, "memory.kmem.tcp.");
    s.raw = raw_stat(dir, "memory.stat");
    s.cache = s.raw.get("cache").copied().unwrap_or(0);
}

/// v2 memory; swap is reported as memory+swap, like v1 (runc).
pub fn v2_memory(dir: &Path, s: &mut Memory) {
    let failcnt = read(dir, "memory.events")
        .ok()
        .and_then(|t| keyed(&t, "max"))
        .unwrap_or(0);
    s.usage = MemoryEntry {
        limit: read_u64(dir, "memory.max").unwrap_or(u64::MAX),
        usage: read_u64(dir, "memory.current").unwrap_or(0),
        max: read_u64(dir, "memory.peak").unwrap_or(0),
        failcnt,
    };
    let swap_limit = read_u64(dir, "memory.swap.max").unwrap_or(0);
    s.swap = MemoryEntry {
        limit: if swap_limit == u64::MAX {
            u64::MAX
        } else {
            swap_limit.saturating_add(s.usage.limit)
        },
        usage: read_u64(dir, "memory.swap.current").unwrap_or(0) + s.usage.usage,
        max: read_u64(dir, "memory.swap.peak").unwrap_or(0),
        failcnt: 0,
    };
    s.raw = raw_stat(dir, "memory.stat");
    s.cache = s.raw.get("file").copied().unwrap_or(0);
}

/// pids.current / pids.max (same files on v1 and v2; `max` reads as 0).
pub fn pids(dir: &Path, s: &mut Pids) {
    s.current = read_u64(dir, "pids.current").unwrap_or(0);
    s.limit = read_u64(dir, "pids.max")
        .filter(|&v| v != u64::MAX)
        .unwrap_or(0);
}

/// v1 blkio: CFQ's recursive counters where present, else the throttle
/// layer's (which sees all I/O on modern kernels without CFQ).
pub fn v1_blkio(dir: &Path, s: &mut Blkio) {
    let pick = |cfq: &str, thr: &str| {
        read(dir, cfq)
            .or_else(|_| read(dir, thr))
            .map(|t| parse_blkio(&t))
            .unwrap_or_default()
    };
    s.io_service_bytes_recursive = pick(
        "blkio.io_service_bytes_recursive",
        "blkio.throttle.io_service_bytes_recursive",
    );
    s.io_serviced_recursive = pick(
        "blkio.io_serviced_recursive",
        "blkio.throttle.io_serviced_recursive",
    );
}

/// "8:0 Read 4096" lines; the trailing "Total N" line is skipped.
pub fn parse_blkio(text: &str) -> Vec<BlkioEntry> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let [dev, op, v] = f.as_slice() else {
                return None;
            };
            let (ma, mi) = dev.split_once(':')?;
            Some(BlkioEntry {
                major: ma.parse().ok()?,
                minor: mi.parse().ok()?,
                op: op.to_string(),
                value: v.parse().ok()?,
            })
        })
        .collect()
}

/// v2 io.stat: "8:0 rbytes=1 wbytes=2 rios=3 wios=4 ...".
pub fn v2_io(dir: &Path, s: &mut Blkio) {
    let Ok(t) = read(dir, "io.stat") else { return };
    for line in t.lines() {
        let mut f = line.split_whitespace();
        let Some((ma, mi)) = f.next().and_then(|d| d.split_once(':')) else {
            continue;
        };
        let (Ok(major), Ok(minor)) = (ma.parse(), mi.parse()) else {
            continue;
        };
        for kv in f {
            let Some((k, v)) = kv.split_once('=') else {
                continue;
            };
            let Ok(value) = v.parse() else { continue };
            let (list, op) = match k {
                "rbytes" => (&mut s.io_service_bytes_recursive, "Read"),
                "wbytes" => (&mut s.io_service_bytes_recursive, "Write"),
                "rios" => (&mut s.io_serviced_recursive, "Read"),
                "wios" => (&mut s.io_serviced_recursive, "Write"),
                _ => continue,
            };
            list.push(BlkioEntry {
                major,
                minor,
                op: op.to_string(),
                value,
            });
        }
    }
}

/// hugetlb per page size (v1 or v2 file names).
pub fn hugetlb(dir: &Path, v2: bool, sizes: &[String], out: &mut BTreeMap<String, Hugetlb>) {
    for size in sizes {
        let h = if v2 {
            Hugetlb {
                usage: read_u64(dir, &format!("hugetlb.{size}.current")).unwrap_or(0),
                max: 0,
                failcnt: read(dir, &format!("hugetlb.{size}.events"))
                    .ok()
                    .and_then(|t| keyed(&t, "max"))
                    .unwrap_or(0),
            }
        } else {
            let f = |s: &str| read_u64(dir, &format!("hugetlb.{size}.{s}")).unwrap_or(0);
            Hugetlb {
                usage: f("usage_in_bytes"),
                max: f("max_usage_in_bytes"),
                failcnt: f("failcnt"),
            }
        };
        out.insert(size.clone(), h);
    }
}

/// cpuset.effective_cpus/mems as lists ("0-2,4" → [0, 1, 2, 4]).
pub fn cpuset(dir: &Path, s: &mut CpuSet) {
    let parse = |f: &str| {
        read(dir, f)
            .map(|t| parse_range_list(&t))
            .unwrap_or_default()
    };
    s.cpus = parse("cpuset.effective_cpus");
    s.mems = parse("cpuset.effective_mems");
}

pub fn parse_range_list(t: &str) -> Vec<u16> {
    let mut out = Vec::new();
    for part in t.trim().split(',').filter(|p| !p.is_empty()) {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        if let (Ok(a), Ok(b)) = (a.parse::<u16>(), b.parse::<u16>()) {
            out.extend(a..=b);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialises_in_runcs_shape() {
        let mut s = Stats::default();
        s.memory.usage.usage = 10;
        s.pids.current = 2;
        let v = serde_json::to_value(s.event("c1")).unwrap();
        assert_eq!(v["type"], "stats");
        assert_eq!(v["id"], "c1");
        let d = &v["data"];
        assert_eq!(d["memory"]["usage"]["usage"], 10);
        assert_eq!(d["memory"]["usage"]["limit"], 0);
        assert_eq!(d["memory"]["swap"]["failcnt"], 0);
        assert!(d["memory"]["kernelTCP"].is_object());
        assert!(d["memory"].get("cache").is_none());
        assert_eq!(d["pids"]["current"], 2);
        assert!(d["pids"].get("limit").is_none());
        assert_eq!(d["cpu"]["usage"]["kernel"], 0);
        assert!(d["cpu"]["throttling"].is_object());
        assert!(d["hugetlb"].is_object());
        assert!(d["network_interfaces"].is_null());
    }

    #[test]
    fn records_keep_runcs_key_order() {
        let s = Stats::default();
        let line = serde_json::to_string(&s.event("c1")).unwrap();
        assert!(
            line.starts_with(r#"{"type":"stats","id":"c1","data":{"cpu":{"usage":{"kernel""#),
            "{line}"
        );
        let keys: Vec<&str> = [
            "\"cpuset\"",
            "\"memory\"",
            "\"pids\"",
            "\"blkio\"",
            "\"hugetlb\"",
        ]
        .into_iter()
        .collect();
        let pos: Vec<usize> = keys.iter().map(|k| line.find(k).unwrap()).collect();
        assert!(pos.windows(2).all(|w| w[0] < w[1]), "{line}");
        assert_eq!(
            serde_json::to_string(&Event::oom("c1")).unwrap(),
            r#"{"type":"oom","id":"c1"}"#
        );
    }

    #[test]
    fn parses_stat_files() {
        let b = parse_blkio("8:0 Read 4096\n8:0 Write 0\n8:0 Total 4096\nTotal 4096\n");
        assert_eq!(b.len(), 3);
        assert_eq!(b[0].op, "Read");
        assert_eq!(b[0].value, 4096);
        assert_eq!(parse_range_list("0-2,4\n"), vec![0, 1, 2, 4]);
        assert_eq!(parse_range_list(""), Vec::<u16>::new());
    }
}
