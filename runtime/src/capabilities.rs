//! Linux capabilities: the five sets of `process.capabilities`.
//!
//! Order (as runc): drop the bounding set while still privileged, keep caps
//! across the uid switch, then set effective/permitted/inheritable, then
//! raise the ambient set.

use oci_spec::runtime::{Capabilities, Capability, LinuxCapabilities};

use crate::error::{Context, Result};
use crate::sys::prctl;

/// The kernel's number for a capability.
pub fn number(c: &Capability) -> u32 {
    use Capability::*;
    match c {
        Chown => 0,
        DacOverride => 1,
        DacReadSearch => 2,
        Fowner => 3,
        Fsetid => 4,
        Kill => 5,
        Setgid => 6,
        Setuid => 7,
        Setpcap => 8,
        LinuxImmutable => 9,
        NetBindService => 10,
        NetBroadcast => 11,
        NetAdmin => 12,
        NetRaw => 13,
        IpcLock => 14,
        IpcOwner => 15,
        SysModule => 16,
        SysRawio => 17,
        SysChroot => 18,
        SysPtrace => 19,
        SysPacct => 20,
        SysAdmin => 21,
        SysBoot => 22,
        SysNice => 23,
        SysResource => 24,
        SysTime => 25,
        SysTtyConfig => 26,
        Mknod => 27,
        Lease => 28,
        AuditWrite => 29,
        AuditControl => 30,
        Setfcap => 31,
        MacOverride => 32,
        MacAdmin => 33,
        Syslog => 34,
        WakeAlarm => 35,
        BlockSuspend => 36,
        AuditRead => 37,
        Perfmon => 38,
        Bpf => 39,
        CheckpointRestore => 40,
    }
}

/// Whether `name` is a capability as runc spells it: `CAP_` once, then a
/// name this kernel interface knows, in capitals (`CAP_KILL`). runc looks
/// names up exactly so, and ignores `KILL`, `cap_kill` or `CAP_CAP_KILL`
/// with its warning; the typed parser (oci-spec) would take those too.
fn canonical(name: &str) -> bool {
    let Some(rest) = name.strip_prefix("CAP_") else {
        return false;
    };
    !rest.starts_with("CAP_")
        && rest
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        && serde_json::from_value::<Capability>(serde_json::Value::from(name)).is_ok()
}

/// Whether config.json text `raw` names a capability in a form runc does
/// not know (see `canonical`), which the typed parse would still accept:
/// then `spec::parse` takes the second parse through `ignore_unknown`.
/// One pass over the text that keeps only the capability lists.
pub fn has_noncanonical(raw: &[u8]) -> bool {
    #[derive(serde::Deserialize)]
    struct Doc {
        process: Option<Proc>,
    }
    #[derive(serde::Deserialize)]
    struct Proc {
        capabilities: Option<std::collections::HashMap<String, Option<Vec<String>>>>,
    }
    let Ok(doc) = serde_json::from_slice::<Doc>(raw) else {
        return false;
    };
    doc.process
        .and_then(|p| p.capabilities)
        .into_iter()
        .flat_map(|c| c.into_values().flatten().flatten())
        .any(|n| !canonical(&n))
}

/// Takes the capability names runc would not know out of every set of
/// `process.capabilities` in the config `v`, with one warning naming them.
/// runc (1.1.5 and current) ignores such names the same way, so a config
/// written for a newer kernel still runs. Called only when the
/// typed parse failed on a name, or `has_noncanonical` (`spec::parse`): no
/// cost otherwise.
/// `warn` false leaves the warning out (a re-read of the state dir's copy).
pub fn ignore_unknown(v: &mut serde_json::Value, warn: bool) {
    drop_unknown(v.pointer_mut("/process/capabilities"), warn);
}

