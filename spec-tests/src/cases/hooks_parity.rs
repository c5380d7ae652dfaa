//! Hook behaviour runc users rely on beyond runtime.md (issue 12, section
//! 2): createContainer hooks run with the rootfs as their cwd;
//! startContainer hooks without an `env` get the process's environment;
//! the hooks the runtime runs itself stay in the runtime's pid and time
//! namespaces when the config joins the container's by path, and
//! prestart/createRuntime see status "creating".

use super::util::{is_runc_1_1, sh};
use crate::harness::case::{case, Case};
use crate::harness::{config, read, Bundle, Ctx, Fail, TestResult};
use crate::{ensure, ensure_eq};
use oci_spec::runtime::LinuxNamespaceType;

pub const CASES: &[Case] = &[
    case("hooks_parity_create_container_cwd", create_container_cwd),
    case("hooks_parity_start_container_env", start_container_env),
    case("hooks_parity_runtime_namespaces", runtime_namespaces),
];

/// A host hook `/bin/sh -c SCRIPT`.
fn host_sh(script: &str) -> oci_spec::runtime::Hook {
    config::hook("/bin/sh", &["sh", "-c", script], &[], Some(10))
}

/// runc changes into the rootfs before it runs createContainer hooks (in
/// the container's mount namespace, before pivot_root).
fn create_container_cwd(ctx: &Ctx) -> TestResult {
    let mut b = ctx.bundle("b")?;
    let out = b.rootfs().join("tmp/cwd");
    let script = format!("pwd -P > {}", out.display());
    config::hooks_mut(&mut b.spec).set_create_container(Some(vec![host_sh(&script)]));
    sh(&mut b, "true");
    ctx.create("c1", &b)?.ok()?;
    ctx.delete_force("c1")?;
    let root = std::fs::canonicalize(b.rootfs()).map_err(|e| format!("rootfs: {e}"))?;
    let cwd = read(&out)?;
    ensure_eq!(
        cwd.trim(),
        root.display().to_string(),
        "createContainer hook cwd"
    );
    Ok(())
}

/// A startContainer hook with no `env` runs with the payload's environment
/// (runc's historical behaviour, kept in current runc on purpose), HOME
/// included.
fn start_container_env(ctx: &Ctx) -> TestResult {
    let mut b = ctx.bundle("b")?;
    config::process_mut(&mut b.spec).set_env(Some(vec![
        "PATH=/usr/sbin:/usr/bin:/sbin:/bin".into(),
        "ONE=two".into(),
        "FOO=bar".into(),
    ]));
    let hook = config::hook("/bin/sh", &["sh", "-c", "env > /tmp/sc.env"], &[], Some(10));
    config::hooks_mut(&mut b.spec).set_start_container(Some(vec![hook]));
    sh(&mut b, "true");
    run_ok(ctx, &b)?;
    let env = read(&b.rootfs().join("tmp/sc.env"))?;
    let res = (|| {
        for want in ["ONE=two", "FOO=bar", "HOME=/root"] {
            ensure!(
                env.lines().any(|l| l == want),
                "startContainer env lacks {want}: {env}"
            );
        }
        Ok(())
    })();
    match res {
        // runc 1.3 made it explicit (HookList.SetDefaultEnv); the hook of
        // Debian's runc 1.1.5 gets an empty environment.
        Err(Fail::Fail(m)) if is_runc_1_1(ctx) => Err(Fail::Skip(format!(
            "runc 1.1 predates the process env for startContainer hooks: {m}"
        ))),
        other => other,
    }
}

/// `run` of `b` succeeds (the container is gone afterwards either way).
fn run_ok(ctx: &Ctx, b: &Bundle) -> TestResult {
    b.write()?;
    let out = ctx.rt(&["run", "--bundle", b.path(), "c1"]);
    if ctx.rt(&["state", "c1"])?.code == 0 {
        ctx.delete_force("c1")?;
    }
    out?.ok().map(|_| ())
}

/// A process holding a new pid namespace (and a time namespace where the
/// runtime supports it) for the container to join by path.
struct Holder(std::process::Child);

