//! The six POSIX-platform hooks: each gets the container state on stdin, its
//! own args and env, and an optional timeout. What a failure means is the
//! caller's business (runtime.md): create-time hooks abort the create,
//! poststop failures are warnings.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Seek, Write};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

use nix::sys::memfd::{memfd_create, MFdFlags};
use oci_spec::runtime::{Hook, Hooks};

use crate::error::{Error, Result};
use crate::state::{Status, OCI_VERSION};
use crate::sys::PidFd;

/// Every hook list with its config.json name.
pub fn all(h: &Hooks) -> [(&'static str, &[Hook]); 6] {
    fn get(v: &Option<Vec<Hook>>) -> &[Hook] {
        v.as_deref().unwrap_or(&[])
    }
    #[allow(deprecated)]
    let prestart = get(h.prestart());
    [
        ("prestart", prestart),
        ("createRuntime", get(h.create_runtime())),
        ("createContainer", get(h.create_container())),
        ("startContainer", get(h.start_container())),
        ("poststart", get(h.poststart())),
        ("poststop", get(h.poststop())),
    ]
}

/// The hooks of one kind from a config.
pub fn of_kind<'a>(hooks: Option<&'a Hooks>, kind: &str) -> &'a [Hook] {
    hooks
        .map(|h| {
            all(h)
                .into_iter()
                .find(|(k, _)| *k == kind)
                .map(|(_, l)| l)
                .unwrap_or(&[])
        })
        .unwrap_or(&[])
}

/// The state document handed to hooks on stdin.
pub fn state_json(
    id: &str,
    status: Status,
    pid: i32,
    bundle: &Path,
    annotations: Option<&HashMap<String, String>>,
) -> Vec<u8> {
    let mut v = serde_json::json!({
        "ociVersion": OCI_VERSION,
        "id": id,
        "status": status.as_str(),
        "bundle": bundle,
    });
    if pid > 0 {
        v["pid"] = pid.into();
    }
    if let Some(a) = annotations.filter(|a| !a.is_empty()) {
        v["annotations"] = serde_json::json!(a);
    }
    serde_json::to_vec(&v).unwrap_or_default()
}

/// Runs `hooks` in order; the first failure is returned, worded as runc
/// words it (`error running prestart hook #1: exit status 1, stdout: ,
/// stderr: …`; clients match it): the index counts within the kind.
pub fn run(kind: &str, hooks: &[Hook], state: &[u8]) -> Result<()> {
    run_with_env(kind, hooks, state, None)
}

/// As `run`; a hook without an `env` of its own gets `default_env` (runc
/// gives startContainer hooks the process's environment).
pub fn run_with_env(
    kind: &str,
    hooks: &[Hook],
    state: &[u8],
    default_env: Option<&[String]>,
) -> Result<()> {
    for (i, h) in hooks.iter().enumerate() {
        tracing::debug!("running {kind} hook #{i}: {}", h.path().display());
        run_one(h, state, default_env)
            .map_err(|why| Error::msg(format!("error running {kind} hook #{i}: {why}")))?;
    }
    Ok(())
}

/// Runs every hook of `hooks`, logging failures as warnings (poststop
/// semantics: the remaining hooks still run).
pub fn run_warn(kind: &str, hooks: &[Hook], state: &[u8]) {
    for (i, h) in hooks.iter().enumerate() {
        tracing::debug!("running {kind} hook #{i}: {}", h.path().display());
        if let Err(why) = run_one(h, state, None) {
            tracing::warn!("error running {kind} hook #{i}: {why}");
        }
    }
}

fn output_file() -> io::Result<File> {
    let fd = memfd_create(c"berth-hook", MFdFlags::MFD_CLOEXEC).map_err(io::Error::from)?;
    Ok(File::from(fd))
}

