//! Hooks (config.md "POSIX-platform Hooks", runtime.md lifecycle): all six
//! kinds with state on stdin, args, env, namespaces and order; timeouts and
//! failure semantics.

use super::util::{expect_error, expect_nothing_left, sh};
use crate::harness::case::{case, Case};
use crate::harness::{config, read, write_script, Bundle, Ctx, Fail, TestResult};
use crate::{ensure, ensure_eq};
use oci_spec::runtime::Hook;
use std::time::{Duration, Instant};

pub const CASES: &[Case] = &[
    case("hooks_all_kinds", all_kinds),
    case("hook_poststart_after_start", poststart_after_start),
    case("hook_prestart_fails", prestart_fails),
    case("hook_create_runtime_fails", create_runtime_fails),
    case("hook_create_container_fails", create_container_fails),
    case("hook_timeout", hook_timeout),
    case("hook_start_container_fails", start_container_fails),
    case("hook_poststart_fails", poststart_fails),
    case("hook_poststop_fails", poststop_fails),
];

/// Records what a hook sees into `$2/$1.*` and appends `$1` to `$2/order`.
/// Runs under the host's /bin/sh and the container's busybox sh alike.
const RECORDER: &str = r#"k=$1; d=$2
cat > "$d/$k.state"
readlink /proc/self/ns/mnt > "$d/$k.mnt"
readlink /proc/self/ns/uts > "$d/$k.uts"
echo "$@" > "$d/$k.args"
env > "$d/$k.env"
echo "$k" >> "$d/order""#;

const HOOK_PATH_ENV: &str = "PATH=/usr/sbin:/usr/bin:/sbin:/bin";

const KINDS: [&str; 6] = [
    "prestart",
    "createRuntime",
    "createContainer",
    "startContainer",
    "poststart",
    "poststop",
];

/// Put `hooks` under `kind` (replacing what was there).
fn set_hooks(b: &mut Bundle, kind: &str, hooks: Vec<Hook>) {
    let h = config::hooks_mut(&mut b.spec);
    let v = Some(hooks);
    match kind {
        "prestart" => h.set_prestart(v),
        "createRuntime" => h.set_create_runtime(v),
        "createContainer" => h.set_create_container(v),
        "startContainer" => h.set_start_container(v),
        "poststart" => h.set_poststart(v),
        _ => h.set_poststop(v),
    };
}

/// A recording hook of `kind`, writing into the rootfs' /tmp. The
/// startContainer hook resolves inside the container (busybox sh and a copy
/// of the script); all others use the host's /bin/sh.
fn recording_hook(b: &Bundle, host_script: &str, kind: &str) -> Hook {
    let env = ["HOOK_VAR=hook value", HOOK_PATH_ENV];
    if kind == "startContainer" {
        config::hook(
            "/bin/sh",
            &["sh", "/recorder.sh", kind, "/tmp", "x y"],
            &env,
            Some(10),
        )
    } else {
        let tmp = b.rootfs().join("tmp");
        let dir = tmp.to_str().unwrap_or_default();
        config::hook(host_script, &["recorder", kind, dir, "x y"], &env, Some(10))
    }
}

fn ns_of(path: &str) -> Result<String, Fail> {
    std::fs::read_link(path)
        .map(|p| p.display().to_string())
        .map_err(|e| Fail::Fail(format!("readlink {path}: {e}")))
}

/// The expected status in each hook's state, per runtime.md's lifecycle.
fn hook_status(kind: &str) -> &'static str {
    match kind {
        "prestart" | "createRuntime" | "createContainer" => "creating",
        "startContainer" => "created",
        "poststart" => "running",
        _ => "stopped",
    }
}

