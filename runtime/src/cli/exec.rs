//! `berth exec`: a new process in a created or running container, from
//! `--process FILE` or from the container's own process with the flags'
//! changes (runc's rules). In the foreground its exit status is berth's.

use std::path::PathBuf;

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
    /// path to an AF_UNIX socket which will receive a file descriptor referencing the exec process
    #[arg(long)]
    pub pidfd_socket: Option<PathBuf>,
    /// current working directory in the container
    #[arg(long)]
    pub cwd: Option<PathBuf>,
    /// set environment variables
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    /// UID (format: <uid>[:<gid>])
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    /// additional gids (added to the process's own)
    #[arg(short = 'g', long = "additional-gids", allow_hyphen_values = true)]
    pub additional_gids: Vec<String>,
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
        return process_file(path);
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
    // runc appends the flag's gids to the process's own.
    if !a.additional_gids.is_empty() {
        let mut gids = user.additional_gids().clone().unwrap_or_default();
        for g in &a.additional_gids {
            gids.push(additional_gid(g)?);
        }
        user.set_additional_gids(Some(gids));
    }
    p.set_user(user);
    Ok(())
}

/// One `--additional-gids` value; runc's wording for a negative one.
fn additional_gid(g: &str) -> Result<u32> {
    match g.parse::<i64>() {
        Ok(n) if n < 0 => Err(Error::msg(format!(
            "additional-gids must be a positive number {n}"
        ))),
        Ok(n) => u32::try_from(n)
            .map_err(|_| Error::msg(format!("additional-gids: {n} is out of range"))),
        Err(e) => Err(Error::msg(format!(
            "invalid value {g:?} for flag -additional-gids: {e}"
        ))),
    }
}

/// A `--process` file. As runc (Go's zero values), `user` may be left out
/// (uid 0, gid 0); a missing `cwd` gets runc's error.
fn process_file(path: &std::path::Path) -> Result<Process> {
    let raw = std::fs::read(path).ctx(|| format!("read {}", path.display()))?;
    let bad = |e: serde_json::Error| {
        Error::config(format!("invalid process JSON {}: {e}", path.display()))
    };
    let mut v: serde_json::Value = serde_json::from_slice(&raw).map_err(bad)?;
    if let Some(o) = v.as_object_mut() {
        o.entry("user").or_insert_with(|| serde_json::json!({}));
        if o.get("cwd")
            .and_then(|c| c.as_str())
            .is_none_or(str::is_empty)
        {
            return Err(Error::config("Cwd property must not be empty"));
        }
    }
    // The runtime-spec's scheduler flag names, as in config.json.
    crate::process::scheduler::rename_spec_flags(&mut v);
    // Capability names runc does not know are ignored, as in config.json.
    crate::capabilities::drop_unknown(v.get_mut("capabilities"), true);
    serde_json::from_value(v).map_err(bad)
}

/// A capability name as runc reads one (`CAP_KILL`); berth also takes the
/// bare form (`KILL`), any case.
fn capability(name: &str) -> Option<Capability> {
    serde_json::from_value(serde_json::Value::String(name.to_string())).ok()
}

/// `--cap X` adds X to the bounding, effective and permitted sets, as
/// current runc does (never to the inheritable set: CVE-2022-29162), and to
/// the ambient set when the process's inheritable set already holds it.
/// Unknown names are ignored with a warning, as runc does.
fn apply_caps(p: &mut Process, caps: &[String]) -> Result<()> {
    if caps.is_empty() {
        return Ok(());
    }
    let mut c = p.capabilities().clone().unwrap_or_default();
    let mut unknown = Vec::new();
    for name in caps {
        let Some(cap) = capability(name) else {
            unknown.push(name.as_str());
            continue;
        };
        let add = |set: &Option<Capabilities>| {
            let mut set = set.clone().unwrap_or_default();
            set.insert(cap);
            Some(set)
        };
        c.set_bounding(add(c.bounding()));
        c.set_effective(add(c.effective()));
        c.set_permitted(add(c.permitted()));
        if c.inheritable().as_ref().is_some_and(|i| i.contains(&cap)) {
            c.set_ambient(add(c.ambient()));
        }
    }
    if !unknown.is_empty() {
        let mut names: Vec<String> = unknown.into_iter().map(str::to_string).collect();
        names.sort_unstable();
        crate::capabilities::warn_ignored(&names);
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
        pidfd_socket: a.pidfd_socket.as_deref(),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn process_file_takes_the_spec_scheduler_flag_names() {
        let path = std::env::temp_dir().join(format!("berth-exec-p-{}.json", std::process::id()));
        let json = r#"{"args":["true"],"cwd":"/","scheduler":{"policy":"SCHED_OTHER",
            "flags":["SCHED_FLAG_RESET_ON_FORK","SCHED_FLAG_DL_OVERRUN"]}}"#;
        std::fs::write(&path, json).unwrap();
        let p = process_file(&path);
        std::fs::remove_file(&path).unwrap();
        let flags = p
            .unwrap()
            .scheduler()
            .clone()
            .unwrap()
            .flags()
            .clone()
            .unwrap();
        assert_eq!(flags.len(), 2);
    }

    #[test]
    fn capabilities_with_or_without_the_prefix() {
        assert_eq!(capability("CAP_KILL"), Some(Capability::Kill));
        assert_eq!(capability("KILL"), Some(Capability::Kill));
        assert_eq!(capability("cap_sys_admin"), Some(Capability::SysAdmin));
        assert_eq!(capability("CAP_NOSUCH"), None);
    }

    #[test]
    fn cap_goes_to_bounding_effective_permitted_only() {
        let mut p = Process::default();
        let mut c = p.capabilities().clone().unwrap_or_default();
        c.set_bounding(Some(Capabilities::new()));
        c.set_effective(Some(Capabilities::new()));
        c.set_permitted(Some(Capabilities::new()));
        c.set_ambient(Some(Capabilities::new()));
        c.set_inheritable(Some([Capability::Chown].into_iter().collect()));
        p.set_capabilities(Some(c));
        let caps = ["KILL".to_string(), "CAP_CHOWN".into(), "BOGUS".into()];
        apply_caps(&mut p, &caps).unwrap();
        let c = p.capabilities().clone().unwrap();
        for set in [c.bounding(), c.effective(), c.permitted()] {
            assert!(set.as_ref().unwrap().contains(&Capability::Kill));
        }
        let inh = c.inheritable().clone().unwrap();
        assert!(!inh.contains(&Capability::Kill));
        let amb = c.ambient().clone().unwrap_or_default();
        assert!(amb.contains(&Capability::Chown) && !amb.contains(&Capability::Kill));
    }

    #[test]
    fn additional_gids_like_runc() {
        assert_eq!(additional_gid("5").unwrap(), 5);
        assert_eq!(
            additional_gid("-1").unwrap_err().to_string(),
            "additional-gids must be a positive number -1"
        );
        assert!(additional_gid("x").is_err());
    }

    #[test]
    fn process_file_without_user() {
        let dir = std::env::temp_dir().join(format!("berth-exec-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("p.json");
        std::fs::write(&f, r#"{"args": ["/bin/true"], "cwd": "/"}"#).unwrap();
        let p = process_file(&f).unwrap();
        assert_eq!((p.user().uid(), p.user().gid()), (0, 0));
        std::fs::write(&f, r#"{"args": ["/bin/true"]}"#).unwrap();
        let e = process_file(&f).unwrap_err().to_string();
        assert!(e.contains("Cwd property must not be empty"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
