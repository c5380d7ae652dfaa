//! `exec`: run a new process inside a created or running container.

use std::fs;
use std::os::fd::OwnedFd;
use std::path::Path;

use nix::sys::signal::SigSet;
use oci_spec::runtime::Process;

use crate::error::{Context, Error, Result};
use crate::process::exec::{joined_namespaces, spawn, ExecConfig};
use crate::state::{Root, Status, CONFIG_FILE};
use crate::sys::PidFd;

/// Flags of `exec` beyond the process itself.
pub struct ExecOpts<'a> {
    pub id: &'a str,
    pub pid_file: Option<&'a Path>,
    pub preserve_fds: u32,
    pub ignore_paused: bool,
    pub sigmask: SigSet,
    pub console_socket: Option<&'a Path>,
    /// `--pidfd-socket`: where to send a pidfd of the process.
    pub pidfd_socket: Option<&'a Path>,
    pub detach: bool,
    /// `--cgroup`: sub-cgroups of the container's to run the process in.
    pub cgroup: &'a [String],
}

/// A started process.
pub struct Execd {
    pub pidfd: PidFd,
    /// The pty master, when berth relays the terminal (foreground exec -t).
    pub master: Option<OwnedFd>,
}

/// Starts a process in the container; `build` makes it from the container's
/// own process (as runc does). Returns once it has exec'd.
pub fn exec(
    root: &Root,
    o: &ExecOpts,
    build: impl FnOnce(&Process) -> Result<Process>,
) -> Result<Execd> {
    let v = super::view(root, o.id)?;
    check_status(v.status, o.ignore_paused)?;
    let raw = fs::read(v.dir.join(CONFIG_FILE)).ctx(|| "read the container's config".into())?;
    let spec = crate::spec::parse(&raw)?;
    let base = spec
        .process()
        .as_ref()
        .ok_or_else(|| Error::config("process: missing"))?;
    let process = &build(base)?;
    validate(process)?;
    let userns = user_namespace(&spec, process)?;
    let cpu_affinity = cpu_affinity(process, base)?;
    let console = crate::tty::mode(process, o.console_socket, o.detach)?;
    let profile = spec.linux().as_ref().and_then(|l| l.seccomp().as_ref());
    let seccomp = match profile {
        Some(s) => Some(crate::seccomp::load_or_compile(&root.path, s)?),
        None => None,
    };
    // A NOTIFY filter's listener fd goes to the agent with the container's state.
    let seccomp_agent = profile.and_then(crate::seccomp::Agent::of).map(|a| {
        let s = &v.saved;
        let state =
            crate::hooks::state_json(&s.id, v.status, s.pid, &s.bundle, Some(&s.annotations));
        (a, state)
    });
    let init = super::init_pidfd(&v.saved)?;
    let mut cgroup = crate::cgroups::Manager::open(&v.saved.cgroup)?;
    if !o.cgroup.is_empty() {
        cgroup = cgroup.sub_cgroups(o.cgroup)?;
    }
    let (console, relay) = crate::tty::sockets(console)?;
    let pidfd_socket = o
        .pidfd_socket
        .map(super::pidfd_socket::connect)
        .transpose()?;
    crate::binary::set_non_dumpable()?;
    let cfg = ExecConfig {
        process,
        init: &init,
        seccomp,
        sigmask: o.sigmask,
        preserve_fds: o.preserve_fds,
        cgroup: &cgroup,
        seccomp_agent,
        console,
        scheduler: process.scheduler().as_ref().or(base.scheduler().as_ref()),
        io_priority: process
            .io_priority()
            .as_ref()
            .or(base.io_priority().as_ref()),
        personality: spec.linux().as_ref().and_then(|l| l.personality().as_ref()),
        memory_policy: spec
            .linux()
            .as_ref()
            .and_then(|l| l.memory_policy().as_ref()),
        cpu_affinity,
        userns,
        join: namespaces_to_join(&spec),
    };
    let (pid, pidfd) = spawn(&cfg)?;
    tracing::debug!("exec: the process (pid {pid}) was exec'd");
    drop(cfg);
    let master = match hand_over(relay.as_ref(), pidfd_socket.as_ref(), &pidfd) {
        Ok(m) => m,
        Err(e) => {
            let _ = pidfd.signal(libc::SIGKILL);
            let _ = pidfd.wait();
            return Err(e);
        }
    };
    if let Some(p) = o.pid_file {
        super::create::write_pid_file(p, pid)?;
    }
    Ok(Execd { pidfd, master })
}

