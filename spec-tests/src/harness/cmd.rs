//! Running commands with a deadline. Output always goes to files, never to
//! pipes: a detached container inherits the runtime's stdio and would keep a
//! pipe open long after the runtime returned.

use super::Fail;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The outcome of one command.
#[derive(Debug)]
pub struct Out {
    /// Display form of the command, for messages.
    pub cmdline: String,
    /// Exit code, 128+signal if signalled.
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub stdout_path: PathBuf,
}

impl Out {
    /// Fail unless the command exited 0.
    pub fn ok(self) -> Result<Out, Fail> {
        if self.code != 0 {
            return Err(Fail::Fail(format!(
                "`{}` exited {}: {}",
                self.cmdline,
                self.code,
                self.stderr.trim()
            )));
        }
        Ok(self)
    }

    /// Fail unless the command exited with `code`.
    pub fn code(self, code: i32) -> Result<Out, Fail> {
        if self.code != code {
            return Err(Fail::Fail(format!(
                "`{}` exited {} (want {code}); stderr: {}",
                self.cmdline,
                self.code,
                self.stderr.trim()
            )));
        }
        Ok(self)
    }

    /// Fail unless the command was refused: exit 1 with `needle` in its
    /// stderr.
    pub fn refused(&self, needle: &str) -> Result<(), Fail> {
        if self.code != 1 || !self.stderr.contains(needle) {
            return Err(Fail::Fail(format!(
                "`{}` exited {} (want 1 and {needle:?}); stderr: {:?}",
                self.cmdline,
                self.code,
                self.stderr.trim()
            )));
        }
        Ok(())
    }

    /// Re-read the stdout file (a detached container may still write to it).
    pub fn stdout_now(&self) -> String {
        std::fs::read_to_string(&self.stdout_path).unwrap_or_default()
    }
}

/// A command running in the background.
pub struct Running {
    child: Child,
    cmdline: String,
    out: PathBuf,
    err: PathBuf,
}

impl Running {
    /// The command's pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What the command has written to stdout so far.
    pub fn stdout_now(&self) -> String {
        std::fs::read_to_string(&self.out).unwrap_or_default()
    }

    /// Wait for the command with a deadline; kill it when the deadline passes.
    pub fn wait(mut self, timeout: Duration) -> Result<Out, Fail> {
        let start = Instant::now();
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(st)) => break st,
                Ok(None) if start.elapsed() > timeout => {
                    let _ = self.child.kill();
                    let gone = super::stuck::within(timeout, || {
                        !matches!(self.child.try_wait(), Ok(None))
                    });
                    let stuck = if gone {
                        String::new()
                    } else {
                        format!(
                            ", and is still there {timeout:?} after SIGKILL: {}",
                            super::stuck::describe(&[self.child.id() as i32])
                        )
                    };
                    return Err(Fail::Fail(format!(
                        "`{}` did not finish within {:?}{stuck}",
                        self.cmdline, timeout
                    )));
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(2)),
                Err(e) => return Err(Fail::Fail(format!("wait `{}`: {e}", self.cmdline))),
            }
        };
        use std::os::unix::process::ExitStatusExt;
        let code = match (status.code(), status.signal()) {
            (Some(c), _) => c,
            (None, Some(s)) => 128 + s,
            _ => -1,
        };
        Ok(Out {
            cmdline: self.cmdline,
            code,
            stdout: std::fs::read_to_string(&self.out).unwrap_or_default(),
            stderr: std::fs::read_to_string(&self.err).unwrap_or_default(),
            stdout_path: self.out,
        })
    }
}

/// Start `cmd` with stdin from /dev/null and stdout/stderr into
/// `<dir>/<tag>.out` and `<dir>/<tag>.err`.
pub fn spawn(mut cmd: Command, dir: &Path, tag: &str) -> Result<Running, Fail> {
    let out = dir.join(format!("{tag}.out"));
    let err = dir.join(format!("{tag}.err"));
    let f_out = File::create(&out).map_err(|e| Fail::Fail(format!("create {out:?}: {e}")))?;
    let f_err = File::create(&err).map_err(|e| Fail::Fail(format!("create {err:?}: {e}")))?;
    let cmdline = format!("{cmd:?}").replace('"', "");
    cmd.stdin(Stdio::null()).stdout(f_out).stderr(f_err);
    let child = cmd
        .spawn()
        .map_err(|e| Fail::Fail(format!("spawn `{cmdline}`: {e}")))?;
    Ok(Running {
        child,
        cmdline,
        out,
        err,
    })
}
