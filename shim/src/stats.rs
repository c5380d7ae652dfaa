//! Stats: read in-process from the container's cgroup (never by spawning
//! `events`), through berth's cgroup library. The cgroup is found from the
//! init's /proc/PID/cgroup, so this works whichever runtime made it.
//! Returned as containerd's cgroups v1 `Metrics` (memory, cpu, pids, blkio,
//! hugetlb), or on a pure cgroup v2 host its v2 `Metrics` (memory, cpu,
//! pids); containerd decodes them by their type URL.

use berth::api::{BlkioEntry as BerthBlkio, Cgroup, MemoryEntry as BerthMemory, Stats};
use containerd_shim::protos::cgroups::metrics::{
    BlkIOEntry, BlkIOStat, CPUStat, CPUUsage, HugetlbStat, MemoryEntry, MemoryStat, Metrics,
    PidsStat, Throttle,
};
use containerd_shim::protos::cgroups_v2::metrics as v2;

use crate::error::{Error, Result};

fn mem_entry(e: &BerthMemory) -> MemoryEntry {
    MemoryEntry {
        limit: e.limit,
        usage: e.usage,
        max: e.max,
        failcnt: e.failcnt,
        ..Default::default()
    }
}

fn blkio_entries(v: &[BerthBlkio]) -> Vec<BlkIOEntry> {
    v.iter()
        .map(|e| BlkIOEntry {
            op: e.op.clone(),
            major: e.major,
            minor: e.minor,
            value: e.value,
            ..Default::default()
        })
        .collect()
}

/// berth's runc-shaped stats as containerd's v1 Metrics.
pub fn to_metrics(s: &Stats) -> Metrics {
    Metrics {
        hugetlb: hugetlb_stats(s),
        pids: Some(PidsStat {
            current: s.pids.current,
            limit: s.pids.limit,
            ..Default::default()
        })
        .into(),
        cpu: Some(cpu_stat(s)).into(),
        memory: Some(memory_stat(s)).into(),
        blkio: Some(blkio_stat(s)).into(),
        ..Default::default()
    }
}

/// The v1 memory stats: the counters of memory.stat by their v1 names, and
/// the usage/limit entries of memory, memsw, kmem and kmem.tcp.
fn memory_stat(s: &Stats) -> MemoryStat {
    let raw = |k: &str| s.memory.raw.get(k).copied().unwrap_or(0);
    MemoryStat {
        cache: s.memory.cache,
        rss: raw("rss"),
        rss_huge: raw("rss_huge"),
        mapped_file: raw("mapped_file"),
        dirty: raw("dirty"),
        writeback: raw("writeback"),
        pg_pg_in: raw("pgpgin"),
        pg_pg_out: raw("pgpgout"),
        pg_fault: raw("pgfault"),
        pg_maj_fault: raw("pgmajfault"),
        inactive_anon: raw("inactive_anon"),
        active_anon: raw("active_anon"),
        inactive_file: raw("inactive_file"),
        active_file: raw("active_file"),
        unevictable: raw("unevictable"),
        hierarchical_memory_limit: raw("hierarchical_memory_limit"),
        hierarchical_swap_limit: raw("hierarchical_memsw_limit"),
        total_cache: raw("total_cache"),
        total_rss: raw("total_rss"),
        total_rss_huge: raw("total_rss_huge"),
        total_mapped_file: raw("total_mapped_file"),
        total_dirty: raw("total_dirty"),
        total_writeback: raw("total_writeback"),
        total_pg_pg_in: raw("total_pgpgin"),
        total_pg_pg_out: raw("total_pgpgout"),
        total_pg_fault: raw("total_pgfault"),
        total_pg_maj_fault: raw("total_pgmajfault"),
        total_inactive_anon: raw("total_inactive_anon"),
        total_active_anon: raw("total_active_anon"),
        total_inactive_file: raw("total_inactive_file"),
        total_active_file: raw("total_active_file"),
        total_unevictable: raw("total_unevictable"),
        usage: Some(mem_entry(&s.memory.usage)).into(),
        swap: Some(mem_entry(&s.memory.swap)).into(),
        kernel: Some(mem_entry(&s.memory.kernel)).into(),
        kernel_tcp: Some(mem_entry(&s.memory.kernel_tcp)).into(),
        ..Default::default()
    }
}

/// The v1 cpu stats: usage (total, kernel, user, per cpu) and throttling.
fn cpu_stat(s: &Stats) -> CPUStat {
    let u = &s.cpu.usage;
    CPUStat {
        usage: Some(CPUUsage {
            total: u.total,
            kernel: u.kernel,
            user: u.user,
            per_cpu: u.percpu.clone(),
            ..Default::default()
        })
        .into(),
        throttling: Some(Throttle {
            periods: s.cpu.throttling.periods,
            throttled_periods: s.cpu.throttling.throttled_periods,
            throttled_time: s.cpu.throttling.throttled_time,
            ..Default::default()
        })
        .into(),
        ..Default::default()
    }
}