/// The namespaces the config lists that exec enters (`joined_namespaces`).
fn namespaces_to_join(spec: &oci_spec::runtime::Spec) -> nix::sched::CloneFlags {
    let listed = spec
        .linux()
        .iter()
        .flat_map(|l| l.namespaces().iter().flatten());
    joined_namespaces(listed.map(|n| n.typ()))
}

/// Whether the container has a user namespace of its own (the process
/// then joins it first); its ids must be mapped there.
fn user_namespace(spec: &oci_spec::runtime::Spec, process: &Process) -> Result<bool> {
    let Some(l) = spec.linux().as_ref() else {
        return Ok(false);
    };
    let userns = l
        .namespaces()
        .iter()
        .flatten()
        .any(|n| n.typ() == oci_spec::runtime::LinuxNamespaceType::User);
    if userns {
        crate::userns::check_process(l, process)?;
    }
    Ok(userns)
}

/// The pty master the process sent before it exec'd (when berth relays
/// the terminal), and the pidfd to the `--pidfd-socket`.
fn hand_over(
    relay: Option<&OwnedFd>,
    pidfd_socket: Option<&OwnedFd>,
    pidfd: &PidFd,
) -> Result<Option<OwnedFd>> {
    let master = relay.map(crate::tty::receive_master).transpose()?;
    if let Some(s) = pidfd_socket {
        super::pidfd_socket::send(s, pidfd, super::pidfd_socket::Kind::Exec)?;
    }
    Ok(master)
}

/// Exec needs a created, running or (with `--ignore-paused`) paused container.
fn check_status(status: Status, ignore_paused: bool) -> Result<()> {
    match status {
        Status::Stopped => Err(Error::msg("cannot exec in a stopped container")),
        Status::Paused if !ignore_paused => Err(Error::msg(
            "cannot exec in a paused container (use --ignore-paused to override)",
        )),
        _ => Ok(()),
    }
}

/// The initial and final CPU masks of `process.execCPUAffinity`, the exec'd
/// process's own or else the container's.
fn cpu_affinity(process: &Process, base: &Process) -> Result<crate::process::cpu_affinity::Masks> {
    match process
        .exec_cpu_affinity()
        .as_ref()
        .or(base.exec_cpu_affinity().as_ref())
    {
        Some(a) => crate::process::cpu_affinity::masks(a),
        None => Ok((None, None)),
    }
}

fn validate(p: &Process) -> Result<()> {
    if p.args().as_ref().is_none_or(|a| a.is_empty()) {
        return Err(Error::config("process.args: args must not be empty"));
    }
    if !p.cwd().is_absolute() {
        return Err(Error::config("process.cwd: cwd must be an absolute path"));
    }
    if let Some(r) = p.rlimits() {
        crate::rlimits::validate(r)?;
    }
    if let Some(s) = p.scheduler() {
        crate::process::scheduler::validate(s, "process.scheduler")?;
    }
    if let Some(io) = p.io_priority() {
        crate::process::io_priority::validate(io, "process.ioPriority")?;
    }
    if let Some(c) = p.capabilities() {
        crate::capabilities::warn_unraisable_ambient(c);
    }
    crate::spec::validate_env(p.env().as_deref().unwrap_or(&[]), "process.env")?;
    crate::spec::validate_ids(p.user())
}
