//! config.json generation with oci-spec builders.
//!
//! The base config is close to `runc spec` but without a terminal,
//! `linux.resources`, seccomp or user namespaces (berth rejects those until
//! later issues). oci-spec's builders fill unset fields from the struct's
//! Default (which carries a device cgroup rule set), so every field that
//! matters is set explicitly and the JSON is checked before it is written.

use oci_spec::runtime::{
    Capability, Hook, HookBuilder, Hooks, Linux, LinuxBuilder, LinuxCapabilitiesBuilder,
    LinuxNamespace, LinuxNamespaceBuilder, LinuxNamespaceType, Mount, MountBuilder,
    PosixRlimitBuilder, PosixRlimitType, Process, ProcessBuilder, RootBuilder, Spec, SpecBuilder,
    UserBuilder,
};
use std::collections::HashSet;

pub const CHECKER: &str = "/bin/berth-checker";
pub const PATH_ENV: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The three capabilities `runc spec` grants.
pub fn default_caps() -> HashSet<Capability> {
    [
        Capability::AuditWrite,
        Capability::Kill,
        Capability::NetBindService,
    ]
    .into_iter()
    .collect()
}

fn base_process() -> Process {
    let caps = LinuxCapabilitiesBuilder::default()
        .bounding(default_caps())
        .effective(default_caps())
        .permitted(default_caps())
        .inheritable(HashSet::new())
        .ambient(HashSet::new())
        .build()
        .expect("capabilities");
    let nofile = PosixRlimitBuilder::default()
        .typ(PosixRlimitType::RlimitNofile)
        .hard(1024u64)
        .soft(1024u64)
        .build()
        .expect("rlimit");
    let mut p = ProcessBuilder::default()
        .terminal(false)
        .user(
            UserBuilder::default()
                .uid(0u32)
                .gid(0u32)
                .build()
                .expect("user"),
        )
        .args(vec![CHECKER.to_string()])
        .env(vec![PATH_ENV.to_string()])
        .cwd("/")
        .capabilities(caps)
        .rlimits(vec![nofile])
        .no_new_privileges(true)
        .build()
        .expect("process");
    p.set_apparmor_profile(None);
    p.set_selinux_label(None);
    p.set_scheduler(None);
    p.set_io_priority(None);
    p.set_console_size(None);
    p
}

