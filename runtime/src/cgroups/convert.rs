//! v1 → v2 value conversions, as runc (opencontainers/cgroups) documents
//! them, and small value formatters shared by both writers.

use super::error::{CgroupError, Result};

/// cpu.shares ([2, 262144], default 1024) → cpu.weight ([1, 10000], default
/// 100). 0 means unset. This is the current runc/crun mapping (a quadratic in
/// log2(shares) through min, default and max, adopted after
/// kubernetes#131216); the older linear `1 + (shares-2)*9999/262142` mapped
/// the default 1024 shares to weight 39, well below a v2 cgroup's default.
pub fn shares_to_weight(shares: u64) -> u64 {
    match shares {
        0 => 0,
        1..=2 => 1,
        262_144.. => 10_000,
        s => {
            let l = (s as f64).log2();
            let exponent = (l * l + 125.0 * l) / 612.0 - 7.0 / 34.0;
            10f64.powf(exponent).ceil() as u64
        }
    }
}

/// blkio weight ([10, 1000]) → io.weight ([1, 10000]); 0 means unset.
pub fn blkio_weight_to_io_weight(weight: u16) -> u64 {
    if weight == 0 {
        return 0;
    }
    let w = u64::from(weight.max(10));
    1 + (w - 10) * 9999 / 990
}

/// The OCI `memory.swap` is memory+swap (v1 memsw); v2's memory.swap.max is
/// swap alone: `swap - limit`. 0 means unset, -1 unlimited. An unlimited
/// memory with swap unset means unlimited swap too (as v1 would behave).
pub fn swap_to_v2(swap: i64, limit: i64) -> Result<i64> {
    if limit == -1 && swap == 0 {
        return Ok(-1);
    }
    if swap == -1 || swap == 0 {
        return Ok(swap);
    }
    let field = "linux.resources.memory.swap";
    if swap < 0 {
        return Err(CgroupError::invalid(field, format!("invalid value {swap}")));
    }
    if limit == 0 || limit == -1 {
        return Err(CgroupError::invalid(
            field,
            "unable to set a swap limit without a memory limit",
        ));
    }
    if limit < 0 {
        return Err(CgroupError::invalid(
            "linux.resources.memory.limit",
            format!("invalid value {limit}"),
        ));
    }
    if swap < limit {
        return Err(CgroupError::invalid(
            field,
            format!("memory+swap limit ({swap}) should be >= memory limit ({limit})"),
        ));
    }
    Ok(swap - limit)
}

/// A v2 limit value: negative means `max`.
pub fn v2_limit(v: i64) -> String {
    if v < 0 {
        "max".to_string()
    } else {
        v.to_string()
    }
}

/// cpu.max from quota and period (0 = unset): "$QUOTA $PERIOD", "max" for an
/// unlimited quota, the period alone kept by the kernel when omitted.
pub fn cpu_max(quota: i64, period: u64) -> Option<String> {
    if quota == 0 && period == 0 {
        return None;
    }
    let mut s = if quota > 0 {
        quota.to_string()
    } else {
        "max".to_string()
    };
    if period != 0 {
        s.push(' ');
        s.push_str(&period.to_string());
    }
    Some(s)
}

/// The control-file name of a huge page size from
/// /sys/kernel/mm/hugepages/hugepages-<N>kB: 2048 → "2MB", 1048576 → "1GB".
pub fn hugepage_name(kb: u64) -> String {
    if kb >= 1 << 20 && kb.is_multiple_of(1 << 20) {
        format!("{}GB", kb >> 20)
    } else if kb >= 1 << 10 && kb.is_multiple_of(1 << 10) {
        format!("{}MB", kb >> 10)
    } else {
        format!("{kb}KB")
    }
}

/// The huge page sizes this kernel supports, as control-file names.
pub fn hugepage_sizes() -> Vec<String> {
    let Ok(rd) = std::fs::read_dir("/sys/kernel/mm/hugepages") else {
        return Vec::new();
    };
    rd.flatten()
        .filter_map(|e| {
            let n = e.file_name();
            let kb = n.to_str()?.strip_prefix("hugepages-")?.strip_suffix("kB")?;
            Some(hugepage_name(kb.parse().ok()?))
        })
        .collect()
}

/// Checks an OCI `pageSize` against the kernel's sizes.
pub fn check_page_size(size: &str, known: &[String]) -> Result<()> {
    if known.iter().any(|k| k == size) {
        return Ok(());
    }
    Err(CgroupError::PageSize {
        size: size.to_string(),
        supported: known.to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_map_like_runc() {
        let cases = [
            (0, 0),
            (1, 1),
            (2, 1),
            (3, 2),
            (1024, 100),
            (262_143, 10_000),
            (262_144, 10_000),
            (262_145, 10_000),
        ];
        for (shares, want) in cases {
            assert_eq!(shares_to_weight(shares), want, "shares {shares}");
        }
        // Monotonic over the whole range.
        let mut prev = 0;
        for s in (2..262_144).step_by(97) {
            let w = shares_to_weight(s);
            assert!(w >= prev && (1..=10_000).contains(&w), "{s} -> {w}");
            prev = w;
        }
    }

    #[test]
    fn blkio_weight_maps_like_runc() {
        assert_eq!(blkio_weight_to_io_weight(0), 0);
        assert_eq!(blkio_weight_to_io_weight(10), 1);
        assert_eq!(blkio_weight_to_io_weight(500), 4950);
        assert_eq!(blkio_weight_to_io_weight(1000), 10_000);
    }

    #[test]
    fn swap_is_swap_minus_limit() {
        assert_eq!(swap_to_v2(0, 0).unwrap(), 0);
        assert_eq!(swap_to_v2(-1, 0).unwrap(), -1);
        assert_eq!(swap_to_v2(-1, -1).unwrap(), -1);
        assert_eq!(swap_to_v2(0, -1).unwrap(), -1);
        assert_eq!(swap_to_v2(-1, 1000).unwrap(), -1);
        assert_eq!(swap_to_v2(1000, 1000).unwrap(), 0);
        assert_eq!(swap_to_v2(500, 200).unwrap(), 300);
        assert!(swap_to_v2(-2, 0).is_err());
        assert!(swap_to_v2(300, 400).is_err());
        assert!(swap_to_v2(300, 0).is_err());
        assert!(swap_to_v2(300, -1).is_err());
    }

    #[test]
    fn formats_cpu_max_and_limits() {
        assert_eq!(cpu_max(0, 0), None);
        assert_eq!(cpu_max(50_000, 100_000).unwrap(), "50000 100000");
        assert_eq!(cpu_max(-1, 100_000).unwrap(), "max 100000");
        assert_eq!(cpu_max(-1, 0).unwrap(), "max");
        assert_eq!(cpu_max(20_000, 0).unwrap(), "20000");
        assert_eq!(v2_limit(-1), "max");
        assert_eq!(v2_limit(64 << 20), "67108864");
    }

    #[test]
    fn names_hugepage_sizes() {
        assert_eq!(hugepage_name(2048), "2MB");
        assert_eq!(hugepage_name(1_048_576), "1GB");
        assert_eq!(hugepage_name(64), "64KB");
        let known = vec!["2MB".to_string(), "1GB".to_string()];
        assert!(check_page_size("2MB", &known).is_ok());
        let e = check_page_size("3MB", &known).unwrap_err().to_string();
        assert!(e.contains("hugepageLimits") && e.contains("3MB"), "{e}");
    }
}
