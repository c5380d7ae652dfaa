//! config.json: parsing, validation and every pure step `create` (and
//! `update`) runs on the parsed config before anything touches the system.
//! Nothing here makes a syscall with a side effect: no mount, no cgroup
//! write, no seccomp cache file (the compiler is called directly).
#![no_main]

use std::path::Path;

use berth::fuzzing::cgroups::{convert, devices, ebpf, v2, CgroupsPath};
use berth::fuzzing::rootfs::mount::MountPlan;
use libfuzzer_sys::fuzz_target;
use oci_spec::runtime::{LinuxResources, Spec};

fuzz_target!(|data: &[u8]| {
    let spec = match berth::fuzzing::spec::parse(data) {
        Ok(s) => s,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    // Every step below runs whatever validate says: `update` converts
    // resources from a file that never went through it, and each step must
    // turn bad input into an error on its own.
    if let Err(e) = berth::fuzzing::spec::validate(&spec) {
        let _ = e.to_string();
    }
    pure_steps(&spec);
});

fn pure_steps(spec: &Spec) {
    if let Some(p) = spec.process() {
        let sock = Path::new("/run/console.sock");
        for (socket, detach) in [(None, false), (None, true), (Some(sock), true)] {
            let _ = berth::fuzzing::tty::mode(p, socket, detach).map_err(|e| e.to_string());
        }
        if let Some(c) = p.capabilities() {
            let _ = berth::fuzzing::capabilities::CapSets::from_spec(c);
        }
    }
    for m in spec.mounts().iter().flatten() {
        match MountPlan::from_spec(m) {
            Ok(plan) => {
                let _ = plan.describe();
            }
            Err(e) => drop(e),
        }
    }
    if let Some(h) = spec.hooks() {
        for (_, list) in berth::fuzzing::hooks::all(h) {
            let _ = list.len();
        }
    }
    let Some(linux) = spec.linux() else {
        return;
    };
    if let Ok(plan) = berth::fuzzing::namespaces::Plan::from_spec(linux) {
        let _ = plan.clone_flags();
    }
    if let Some(p) = linux.rootfs_propagation() {
        let _ = berth::fuzzing::rootfs::propagation_flag(p).map_err(|e| e.to_string());
    }
    let linux_devices = linux.devices().as_deref().unwrap_or(&[]);
    let defaults = devices::runc_default_rules(linux_devices);
    let _ = berth::fuzzing::rootfs::devices::plan(linux_devices);
    let cgroups_path = linux.cgroups_path().as_ref().and_then(|p| p.to_str());
    for systemd in [false, true] {
        match CgroupsPath::parse(cgroups_path, "fuzz-id", systemd) {
            Ok(cp) => {
                let mount = Path::new("/sys/fs/cgroup");
                let _ = cp.dir_in(mount, Some("/user.slice/session-1.scope"));
                let _ = cp.dir_in(mount, None).map_err(|e| e.to_string());
            }
            Err(e) => drop(e.to_string()),
        }
    }
    if let Some(r) = linux.resources() {
        resources(r, &defaults);
    }
    if let Some(s) = linux.seccomp() {
        match berth::fuzzing::seccomp::compile(s) {
            Ok(p) => assert!(!p.filter.is_empty() && p.filter.len() <= 4096),
            Err(e) => drop(e.to_string()),
        }
        let _ = berth::fuzzing::seccomp::cache_key(s);
    }
}

/// The value conversions the v1/v2 writers make, with their inputs.
fn resources(r: &LinuxResources, defaults: &[devices::Rule]) {
    let rules = match r.devices() {
        Some(d) => match devices::from_spec(d) {
            Ok(rules) => rules,
            Err(e) => {
                let _ = e.to_string();
                Vec::new()
            }
        },
        None => Vec::new(),
    };
    let merged = devices::with_defaults(&rules, defaults);
    let state = devices::DeviceState::from_rules(&merged);
    let prog = ebpf::compile(&state);
    assert!(!prog.is_empty());
    let list: String = state
        .exceptions
        .iter()
        .map(|r| r.cgroup_string() + "\n")
        .collect();
    let _ = devices::DeviceState::from_v1_list(&list);
    if let Some(m) = r.memory() {
        let limit = m.limit().unwrap_or(0);
        if let Ok(swap) = convert::swap_to_v2(m.swap().unwrap_or(0), limit) {
            let _ = convert::v2_limit(swap);
        }
        let _ = convert::v2_limit(limit);
        if let Some(res) = m.reservation() {
            let _ = convert::v2_limit(res);
        }
    }
    if let Some(c) = r.cpu() {
        if let Some(s) = c.shares() {
            let w = convert::shares_to_weight(s);
            assert!(w <= 10_000);
        }
        let _ = convert::cpu_max(c.quota().unwrap_or(0), c.period().unwrap_or(0));
    }
    if let Some(b) = r.block_io() {
        if let Some(w) = b.weight() {
            let _ = convert::blkio_weight_to_io_weight(w);
        }
        for d in b.weight_device().iter().flatten() {
            if let Some(w) = d.weight() {
                let _ = convert::blkio_weight_to_io_weight(w);
            }
        }
    }
    let known = ["2MB".to_string(), "1GB".to_string()];
    for h in r.hugepage_limits().iter().flatten() {
        let _ = convert::check_page_size(h.page_size(), &known).map_err(|e| e.to_string());
        let _ = convert::v2_limit(h.limit());
    }
    for k in r.unified().iter().flat_map(|u| u.keys()) {
        let _ = v2::unified_controller(k).map_err(|e| e.to_string());
    }
}
