//! Writing `linux.resources` to cgroup v1 controller directories. Each
//! function writes only the fields that are set.

use std::collections::HashMap;
use std::path::Path;

use oci_spec::runtime::{
    LinuxBlockIo, LinuxCpu, LinuxHugepageLimit, LinuxInterfacePriority, LinuxMemory, LinuxRdma,
};

use super::error::{CgroupError, Result};
use super::fs;

const MEM: &str = "linux.resources.memory";

/// memory: limit, swap (memory+swap, memsw), reservation, kernel,
/// kernelTCP, swappiness, disableOOMKiller, useHierarchy, checkBeforeUpdate.
#[allow(deprecated)] // `kernel` is deprecated in the spec; we still honour it.
pub fn memory(dir: &Path, m: &LinuxMemory, fresh: bool) -> Result<()> {
    let limit = m.limit();
    let mut swap = m.swap();
    if let Some(l) = limit.filter(|&l| l > 0) {
        if m.check_before_update() == Some(true) && !fresh {
            check_usage(dir, "memory.usage_in_bytes", l)?;
        }
    }
    if limit == Some(-1) && swap.is_none() && dir.join("memory.memsw.limit_in_bytes").exists() {
        // Unlimited memory with swap unset: unlimited swap too (runc).
        swap = Some(-1);
    }
    limits(dir, limit, swap)?;
    if let Some(r) = m.reservation() {
        fs::write(
            dir,
            "memory.soft_limit_in_bytes",
            &r.to_string(),
            &format!("{MEM}.reservation"),
        )?;
    }
    if let Some(k) = m.kernel() {
        optional(
            dir,
            "memory.kmem.limit_in_bytes",
            &k.to_string(),
            &format!("{MEM}.kernel"),
        )?;
    }
    if let Some(k) = m.kernel_tcp() {
        optional(
            dir,
            "memory.kmem.tcp.limit_in_bytes",
            &k.to_string(),
            &format!("{MEM}.kernelTCP"),
        )?;
    }
    if let Some(s) = m.swappiness() {
        if s > 100 {
            return Err(CgroupError::invalid(
                format!("{MEM}.swappiness"),
                format!("invalid value {s}; the valid range is 0-100"),
            ));
        }
        fs::write(
            dir,
            "memory.swappiness",
            &s.to_string(),
            &format!("{MEM}.swappiness"),
        )?;
    }
    if m.disable_oom_killer() == Some(true) {
        fs::write(
            dir,
            "memory.oom_control",
            "1",
            &format!("{MEM}.disableOOMKiller"),
        )?;
    }
    if let Some(h) = m.use_hierarchy() {
        let v = if h { "1" } else { "0" };
        fs::write(
            dir,
            "memory.use_hierarchy",
            v,
            &format!("{MEM}.useHierarchy"),
        )?;
    }
    Ok(())
}

/// Refuses a limit below the current usage (`checkBeforeUpdate`).
pub fn check_usage(dir: &Path, usage_file: &str, limit: i64) -> Result<()> {
    let usage = fs::read_u64(dir, usage_file).unwrap_or(0);
    if usage > limit as u64 {
        return Err(CgroupError::BelowUsage { limit, usage });
    }
    Ok(())
}

/// memory.limit_in_bytes must stay <= memory.memsw.limit_in_bytes at every
/// step: write the limit first, and if the kernel refuses (it would exceed
/// the current memsw), write memsw first.
fn limits(dir: &Path, limit: Option<i64>, swap: Option<i64>) -> Result<()> {
    let lf = format!("{MEM}.limit");
    let sf = format!("{MEM}.swap");
    let swap = swap.filter(|&s| s != 0);
    let write_swap = |s: i64| -> Result<()> {
        match fs::write_io(dir, "memory.memsw.limit_in_bytes", &s.to_string()) {
            Err(e) if fs::is_missing(&e) && s == -1 => Ok(()),
            Err(e) if fs::is_missing(&e) => Err(CgroupError::invalid(
                &sf,
                "swap accounting is not enabled on this host (no memory.memsw.limit_in_bytes)",
            )),
            Err(source) => Err(fs::write_error(
                &sf,
                dir,
                "memory.memsw.limit_in_bytes",
                &s.to_string(),
                source,
            )),
            Ok(()) => Ok(()),
        }
    };
    match (limit, swap) {
        (Some(l), Some(s)) => match fs::write_io(dir, "memory.limit_in_bytes", &l.to_string()) {
            Ok(()) => write_swap(s),
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                write_swap(s)?;
                fs::write(dir, "memory.limit_in_bytes", &l.to_string(), &lf)
            }
            Err(source) => Err(fs::write_error(
                &lf,
                dir,
                "memory.limit_in_bytes",
                &l.to_string(),
                source,
            )),
        },
        (Some(l), None) => fs::write(dir, "memory.limit_in_bytes", &l.to_string(), &lf),
        (None, Some(s)) => write_swap(s),
        (None, None) => Ok(()),
    }
}