/// `ignore_unknown` for a `capabilities` object (of a process.json too).
pub fn drop_unknown(caps: Option<&mut serde_json::Value>, warn: bool) {
    let mut unknown = std::collections::BTreeSet::new();
    for list in caps
        .and_then(|c| c.as_object_mut())
        .into_iter()
        .flat_map(|c| c.values_mut())
        .filter_map(|l| l.as_array_mut())
    {
        list.retain(|name| match name.as_str() {
            Some(s) if !canonical(s) => {
                unknown.insert(s.to_string());
                false
            }
            _ => true,
        });
    }
    if warn && !unknown.is_empty() {
        let names: Vec<String> = unknown.into_iter().collect();
        warn_ignored(&names);
    }
}

/// runc's warning for capability names it ignores: `[A B]`, sorted, as Go
/// prints a string slice.
pub fn warn_ignored(sorted: &[String]) {
    tracing::warn!(
        "ignoring unknown or unavailable capabilities: [{}]",
        sorted.join(" ")
    );
}

/// The highest capability this kernel knows.
pub fn last_cap() -> u32 {
    // The kernel's constant: read once a process.
    static LAST: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *LAST.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(40)
    })
}

/// A set as a bitmask, leaving out what this kernel does not know.
pub fn mask(set: Option<&Capabilities>, last: u32) -> u64 {
    set.map(|s| {
        s.iter()
            .map(number)
            .filter(|n| *n <= last)
            .fold(0u64, |m, n| m | (1u64 << n))
    })
    .unwrap_or(0)
}

/// The five sets as masks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CapSets {
    pub bounding: u64,
    pub effective: u64,
    pub permitted: u64,
    pub inheritable: u64,
    pub ambient: u64,
}

impl CapSets {
    pub fn from_spec(caps: &LinuxCapabilities) -> CapSets {
        let last = last_cap();
        CapSets {
            bounding: mask(caps.bounding().as_ref(), last),
            effective: mask(caps.effective().as_ref(), last),
            permitted: mask(caps.permitted().as_ref(), last),
            inheritable: mask(caps.inheritable().as_ref(), last),
            ambient: mask(caps.ambient().as_ref(), last),
        }
    }
}

/// Warns about each ambient capability the kernel will refuse to raise:
/// one not in both permitted and inheritable (capabilities(7)). The
/// container still runs without it, as runc's does; runc 1.2+ logs
/// "can't raise ambient capability CAP_X: operation not permitted" from
/// its init (runc 1.1's capability package dropped the error silently).
/// berth predicts the refusal from the config and says it in the runtime,
/// where the warning reaches stderr and `--log` (the init's are closed).
/// Pure config logic: no system call.
pub fn warn_unraisable_ambient(caps: &LinuxCapabilities) {
    let both = mask(caps.permitted().as_ref(), 63) & mask(caps.inheritable().as_ref(), 63);
    for c in caps.ambient().iter().flatten() {
        if both & (1u64 << number(c)) == 0 {
            let name = serde_json::to_value(c).unwrap_or_default();
            tracing::warn!(
                "can't raise ambient capability {}: operation not permitted",
                name.as_str().unwrap_or_default()
            );
        }
    }
}

/// Drops every capability up to `last` (`last_cap`) not in `bounding` from
/// the bounding set.
pub fn drop_bounding(bounding: u64, last: u32) -> Result<()> {
    for cap in 0..=last {
        if bounding & (1 << cap) == 0 {
            prctl::set(libc::PR_CAPBSET_DROP, cap as libc::c_ulong)
                .ctx(|| format!("drop capability {cap} from the bounding set"))?;
        }
    }
    Ok(())
}

/// PR_SET_KEEPCAPS: keep permitted caps across a switch away from uid 0.
pub fn set_keep_caps(keep: bool) -> Result<()> {
    prctl::set(libc::PR_SET_KEEPCAPS, libc::c_ulong::from(keep))
        .ctx(|| "prctl(PR_SET_KEEPCAPS)".into())
}

