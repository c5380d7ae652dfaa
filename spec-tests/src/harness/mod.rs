//! The test harness: per-case context, bundles, runtime invocation, facts.

pub mod case;
pub mod cleanup;
pub mod cmd;
pub mod config;
pub mod fixtures;
pub mod rootfs;
pub mod stuck;
pub mod sys;
pub mod systemd;

use cmd::{Out, Running};
use oci_spec::runtime::Spec;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Why a case did not pass.
#[derive(Debug)]
pub enum Fail {
    Fail(String),
    Skip(String),
}

impl From<String> for Fail {
    fn from(s: String) -> Self {
        Fail::Fail(s)
    }
}

impl From<&str> for Fail {
    fn from(s: &str) -> Self {
        Fail::Fail(s.to_string())
    }
}

pub type TestResult = Result<(), Fail>;

/// Fail the case with a formatted message unless `cond` holds.
#[macro_export]
macro_rules! ensure {
    ($cond:expr, $($arg:tt)+) => {
        if !$cond {
            return Err($crate::harness::Fail::Fail(format!($($arg)+)));
        }
    };
}

/// Fail the case unless `left == right`, naming what was compared.
#[macro_export]
macro_rules! ensure_eq {
    ($left:expr, $right:expr, $what:expr) => {{
        let (l, r) = (&$left, &$right);
        if l != r {
            return Err($crate::harness::Fail::Fail(format!(
                "{}: got {:?}, want {:?}",
                $what, l, r
            )));
        }
    }};
}

/// What every case needs: the runtime under test and the prepared rootfs.
pub struct Env {
    pub runtime: PathBuf,
    pub template: PathBuf,
    /// systemd mode (harness::systemd): `--systemd-cgroup` on every call.
    pub systemd: bool,
}

impl Env {
    /// The runtime command with the global flags of the mode.
    pub fn runtime_command(&self) -> Command {
        let mut c = Command::new(&self.runtime);
        if self.systemd {
            c.arg("--systemd-cgroup");
        }
        c
    }
}

/// Default timeout of one runtime command.
pub const CMD_TIMEOUT: Duration = Duration::from_secs(10);

/// Per-case context: a private temp dir and a private `--root`.
pub struct Ctx<'a> {
    pub env: &'a Env,
    pub dir: PathBuf,
    pub root: PathBuf,
    seq: std::cell::Cell<u32>,
}

/// A bundle directory with its config, written on demand.
pub struct Bundle {
    pub dir: PathBuf,
    pub spec: Spec,
}

impl Bundle {
    pub fn rootfs(&self) -> PathBuf {
        self.dir.join("rootfs")
    }

    pub fn path(&self) -> &str {
        self.dir.to_str().expect("utf-8 temp path")
    }

    /// Write config.json from `spec`.
    pub fn write(&self) -> TestResult {
        let json = config::to_json(&self.spec)?;
        std::fs::write(self.dir.join("config.json"), json)
            .map_err(|e| Fail::Fail(format!("write config.json: {e}")))
    }
}

/// `key=value` lines printed by the checker.
pub struct Facts(pub HashMap<String, String>);

