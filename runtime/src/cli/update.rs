//! `berth update`: change a running container's resources, from runc's
//! flags or from `-r FILE` (a `linux.resources` JSON object, `-` for stdin).

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
    /// path to a JSON file with the resources to update ('-' for stdin)
    #[arg(short = 'r', long)]
    pub resources: Option<PathBuf>,
    /// memory limit (in bytes, or with a k/m/g suffix)
    #[arg(short = 'm', long)]
    pub memory: Option<String>,
    /// memory reservation or soft limit
    #[arg(long)]
    pub memory_reservation: Option<String>,
    /// total memory usage (memory + swap); '-1' for unlimited swap
    #[arg(long)]
    pub memory_swap: Option<String>,
    /// CPU shares (relative weight)
    #[arg(long)]
    pub cpu_shares: Option<u64>,
    /// CPU CFS hardcap limit (in usecs per period)
    #[arg(long, allow_hyphen_values = true)]
    pub cpu_quota: Option<i64>,
    /// CPU CFS period
    #[arg(long)]
    pub cpu_period: Option<u64>,
    /// CPU(s) to use
    #[arg(long)]
    pub cpuset_cpus: Option<String>,
    /// memory node(s) to use
    #[arg(long)]
    pub cpuset_mems: Option<String>,
    /// maximum number of pids allowed in the container
    #[arg(long, allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// block IO weight (10 to 1000)
    #[arg(long)]
    pub blkio_weight: Option<u16>,
    /// the container id
    pub id: String,
}

/// `128M`, `1g`, `1024`, `512kb`, `-1` → bytes (binary units, as runc).
pub fn parse_bytes(s: &str) -> Result<i64> {
    if s == "-1" {
        return Ok(-1);
    }
    let t = s.trim().to_ascii_lowercase();
    let t = t.strip_suffix('b').unwrap_or(&t);
    let (num, mult) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 1i64 << 10),
        Some('m') => (&t[..t.len() - 1], 1 << 20),
        Some('g') => (&t[..t.len() - 1], 1 << 30),
        Some('t') => (&t[..t.len() - 1], 1 << 40),
        _ => (t, 1),
    };
    let n: f64 = num
        .parse()
        .map_err(|_| Error::msg(format!("invalid size {s:?}")))?;
    Ok((n * mult as f64) as i64)
}

fn from_flags(a: &Args) -> Result<Value> {
    let mut mem = Map::new();
    for (key, v) in [
        ("limit", &a.memory),
        ("reservation", &a.memory_reservation),
        ("swap", &a.memory_swap),
    ] {
        if let Some(v) = v {
            mem.insert(key.into(), json!(parse_bytes(v)?));
        }
    }
    let mut cpu = Map::new();
    if let Some(v) = a.cpu_shares {
        cpu.insert("shares".into(), json!(v));
    }
    if let Some(v) = a.cpu_quota {
        cpu.insert("quota".into(), json!(v));
    }
    if let Some(v) = a.cpu_period {
        cpu.insert("period".into(), json!(v));
    }
    if let Some(v) = &a.cpuset_cpus {
        cpu.insert("cpus".into(), json!(v));
    }
    if let Some(v) = &a.cpuset_mems {
        cpu.insert("mems".into(), json!(v));
    }
    let mut r = Map::new();
    if !mem.is_empty() {
        r.insert("memory".into(), Value::Object(mem));
    }
    if !cpu.is_empty() {
        r.insert("cpu".into(), Value::Object(cpu));
    }
    if let Some(v) = a.pids_limit {
        r.insert("pids".into(), json!({ "limit": v }));
    }
    if let Some(v) = a.blkio_weight {
        r.insert("blockIO".into(), json!({ "weight": v }));
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

pub fn run(a: Args, g: &super::Global) -> Result<i32> {
    let v = container::view(&g.root, &a.id)?;
    if v.status == Status::Stopped {
        return Err(Error::NotRunning);
    }
    let value = match &a.resources {
        Some(p) => from_file(p)?,
        None => from_flags(&a)?,
    };
    let res: LinuxResources = serde_json::from_value(value)
        .map_err(|e| Error::config(format!("invalid resources: {e}")))?;
    Manager::open(&v.saved.cgroup)?.apply(&res)?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_sizes_like_runc() {
        use super::parse_bytes;
        assert_eq!(parse_bytes("128M").unwrap(), 128 << 20);
        assert_eq!(parse_bytes("1g").unwrap(), 1 << 30);
        assert_eq!(parse_bytes("512kb").unwrap(), 512 << 10);
        assert_eq!(parse_bytes("1024").unwrap(), 1024);
        assert_eq!(parse_bytes("-1").unwrap(), -1);
        assert!(parse_bytes("lots").is_err());
    }
}