pub fn mount(dest: &str, typ: &str, source: &str, opts: &[&str]) -> Mount {
    MountBuilder::default()
        .destination(dest)
        .typ(typ)
        .source(source)
        .options(opts.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        .build()
        .expect("mount")
}

fn base_mounts() -> Vec<Mount> {
    vec![
        mount("/proc", "proc", "proc", &[]),
        mount(
            "/dev",
            "tmpfs",
            "tmpfs",
            &["nosuid", "strictatime", "mode=755", "size=65536k"],
        ),
        mount(
            "/dev/pts",
            "devpts",
            "devpts",
            &[
                "nosuid",
                "noexec",
                "newinstance",
                "ptmxmode=0666",
                "mode=0620",
                "gid=5",
            ],
        ),
        mount(
            "/dev/shm",
            "tmpfs",
            "shm",
            &["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
        ),
        mount(
            "/dev/mqueue",
            "mqueue",
            "mqueue",
            &["nosuid", "noexec", "nodev"],
        ),
        mount(
            "/sys",
            "sysfs",
            "sysfs",
            &["nosuid", "noexec", "nodev", "ro"],
        ),
    ]
}

pub fn ns(typ: LinuxNamespaceType, path: Option<&str>) -> LinuxNamespace {
    let mut b = LinuxNamespaceBuilder::default().typ(typ);
    if let Some(p) = path {
        b = b.path(p);
    }
    b.build().expect("namespace")
}

/// pid, network, ipc, uts, mount: what `runc spec` gives (without cgroup).
pub fn base_namespaces() -> Vec<LinuxNamespace> {
    use LinuxNamespaceType::*;
    [Pid, Network, Ipc, Uts, Mount]
        .into_iter()
        .map(|t| ns(t, None))
        .collect()
}

fn base_linux() -> Linux {
    let mut l = LinuxBuilder::default()
        .namespaces(base_namespaces())
        .build()
        .expect("linux");
    l.set_resources(None);
    l.set_seccomp(None);
    l.set_masked_paths(None);
    l.set_readonly_paths(None);
    l.set_uid_mappings(None);
    l.set_gid_mappings(None);
    l.set_cgroups_path(None);
    l.set_devices(None);
    l.set_sysctl(None);
    l.set_rootfs_propagation(None);
    l.set_intel_rdt(None);
    l
}

/// The base config every case starts from.
pub fn base() -> Spec {
    let mut spec = SpecBuilder::default()
        .version("1.0.2")
        .root(
            RootBuilder::default()
                .path("rootfs")
                .readonly(false)
                .build()
                .expect("root"),
        )
        .process(base_process())
        .hostname("berth-test")
        .mounts(base_mounts())
        .linux(base_linux())
        .build()
        .expect("spec");
    spec.set_annotations(None);
    spec.set_domainname(None);
    spec.set_hooks(None);
    spec
}

/// Serialize, refusing configs berth does not accept yet.
pub fn to_json(spec: &Spec) -> Result<String, String> {
    let v = serde_json::to_value(spec).map_err(|e| e.to_string())?;
    let linux = &v["linux"];
    for key in ["uidMappings", "gidMappings"] {
        if !linux[key].is_null() {
            return Err(format!("generated config carries linux.{key}"));
        }
    }
    serde_json::to_string_pretty(&v).map_err(|e| e.to_string())
}

pub fn process_mut(spec: &mut Spec) -> &mut Process {
    spec.process_mut()
        .as_mut()
        .expect("base config has a process")
}

/// Runs the process as `uid`:`gid` (no additional groups).
pub fn set_user(spec: &mut Spec, uid: u32, gid: u32) -> Result<(), String> {
    let user = UserBuilder::default()
        .uid(uid)
        .gid(gid)
        .build()
        .map_err(|e| format!("user: {e}"))?;
    process_mut(spec).set_user(user);
    Ok(())
}

pub fn linux_mut(spec: &mut Spec) -> &mut Linux {
    spec.linux_mut().as_mut().expect("base config has linux")
}

pub fn set_args(spec: &mut Spec, args: &[&str]) {
    process_mut(spec).set_args(Some(args.iter().map(|s| s.to_string()).collect()));
}

/// Args for the checker: `berth-checker ARGS...`.
pub fn set_checker(spec: &mut Spec, args: &[&str]) {
    let mut v = vec![CHECKER];
    v.extend_from_slice(args);
    set_args(spec, &v);
}

pub fn add_mount(spec: &mut Spec, m: Mount) {
    let mounts = spec.mounts_mut().get_or_insert_with(Vec::new);
    mounts.push(m);
}

pub fn hook(path: &str, args: &[&str], env: &[&str], timeout: Option<i64>) -> Hook {
    let mut b = HookBuilder::default()
        .path(path)
        .args(args.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        .env(env.iter().map(|s| s.to_string()).collect::<Vec<_>>());
    if let Some(t) = timeout {
        b = b.timeout(t);
    }
    b.build().expect("hook")
}

/// Mutable access to the hooks section, created empty when missing.
pub fn hooks_mut(spec: &mut Spec) -> &mut Hooks {
    if spec.hooks().is_none() {
        spec.set_hooks(Some(Hooks::default()));
    }
    spec.hooks_mut().as_mut().expect("just set")
}

/// `process.terminal: true` with a `consoleSize` of `rows` x `cols`.
pub fn set_terminal(spec: &mut Spec, rows: u64, cols: u64) {
    let p = process_mut(spec);
    p.set_terminal(Some(true));
    let size = oci_spec::runtime::BoxBuilder::default()
        .height(rows)
        .width(cols)
        .build();
    p.set_console_size(size.ok());
}
