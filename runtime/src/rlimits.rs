//! `process.rlimits`: checked against this host before anything is created
//! (a hard limit above ours cannot be set without CAP_SYS_RESOURCE), then
//! applied in the container's init.

use std::collections::HashSet;
use std::io;

use oci_spec::runtime::{PosixRlimit, PosixRlimitType};

use crate::error::{Context, Error, Result};

/// The kernel's resource number and its name.
pub fn resource(t: PosixRlimitType) -> (libc::__rlimit_resource_t, &'static str) {
    use PosixRlimitType::*;
    match t {
        RlimitCpu => (libc::RLIMIT_CPU, "RLIMIT_CPU"),
        RlimitFsize => (libc::RLIMIT_FSIZE, "RLIMIT_FSIZE"),
        RlimitData => (libc::RLIMIT_DATA, "RLIMIT_DATA"),
        RlimitStack => (libc::RLIMIT_STACK, "RLIMIT_STACK"),
        RlimitCore => (libc::RLIMIT_CORE, "RLIMIT_CORE"),
        RlimitRss => (libc::RLIMIT_RSS, "RLIMIT_RSS"),
        RlimitNproc => (libc::RLIMIT_NPROC, "RLIMIT_NPROC"),
        RlimitNofile => (libc::RLIMIT_NOFILE, "RLIMIT_NOFILE"),
        RlimitMemlock => (libc::RLIMIT_MEMLOCK, "RLIMIT_MEMLOCK"),
        RlimitAs => (libc::RLIMIT_AS, "RLIMIT_AS"),
        RlimitLocks => (libc::RLIMIT_LOCKS, "RLIMIT_LOCKS"),
        RlimitSigpending => (libc::RLIMIT_SIGPENDING, "RLIMIT_SIGPENDING"),
        RlimitMsgqueue => (libc::RLIMIT_MSGQUEUE, "RLIMIT_MSGQUEUE"),
        RlimitNice => (libc::RLIMIT_NICE, "RLIMIT_NICE"),
        RlimitRtprio => (libc::RLIMIT_RTPRIO, "RLIMIT_RTPRIO"),
        RlimitRttime => (libc::RLIMIT_RTTIME, "RLIMIT_RTTIME"),
    }
}

fn current(res: libc::__rlimit_resource_t) -> io::Result<libc::rlimit> {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit into our valid out-pointer.
    if unsafe { libc::getrlimit(res, &mut r) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(r)
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
        let cur = current(res).ctx(|| format!("getrlimit {name}"))?;
        if l.hard() > cur.rlim_max && !*can_raise.get_or_insert_with(have_sys_resource) {
            return Err(Error::config(format!(
                "process.rlimits: {name} hard limit {} is above this host's hard limit {} and raising it needs CAP_SYS_RESOURCE, which berth does not have",
                l.hard(),
                cur.rlim_max
            )));
        }
    }
    Ok(())
}

/// Sets every limit on the calling process (the container's init).
pub fn apply(limits: &[PosixRlimit]) -> Result<()> {
    for l in limits {
        let (res, name) = resource(l.typ());
        let r = libc::rlimit {
            rlim_cur: l.soft(),
            rlim_max: l.hard(),
        };
        // SAFETY: setrlimit reads one valid rlimit.
        if unsafe { libc::setrlimit(res, &r) } != 0 {
            return Err(io::Error::last_os_error())
                .ctx(|| format!("setrlimit {name} (soft {}, hard {})", l.soft(), l.hard()));
        }
    }
    Ok(())
}