impl Facts {
    pub fn parse(text: &str) -> Facts {
        Facts(
            text.lines()
                .filter_map(|l| l.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    pub fn get(&self, key: &str) -> Result<&str, Fail> {
        self.0
            .get(key)
            .map(|s| s.as_str())
            .ok_or_else(|| Fail::Fail(format!("checker printed no {key:?}")))
    }

    /// Fail unless fact `key` equals `want`.
    pub fn expect(&self, key: &str, want: &str) -> TestResult {
        let got = self.get(key)?;
        ensure!(got == want, "{key}: got {got:?}, want {want:?}");
        Ok(())
    }
}

impl<'a> Ctx<'a> {
    pub fn new(env: &'a Env, dir: PathBuf) -> Ctx<'a> {
        let root = dir.join("root");
        Ctx {
            env,
            dir,
            root,
            seq: std::cell::Cell::new(0),
        }
    }

    fn next_tag(&self, what: &str) -> String {
        let n = self.seq.get() + 1;
        self.seq.set(n);
        format!("{n:02}-{what}")
    }

    /// A fresh bundle `<casedir>/<name>` with a copy of the template rootfs
    /// and the base config (not yet written); in systemd mode its
    /// cgroupsPath names the scope `systemd::unit(self.unit_name(name))`.
    pub fn bundle(&self, name: &str) -> Result<Bundle, Fail> {
        let dir = self.dir.join(name);
        std::fs::create_dir(&dir).map_err(|e| format!("mkdir {dir:?}: {e}"))?;
        rootfs::copy_template(&self.env.template, &dir.join("rootfs"))?;
        let mut spec = config::base();
        if self.env.systemd {
            let path = systemd::cgroups_path(&self.unit_name(name));
            config::linux_mut(&mut spec).set_cgroups_path(Some(path.into()));
        }
        Ok(Bundle { dir, spec })
    }

    /// The systemd mode's name of bundle `bundle`'s container:
    /// `<casedir>-<bundle>`, unique in a run.
    pub fn unit_name(&self, bundle: &str) -> String {
        format!("{}-{bundle}", self.case_name())
    }

    /// The name of the case's directory (`c<N>`).
    pub fn case_name(&self) -> String {
        let name = self.dir.file_name().unwrap_or_default();
        name.to_string_lossy().into_owned()
    }

    /// The runtime command with the mode's global flags, `--root` and `args`.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = self.env.runtime_command();
        c.arg("--root").arg(&self.root).args(args);
        c
    }

    /// Start the runtime with `args` in the background.
    pub fn spawn(&self, args: &[&str]) -> Result<Running, Fail> {
        let tag = self.next_tag(args.first().copied().unwrap_or("rt"));
        cmd::spawn(self.command(args), &self.dir, &tag)
    }

    /// Run the runtime with `args` to completion.
    pub fn rt(&self, args: &[&str]) -> Result<Out, Fail> {
        self.spawn(args)?.wait(CMD_TIMEOUT)
    }

    /// Run the runtime with `--log FILE --log-format json` before `args`;
    /// returns the output and the log file's path.
    pub fn rt_logged(&self, args: &[&str]) -> Result<(Out, PathBuf), Fail> {
        let log = self.dir.join(format!("{}.log.json", self.next_tag("log")));
        let log_s = log.to_str().expect("utf-8").to_string();
        let mut full = vec!["--log", &log_s, "--log-format", "json"];
        full.extend_from_slice(args);
        Ok((self.rt(&full)?, log))
    }

    pub fn create(&self, id: &str, b: &Bundle) -> Result<Out, Fail> {
        b.write()?;
        self.rt(&["create", "--bundle", b.path(), id])
    }

    /// `run` in the foreground; returns the runtime's outcome.
    pub fn run(&self, id: &str, b: &Bundle) -> Result<Out, Fail> {
        b.write()?;
        self.rt(&["run", "--bundle", b.path(), id])
    }

    /// Run the checker with `args` as the container process; it must exit 0.
    pub fn check(&self, b: &mut Bundle, args: &[&str]) -> Result<Facts, Fail> {
        config::set_checker(&mut b.spec, args);
        let out = self.run("chk", b)?.ok()?;
        Ok(Facts::parse(&out.stdout))
    }

    /// Parsed `state` of a container.
    pub fn state(&self, id: &str) -> Result<serde_json::Value, Fail> {
        let out = self.rt(&["state", id])?.ok()?;
        serde_json::from_str(&out.stdout)
            .map_err(|e| Fail::Fail(format!("state output is not JSON ({e}): {}", out.stdout)))
    }

    /// Poll `state` until the status is `want`.
    pub fn wait_status(&self, id: &str, want: &str, timeout: Duration) -> TestResult {
        let start = Instant::now();
        loop {
            let st = self.state(id)?;
            if st["status"] == want {
                return Ok(());
            }
            if start.elapsed() > timeout {
                return Err(Fail::Fail(format!(
                    "container {id} still {} after {timeout:?}, want {want}",
                    st["status"]
                )));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Delete a container, forcing it if it is still running.
    pub fn delete_force(&self, id: &str) -> TestResult {
        self.rt(&["delete", "--force", id])?.ok().map(|_| ())
    }

    /// A path inside the case dir.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

/// Write an executable /bin/sh script.
pub fn write_script(path: &Path, body: &str) -> TestResult {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, format!("#!/bin/sh\n{body}\n"))
        .map_err(|e| Fail::Fail(format!("write {path:?}: {e}")))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| Fail::Fail(format!("chmod {path:?}: {e}")))
}

/// Read a file written by a hook or container, failing with context.
pub fn read(path: &Path) -> Result<String, Fail> {
    std::fs::read_to_string(path).map_err(|e| Fail::Fail(format!("read {path:?}: {e}")))
}

/// The pids listed in `dir/cgroup.procs` (none if it cannot be read).
pub fn cgroup_procs(dir: &Path) -> Vec<i32> {
    std::fs::read_to_string(dir.join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}