/// The v1 blkio stats: bytes and operations, per device and operation.
fn blkio_stat(s: &Stats) -> BlkIOStat {
    BlkIOStat {
        io_service_bytes_recursive: blkio_entries(&s.blkio.io_service_bytes_recursive),
        io_serviced_recursive: blkio_entries(&s.blkio.io_serviced_recursive),
        ..Default::default()
    }
}

/// One v1 hugetlb entry per page size.
fn hugetlb_stats(s: &Stats) -> Vec<HugetlbStat> {
    s.hugetlb
        .iter()
        .map(|(size, h)| HugetlbStat {
            usage: h.usage,
            max: h.max,
            failcnt: h.failcnt,
            pagesize: size.clone(),
            ..Default::default()
        })
        .collect()
}

/// berth's stats (read from a v2 cgroup) as containerd's v2 Metrics.
pub fn to_v2_metrics(s: &Stats) -> v2::Metrics {
    let raw = |k: &str| s.memory.raw.get(k).copied().unwrap_or(0);
    let u = &s.cpu.usage;
    let memory = v2::MemoryStat {
        anon: raw("anon"),
        file: raw("file"),
        kernel_stack: raw("kernel_stack"),
        slab: raw("slab"),
        sock: raw("sock"),
        shmem: raw("shmem"),
        file_mapped: raw("file_mapped"),
        file_dirty: raw("file_dirty"),
        file_writeback: raw("file_writeback"),
        inactive_anon: raw("inactive_anon"),
        active_anon: raw("active_anon"),
        inactive_file: raw("inactive_file"),
        active_file: raw("active_file"),
        unevictable: raw("unevictable"),
        pgfault: raw("pgfault"),
        pgmajfault: raw("pgmajfault"),
        usage: s.memory.usage.usage,
        usage_limit: s.memory.usage.limit,
        max_usage: s.memory.usage.max,
        swap_usage: s.memory.swap.usage.saturating_sub(s.memory.usage.usage),
        swap_limit: s.memory.swap.limit,
        ..Default::default()
    };
    v2::Metrics {
        pids: Some(v2::PidsStat {
            current: s.pids.current,
            limit: s.pids.limit,
            ..Default::default()
        })
        .into(),
        cpu: Some(v2::CPUStat {
            usage_usec: u.total / 1000,
            user_usec: u.user / 1000,
            system_usec: u.kernel / 1000,
            nr_periods: s.cpu.throttling.periods,
            nr_throttled: s.cpu.throttling.throttled_periods,
            throttled_usec: s.cpu.throttling.throttled_time / 1000,
            ..Default::default()
        })
        .into(),
        memory: Some(memory).into(),
        ..Default::default()
    }
}

/// The Stats response payload: (type URL, encoded Metrics), read from the
/// cgroup of the container's init `pid`.
pub fn encode(pid: i32) -> Result<(&'static str, Vec<u8>)> {
    use containerd_shim::protos::protobuf::Message;
    let berth = |e: berth::api::Error| Error::Shim(e.to_string());
    let cgroup = Cgroup::of_pid(pid).map_err(berth)?;
    let s = cgroup.stats().map_err(berth)?;
    let enc =
        |e: containerd_shim::protos::protobuf::Error| Error::Shim(format!("encode metrics: {e}"));
    if cgroup.is_unified_host() {
        let b = to_v2_metrics(&s).write_to_bytes().map_err(enc)?;
        return Ok(("io.containerd.cgroups.v2.Metrics", b));
    }
    let b = to_metrics(&s).write_to_bytes().map_err(enc)?;
    Ok(("io.containerd.cgroups.v1.Metrics", b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_carry_memory_cpu_pids() {
        let mut s = Stats::default();
        s.memory.usage.usage = 4096;
        s.memory.usage.limit = 1 << 30;
        s.memory.raw.insert("total_rss".into(), 123);
        s.cpu.usage.total = 99;
        s.pids.current = 2;
        let m = to_metrics(&s);
        assert_eq!(m.memory.usage.usage, 4096);
        assert_eq!(m.memory.usage.limit, 1 << 30);
        assert_eq!(m.memory.total_rss, 123);
        assert_eq!(m.cpu.usage.total, 99);
        assert_eq!(m.pids.current, 2);
        let v = to_v2_metrics(&s);
        assert_eq!(v.memory.usage, 4096);
        assert_eq!(v.cpu.usage_usec, 0);
        assert_eq!(v.pids.current, 2);
    }
}