/// Runs one hook: its own args and env (or `default_env` when it has
/// none), the state on stdin, stdout and stderr captured for the error.
fn run_one(
    h: &Hook,
    state: &[u8],
    default_env: Option<&[String]>,
) -> std::result::Result<(), String> {
    let capture = |e: io::Error| format!("capture output: {e}");
    let (out, err) = (
        output_file().map_err(capture)?,
        output_file().map_err(capture)?,
    );
    let mut cmd = Command::new(h.path());
    if let Some(args) = h.args().as_ref().filter(|a| !a.is_empty()) {
        cmd.arg0(&args[0]).args(&args[1..]);
    }
    cmd.env_clear();
    let env = h.env().as_deref().filter(|e| !e.is_empty());
    for kv in env.or(default_env).unwrap_or(&[]) {
        let (k, v) = kv.split_once('=').unwrap_or((kv.as_str(), ""));
        cmd.env(k, v);
    }
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::from(out.try_clone().map_err(capture)?))
        .stderr(Stdio::from(err.try_clone().map_err(capture)?));
    // Go's wording for a hook that cannot be started.
    let mut child = cmd.spawn().map_err(|e| {
        format!(
            "fork/exec {}: {}",
            h.path().display(),
            crate::go_text::io(&e)
        )
    })?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that does not read its stdin is fine.
        let _ = stdin.write_all(state);
    }
    // poll(2) takes an i32 of milliseconds: a longer timeout (past 24.8
    // days) waits that long, never wraps to a short or negative one.
    let timeout_ms = h
        .timeout()
        .map(|t| t.saturating_mul(1000).clamp(0, i64::from(i32::MAX)) as i32)
        .unwrap_or(-1);
    let pidfd = PidFd::open(child.id() as i32).map_err(|e| format!("pidfd_open: {e}"))?;
    let exited = pidfd
        .wait_exit_timeout(timeout_ms)
        .map_err(|e| e.to_string())?;
    if !exited {
        let _ = pidfd.signal(libc::SIGKILL);
        let _ = child.wait();
        return Err(format!(
            "hook ran past specified timeout of {:.1}s",
            h.timeout().unwrap_or(0) as f64
        ));
    }
    let status = child.wait().map_err(|e| e.to_string())?;
    if status.success() {
        return Ok(());
    }
    Err(format!(
        "{}, stdout: {}, stderr: {}",
        crate::go_text::exit_status(status),
        captured(out),
        captured(err)
    ))
}

/// What a hook wrote to one stream (the first 4 KiB), without the trailing
/// newline, so the error stays one line for a one-line message.
fn captured(mut f: File) -> String {
    let mut s = String::new();
    let _ = f.rewind().and_then(|_| f.take(4096).read_to_string(&mut s));
    s.trim_end().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hook(path: &str, args: &[&str], env: &[&str], timeout: Option<i64>) -> Hook {
        let mut h = Hook::default();
        h.set_path(path.into());
        h.set_args(Some(args.iter().map(|s| s.to_string()).collect()));
        h.set_env(Some(env.iter().map(|s| s.to_string()).collect()));
        h.set_timeout(timeout);
        h
    }

    #[test]
    fn failures_are_worded_as_runc() {
        let ok = hook("/bin/true", &["true"], &[], None);
        let fail = hook(
            "/bin/sh",
            &["sh", "-c", "echo out; echo err >&2; exit 3"],
            &[],
            None,
        );
        let e = run("createRuntime", &[ok, fail], b"{}").unwrap_err();
        assert_eq!(
            e.to_string(),
            "error running createRuntime hook #1: exit status 3, stdout: out, stderr: err"
        );
        let missing = hook("/nonexistent/hook", &[], &[], None);
        let e = run("prestart", &[missing], b"{}").unwrap_err();
        assert_eq!(
            e.to_string(),
            "error running prestart hook #0: fork/exec /nonexistent/hook: no such file or directory"
        );
        let slow = hook("/bin/sleep", &["sleep", "5"], &[], Some(1));
        let e = run("poststart", &[slow], b"{}").unwrap_err();
        assert_eq!(
            e.to_string(),
            "error running poststart hook #0: hook ran past specified timeout of 1.0s"
        );
    }

    #[test]
    fn the_default_env_is_only_for_hooks_without_one() {
        let check = |env: &[&str], want: &str| {
            let script = format!("test \"$V\" = {want}");
            let h = hook("/bin/sh", &["sh", "-c", &script], env, None);
            let default = vec!["V=default".to_string()];
            run_with_env("startContainer", &[h], b"{}", Some(&default))
        };
        check(&[], "default").unwrap();
        check(&["V=own"], "own").unwrap();
    }
}
