//! The recorded client configs (spec-tests/fixtures: what Docker 20.10,
//! Podman 4.3 and containerd 1.6's ctr handed the runtime) run with their own
//! seccomp profiles.
//! The checker reports the seccomp mode and makes raw syscalls whose allowed
//! outcome is known (see the checker's sys.rs), so each errno is the
//! profile's verdict, not the kernel's.
//!
//! Only what ties a config to the host it was captured on is changed (see
//! `adapt`, listed in spec-tests/fixtures/README.md); namespaces, mounts,
//! capabilities, rlimits, sysctls, resources and the seccomp section stay as
//! they are.

use std::path::Path;

use super::expect_success;
use crate::harness::fixtures::{self, CONTAINERD, DOCKER, PODMAN};
use crate::harness::{config, Ctx, Facts, Fail, TestResult};

fn fail(what: &str, e: impl std::fmt::Display) -> Fail {
    Fail::Fail(format!("{what}: {e}"))
}

/// Host-specific parts of a captured config, made to fit the harness.
fn adapt(v: &mut serde_json::Value, bundle: &Path) -> TestResult {
    // The image's overlay mount under the capturing daemon → the harness's
    // busybox rootfs (with the checker) in the bundle.
    v["root"] = serde_json::json!({"path": "rootfs"});
    // Docker with a network adds a prestart hook, /proc/<dockerd pid>/exe
    // (libnetwork-setkey); the recorded configs have none.
    if let Some(o) = v.as_object_mut() {
        o.remove("hooks");
    }
    // "/<parent>/<id>" under the capturing daemons' parent cgroups, which
    // no runtime removes on delete; the runtime's default path is used.
    if let Some(l) = v["linux"].as_object_mut() {
        l.remove("cgroupsPath");
    }
    // Bind sources under the daemons' state dirs (resolv.conf, hosts,
    // hostname, .containerenv, Podman's /dev/shm) → stand-ins in the bundle.
    let files = bundle.join("host-files");
    std::fs::create_dir_all(&files).map_err(|e| fail("mkdir host-files", e))?;
    for (i, m) in v["mounts"].as_array_mut().into_iter().flatten().enumerate() {
        let is_bind = m["type"] == "bind"
            || m["options"]
                .as_array()
                .is_some_and(|o| o.iter().any(|x| x == "bind" || x == "rbind"));
        let source = m["source"].as_str().unwrap_or("");
        if !is_bind || Path::new(source).exists() {
            continue;
        }
        let stand_in = files.join(format!("{i}"));
        if m["destination"] == "/dev/shm" {
            std::fs::create_dir(&stand_in).map_err(|e| fail("mkdir stand-in", e))?;
        } else {
            std::fs::write(&stand_in, "").map_err(|e| fail("write stand-in", e))?;
        }
        m["source"] = stand_in.display().to_string().into();
    }
    Ok(())
}

/// Runs the checker with `args` under fixture config `name`.
fn run_fixture(ctx: &Ctx, name: &str, args: &[&str]) -> Result<Facts, Fail> {
    let mut v = fixtures::config(name)?;
    let b = ctx.bundle("b")?;
    adapt(&mut v, &b.dir)?;
    let mut argv = vec![config::CHECKER];
    argv.extend_from_slice(args);
    v["process"]["args"] = serde_json::json!(argv);
    std::fs::write(b.dir.join("config.json"), v.to_string()).map_err(|e| fail("config", e))?;
    let out = ctx.rt(&["run", "--bundle", b.path(), "c1"])?.ok()?;
    Ok(Facts::parse(&out.stdout))
}

/// `sys NAME` for each name, after `seccomp`.
fn checker_args<'a>(names: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["seccomp"];
    for n in names {
        args.extend(["+", "sys", n]);
    }
    args
}

fn err(e: i32) -> String {
    format!("err:{e}")
}

/// Docker 20.10: default ERRNO (EPERM), no CAP_SYS_ADMIN rules, so unshare,
/// mount and keyctl fall to the default; clone3 has its own ENOSYS rule so
/// that glibc falls back to clone. The config has no noNewPrivileges: the
/// filter is loaded before the capabilities are dropped.
pub fn docker(ctx: &Ctx) -> TestResult {
    let names = [
        "unshare",
        "mount",
        "keyctl",
        "clone3",
        "getpid",
        "mkdir:/tmp/ok",
    ];
    let f = run_fixture(ctx, DOCKER, &checker_args(&names))?;
    f.expect("seccomp", "2")?;
    f.expect("sys:unshare", &err(libc::EPERM))?;
    f.expect("sys:mount", &err(libc::EPERM))?;
    f.expect("sys:keyctl", &err(libc::EPERM))?;
    f.expect("sys:clone3", &err(libc::ENOSYS))?;
    f.expect("sys:getpid", "1")?;
    f.expect("sys:mkdir", "0")
}

/// Podman 4.3: default ERRNO with defaultErrnoRet ENOSYS; unshare, mount,
/// keyctl and clone3 are allowed (capabilities guard them), kcmp has an
/// explicit EPERM rule, add_key is not named (→ ENOSYS).
pub fn podman(ctx: &Ctx) -> TestResult {
    let names = [
        "unshare", "mount", "clone3", "keyctl", "kcmp", "add_key", "getpid",
    ];
    let f = run_fixture(ctx, PODMAN, &checker_args(&names))?;
    f.expect("seccomp", "2")?;
    f.expect("sys:unshare", "0")?;
    // Allowed: mount(NULL, NULL, …) and clone3(NULL, 0) reach the kernel,
    // which refuses the arguments.
    f.expect("sys:mount", &err(libc::EFAULT))?;
    f.expect("sys:clone3", &err(libc::EINVAL))?;
    expect_success(&f, "sys:keyctl")?;
    f.expect("sys:kcmp", &err(libc::EPERM))?;
    f.expect("sys:add_key", &err(libc::ENOSYS))?;
    f.expect("sys:getpid", "1")
}

/// containerd 1.6 (`ctr run` without --seccomp) hands over no profile: no
/// filter, and every call reaches the kernel.
pub fn containerd(ctx: &Ctx) -> TestResult {
    let names = ["unshare", "mount", "keyctl", "clone3", "add_key", "getpid"];
    let f = run_fixture(ctx, CONTAINERD, &checker_args(&names))?;
    f.expect("seccomp", "0")?;
    f.expect("sys:unshare", "0")?;
    f.expect("sys:mount", &err(libc::EFAULT))?;
    expect_success(&f, "sys:keyctl")?;
    f.expect("sys:clone3", &err(libc::EINVAL))?;
    f.expect("sys:add_key", &err(libc::EFAULT))?;
    f.expect("sys:getpid", "1")
}
