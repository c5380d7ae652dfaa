//! `process.execCPUAffinity`: the CPUs an exec'd process runs on, as
//! current runc (1.2+) applies it (runc 1.1 ignores the field). The
//! runtime-spec makes it apply to exec'd processes only ("not applicable to
//! the container's init process"), so the init ignores it, and an exec
//! without its own takes the container's process's, as runc does.
//!
//! `initial`: the runtime sets it on itself right before clone3, so the
//! child inherits it for its setup before it is in the container's cgroup
//! (and the runtime restores its own mask after the clone). `final`: the
//! child sets it on itself once in the cgroup, before seccomp (a profile
//! may block sched_setaffinity). Without `final` the mask stays as the
//! kernel left it, as the spec says.

use nix::sched::{sched_getaffinity, sched_setaffinity, CpuSet};
use nix::unistd::Pid;
use oci_spec::runtime::ExecCPUAffinity;

use crate::error::{Error, Result};

/// Parses a CPU list ("0-3,7"; empty elements and spaces allowed, as in
/// runc) into a set; `field` names it in errors. Ids beyond the host's
/// possible CPUs (or the set's capacity) are out of range.
pub fn parse(list: &str, field: &str, possible: usize) -> Result<CpuSet> {
    let bad = |why: String| Error::config(format!("{field}: {why} in {list:?}"));
    let cap = possible.min(CpuSet::count());
    let mut set = CpuSet::new();
    let mut any = false;
    for (a, b) in super::id_list::ranges(list, "CPU", cap).map_err(bad)? {
        for c in a..=b {
            set.set(c).map_err(|e| bad(e.to_string()))?;
        }
        any = true;
    }
    if !any {
        return Err(bad("no CPUs".into()));
    }
    Ok(set)
}

/// How many CPUs the host can have (/sys/devices/system/cpu/possible,
/// "0-N"); read only when a config has the field.
fn possible() -> usize {
    std::fs::read_to_string("/sys/devices/system/cpu/possible")
        .ok()
        .and_then(|s| {
            let last = s.trim().rsplit([',', '-']).next()?.to_string();
            last.parse::<usize>().ok()
        })
        .map_or(CpuSet::count(), |n| n + 1)
}

/// The parsed masks: (initial, final).
pub type Masks = (Option<CpuSet>, Option<CpuSet>);

/// Checks and parses both lists.
pub fn masks(a: &ExecCPUAffinity) -> Result<Masks> {
    let n = possible();
    let one = |l: &Option<String>, f: &str| {
        l.as_deref()
            .filter(|l| !l.trim().is_empty())
            .map(|l| parse(l, f, n))
            .transpose()
    };
    Ok((
        one(a.initial(), "process.execCPUAffinity.initial")?,
        one(a.cpu_affinity_final(), "process.execCPUAffinity.final")?,
    ))
}

/// Sets `set` on the calling process; returns the mask it had.
pub fn set_own(set: &CpuSet, what: &str) -> Result<CpuSet> {
    let me = Pid::from_raw(0);
    let old = sched_getaffinity(me).map_err(|e| Error::msg(format!("sched_getaffinity: {e}")))?;
    sched_setaffinity(me, set)
        .map_err(|e| Error::msg(format!("error setting {what} CPU affinity: {e}")))?;
    Ok(old)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists() {
        let s = parse(" 0-2, ,5", "f", 8).unwrap();
        let on: Vec<usize> = (0..8).filter(|c| s.is_set(*c).unwrap()).collect();
        assert_eq!(on, [0, 1, 2, 5]);
        for (l, want) in [
            ("0-9", "CPU 9 out of range"),
            ("3-1", "invalid range"),
            ("x", "invalid CPU"),
            (",", "no CPUs"),
        ] {
            let e = parse(l, "process.execCPUAffinity.final", 8)
                .unwrap_err()
                .to_string();
            assert!(
                e.starts_with("process.execCPUAffinity.final: ") && e.contains(want),
                "{e}"
            );
        }
        assert!(possible() >= 1);
    }
}
