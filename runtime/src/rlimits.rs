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
        if l.hard() > max && !*can_raise.get_or_insert_with(have_sys_resource) {
            return Err(Error::config(format!(
                "process.rlimits: {name} hard limit {} is above this host's hard limit {} and raising it needs CAP_SYS_RESOURCE, which berth does not have",
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
