//! `process.rlimits`: checked against this host before anything is created
//! (a hard limit above ours cannot be set without CAP_SYS_RESOURCE), then
//! applied in the container's init.

use std::collections::HashSet;

use nix::sys::resource::{getrlimit, setrlimit, Resource};
use oci_spec::runtime::{PosixRlimit, PosixRlimitType};

use crate::error::{Context, Error, Result};

/// The kernel's resource and its name.
pub fn resource(t: PosixRlimitType) -> (Resource, &'static str) {
    use PosixRlimitType::*;
    match t {
        RlimitCpu => (Resource::RLIMIT_CPU, "RLIMIT_CPU"),
        RlimitFsize => (Resource::RLIMIT_FSIZE, "RLIMIT_FSIZE"),
        RlimitData => (Resource::RLIMIT_DATA, "RLIMIT_DATA"),
        RlimitStack => (Resource::RLIMIT_STACK, "RLIMIT_STACK"),
        RlimitCore => (Resource::RLIMIT_CORE, "RLIMIT_CORE"),
        RlimitRss => (Resource::RLIMIT_RSS, "RLIMIT_RSS"),
        RlimitNproc => (Resource::RLIMIT_NPROC, "RLIMIT_NPROC"),
        RlimitNofile => (Resource::RLIMIT_NOFILE, "RLIMIT_NOFILE"),
        RlimitMemlock => (Resource::RLIMIT_MEMLOCK, "RLIMIT_MEMLOCK"),
        RlimitAs => (Resource::RLIMIT_AS, "RLIMIT_AS"),
        RlimitLocks => (Resource::RLIMIT_LOCKS, "RLIMIT_LOCKS"),
        RlimitSigpending => (Resource::RLIMIT_SIGPENDING, "RLIMIT_SIGPENDING"),
        RlimitMsgqueue => (Resource::RLIMIT_MSGQUEUE, "RLIMIT_MSGQUEUE"),
        RlimitNice => (Resource::RLIMIT_NICE, "RLIMIT_NICE"),
        RlimitRtprio => (Resource::RLIMIT_RTPRIO, "RLIMIT_RTPRIO"),
        RlimitRttime => (Resource::RLIMIT_RTTIME, "RLIMIT_RTTIME"),
    }
}

/// Whether we hold CAP_SYS_RESOURCE in our effective set.
fn have_sys_resource() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .is_some_and(|eff| eff & (1 << 24/* CAP_SYS_RESOURCE */) != 0)
}

/// Rejects duplicates, soft > hard, and hard limits this host cannot grant.
pub fn validate(limits: &[PosixRlimit]) -> Result<()> {
    let mut seen = HashSet::new();
    let mut can_raise = None;
    for l in limits {
        let (res, name) = resource(l.typ());
        if !seen.insert(name) {
            return Err(Error::config(format!(
                "process.rlimits: duplicate rlimit type {name}"
            )));
        }
        if l.soft() > l.hard() {
            return Err(Error::config(format!(
                "process.rlimits: {name} soft limit {} is above its hard limit {}",
                l.soft(),
                l.hard()
            )));
        }
        let (_, max) = getrlimit(res).ctx(|| format!("getrlimit {name}"))?;
        // CAP_SYS_RESOURCE of a user namespace (a runtime run as root of
        // one, as rootless podman does) does not let it raise a hard limit.
        let host_cap = || have_sys_resource() && !crate::rootless::running_in_user_ns();
        if l.hard() > max && !*can_raise.get_or_insert_with(host_cap) {
            return Err(Error::config(format!(
                "process.rlimits: {name} hard limit {} is above this host's hard limit {} and raising it needs CAP_SYS_RESOURCE on the host, which berth does not have",
                l.hard(),
                max
            )));
        }
    }
    Ok(())
}

/// Sets every limit on the calling process (the container's init).
pub fn apply(limits: &[PosixRlimit]) -> Result<()> {
    for l in limits {
        let (res, name) = resource(l.typ());
        setrlimit(res, l.soft(), l.hard())
            .ctx(|| format!("setrlimit {name} (soft {}, hard {})", l.soft(), l.hard()))?;
    }
    Ok(())
}

/// Raises the hard limits of process `pid` (0: the caller) that `limits`
/// ask above its current ones, keeping its soft limits. For a process that
/// a user namespace confines next (a new one of the container's, or one it
/// joins), from where the runtime still has CAP_SYS_RESOURCE on the host
/// (runc sets every rlimit from outside, with prlimit): the process then
/// sets `limits` itself, within its hard limits.
pub fn raise_hard(pid: libc::pid_t, limits: &[PosixRlimit]) -> Result<()> {
    use crate::sys::prlimit;
    for l in limits {
        let (res, name) = resource(l.typ());
        let (soft, hard) = prlimit::get(pid, res).ctx(|| format!("prlimit {name}"))?;
        if l.hard() > hard {
            prlimit::set(pid, res, soft, l.hard()).ctx(|| {
                format!(
                    "process.rlimits: raise the hard limit of {name} to {}",
                    l.hard()
                )
            })?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::PosixRlimitBuilder;

    fn nofile(soft: u64, hard: u64) -> PosixRlimit {
        PosixRlimitBuilder::default()
            .typ(PosixRlimitType::RlimitNofile)
            .soft(soft)
            .hard(hard)
            .build()
            .unwrap()
    }

    #[test]
    fn raise_hard_leaves_limits_within_alone() {
        let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
        raise_hard(0, &[nofile(1, hard), nofile(1, hard.saturating_sub(1))]).unwrap();
        assert_eq!(getrlimit(Resource::RLIMIT_NOFILE).unwrap(), (soft, hard));
    }

    #[test]
    fn raise_hard_names_the_rlimit_when_refused() {
        let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
        let nr_open: u64 = std::fs::read_to_string("/proc/sys/fs/nr_open")
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        // Above fs.nr_open even CAP_SYS_RESOURCE cannot raise it.
        if hard > nr_open || hard == libc::RLIM_INFINITY {
            return;
        }
        let e = raise_hard(0, &[nofile(1, nr_open + 1)])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("process.rlimits: raise the hard limit of RLIMIT_NOFILE"),
            "{e}"
        );
    }
}
