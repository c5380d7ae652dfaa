//! Loading and validating a bundle's config.json. Everything a config asks
//! for is either implemented or rejected here with an error naming the
//! field: nothing is silently ignored.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{Hooks, LinuxNamespaceType, Spec};

use crate::error::{Context, Error, Result};
use crate::{namespaces, rlimits, sysctl};

/// A loaded, validated bundle.
#[derive(Debug)]
pub struct Bundle {
    /// Absolute bundle directory.
    pub dir: PathBuf,
    /// Absolute path of the root filesystem.
    pub rootfs: PathBuf,
    pub spec: Spec,
    /// The bytes of config.json, for the private copy in the state dir.
    pub raw: Vec<u8>,
}

/// Reads `<bundle>/config.json` and validates it for this host.
pub fn load(bundle: &Path) -> Result<Bundle> {
    let dir = fs::canonicalize(bundle).ctx(|| format!("bundle directory {}", bundle.display()))?;
    let raw = match fs::read(dir.join("config.json")) {
        Ok(r) => r,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(Error::config(
                "JSON specification file config.json not found",
            ))
        }
        Err(e) => return Err(e).ctx(|| format!("read {}/config.json", dir.display())),
    };
    let spec = parse(&raw)?;
    let rootfs = rootfs_path(&dir, &spec)?;
    validate(&spec)?;
    Ok(Bundle {
        dir,
        rootfs,
        spec,
        raw,
    })
}

/// Parses config.json text. A key given twice in one object is accepted,
/// the last one winning, as Go's encoding/json (runc) reads it; the typed
/// parser refuses duplicates, so only such a config takes the second parse.
pub fn parse(raw: &[u8]) -> Result<Spec> {
    parse_with(raw, true)
}

/// `parse` of the state dir's copy: the warning about ignored capability
/// names was given by `create` (runc gives it there, and again for an
/// exec'd process).
fn parse_copy(raw: &[u8]) -> Result<Spec> {
    parse_with(raw, false)
}

/// The hooks of the state dir's copy, all that `start` and `delete` read of
/// it. The rest of the document is skipped, not built: a copy of Docker's
/// config carries a 30 KB seccomp profile, and `run` reads the copy twice.
/// A copy this short parse refuses (a duplicate key) takes `parse_copy`.
pub fn hooks_of_copy(raw: &[u8]) -> Result<Option<Hooks>> {
    #[derive(serde::Deserialize)]
    struct HooksOnly {
        hooks: Option<Hooks>,
    }
    match serde_json::from_slice::<HooksOnly>(raw) {
        Ok(h) => Ok(h.hooks),
        Err(_) => Ok(parse_copy(raw)?.hooks().clone()),
    }
}

fn parse_with(raw: &[u8], warn: bool) -> Result<Spec> {
    let first = serde_json::from_slice(raw);
    // Through bytes again, not `from_value`: a second deserializer type
    // would instantiate every Spec type's parser again (300 KB of binary).
    // A capability name runc does not know is ignored with a warning (runc
    // 1.1.5 and current), also one the typed parser takes (`KILL`).
    let again = || {
        serde_json::from_slice::<serde_json::Value>(raw)
            .map(|mut v| {
                crate::capabilities::ignore_unknown(&mut v, warn);
                v
            })
            .and_then(|v| serde_json::to_vec(&v))
            .and_then(|b| serde_json::from_slice(&b))
    };
    let res = match first {
        Err(e) if e.to_string().starts_with("duplicate field") || is_unknown_cap(&e) => again(),
        Ok(_) if crate::capabilities::has_noncanonical(raw) => again(),
        // The runtime-spec's names of two scheduler flags, which oci-spec
        // spells differently (process::scheduler).
        Err(e) if e.to_string().starts_with("unknown variant") => {
            spec_flag_names(raw).unwrap_or(Err(e))
        }
        other => other,
    };
    res.map_err(|e| {
        // A typed parse names only the bad value; the seccomp compiler's own
        // validation names the field (e.g. linux.seccomp.syscalls[3].action).
        let seccomp = serde_json::from_slice::<serde_json::Value>(raw)
            .ok()
            .and_then(|v| v.pointer("/linux/seccomp").cloned());
        if let Some(Err(se)) = seccomp.map(|s| crate::seccomp::compile_json(&s)) {
            return Error::config(format!("invalid config.json: {se}"));
        }
        if let Some(field) = newer_field_error(raw) {
            return Error::config(format!("invalid config.json: {field}"));
        }
        Error::config(format!("invalid config.json: {e}"))
    })
}

