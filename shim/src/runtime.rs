//! The runc CLI driver: every container operation is one invocation of the
//! runtime binary (berth by default, any runc-compatible binary through the
//! BinaryName option), with containerd's global flags:
//! `<binary> --root <root>/<ns> --log <bundle>/log.json --log-format json …`.
//!
//! On failure the caller sees the runtime's last `"level":"error"` record
//! written to log.json by *this* invocation (as containerd's runc shim
//! reports it), e.g. `OCI runtime create failed: berth create failed: …`.

use std::ffi::OsString;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

use crate::error::{Error, IoContext, Result};
use crate::reaper::Reaper;

/// How the shim calls the runtime for one container.
#[derive(Clone)]
pub struct Runtime {
    pub binary: PathBuf,
    /// `<Root option>/<namespace>`.
    pub root: PathBuf,
    pub log: PathBuf,
    pub systemd_cgroup: bool,
    pub reaper: Arc<Reaper>,
}

/// Stdio for a runtime command that starts a container process: the
/// process inherits it.
pub struct ProcStdio {
    pub stdin: Stdio,
    pub stdout: Stdio,
    pub stderr: Stdio,
}

/// `name` as given when it has a slash; otherwise next to our own
/// executable, then on PATH.
pub fn find_binary(name: &str) -> Result<PathBuf> {
    if name.contains('/') {
        return Ok(PathBuf::from(name));
    }
    let own_dir = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf));
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs = own_dir.into_iter().chain(std::env::split_paths(&path));
    for d in dirs {
        let p = d.join(name);
        if is_executable(&p) {
            return Ok(p);
        }
    }
    Err(Error::InvalidArgument(format!(
        "runtime binary {name:?} not found next to the shim or on PATH"
    )))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The `msg` of the last error record in runc's JSON log text.
pub fn last_error(log: &str) -> Option<String> {
    log.lines().rev().find_map(|l| {
        let v: serde_json::Value = serde_json::from_str(l.trim()).ok()?;
        (v.get("level")?.as_str()? == "error")
            .then(|| v.get("msg")?.as_str().map(str::to_string))
            .flatten()
    })
}

impl Runtime {
    fn command(&self, args: &[OsString]) -> Command {
        let mut c = Command::new(&self.binary);
        c.arg("--root")
            .arg(&self.root)
            .arg("--log")
            .arg(&self.log)
            .args(["--log-format", "json"]);
        if self.systemd_cgroup {
            c.arg("--systemd-cgroup");
        }
        c.args(args);
        c
    }

    fn log_len(&self) -> u64 {
        std::fs::metadata(&self.log).map(|m| m.len()).unwrap_or(0)
    }

    /// What this invocation appended to log.json, reduced to its last error.
    fn log_error_since(&self, offset: u64) -> Option<String> {
        let mut f = File::open(&self.log).ok()?;
        f.seek(SeekFrom::Start(offset)).ok()?;
        let mut s = String::new();
        f.take(1 << 20).read_to_string(&mut s).ok()?;
        last_error(&s)
    }

    fn failure(&self, verb: &str, offset: u64, status: i32, stderr: &str) -> Error {
        let msg = self
            .log_error_since(offset)
            .or_else(|| {
                let s = stderr.trim();
                (!s.is_empty()).then(|| s.lines().last().unwrap_or(s).to_string())
            })
            .unwrap_or_else(|| format!("exit status {status}"));
        // Not logged here: whoever handles the error logs it, once.
        Error::runtime(verb, status, msg)
    }

    /// Runs a command that starts a container process (create, exec): its
    /// stdio is handed to the process; errors come from log.json.
    pub fn run_with_stdio(&self, verb: &str, args: &[OsString], stdio: ProcStdio) -> Result<()> {
        let mut cmd = self.command(args);
        cmd.stdin(stdio.stdin)
            .stdout(stdio.stdout)
            .stderr(stdio.stderr);
        let offset = self.log_len();
        let child = self
            .reaper
            .spawn(&mut cmd)
            .ctx(|| format!("run {}", self.binary.display()))?;
        // The command keeps the process's stdio ends: drop ours now.
        drop(cmd);
        let status = self.reaper.wait(&child);
        if status != 0 {
            return Err(self.failure(verb, offset, status, ""));
        }
        Ok(())
    }

    /// Runs a management command; its stdout.
    pub fn run(&self, verb: &str, args: &[OsString], input: Option<&[u8]>) -> Result<Vec<u8>> {
        let mut cmd = self.command(args);
        cmd.stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let offset = self.log_len();
        let mut child = self
            .reaper
            .spawn(&mut cmd)
            .ctx(|| format!("run {}", self.binary.display()))?;
        if let (Some(data), Some(mut w)) = (input, child.stdin.take()) {
            // A runtime that exits without reading gives EPIPE: its status
            // and log tell why.
            let _ = w.write_all(data);
        }
        let mut out = Vec::new();
        let mut err = String::new();
        if let Some(mut o) = child.stdout.take() {
            let _ = o.read_to_end(&mut out);
        }
        if let Some(e) = child.stderr.take() {
            let _ = e.take(1 << 16).read_to_string(&mut err);
        }
        let status = self.reaper.wait(&child);
        if status != 0 {
            return Err(self.failure(verb, offset, status, &err));
        }
        Ok(out)
    }
}

/// `OsString`s from string-likes.
pub fn args<I, S>(items: I) -> Vec<OsString>
where
    I: IntoIterator<Item = S>,
    S: Into<OsString>,
{
    items.into_iter().map(Into::into).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_error_picks_the_final_error_record() {
        let log = concat!(
            "{\"level\":\"warning\",\"msg\":\"w\",\"time\":\"t\"}\n",
            "{\"level\":\"error\",\"msg\":\"first\",\"time\":\"t\"}\n",
            "not json\n",
            "{\"level\":\"error\",\"msg\":\"berth create failed: exec: \\\"/x\\\"\",\"time\":\"t\"}\n",
            "{\"level\":\"info\",\"msg\":\"later info\",\"time\":\"t\"}\n",
        );
        assert_eq!(
            last_error(log).as_deref(),
            Some("berth create failed: exec: \"/x\"")
        );
        assert_eq!(last_error("{\"level\":\"info\",\"msg\":\"x\"}"), None);
        assert_eq!(last_error(""), None);
    }

    #[test]
    fn binaries_with_a_slash_are_taken_as_given() {
        assert_eq!(
            find_binary("/usr/sbin/runc").unwrap(),
            PathBuf::from("/usr/sbin/runc")
        );
        assert!(find_binary("no-such-runtime-binary-xyz").is_err());
        assert!(find_binary("sh").is_ok());
    }
}
