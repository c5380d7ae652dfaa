//! `berth update`: change a running container's resources, from runc's
//! flags or from `-r FILE` (a `linux.resources` JSON object, `-` for stdin;
//! then every other flag is ignored, as runc does).
//!
//! The flags are current runc's (1.5): `--cpu-share` (runc's spelling;
//! `--cpu-shares` is kept as an alias), `--cpu-burst` and `--cpu-idle`
//! (runc 1.2+), `-1` for the memory values, and flags before or after the
//! container id (runc 1.5's argument parser; runc 1.1 wants them before).

use std::io::Read;
use std::path::PathBuf;

use oci_spec::runtime::LinuxResources;
use serde_json::{json, Map, Value};

use crate::cgroups::Manager;
use crate::container;
use crate::error::{Context, Error, Result};
use crate::state::Status;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// path to the file containing the resources to update or '-' to read from the standard input
    #[arg(short = 'r', long, value_name = "FILE")]
    pub resources: Option<PathBuf>,
    /// Specifies per cgroup weight, range is from 10 to 1000
    #[arg(long, allow_hyphen_values = true)]
    pub blkio_weight: Option<String>,
    /// CPU CFS period to be used for hardcapping (in usecs). 0 to use system default
    #[arg(long, allow_hyphen_values = true)]
    pub cpu_period: Option<String>,
    /// CPU CFS hardcap limit (in usecs). Allowed cpu time in a given period
    #[arg(long, allow_hyphen_values = true)]
    pub cpu_quota: Option<String>,
    /// CPU CFS hardcap burst limit (in usecs). Allowed accumulated cpu time additionally for burst a given period
    #[arg(long, allow_hyphen_values = true)]
    pub cpu_burst: Option<String>,
    /// CPU shares (relative weight vs. other containers)
    #[arg(long = "cpu-share", alias = "cpu-shares", allow_hyphen_values = true)]
    pub cpu_share: Option<String>,
    /// CPU realtime period to be used for hardcapping (in usecs). 0 to use system default
    #[arg(long, allow_hyphen_values = true)]
    pub cpu_rt_period: Option<String>,
    /// CPU realtime hardcap limit (in usecs). Allowed cpu time in a given period
    #[arg(long, allow_hyphen_values = true)]
    pub cpu_rt_runtime: Option<String>,
    /// CPU(s) to use
    #[arg(long)]
    pub cpuset_cpus: Option<String>,
    /// Memory node(s) to use
    #[arg(long)]
    pub cpuset_mems: Option<String>,
    /// (obsoleted; do not use)
    #[arg(long, hide = true, allow_hyphen_values = true)]
    pub kernel_memory: Option<String>,
    /// (obsoleted; do not use)
    #[arg(long, hide = true, allow_hyphen_values = true)]
    pub kernel_memory_tcp: Option<String>,
    /// Memory limit (in bytes)
    #[arg(short = 'm', long, allow_hyphen_values = true)]
    pub memory: Option<String>,
    /// set cgroup SCHED_IDLE or not, 0: default behavior, 1: SCHED_IDLE
    #[arg(long, allow_hyphen_values = true)]
    pub cpu_idle: Option<String>,
    /// Memory reservation or soft_limit (in bytes)
    #[arg(long, allow_hyphen_values = true)]
    pub memory_reservation: Option<String>,
    /// Total memory usage (memory + swap); set '-1' to enable unlimited swap
    #[arg(long, allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Maximum number of pids allowed in the container
    #[arg(long, allow_hyphen_values = true)]
    pub pids_limit: Option<String>,
    /// the container id
    pub id: String,
}

/// A size as Docker's `RAMInBytes` reads it (runc's parser): a decimal
/// number, an optional space, then an optional binary unit `k m g t p`, an
/// optional `i` and an optional `b`, any case (`128M`, `1.5g`, `512KiB`);
/// `-1` is unlimited.
pub fn parse_bytes(s: &str) -> Result<i64> {
    if s == "-1" {
        return Ok(-1);
    }
    let bad = || Error::msg(format!("invalid size: '{s}'"));
    let lower = s.to_ascii_lowercase();
    let mut t = lower.as_str();
    t = t.strip_suffix('b').unwrap_or(t);
    t = t.strip_suffix('i').unwrap_or(t);
    let shift = match t.chars().last() {
        Some(c @ ('k' | 'm' | 'g' | 't' | 'p')) => {
            t = &t[..t.len() - 1];
            10 * (1 + "kmgtp".find(c).unwrap_or(0))
        }
        _ => 0,
    };
    t = t.strip_suffix(' ').unwrap_or(t);
    let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    let (int, frac) = t.split_once('.').unwrap_or((t, "0"));
    if !digits(int) || !digits(frac) {
        return Err(bad());
    }
    let n: f64 = t.parse().map_err(|_| bad())?;
    Ok((n * (1u64 << shift) as f64) as i64)
}