/// A write the kernel may no longer support (kmem limits): a missing file or
/// EOPNOTSUPP is logged, not fatal (runc ignores these settings entirely).
fn optional(dir: &Path, file: &str, value: &str, field: &str) -> Result<()> {
    match fs::write_io(dir, file, value) {
        Err(e) if fs::is_missing(&e) || e.raw_os_error() == Some(libc::EOPNOTSUPP) => {
            tracing::warn!("{field}: not supported by this kernel ({e}); ignored");
            Ok(())
        }
        Err(source) => Err(fs::write_error(field, dir, file, value, source)),
        Ok(()) => Ok(()),
    }
}

/// cpu: shares, period/quota/burst (CFS), realtime period/runtime, idle.
pub fn cpu(dir: &Path, c: &LinuxCpu) -> Result<()> {
    const F: &str = "linux.resources.cpu";
    if let Some(s) = c.shares().filter(|&s| s != 0) {
        fs::write(dir, "cpu.shares", &s.to_string(), &format!("{F}.shares"))?;
    }
    let period = c.period().filter(|&p| p != 0);
    let quota = c.quota().filter(|&q| q != 0);
    if let Some(p) = period {
        match fs::write_io(dir, "cpu.cfs_period_us", &p.to_string()) {
            // A new period can be refused with the old quota: quota first.
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) && quota.is_some() => {
                write_quota(dir, quota, c.burst())?;
                fs::write(
                    dir,
                    "cpu.cfs_period_us",
                    &p.to_string(),
                    &format!("{F}.period"),
                )?;
            }
            Err(source) => {
                return Err(fs::write_error(
                    &format!("{F}.period"),
                    dir,
                    "cpu.cfs_period_us",
                    &p.to_string(),
                    source,
                ))
            }
            Ok(()) => {}
        }
    }
    write_quota(dir, quota, c.burst())?;
    if let Some(p) = c.realtime_period().filter(|&p| p != 0) {
        fs::write(
            dir,
            "cpu.rt_period_us",
            &p.to_string(),
            &format!("{F}.realtimePeriod"),
        )?;
    }
    if let Some(r) = c.realtime_runtime().filter(|&r| r != 0) {
        fs::write(
            dir,
            "cpu.rt_runtime_us",
            &r.to_string(),
            &format!("{F}.realtimeRuntime"),
        )?;
    }
    if let Some(i) = c.idle() {
        fs::write(dir, "cpu.idle", &i.to_string(), &format!("{F}.idle"))?;
    }
    Ok(())
}

/// cfs_quota_us then cfs_burst_us (burst <= quota); a quota below the
/// current burst is refused, so then the burst goes first.
fn write_quota(dir: &Path, quota: Option<i64>, burst: Option<u64>) -> Result<()> {
    const F: &str = "linux.resources.cpu";
    let wb = |b: u64| {
        fs::write(
            dir,
            "cpu.cfs_burst_us",
            &b.to_string(),
            &format!("{F}.burst"),
        )
    };
    if let Some(q) = quota {
        match fs::write_io(dir, "cpu.cfs_quota_us", &q.to_string()) {
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) && burst.is_some() => {
                burst.map(wb).transpose()?;
                return fs::write(
                    dir,
                    "cpu.cfs_quota_us",
                    &q.to_string(),
                    &format!("{F}.quota"),
                );
            }
            Err(source) => {
                return Err(fs::write_error(
                    &format!("{F}.quota"),
                    dir,
                    "cpu.cfs_quota_us",
                    &q.to_string(),
                    source,
                ))
            }
            Ok(()) => {}
        }
    }
    burst.map(wb).transpose().map(|_| ())
}

/// cpuset: cpus, mems.
pub fn cpuset(dir: &Path, c: &LinuxCpu) -> Result<()> {
    if let Some(s) = c.cpus().as_deref().filter(|s| !s.is_empty()) {
        fs::write(dir, "cpuset.cpus", s, "linux.resources.cpu.cpus")?;
    }
    if let Some(s) = c.mems().as_deref().filter(|s| !s.is_empty()) {
        fs::write(dir, "cpuset.mems", s, "linux.resources.cpu.mems")?;
    }
    Ok(())
}

/// pids.max: a negative limit is `max`; 0 is a real limit (runtime-spec).
pub fn pids(dir: &Path, limit: i64) -> Result<()> {
    fs::write(
        dir,
        "pids.max",
        &super::convert::v2_limit(limit),
        "linux.resources.pids.limit",
    )
}