/// Sets effective, permitted and inheritable, then raises the ambient caps.
pub fn apply(sets: &CapSets) -> Result<()> {
    crate::sys::caps::set(sets.effective, sets.permitted, sets.inheritable).ctx(|| {
        format!(
            "capset(effective {:#x}, permitted {:#x}, inheritable {:#x})",
            sets.effective, sets.permitted, sets.inheritable
        )
    })?;
    for cap in 0..64u32 {
        if sets.ambient & (1 << cap) != 0 {
            if let Err(e) = prctl::ambient_raise(cap) {
                // As runc: an ambient cap the kernel refuses (it must be in
                // both permitted and inheritable) is skipped, not fatal.
                tracing::debug!("ambient capability {cap} not raised: {e}");
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_known_caps() {
        let set: Capabilities = [
            Capability::Chown,
            Capability::Kill,
            Capability::CheckpointRestore,
        ]
        .into_iter()
        .collect();
        assert_eq!(mask(Some(&set), 40), 1 | (1 << 5) | (1 << 40));
        assert_eq!(mask(Some(&set), 39), 1 | (1 << 5));
        assert_eq!(mask(None, 40), 0);
    }

    #[test]
    fn ambient_needs_permitted_and_inheritable() {
        let caps: LinuxCapabilities = serde_json::from_value(serde_json::json!({
            "permitted": ["CAP_KILL", "CAP_CHOWN"],
            "inheritable": ["CAP_KILL"],
            "ambient": ["CAP_KILL", "CAP_CHOWN"]
        }))
        .unwrap();
        assert_eq!(
            serde_json::to_value(Capability::Chown).unwrap(),
            "CAP_CHOWN"
        );
        warn_unraisable_ambient(&caps);
    }

    #[test]
    fn noncanonical_names_are_found_in_the_text() {
        let caps = |list: &str| {
            format!(
                r#"{{"ociVersion": "1.2.0", "process": {{"args": ["sh"], "capabilities": {{"bounding": {list}}}}}}}"#
            )
        };
        assert!(!has_noncanonical(
            caps(r#"["CAP_KILL", "CAP_SYS_ADMIN"]"#).as_bytes()
        ));
        assert!(!has_noncanonical(caps("null").as_bytes()));
        assert!(!has_noncanonical(br#"{"process": {"args": ["sh"]}}"#));
        assert!(!has_noncanonical(br#"{"root": {"path": "rootfs"}}"#));
        assert!(has_noncanonical(caps(r#"["CAP_KILL", "KILL"]"#).as_bytes()));
        assert!(has_noncanonical(caps(r#"["cap_kill"]"#).as_bytes()));
        assert!(has_noncanonical(caps(r#"["CAP_NOSUCH"]"#).as_bytes()));
    }

    #[test]
    fn unknown_names_are_dropped() {
        let mut v = serde_json::json!({"process": {"capabilities": {
            "bounding": ["CAP_KILL", "CAP_NOSUCH", "CAP_CHOWN"],
            "effective": ["CAP_NOSUCH", "CAP_OTHER"],
            "ambient": []
        }}});
        ignore_unknown(&mut v, true);
        let caps = &v["process"]["capabilities"];
        assert_eq!(
            caps["bounding"],
            serde_json::json!(["CAP_KILL", "CAP_CHOWN"])
        );
        assert_eq!(caps["effective"], serde_json::json!([]));
        let mut v = serde_json::json!({"process": {"capabilities": {
            "bounding": ["CAP_KILL", "KILL", "cap_chown", "CAP_CAP_KILL", "CAP_Kill"]
        }}});
        ignore_unknown(&mut v, true);
        assert_eq!(
            v["process"]["capabilities"]["bounding"],
            serde_json::json!(["CAP_KILL"])
        );
        let mut none = serde_json::json!({"process": {"args": ["sh"]}});
        ignore_unknown(&mut none, true);
        assert_eq!(none, serde_json::json!({"process": {"args": ["sh"]}}));
    }
}