/// One flag's value as a number of type `T`, with runc's error wording.
fn num<T: std::str::FromStr>(flag: &str, v: &str) -> Result<T>
where
    T::Err: std::fmt::Display,
{
    v.parse::<T>()
        .map_err(|e| Error::msg(format!("invalid value for {flag}: parsing {v:?}: {e}")))
}

/// The `cpu` object from the flags (empty when none is given).
fn cpu_from_flags(a: &Args) -> Result<Map<String, Value>> {
    let mut cpu = Map::new();
    let unsigned = [
        ("cpu-burst", "burst", &a.cpu_burst),
        ("cpu-period", "period", &a.cpu_period),
        ("cpu-rt-period", "realtimePeriod", &a.cpu_rt_period),
        ("cpu-share", "shares", &a.cpu_share),
    ];
    for (flag, key, v) in unsigned {
        if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
            cpu.insert(key.into(), json!(num::<u64>(flag, v)?));
        }
    }
    let signed = [
        ("cpu-quota", "quota", &a.cpu_quota),
        ("cpu-rt-runtime", "realtimeRuntime", &a.cpu_rt_runtime),
        ("cpu-idle", "idle", &a.cpu_idle),
    ];
    for (flag, key, v) in signed {
        if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
            cpu.insert(key.into(), json!(num::<i64>(flag, v)?));
        }
    }
    for (key, v) in [("cpus", &a.cpuset_cpus), ("mems", &a.cpuset_mems)] {
        if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
            cpu.insert(key.into(), json!(v));
        }
    }
    Ok(cpu)
}

fn from_flags(a: &Args) -> Result<Value> {
    let mut mem = Map::new();
    for (flag, key, v) in [
        ("memory", "limit", &a.memory),
        ("memory-swap", "swap", &a.memory_swap),
        ("memory-reservation", "reservation", &a.memory_reservation),
    ] {
        if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
            let n =
                parse_bytes(v).map_err(|e| Error::msg(format!("invalid value for {flag}: {e}")))?;
            mem.insert(key.into(), json!(n));
        }
    }
    if a.kernel_memory.is_some() || a.kernel_memory_tcp.is_some() {
        tracing::warn!("Kernel memory settings are ignored and will be removed");
    }
    let cpu = cpu_from_flags(a)?;
    let mut r = Map::new();
    if !mem.is_empty() {
        r.insert("memory".into(), Value::Object(mem));
    }
    if !cpu.is_empty() {
        r.insert("cpu".into(), Value::Object(cpu));
    }
    if let Some(v) = &a.pids_limit {
        r.insert(
            "pids".into(),
            json!({ "limit": num::<i64>("pids-limit", v)? }),
        );
    }
    // runc: a weight of 0 is "not given".
    if let Some(w) = a
        .blkio_weight
        .as_deref()
        .map(|v| num::<u16>("blkio-weight", v))
    {
        let w = w?;
        if w != 0 {
            r.insert("blockIO".into(), json!({ "weight": w }));
        }
    }
    Ok(Value::Object(r))
}

fn from_file(path: &PathBuf) -> Result<Value> {
    let mut text = String::new();
    if path.as_os_str() == "-" {
        std::io::stdin()
            .read_to_string(&mut text)
            .ctx(|| "read resources from stdin".into())?;
    } else {
        text = std::fs::read_to_string(path).ctx(|| format!("read {}", path.display()))?;
    }
    serde_json::from_str(&text).map_err(|e| Error::config(format!("invalid resources JSON: {e}")))
}

