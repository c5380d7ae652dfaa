//! Docker's profile source (moby `profiles/seccomp/default.json`) → the OCI
//! profile dockerd hands the runtime, following moby's `setupSeccomp`: the
//! architectures come from `archMap` for the host, and each syscall group is
//! kept if all `includes.caps` are granted, `includes.arches` names the host
//! arch, the kernel is at least `includes.minKernel`, and no `excludes`
//! cap or arch applies.

use serde_json::{json, Value};

/// Docker's default capability set.
pub const DEFAULT_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

fn strings(v: Option<&Value>) -> Vec<&str> {
    v.and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect()
}

fn kernel_at_least(min: &str, kernel: (u64, u64)) -> bool {
    let mut parts = min.split('.').map(|p| p.parse::<u64>().unwrap());
    let want = (parts.next().unwrap(), parts.next().unwrap_or(0));
    kernel >= want
}

fn keep(group: &Value, caps: &[&str], go_arch: &str, kernel: (u64, u64)) -> bool {
    let inc = group.get("includes");
    let exc = group.get("excludes");
    let inc_caps = strings(inc.and_then(|i| i.get("caps")));
    let inc_arches = strings(inc.and_then(|i| i.get("arches")));
    let exc_caps = strings(exc.and_then(|e| e.get("caps")));
    let exc_arches = strings(exc.and_then(|e| e.get("arches")));
    let min_kernel = inc.and_then(|i| i.get("minKernel")).and_then(Value::as_str);
    inc_caps.iter().all(|c| caps.contains(c))
        && (inc_arches.is_empty() || inc_arches.contains(&go_arch))
        && min_kernel.is_none_or(|m| kernel_at_least(m, kernel))
        && !exc_caps.iter().any(|c| caps.contains(c))
        && !exc_arches.contains(&go_arch)
}

/// The OCI profile for an x86_64 host (Go arch "amd64") with `caps`.
pub fn to_oci_x86_64(source: &Value, caps: &[&str], kernel: (u64, u64)) -> Value {
    let arch_map = source["archMap"].as_array().unwrap();
    let entry = arch_map
        .iter()
        .find(|e| e["architecture"] == "SCMP_ARCH_X86_64")
        .unwrap();
    let mut arches = vec![entry["architecture"].clone()];
    arches.extend(
        entry["subArchitectures"]
            .as_array()
            .cloned()
            .unwrap_or_default(),
    );
    let mut syscalls = Vec::new();
    for group in source["syscalls"].as_array().unwrap() {
        if !keep(group, caps, "amd64", kernel) {
            continue;
        }
        let mut rule = json!({ "names": group["names"], "action": group["action"] });
        for key in ["errnoRet", "args"] {
            if let Some(v) = group.get(key).filter(|v| !v.is_null()) {
                rule[key] = v.clone();
            }
        }
        syscalls.push(rule);
    }
    let mut out = json!({
        "defaultAction": source["defaultAction"],
        "architectures": arches,
        "syscalls": syscalls,
    });
    if let Some(e) = source.get("defaultErrnoRet") {
        out["defaultErrnoRet"] = e.clone();
    }
    out
}