/// The typed parser's error for a capability name it does not know.
fn is_unknown_cap(e: &serde_json::Error) -> bool {
    e.to_string().starts_with("no variant for ")
}

/// Parses `raw` again with the runtime-spec's scheduler flag names
/// renamed; None when there was nothing to rename.
fn spec_flag_names(raw: &[u8]) -> Option<serde_json::Result<Spec>> {
    let mut v = serde_json::from_slice::<serde_json::Value>(raw).ok()?;
    let process = v.get_mut("process")?;
    if !crate::process::scheduler::rename_spec_flags(process) {
        return None;
    }
    Some(serde_json::to_vec(&v).and_then(|b| serde_json::from_slice(&b)))
}

/// A typed parse names only the bad value: for the newer process and linux
/// fields, name the field too (e.g. an unknown scheduler policy).
fn newer_field_error(raw: &[u8]) -> Option<String> {
    use oci_spec::runtime::{
        ExecCPUAffinity, LinuxIOPriority, LinuxMemoryPolicy, LinuxPersonality,
        MemoryPolicyFlagType, MemoryPolicyModeType, Scheduler,
    };
    fn check<T: serde::de::DeserializeOwned>(v: &serde_json::Value, ptr: &str) -> Option<String> {
        let part = v.pointer(ptr)?.clone();
        let e = serde_json::from_value::<T>(part).err()?;
        let e = crate::process::scheduler::spec_flag_spelling(&e.to_string());
        Some(format!("{}: {e}", ptr[1..].replace('/', ".")))
    }
    let mut v = serde_json::from_slice::<serde_json::Value>(raw).ok()?;
    if let Some(p) = v.get_mut("process") {
        crate::process::scheduler::rename_spec_flags(p);
    }
    check::<Scheduler>(&v, "/process/scheduler")
        .or_else(|| check::<LinuxIOPriority>(&v, "/process/ioPriority"))
        .or_else(|| check::<LinuxPersonality>(&v, "/linux/personality"))
        .or_else(|| check::<ExecCPUAffinity>(&v, "/process/execCPUAffinity"))
        .or_else(|| check::<MemoryPolicyModeType>(&v, "/linux/memoryPolicy/mode"))
        .or_else(|| check::<Vec<MemoryPolicyFlagType>>(&v, "/linux/memoryPolicy/flags"))
        .or_else(|| check::<LinuxMemoryPolicy>(&v, "/linux/memoryPolicy"))
}

fn rootfs_path(dir: &Path, spec: &Spec) -> Result<PathBuf> {
    let root = spec
        .root()
        .as_ref()
        .ok_or_else(|| Error::config("root: the config has no root filesystem (root.path)"))?;
    let path = dir.join(root.path());
    let abs = fs::canonicalize(&path)
        .map_err(|_| Error::config(format!("rootfs ({}) does not exist", path.display())))?;
    if !abs.is_dir() {
        return Err(Error::config(format!(
            "rootfs ({}) is not a directory",
            abs.display()
        )));
    }
    Ok(abs)
}