/// Current runc (1.2+, and its systemd driver) writes `pids.max` 1 for a
/// pids limit of 0, so both forms of `update` give 1 (runc 1.1 ignored 0);
/// a negative limit is `max`.
fn pids_zero_is_one(value: &mut Value) {
    if let Some(l) = value.pointer_mut("/pids/limit") {
        if l.as_i64() == Some(0) {
            *l = json!(1);
        }
    }
}

pub fn run(a: Args, g: &super::Global) -> Result<i32> {
    let v = container::view(&g.root, &a.id)?;
    if v.status == Status::Stopped {
        return Err(Error::NotRunning);
    }
    let mut value = match &a.resources {
        Some(p) => from_file(p)?,
        None => from_flags(&a)?,
    };
    pids_zero_is_one(&mut value);
    let res: LinuxResources = serde_json::from_value(value)
        .map_err(|e| Error::config(format!("invalid resources: {e}")))?;
    Manager::open(&v.saved.cgroup)?.apply(&res)?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct T {
        #[command(flatten)]
        a: Args,
    }

    fn flags(argv: &[&str]) -> Value {
        let t = T::try_parse_from(std::iter::once("update").chain(argv.iter().copied())).unwrap();
        let mut v = from_flags(&t.a).unwrap();
        pids_zero_is_one(&mut v);
        v
    }

    #[test]
    fn parses_sizes_like_runc() {
        assert_eq!(parse_bytes("128M").unwrap(), 128 << 20);
        assert_eq!(parse_bytes("1g").unwrap(), 1 << 30);
        assert_eq!(parse_bytes("1.5g").unwrap(), 3 << 29);
        assert_eq!(parse_bytes("512kb").unwrap(), 512 << 10);
        assert_eq!(parse_bytes("512KiB").unwrap(), 512 << 10);
        assert_eq!(parse_bytes("2 m").unwrap(), 2 << 20);
        assert_eq!(parse_bytes("1024").unwrap(), 1024);
        assert_eq!(parse_bytes("-1").unwrap(), -1);
        for bad in ["lots", "", "-2", "1.", ".5", "5x", "1 2"] {
            assert!(parse_bytes(bad).is_err(), "{bad}");
        }
        assert_eq!(
            parse_bytes("x").unwrap_err().to_string(),
            "invalid size: 'x'"
        );
    }

    #[test]
    fn every_runc_flag_maps_to_its_field() {
        let v = flags(&[
            "--memory-swap",
            "-1",
            "--memory",
            "256m",
            "--memory-reservation",
            "1g",
            "--cpu-share",
            "512",
            "--cpu-quota",
            "-1",
            "--cpu-period",
            "100000",
            "--cpu-burst",
            "1000",
            "--cpu-idle",
            "1",
            "--cpu-rt-period",
            "1000000",
            "--cpu-rt-runtime",
            "-1",
            "--cpuset-cpus",
            "0",
            "--cpuset-mems",
            "0",
            "--pids-limit",
            "-1",
            "--blkio-weight",
            "500",
            "c1",
        ]);
        assert_eq!(
            v,
            json!({
                "memory": {"limit": 256 << 20, "swap": -1, "reservation": 1 << 30},
                "cpu": {"shares": 512, "quota": -1, "period": 100000, "burst": 1000,
                        "idle": 1, "realtimePeriod": 1000000, "realtimeRuntime": -1,
                        "cpus": "0", "mems": "0"},
                "pids": {"limit": -1},
                "blockIO": {"weight": 500},
            })
        );
    }

    #[test]
    fn flags_after_the_id_and_runc_forms() {
        assert_eq!(
            flags(&["c1", "--pids-limit", "0", "--cpu-shares", "2"]),
            json!({"pids": {"limit": 1}, "cpu": {"shares": 2}})
        );
        assert_eq!(flags(&["--blkio-weight", "0", "c1"]), json!({}));
    }

    #[test]
    fn bad_values_name_the_flag() {
        let t = T::try_parse_from(["update", "--cpu-burst", "-5", "c1"]).unwrap();
        let e = from_flags(&t.a).unwrap_err().to_string();
        assert!(e.starts_with("invalid value for cpu-burst: "), "{e}");
        let t = T::try_parse_from(["update", "--memory", "lots", "c1"]).unwrap();
        let e = from_flags(&t.a).unwrap_err().to_string();
        assert_eq!(e, "invalid value for memory: invalid size: 'lots'");
    }
}