fn check_record(b: &Bundle, kind: &str, pid: i64, ns: &[(String, String); 2]) -> TestResult {
    let tmp = b.rootfs().join("tmp");
    let st: serde_json::Value = serde_json::from_str(&read(&tmp.join(format!("{kind}.state")))?)
        .map_err(|e| format!("{kind} state on stdin is not JSON: {e}"))?;
    ensure_eq!(st["id"], "c1", format!("{kind} state.id"));
    ensure_eq!(st["bundle"], b.path(), format!("{kind} state.bundle"));
    ensure!(
        st["ociVersion"].is_string(),
        "{kind} state without ociVersion"
    );
    // config-linux/runtime.md: the pid as seen from the namespace the hook
    // runs in, so 1 (the container's init) for the container-side hooks.
    let want_pid = match kind {
        "createContainer" | "startContainer" => 1,
        _ => pid,
    };
    if kind != "poststop" {
        ensure_eq!(
            st["pid"].as_i64(),
            Some(want_pid),
            format!("{kind} state.pid")
        );
    }
    if kind != "poststart" {
        ensure_eq!(
            st["status"],
            hook_status(kind),
            format!("{kind} state.status")
        );
    }
    let args = read(&tmp.join(format!("{kind}.args")))?;
    let dir = if kind == "startContainer" {
        "/tmp".to_string()
    } else {
        tmp.display().to_string()
    };
    ensure_eq!(args, format!("{kind} {dir} x y\n"), format!("{kind} args"));
    let env = read(&tmp.join(format!("{kind}.env")))?;
    ensure!(
        env.lines().any(|l| l == "HOOK_VAR=hook value"),
        "{kind} env lacks HOOK_VAR: {env}"
    );
    ensure!(
        !env.contains("BERTH_SPEC_SENTINEL"),
        "{kind} env carries the runtime's env"
    );
    for (i, name) in ["mnt", "uts"].iter().enumerate() {
        let got = read(&tmp.join(format!("{kind}.{name}")))?;
        ensure_eq!(
            got.trim(),
            ns[i].1,
            format!("{kind} {name} namespace ({})", ns[i].0)
        );
    }
    Ok(())
}

fn all_kinds(ctx: &Ctx) -> TestResult {
    let script = ctx.path("recorder.sh");
    write_script(&script, RECORDER)?;
    let script_s = script.to_str().unwrap_or_default().to_string();
    let mut b = ctx.bundle("b")?;
    write_script(&b.rootfs().join("recorder.sh"), RECORDER)?;
    for kind in KINDS {
        let h = recording_hook(&b, &script_s, kind);
        set_hooks(&mut b, kind, vec![h]);
    }
    sh(&mut b, "echo payload >> /tmp/order");
    ctx.create("c1", &b)?.ok()?;
    let pid = ctx.state("c1")?["pid"].as_i64().unwrap_or(0);
    let container = [
        (
            "container".to_string(),
            ns_of(&format!("/proc/{pid}/ns/mnt"))?,
        ),
        (
            "container".to_string(),
            ns_of(&format!("/proc/{pid}/ns/uts"))?,
        ),
    ];
    let host = [
        ("runtime".to_string(), ns_of("/proc/self/ns/mnt")?),
        ("runtime".to_string(), ns_of("/proc/self/ns/uts")?),
    ];
    ensure!(
        container[1].1 != host[1].1,
        "container uts ns is the host's"
    );
    ctx.rt(&["start", "c1"])?.ok()?;
    ctx.wait_status("c1", "stopped", Duration::from_secs(10))?;
    ctx.rt(&["delete", "c1"])?.ok()?;
    let order = read(&b.rootfs().join("tmp/order"))?;
    let order: Vec<&str> = order.lines().collect();
    // poststart's timing is checked by hook_poststart_after_start.
    let main: Vec<&str> = order
        .iter()
        .copied()
        .filter(|k| *k != "poststart")
        .collect();
    let want = [
        "prestart",
        "createRuntime",
        "createContainer",
        "startContainer",
        "payload",
        "poststop",
    ];
    ensure_eq!(main, want.to_vec(), "hook order");
    ensure!(
        order.contains(&"poststart"),
        "poststart hook did not run: {order:?}"
    );
    for kind in KINDS {
        let ns = if kind == "createContainer" || kind == "startContainer" {
            &container
        } else {
            &host
        };
        check_record(&b, kind, pid, ns)?;
    }
    Ok(())
}