/// The checks that need no system access.
pub fn validate(spec: &Spec) -> Result<()> {
    validate_process(spec)?;
    let linux = spec
        .linux()
        .as_ref()
        .ok_or_else(|| Error::config("linux: the config has no linux section"))?;
    let ns = namespaces::Plan::from_spec(linux)?;
    if !ns.has(LinuxNamespaceType::Mount) {
        validate_host_mount_ns(spec, linux)?;
    }
    if spec.hostname().as_deref().is_some_and(|h| !h.is_empty())
        && !ns.creates(LinuxNamespaceType::Uts)
        && !ns.joins(LinuxNamespaceType::Uts)
    {
        return Err(Error::config(
            "unable to set hostname without a private UTS namespace",
        ));
    }
    if spec.domainname().as_deref().is_some_and(|h| !h.is_empty())
        && !ns.creates(LinuxNamespaceType::Uts)
        && !ns.joins(LinuxNamespaceType::Uts)
    {
        return Err(Error::config(
            "unable to set domainname without a private UTS namespace",
        ));
    }
    if let Some(s) = linux.sysctl() {
        sysctl::validate(s, &ns)?;
    }
    crate::netdevices::validate(linux, &ns)?;
    crate::userns::validate(linux, spec.process().as_ref())?;
    validate_linux_later(linux)?;
    validate_paths(linux)?;
    validate_mounts(spec)?;
    validate_hooks(spec)
}

/// A config without a mount namespace runs in the runtime's (config-linux.md:
/// a namespace type not listed is inherited), entered by chroot into the
/// rootfs, as runc does. runc still mounts there — it makes the host's `/`
/// a recursive slave, binds the rootfs onto itself and makes every mount of
/// the config in the host's mount namespace; berth never mounts on the host,
/// so what needs a mount is refused. runc's own refusal (masked and
/// read-only paths) keeps its words.
fn validate_host_mount_ns(spec: &Spec, linux: &oci_spec::runtime::Linux) -> Result<()> {
    let listed = |v: &Option<Vec<String>>| v.as_ref().is_some_and(|v| !v.is_empty());
    if listed(linux.masked_paths()) || listed(linux.readonly_paths()) {
        return Err(Error::config(
            "unable to restrict sys entries without a private MNT namespace",
        ));
    }
    if let Some((i, m)) = spec.mounts().iter().flatten().enumerate().next() {
        return Err(Error::config(format!(
            "mounts[{i}] ({}): without a private mount namespace the mount would be made in the host's mount namespace (berth never mounts there)",
            m.destination().display()
        )));
    }
    if linux.rootfs_propagation().is_some() {
        return Err(Error::config(
            "linux.rootfsPropagation: needs a private mount namespace (it would change the host's mounts)",
        ));
    }
    if spec.process().as_ref().and_then(|p| p.terminal()) == Some(true) {
        return Err(Error::config(
            "process.terminal: needs a private mount namespace (the pty is bound onto the container's /dev/console)",
        ));
    }
    if spec.root().as_ref().and_then(|r| r.readonly()) == Some(true) {
        // As runc: the rootfs is not a mount of its own here, so there is
        // nothing to make read-only without changing a host mount.
        tracing::warn!("root.readonly ignored: the container has no mount namespace of its own");
    }
    Ok(())
}

fn validate_process(spec: &Spec) -> Result<()> {
    let p = spec
        .process()
        .as_ref()
        .ok_or_else(|| Error::config("process: the config has no process to run"))?;
    if p.args().as_ref().is_none_or(|a| a.is_empty()) {
        return Err(Error::config("process.args: args must not be empty"));
    }
    if !p.cwd().is_absolute() {
        return Err(Error::config(format!(
            "process.cwd: cwd property must be an absolute path, not {:?}",
            p.cwd()
        )));
    }
    if let Some(s) = p.scheduler() {
        crate::process::scheduler::validate(s, "process.scheduler")?;
    }
    if let Some(io) = p.io_priority() {
        crate::process::io_priority::validate(io, "process.ioPriority")?;
    }
    if let Some(a) = p.exec_cpu_affinity() {
        crate::process::cpu_affinity::masks(a)?;
    }
    lsm_label(
        p.apparmor_profile().as_deref(),
        "process.apparmorProfile",
        "apparmor",
    )?;
    lsm_label(
        p.selinux_label().as_deref(),
        "process.selinuxLabel",
        "selinux",
    )?;
    if let Some(r) = p.rlimits() {
        rlimits::validate(r)?;
    }
    if let Some(c) = p.capabilities() {
        crate::capabilities::warn_unraisable_ambient(c);
    }
    validate_env(p.env().as_deref().unwrap_or(&[]), "process.env")?;
    validate_ids(p.user())
}