/// blkio: weight (CFQ's blkio.weight, else BFQ's blkio.bfq.weight),
/// leafWeight, per-device weights and throttles.
pub fn blkio(dir: &Path, b: &LinuxBlockIo) -> Result<()> {
    const F: &str = "linux.resources.blockIO";
    if let Some(w) = b.weight().filter(|&w| w != 0) {
        weight(
            dir,
            "blkio.weight",
            "blkio.bfq.weight",
            &w.to_string(),
            &format!("{F}.weight"),
        )?;
    }
    if let Some(w) = b.leaf_weight().filter(|&w| w != 0) {
        fs::write(
            dir,
            "blkio.leaf_weight",
            &w.to_string(),
            &format!("{F}.leafWeight"),
        )?;
    }
    for d in b.weight_device().iter().flatten() {
        let dev = format!("{}:{}", d.major(), d.minor());
        if let Some(w) = d.weight() {
            let v = format!("{dev} {w}");
            weight(
                dir,
                "blkio.weight_device",
                "blkio.bfq.weight_device",
                &v,
                &format!("{F}.weightDevice"),
            )?;
        }
        if let Some(w) = d.leaf_weight() {
            fs::write(
                dir,
                "blkio.leaf_weight_device",
                &format!("{dev} {w}"),
                &format!("{F}.weightDevice.leafWeight"),
            )?;
        }
    }
    let throttles = [
        (
            b.throttle_read_bps_device(),
            "blkio.throttle.read_bps_device",
            "throttleReadBpsDevice",
        ),
        (
            b.throttle_write_bps_device(),
            "blkio.throttle.write_bps_device",
            "throttleWriteBpsDevice",
        ),
        (
            b.throttle_read_iops_device(),
            "blkio.throttle.read_iops_device",
            "throttleReadIOPSDevice",
        ),
        (
            b.throttle_write_iops_device(),
            "blkio.throttle.write_iops_device",
            "throttleWriteIOPSDevice",
        ),
    ];
    for (list, file, name) in throttles {
        for d in list.iter().flatten() {
            let v = format!("{}:{} {}", d.major(), d.minor(), d.rate());
            fs::write(dir, file, &v, &format!("{F}.{name}"))?;
        }
    }
    Ok(())
}

/// Writes `cfq` or, where CFQ is gone (modern kernels), `bfq`.
fn weight(dir: &Path, cfq: &str, bfq: &str, value: &str, field: &str) -> Result<()> {
    match fs::write_io(dir, cfq, value) {
        Err(e) if fs::is_missing(&e) => match fs::write_io(dir, bfq, value) {
            Err(e) if fs::is_missing(&e) => Err(CgroupError::invalid(
                field,
                format!("neither {cfq} nor {bfq} exists (no CFQ or BFQ I/O scheduler weights on this host)"),
            )),
            Err(source) => Err(fs::write_error(field, dir, bfq, value, source)),
            Ok(()) => Ok(()),
        },
        Err(source) => Err(fs::write_error(field, dir, cfq, value, source)),
        Ok(()) => Ok(()),
    }
}

/// hugetlb: `hugetlb.<size>.limit_in_bytes`, and the reservation limit where
/// the kernel has it.
pub fn hugetlb(dir: &Path, limits: &[LinuxHugepageLimit], known: &[String]) -> Result<()> {
    for l in limits {
        let size = l.page_size();
        super::convert::check_page_size(size, known)?;
        let v = l.limit().to_string();
        let field = format!("linux.resources.hugepageLimits[{size}]");
        fs::write(dir, &format!("hugetlb.{size}.limit_in_bytes"), &v, &field)?;
        match fs::write_io(dir, &format!("hugetlb.{size}.rsvd.limit_in_bytes"), &v) {
            Err(e) if !fs::is_missing(&e) => {
                return Err(CgroupError::Io {
                    context: format!(
                        "{field}: write {v:?} to hugetlb.{size}.rsvd.limit_in_bytes in {}",
                        dir.display()
                    ),
                    source: e,
                })
            }
            _ => {}
        }
    }
    Ok(())
}

/// net_cls.classid.
pub fn net_cls(dir: &Path, class_id: u32) -> Result<()> {
    fs::write(
        dir,
        "net_cls.classid",
        &class_id.to_string(),
        "linux.resources.network.classID",
    )
}

/// net_prio.ifpriomap, one interface per write.
pub fn net_prio(dir: &Path, prios: &[LinuxInterfacePriority]) -> Result<()> {
    for p in prios {
        let v = format!("{} {}", p.name(), p.priority());
        fs::write(
            dir,
            "net_prio.ifpriomap",
            &v,
            "linux.resources.network.priorities",
        )?;
    }
    Ok(())
}

/// rdma.max (same syntax on v1 and v2), one device per write.
pub fn rdma(dir: &Path, rdma: &HashMap<String, LinuxRdma>) -> Result<()> {
    for (dev, r) in rdma {
        let mut v = dev.clone();
        if let Some(h) = r.hca_handles() {
            v.push_str(&format!(" hca_handle={h}"));
        }
        if let Some(o) = r.hca_objects() {
            v.push_str(&format!(" hca_object={o}"));
        }
        if v.len() == dev.len() {
            return Err(CgroupError::invalid(
                format!("linux.resources.rdma.{dev}"),
                "set hcaHandles or hcaObjects",
            ));
        }
        fs::write(dir, "rdma.max", &v, &format!("linux.resources.rdma.{dev}"))?;
    }
    Ok(())
}
