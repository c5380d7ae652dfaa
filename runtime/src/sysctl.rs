//! `linux.sysctl`: only keys that belong to a namespace the container owns,
//! written through the verified procfs handle.

use std::collections::HashMap;

use oci_spec::runtime::LinuxNamespaceType;

use crate::error::{Context, Error, Result};
use crate::namespaces::Plan;
use crate::sys::proc::ProcHandle;

const IPC_KEYS: &[&str] = &[
    "kernel.msgmax",
    "kernel.msgmnb",
    "kernel.msgmni",
    "kernel.sem",
    "kernel.shmall",
    "kernel.shmmax",
    "kernel.shmmni",
    "kernel.shm_rmid_forced",
];

/// The namespace a sysctl key lives in, if it is namespaced at all.
fn namespace_of(key: &str) -> Option<LinuxNamespaceType> {
    if key.starts_with("net.") {
        Some(LinuxNamespaceType::Network)
    } else if IPC_KEYS.contains(&key) || key.starts_with("fs.mqueue.") {
        Some(LinuxNamespaceType::Ipc)
    } else if key == "kernel.hostname" || key == "kernel.domainname" {
        Some(LinuxNamespaceType::Uts)
    } else if key.starts_with("user.") {
        // The user namespace's ucounts (max_user_namespaces, ...).
        Some(LinuxNamespaceType::User)
    } else {
        None
    }
}

/// `net.ipv4.ip_forward` → `sys/net/ipv4/ip_forward`; a key written with
/// slashes (`net/ipv4/conf/eth0.100/rp_filter`) keeps its dots.
fn proc_path(key: &str) -> String {
    let rel = if key.contains('/') {
        key.to_string()
    } else {
        key.replace('.', "/")
    };
    format!("sys/{rel}")
}

pub fn validate(sysctls: &HashMap<String, String>, ns: &Plan) -> Result<()> {
    for key in sysctls.keys() {
        let dotted = key.replace('/', ".");
        let bad = key.is_empty()
            || proc_path(key)[4..]
                .split('/')
                .any(|c| c.is_empty() || c == "." || c == "..");
        if bad {
            return Err(Error::config(format!("linux.sysctl: invalid key {key:?}")));
        }
        match namespace_of(&dotted) {
            Some(t) if ns.creates(t) || ns.joins(t) => {}
            Some(LinuxNamespaceType::User) => {
                // runc's text after the field and key.
                return Err(Error::config(format!(
                    "linux.sysctl: sysctl {key:?}: setting ucounts without a user namespace not allowed"
                )));
            }
            Some(t) => {
                return Err(Error::config(format!(
                    "linux.sysctl: sysctl {key:?} not allowed without a private {} namespace",
                    crate::namespaces::name(t)
                )))
            }
            None => {
                return Err(Error::config(format!(
                    "linux.sysctl: sysctl {key:?} is not in a separate kernel namespace"
                )))
            }
        }
    }
    Ok(())
}

/// Writes every sysctl (from inside the container's namespaces).
pub fn apply(sysctls: &HashMap<String, String>, proc: &ProcHandle) -> Result<()> {
    for (key, value) in sysctls {
        proc.write(&proc_path(key), value.as_bytes())
            .ctx(|| format!("write sysctl {key}={value}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_keys_to_proc_paths() {
        assert_eq!(proc_path("net.ipv4.ip_forward"), "sys/net/ipv4/ip_forward");
        assert_eq!(
            proc_path("net/ipv4/conf/eth0.100/rp_filter"),
            "sys/net/ipv4/conf/eth0.100/rp_filter"
        );
        assert_eq!(namespace_of("kernel.shmmax"), Some(LinuxNamespaceType::Ipc));
        assert_eq!(
            namespace_of("fs.mqueue.msg_max"),
            Some(LinuxNamespaceType::Ipc)
        );
        assert_eq!(namespace_of("kernel.pid_max"), None);
        assert_eq!(
            namespace_of("user.max_user_namespaces"),
            Some(LinuxNamespaceType::User)
        );
    }
}