/// runc's rules for environment entries: `NAME=value` with a non-empty name.
pub fn validate_env(env: &[String], field: &str) -> Result<()> {
    for e in env {
        match e.split_once('=') {
            None => {
                return Err(Error::config(format!(
                    "{field}: invalid environment variable {e:?}: missing '='"
                )))
            }
            Some(("", _)) => {
                return Err(Error::config(format!(
                    "{field}: invalid environment variable {e:?}: name cannot be empty"
                )))
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// uid/gid 4294967295 is -1 to setresuid/setresgid/setgroups: "leave
/// unchanged", so the process would keep the runtime's root identity.
pub fn validate_ids(u: &oci_spec::runtime::User) -> Result<()> {
    let bad = |field: &str, id: u32| {
        Error::config(format!(
            "process.user.{field}: {id} is not a valid id (the kernel reads it as -1, \"leave unchanged\")"
        ))
    };
    if u.uid() == u32::MAX {
        return Err(bad("uid", u.uid()));
    }
    if u.gid() == u32::MAX {
        return Err(bad("gid", u.gid()));
    }
    match u
        .additional_gids()
        .iter()
        .flatten()
        .find(|g| **g == u32::MAX)
    {
        Some(g) => Err(bad("additionalGids", *g)),
        None => Ok(()),
    }
}

/// Paths that must name something below the container's root: a masked
/// path or a device that normalises to `/` would cover the whole rootfs.
fn validate_paths(linux: &oci_spec::runtime::Linux) -> Result<()> {
    let is_root = |p: &Path| crate::rootfs::resolve::clean(p).is_empty();
    for p in linux.masked_paths().iter().flatten() {
        if is_root(Path::new(p)) {
            return Err(Error::config(format!(
                "linux.maskedPaths: {p:?} is the container's root; masking it would hide the whole rootfs"
            )));
        }
    }
    for (i, d) in linux.devices().iter().flatten().enumerate() {
        if is_root(d.path()) {
            return Err(Error::config(format!(
                "linux.devices[{i}].path: {:?} is the container's root, not a device path",
                d.path()
            )));
        }
    }
    Ok(())
}

/// Fields whose implementation belongs to a later issue: refuse, by name.
fn validate_linux_later(linux: &oci_spec::runtime::Linux) -> Result<()> {
    if let Some(rdt) = linux.intel_rdt() {
        crate::intel_rdt::validate(rdt)?;
    }
    if let Some(p) = linux.personality() {
        crate::process::personality::validate(p)?;
    }
    if let Some(p) = linux.memory_policy() {
        crate::process::memory_policy::validate(p)?;
    }
    lsm_label(
        linux.mount_label().as_deref(),
        "linux.mountLabel",
        "selinux",
    )?;
    if let Some(p) = linux.rootfs_propagation() {
        crate::rootfs::propagation_flag(p)?;
    }
    Ok(())
}

/// An LSM label is applied only when that LSM is active (as runc does);
/// none is active on hosts without it, so the label is dropped with a warning.
fn lsm_label(label: Option<&str>, field: &str, lsm: &str) -> Result<()> {
    let Some(label) = label.filter(|l| !l.is_empty()) else {
        return Ok(());
    };
    let active = fs::read_to_string("/sys/kernel/security/lsm").unwrap_or_default();
    if active.split(',').any(|l| l.trim() == lsm) {
        return Err(Error::config(format!(
            "{field}: {lsm} labels are not implemented yet"
        )));
    }
    tracing::warn!("{field} {label:?} ignored: {lsm} is not enabled on this host");
    Ok(())
}

fn validate_mounts(spec: &Spec) -> Result<()> {
    for (i, m) in spec.mounts().iter().flatten().enumerate() {
        let bad = |e: &dyn std::fmt::Display| {
            Error::config(format!("mounts[{i}] ({}): {e}", m.destination().display()))
        };
        let plan = crate::rootfs::mount::MountPlan::from_spec(m).map_err(|e| bad(&e))?;
        crate::rootfs::idmap::validate(spec, m, &plan).map_err(|e| bad(&e))?;
    }
    Ok(())
}

fn validate_hooks(spec: &Spec) -> Result<()> {
    let Some(hooks) = spec.hooks() else {
        return Ok(());
    };
    for (kind, list) in crate::hooks::all(hooks) {
        for (i, h) in list.iter().enumerate() {
            if !h.path().is_absolute() {
                return Err(Error::config(format!(
                    "hooks.{kind}[{i}].path: {} must be an absolute path",
                    h.path().display()
                )));
            }
            if h.timeout().is_some_and(|t| t <= 0) {
                return Err(Error::config(format!(
                    "hooks.{kind}[{i}].timeout: must be greater than zero"
                )));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hooks_of_copy_reads_only_the_hooks() {
        let with = br#"{"ociVersion": "1.0.2", "process": {"args": ["true"]},
            "linux": {"seccomp": {"defaultAction": "SCMP_ACT_ERRNO"}},
            "hooks": {"poststart": [{"path": "/bin/true"}],
                      "poststop": [{"path": "/bin/false", "args": ["x"]}]}}"#;
        let hooks = hooks_of_copy(with).unwrap().unwrap();
        assert_eq!(hooks.poststart().as_ref().unwrap().len(), 1);
        let stop = &hooks.poststop().as_ref().unwrap()[0];
        assert_eq!(stop.path(), Path::new("/bin/false"));
        let without = br#"{"ociVersion": "1.0.2", "process": {"args": ["true"]}}"#;
        assert!(hooks_of_copy(without).unwrap().is_none());
        // A duplicate key (accepted at create, last one wins) takes the
        // full parse.
        let dup = br#"{"ociVersion": "1.0.2", "root": {"path": "rootfs"},
            "hooks": {"poststop": [{"path": "/a"}]},
            "hooks": {"poststop": [{"path": "/b"}]}}"#;
        let hooks = hooks_of_copy(dup).unwrap().unwrap();
        assert_eq!(
            hooks.poststop().as_ref().unwrap()[0].path(),
            Path::new("/b")
        );
    }

    /// The base of a config without a mount namespace that runs.
    fn host_mnt(extra: serde_json::Value) -> Spec {
        let mut v = serde_json::json!({
            "ociVersion": "1.0.2",
            "root": {"path": "rootfs", "readonly": true},
            "process": {"args": ["/bin/sh"], "cwd": "/", "user": {"uid": 0, "gid": 0}},
            "linux": {"namespaces": [{"type": "pid"}]}
        });
        if let (Some(base), Some(add)) = (v.as_object_mut(), extra.as_object()) {
            for (k, val) in add {
                base.insert(k.clone(), val.clone());
            }
        }
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn no_mount_namespace_is_accepted_without_mounts() {
        validate(&host_mnt(serde_json::json!({}))).unwrap();
        let none = host_mnt(serde_json::json!({"linux": {}}));
        validate(&none).unwrap();
    }

    #[test]
    fn no_mount_namespace_refuses_what_needs_a_mount() {
        let err = |extra| validate(&host_mnt(extra)).unwrap_err().to_string();
        assert_eq!(
            err(serde_json::json!({"linux": {"maskedPaths": ["/proc/kcore"]}})),
            "unable to restrict sys entries without a private MNT namespace"
        );
        assert_eq!(
            err(serde_json::json!({"linux": {"readonlyPaths": ["/proc/sys"]}})),
            "unable to restrict sys entries without a private MNT namespace"
        );
        let m = err(serde_json::json!({
            "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"}]
        }));
        assert!(m.starts_with("mounts[0] (/proc): "), "{m}");
        let p = err(serde_json::json!({"linux": {"rootfsPropagation": "private"}}));
        assert!(p.starts_with("linux.rootfsPropagation: "), "{p}");
        let t = err(serde_json::json!({"process": {
            "args": ["/bin/sh"], "cwd": "/", "user": {"uid": 0, "gid": 0}, "terminal": true
        }}));
        assert!(t.starts_with("process.terminal: "), "{t}");
        // A joined mount namespace is one of the container's own.
        let joined = host_mnt(serde_json::json!({"linux": {
            "namespaces": [{"type": "mount", "path": "/proc/1/ns/mnt"}],
            "maskedPaths": ["/proc/kcore"]
        }}));
        validate(&joined).unwrap();
    }
}
