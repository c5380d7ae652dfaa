//! The cases, one module per topic. Each module exports `CASES`.

mod cgroups;
mod cgroups_parity;
mod cli_parity;
mod cve_2025;
mod debug_log;
mod devices;
mod errors;
mod events;
mod exec;
mod hooks;
mod hooks_parity;
mod idmap;
mod lifecycle;
mod many_mounts;
mod mounts;
mod mounts_parity;
mod namespaces;
mod notify;
mod ns_parity;
mod parity_behaviour;
mod parity_errors;
mod pause;
mod process;
mod robustness;
mod rootless;
mod rootless_cgroup;
mod rootless_in_userns;
mod rootless_user;
mod runc_features;
mod runc_features2;
mod runc_features3;
mod seccomp;
mod security;
mod systemd;
mod tty;
mod tty_relay;
mod userns;
mod userns_limits;
mod userns_security;
pub mod util;

use crate::harness::case::Case;

/// Every case, in run order.
pub fn all() -> Vec<Case> {
    [
        lifecycle::CASES,
        errors::CASES,
        namespaces::CASES,
        ns_parity::CASES,
        mounts::CASES,
        mounts_parity::CASES,
        many_mounts::CASES,
        idmap::CASES,
        devices::CASES,
        process::CASES,
        hooks::CASES,
        hooks_parity::CASES,
        exec::CASES,
        pause::CASES,
        cgroups::CASES,
        cgroups_parity::CASES,
        security::CASES,
        seccomp::CASES,
        tty::CASES,
        tty_relay::CASES,
        notify::CASES,
        parity_behaviour::CASES,
        parity_errors::CASES,
        runc_features::CASES,
        runc_features2::CASES,
        runc_features3::CASES,
        robustness::CASES,
        cli_parity::CASES,
        debug_log::CASES,
        events::CASES,
        userns::CASES,
        userns_security::CASES,
        userns_limits::CASES,
        rootless::CASES,
        rootless_user::CASES,
        rootless_cgroup::CASES,
        rootless_in_userns::CASES,
        cve_2025::CASES,
        systemd::CASES,
    ]
    .concat()
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// The module files under `dir`, as paths relative to `base`.
    fn modules(base: &Path, dir: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                modules(base, &path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let rel = path.strip_prefix(base).unwrap();
                out.push(rel.to_str().unwrap().to_string());
            }
        }
    }

    #[test]
    fn readme_lists_every_case_module() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
        let base = root.join("src/cases");
        let mut found = Vec::new();
        modules(&base, &base, &mut found);
        found.retain(|m| m != "mod.rs");
        let missing: Vec<&String> = found
            .iter()
            .filter(|m| !readme.contains(&format!("| `{m}` |")))
            .collect();
        assert!(missing.is_empty(), "README.md lacks {missing:?}");
        assert!(found.len() >= 20, "{found:?}");
    }

    #[test]
    fn case_names_are_unique() {
        let mut names: Vec<&str> = super::all().iter().map(|c| c.name).collect();
        names.sort();
        let n = names.len();
        names.dedup();
        assert_eq!(names.len(), n, "a case name is used twice");
    }
}
