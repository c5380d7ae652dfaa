//! `berth exec`: a new process in a created or running container, from
//! `--process FILE` or from the container's own process with the flags'
//! changes (runc's rules). In the foreground its exit status is berth's.

use std::path::PathBuf;
use std::str::FromStr;

use oci_spec::runtime::{BoxBuilder, Capabilities, Capability, Process};

use crate::container::{self, ExecOpts, Execd};
use crate::error::{Context, Error, Result};
use crate::process::forward::{self, Extras};
use crate::tty::relay::{self, Relay};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// path to the process.json
    #[arg(short = 'p', long)]
    pub process: Option<PathBuf>,
    /// allocate a pseudo-TTY
    #[arg(short = 't', long)]
    pub tty: bool,
    /// path to an AF_UNIX socket which will receive the console's pty master
    #[arg(long)]
    pub console_socket: Option<PathBuf>,
    /// current working directory in the container
    #[arg(long)]
    pub cwd: Option<PathBuf>,
    /// set environment variables
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    /// UID (format: <uid>[:<gid>])
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    /// additional gids
    #[arg(short = 'g', long = "additional-gids")]
    pub additional_gids: Vec<u32>,
    /// add a capability to the bounding set for the process
    #[arg(short = 'c', long)]
    pub cap: Vec<String>,
    /// set the no new privileges value for the process
    #[arg(long)]
    pub no_new_privs: bool,
    /// set the apparmor profile for the process
    #[arg(long)]
    pub apparmor: Option<String>,
    /// set the asm process label for the process commonly used with selinux
    #[arg(long)]
    pub process_label: Option<String>,
    /// detach from the container's process
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// specify the file to write the process id to
    #[arg(long)]
    pub pid_file: Option<PathBuf>,
    /// pass N additional file descriptors to the process
    #[arg(long, default_value_t = 0)]
    pub preserve_fds: u32,
    /// allow exec in a paused container
    #[arg(long)]
    pub ignore_paused: bool,
    /// run the process in an (existing) sub-cgroup(s)
    #[arg(long)]
    pub cgroup: Vec<String>,
    /// the container id
    pub id: String,
    /// the command and its arguments
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

/// The process to run: the file, or the container's process (`base`)
/// changed by the flags.
fn process(a: &Args, base: &Process) -> Result<Process> {
    let mut p = from_flags(a, base)?;
    // A relayed terminal starts at the host terminal's size, so the process
    // never sees another one.
    let relayed = p.terminal() == Some(true) && a.console_socket.is_none() && !a.detach;
    if let Some((rows, cols)) = relayed.then(relay::host_size).flatten() {
        let size = BoxBuilder::default()
            .height(u64::from(rows))
            .width(u64::from(cols))
            .build()
            .map_err(|e| Error::msg(format!("consoleSize: {e}")))?;
        p.set_console_size(Some(size));
    }
    Ok(p)
}

fn from_flags(a: &Args, base: &Process) -> Result<Process> {
    if a.apparmor.is_some() || a.process_label.is_some() {
        tracing::warn!("--apparmor/--process-label ignored: no LSM is enabled on this host");
    }
    if let Some(path) = &a.process {
        let raw = std::fs::read(path).ctx(|| format!("read {}", path.display()))?;
        return serde_json::from_slice(&raw)
            .map_err(|e| Error::config(format!("invalid process JSON {}: {e}", path.display())));
    }
    if a.command.is_empty() {
        return Err(Error::msg("exec: no command given (args or --process)"));
    }
    let mut p = base.clone();
    p.set_args(Some(a.command.clone()));
    p.set_terminal(Some(a.tty));
    let mut env = p.env().clone().unwrap_or_default();
    for kv in &a.env {
        let key = kv.split('=').next().unwrap_or(kv);
        env.retain(|e| e.split('=').next() != Some(key));
        env.push(kv.clone());
    }
    p.set_env(Some(env));
    if let Some(cwd) = &a.cwd {
        p.set_cwd(cwd.clone());
    }
    apply_user(&mut p, a)?;
    apply_caps(&mut p, &a.cap)?;
    if a.no_new_privs {
        p.set_no_new_privileges(Some(true));
    }
    Ok(p)
}

fn apply_user(p: &mut Process, a: &Args) -> Result<()> {
    let mut user = p.user().clone();
    if let Some(u) = &a.user {
        let (uid, gid) = u.split_once(':').unwrap_or((u, ""));
        let num = |s: &str, what: &str| {
            s.parse::<u32>()
                .map_err(|_| Error::msg(format!("parsing {s} as int for {what} failed")))
        };
        user.set_uid(num(uid, "uid")?);
        if !gid.is_empty() {
            user.set_gid(num(gid, "gid")?);
        }
    }
    if !a.additional_gids.is_empty() {
        user.set_additional_gids(Some(a.additional_gids.clone()));
    }
    p.set_user(user);
    Ok(())
}

/// `--cap X` adds X to every set, as runc does.
fn apply_caps(p: &mut Process, caps: &[String]) -> Result<()> {
    if caps.is_empty() {
        return Ok(());
    }
    let mut c = p.capabilities().clone().unwrap_or_default();
    for name in caps {
        let cap = Capability::from_str(name)
            .map_err(|_| Error::msg(format!("unknown capability {name:?}")))?;
        let add = |set: &Option<Capabilities>| {
            let mut set = set.clone().unwrap_or_default();
            set.insert(cap);
            Some(set)
        };
        c.set_bounding(add(c.bounding()));
        c.set_effective(add(c.effective()));
        c.set_permitted(add(c.permitted()));
        c.set_inheritable(add(c.inheritable()));
        c.set_ambient(add(c.ambient()));
    }
    p.set_capabilities(Some(c));
    Ok(())
}

/// runc's convention: exec's own failures exit 255, so that 1–254 (and
/// 128+signal) are always the process's own status.
const EXEC_FAILED: i32 = 255;

pub fn run(a: Args, g: &super::Global) -> Result<i32> {
    match exec(a, g) {
        Ok(code) => Ok(code),
        Err(e) => {
            super::report(&e.wrap("exec failed"), g);
            Ok(EXEC_FAILED)
        }
    }
}

fn exec(a: Args, g: &super::Global) -> Result<i32> {
    crate::binary::ensure_protected()?;
    let (original, fwd) = forward::prepare(!a.detach)?;
    let opts = ExecOpts {
        id: &a.id,
        pid_file: a.pid_file.as_deref(),
        preserve_fds: a.preserve_fds,
        ignore_paused: a.ignore_paused,
        sigmask: original,
        console_socket: a.console_socket.as_deref(),
        detach: a.detach,
        cgroup: &a.cgroup,
    };
    let Execd { pidfd, master, .. } = container::exec(&g.root, &opts, |base| process(&a, base))?;
    if a.detach {
        return Ok(0);
    }
    let mut relay = match master.map(Relay::new).transpose() {
        Ok(r) => r,
        Err(e) => {
            let _ = pidfd.signal(libc::SIGKILL);
            let _ = pidfd.wait();
            return Err(e);
        }
    };
    let extras = Extras {
        tty: relay.as_mut(),
        notify: None,
    };
    forward::wait(&pidfd, &fwd, extras)
}