/// poststart runs after the payload was started (so after startContainer)
/// with state status "running". runc 1.1 runs poststart hooks during
/// `create` (fixed in runc 1.2).
fn poststart_after_start(ctx: &Ctx) -> TestResult {
    let script = ctx.path("recorder.sh");
    write_script(&script, RECORDER)?;
    let script_s = script.to_str().unwrap_or_default().to_string();
    let mut b = ctx.bundle("b")?;
    write_script(&b.rootfs().join("recorder.sh"), RECORDER)?;
    for kind in ["startContainer", "poststart"] {
        let h = recording_hook(&b, &script_s, kind);
        set_hooks(&mut b, kind, vec![h]);
    }
    sh(&mut b, "exit 0");
    ctx.create("c1", &b)?.ok()?;
    let ran_at_create = b.rootfs().join("tmp/poststart.state").exists();
    ctx.rt(&["start", "c1"])?.ok()?;
    ctx.wait_status("c1", "stopped", Duration::from_secs(10))?;
    ctx.rt(&["delete", "c1"])?.ok()?;
    let res = (|| {
        ensure!(!ran_at_create, "poststart ran during create");
        let order = read(&b.rootfs().join("tmp/order"))?;
        ensure_eq!(order, "startContainer\npoststart\n", "hook order");
        let st = read(&b.rootfs().join("tmp/poststart.state"))?;
        let st: serde_json::Value = serde_json::from_str(&st).map_err(|e| format!("{e}"))?;
        ensure_eq!(st["status"], "running", "poststart state.status");
        Ok(())
    })();
    super::util::known_runc_1_1_gap(ctx, "poststart hooks run during create", res)
}

/// A hook of `kind` that fails (`body` is its script) must make create
/// fail with a hook error and leave nothing behind.
fn create_hook_fails(ctx: &Ctx, kind: &str, body: &str, timeout: Option<i64>) -> TestResult {
    let script = ctx.path("hook.sh");
    write_script(&script, body)?;
    let mut b = ctx.bundle("b")?;
    let h = config::hook(
        script.to_str().unwrap_or_default(),
        &["hook"],
        &[HOOK_PATH_ENV],
        timeout,
    );
    set_hooks(&mut b, kind, vec![h]);
    sh(&mut b, "echo ran > /tmp/ran");
    b.write()?;
    let (out, log) = ctx.rt_logged(&["create", "--bundle", b.path(), "c1"])?;
    expect_error(&out, &log, &["hook"])?;
    ensure!(!b.rootfs().join("tmp/ran").exists(), "the payload ran");
    expect_nothing_left(ctx, "c1", &b)
}

fn prestart_fails(ctx: &Ctx) -> TestResult {
    create_hook_fails(ctx, "prestart", "echo failing >&2; exit 1", None)
}

fn create_runtime_fails(ctx: &Ctx) -> TestResult {
    create_hook_fails(ctx, "createRuntime", "exit 1", None)
}

fn create_container_fails(ctx: &Ctx) -> TestResult {
    create_hook_fails(ctx, "createContainer", "exit 1", None)
}

/// A hook exceeding its timeout (1 s) is aborted and create fails fast.
fn hook_timeout(ctx: &Ctx) -> TestResult {
    let start = Instant::now();
    create_hook_fails(ctx, "createRuntime", "exec sleep 10", Some(1))?;
    ensure!(
        start.elapsed() < Duration::from_secs(6),
        "create took {:?} with a 1 s hook timeout",
        start.elapsed()
    );
    Ok(())
}

/// Delete `id` if the runtime still knows it (forcing a running one).
fn delete_if_present(ctx: &Ctx, id: &str) -> TestResult {
    if ctx.rt(&["state", id])?.code == 0 {
        ctx.delete_force(id)?;
    }
    Ok(())
}

