//! The client configs recorded by `make fixtures` (spec-tests/fixtures/,
//! whose README says how they were made). `SPEC_FIXTURES` names another
//! fixtures dir (the cgroup v2 VM copies them to its own).

use std::path::PathBuf;

use super::Fail;

/// What Docker 20.10 passed for `docker run --rm busybox true`.
pub const DOCKER: &str = "docker-20.10-busybox.json";
/// What podman 4.3 passed for `podman run --rm busybox true`.
pub const PODMAN: &str = "podman-4.3-busybox.json";
/// What containerd 1.6's `ctr run --rm` passed.
pub const CONTAINERD: &str = "containerd-1.6-ctr-busybox.json";

fn dir() -> PathBuf {
    std::env::var_os("SPEC_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures")))
}

/// The recorded config `name`, parsed.
pub fn config(name: &str) -> Result<serde_json::Value, Fail> {
    let path = dir().join("configs").join(name);
    let text = std::fs::read_to_string(&path).map_err(|e| {
        Fail::Fail(format!(
            "fixture {}: {e}; `make fixtures` records it (spec-tests/fixtures/README.md)",
            path.display()
        ))
    })?;
    serde_json::from_str(&text).map_err(|e| Fail::Fail(format!("fixture {}: {e}", path.display())))
}