impl Drop for Holder {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn ns_link(path: &str) -> Result<String, Fail> {
    std::fs::read_link(path)
        .map(|p| p.display().to_string())
        .map_err(|e| Fail::Fail(format!("readlink {path}: {e}")))
}

/// The config joins the namespaces of `kinds` held by a fresh `unshare`;
/// returns the holder (kill it last) and the joined namespaces' links.
fn join_held(b: &mut Bundle, kinds: &[&str]) -> Result<(Holder, Vec<String>), Fail> {
    let mut args: Vec<String> = kinds.iter().map(|k| format!("--{k}")).collect();
    // --kill-child: the forked sleep dies with unshare(1).
    args.extend(["--fork", "--kill-child", "sleep", "60"].map(String::from));
    let child = std::process::Command::new("unshare")
        .args(&args)
        .stdin(std::process::Stdio::null())
        .spawn()
        .map_err(|e| Fail::Fail(format!("spawn unshare: {e}")))?;
    let holder = Holder(child);
    let pid = holder.0.id();
    let mut links = Vec::new();
    let mut list = config::base_namespaces();
    for kind in kinds {
        let path = format!("/proc/{pid}/ns/{kind}_for_children");
        let own = ns_link(&format!("/proc/self/ns/{kind}"))?;
        let start = std::time::Instant::now();
        // unshare(1) has unshared once the link differs from ours.
        while ns_link(&path).unwrap_or_default() == own || ns_link(&path).is_err() {
            ensure!(
                start.elapsed().as_secs() < 5,
                "unshare --{kind} did not start"
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        links.push(ns_link(&path)?);
        let typ = if *kind == "pid" {
            LinuxNamespaceType::Pid
        } else {
            LinuxNamespaceType::Time
        };
        list.retain(|n| n.typ() != typ);
        list.push(config::ns(typ, Some(&path)));
    }
    config::linux_mut(&mut b.spec).set_namespaces(Some(list));
    Ok((holder, links))
}

/// The container joins a pid namespace (and a time namespace, runc 1.2+)
/// by path; prestart, createRuntime, poststart and poststop (all run by
/// `run` itself) still see the runtime's namespaces, as runc's do (its
/// runtime process never joins them). prestart and createRuntime get status
/// "creating": runc (1.1.5 and current) passes it, the container being
/// still under creation when they run.
fn runtime_namespaces(ctx: &Ctx) -> TestResult {
    let mut b = ctx.bundle("b")?;
    let mut kinds = vec!["pid"];
    if !is_runc_1_1(ctx) && std::path::Path::new("/proc/self/ns/time").exists() {
        // runc 1.1 has no time namespace.
        kinds.push("time");
    }
    let (holder, joined) = join_held(&mut b, &kinds)?;
    let dir = ctx.path("rec");
    std::fs::create_dir(&dir).map_err(|e| format!("mkdir: {e}"))?;
    let kinds_hooked = ["prestart", "createRuntime", "poststart", "poststop"];
    for kind in kinds_hooked {
        let d = dir.display();
        let script = format!(
            "cat > {d}/{kind}.state; for n in {}; do readlink /proc/self/ns/$n > {d}/{kind}.$n; done",
            kinds.join(" ")
        );
        let h = config::hooks_mut(&mut b.spec);
        let v = Some(vec![host_sh(&script)]);
        match kind {
            "prestart" => h.set_prestart(v),
            "createRuntime" => h.set_create_runtime(v),
            "poststart" => h.set_poststart(v),
            _ => h.set_poststop(v),
        };
    }
    sh(&mut b, "true");
    let res = run_ok(ctx, &b);
    drop(holder);
    res?;
    for kind in kinds_hooked {
        for (i, n) in kinds.iter().enumerate() {
            let got = read(&dir.join(format!("{kind}.{n}")))?;
            let own = ns_link(&format!("/proc/self/ns/{n}"))?;
            ensure!(
                got.trim() == own && got.trim() != joined[i],
                "{kind} hook ran in {} (runtime's {n} namespace {own}, joined {})",
                got.trim(),
                joined[i]
            );
        }
    }
    for kind in ["prestart", "createRuntime"] {
        let st: serde_json::Value =
            serde_json::from_str(&read(&dir.join(format!("{kind}.state")))?)
                .map_err(|e| Fail::Fail(format!("{kind} state: {e}")))?;
        ensure_eq!(st["status"], "creating", format!("{kind} state.status"));
    }
    Ok(())
}
