//! The client configs recorded by `make fixtures` (spec-tests/fixtures/,
//! whose README says how they were made). The tests that read them return
//! `Result<(), FixtureError>`: a missing fixture fails the test with a
//! message naming `make fixtures` instead of a panic.

use std::fmt;

use serde_json::Value;

const DIR: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../spec-tests/fixtures/configs"
);

/// `docker run --rm busybox true` (Docker 20.10): Docker's default profile.
pub const DOCKER: &str = "docker-20.10-busybox.json";
/// The same with every capability Docker 20.10 knows but CAP_SYS_RESOURCE.
pub const DOCKER_ALL_CAPS: &str = "docker-20.10-busybox-all-caps.json";
/// `podman run --rm busybox true` (podman 4.3).
pub const PODMAN: &str = "podman-4.3-busybox.json";
/// `ctr run --rm` (containerd 1.6): no seccomp section.
pub const CONTAINERD: &str = "containerd-1.6-ctr-busybox.json";

/// A fixture that cannot be used; libtest prints it as the test's error.
pub struct FixtureError(String);

impl fmt::Debug for FixtureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The recorded config `name`, parsed.
pub fn config(name: &str) -> Result<Value, FixtureError> {
    let path = format!("{DIR}/{name}");
    let text = std::fs::read_to_string(&path).map_err(|e| {
        FixtureError(format!(
            "fixture {path}: {e}; `make fixtures` records it (spec-tests/fixtures/README.md)"
        ))
    })?;
    serde_json::from_str(&text).map_err(|e| FixtureError(format!("fixture {path}: {e}")))
}

/// The `linux.seccomp` of config `name`, if the client passed one.
pub fn seccomp(name: &str) -> Result<Option<Value>, FixtureError> {
    Ok(config(name)?["linux"].get("seccomp").cloned())
}

/// The `linux.seccomp` of config `name`, which must have one.
pub fn profile(name: &str) -> Result<Value, FixtureError> {
    seccomp(name)?.ok_or_else(|| FixtureError(format!("fixture {name}: no linux.seccomp")))
}