/// A failing startContainer hook fails `start` (runtime.md lifecycle step
/// 7); the payload never runs and the container is stopped and deletable.
/// runc 1.1 runs these hooks in the container's init after `start` has
/// returned 0, so it cannot report the failure.
fn start_container_fails(ctx: &Ctx) -> TestResult {
    let mut b = ctx.bundle("b")?;
    set_hooks(
        &mut b,
        "startContainer",
        vec![config::hook("/bin/sh", &["sh", "-c", "exit 1"], &[], None)],
    );
    sh(&mut b, "echo ran > /tmp/ran");
    ctx.create("c1", &b)?.ok()?;
    let (out, log) = ctx.rt_logged(&["start", "c1"])?;
    if ctx.rt(&["state", "c1"])?.code == 0 {
        ctx.wait_status("c1", "stopped", Duration::from_secs(5))?;
        ctx.rt(&["delete", "c1"])?.ok()?;
    }
    ensure!(!b.rootfs().join("tmp/ran").exists(), "the payload ran");
    expect_nothing_left(ctx, "c1", &b)?;
    let res = expect_error(&out, &log, &["hook"]);
    super::util::known_runc_1_1_gap(ctx, "startContainer failure does not fail start", res)
}

/// A failing poststart hook fails `start` and the container is stopped
/// (runtime.md lifecycle step 9). runc 1.1 runs poststart during `create`,
/// so there it is `create` that fails.
fn poststart_fails(ctx: &Ctx) -> TestResult {
    let script = ctx.path("hook.sh");
    write_script(&script, "exit 1")?;
    let mut b = ctx.bundle("b")?;
    let h = config::hook(script.to_str().unwrap_or_default(), &["hook"], &[], None);
    set_hooks(&mut b, "poststart", vec![h]);
    super::util::until_go(&mut b);
    let res = (|| {
        ctx.create("c1", &b)?.ok()?;
        let (out, log) = ctx.rt_logged(&["start", "c1"])?;
        expect_error(&out, &log, &["hook"])?;
        if ctx.rt(&["state", "c1"])?.code == 0 {
            ctx.wait_status("c1", "stopped", Duration::from_secs(5))?;
        }
        Ok(())
    })();
    delete_if_present(ctx, "c1")?;
    expect_nothing_left(ctx, "c1", &b)?;
    super::util::known_runc_1_1_gap(ctx, "poststart hooks run during create", res)
}

/// A failing poststop hook is only a warning (runtime.md lifecycle step
/// 13): delete succeeds, the container is gone, and the remaining poststop
/// hooks still run. runc 1.1 skips the hooks after the failing one.
fn poststop_fails(ctx: &Ctx) -> TestResult {
    let fail = ctx.path("fail.sh");
    write_script(&fail, "exit 1")?;
    let mark = ctx.path("mark.sh");
    write_script(&mark, &format!("touch {}/second-ran", ctx.dir.display()))?;
    let mut b = ctx.bundle("b")?;
    let hooks = vec![
        config::hook(
            fail.to_str().unwrap_or_default(),
            &["fail"],
            &[HOOK_PATH_ENV],
            None,
        ),
        config::hook(
            mark.to_str().unwrap_or_default(),
            &["mark"],
            &[HOOK_PATH_ENV],
            None,
        ),
    ];
    set_hooks(&mut b, "poststop", hooks);
    sh(&mut b, "exit 0");
    ctx.create("c1", &b)?.ok()?;
    ctx.rt(&["start", "c1"])?.ok()?;
    ctx.wait_status("c1", "stopped", Duration::from_secs(10))?;
    let del = ctx.rt(&["delete", "c1"])?;
    ensure_eq!(
        del.code,
        0,
        format!("delete exit status (stderr {:?})", del.stderr.trim())
    );
    super::util::expect_gone(ctx, "c1")?;
    expect_nothing_left(ctx, "c1", &b)?;
    let res = if ctx.path("second-ran").exists() {
        Ok(())
    } else {
        Err(Fail::Fail(
            "the poststop hook after the failing one did not run".into(),
        ))
    };
    super::util::known_runc_1_1_gap(ctx, "a failing poststop hook stops the next ones", res)
}
