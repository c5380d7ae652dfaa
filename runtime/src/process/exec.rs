//! A new process in an existing container (`berth exec`).
//!
//! The runtime enters the init's pid namespace by pidfd (that affects only
//! its children), then clones once; the child enters the remaining
//! namespaces by the same pidfd, which also puts it under the container's
//! root, and from there finishes like the init: rlimits, seccomp, user,
//! capabilities, cwd, then execve. Errors come back over the sync channel;
//! its close-on-exec end closing without a message means execve happened,
//! or failed: that the process reports itself, as runc's does (`sync`
//! draws the protocol).

use std::convert::Infallible;
use std::io::Write;
use std::os::fd::{AsFd, BorrowedFd};

use nix::sched::{setns, CloneFlags};
use nix::sys::signal::{sigprocmask, SigSet, SigmaskHow};
use oci_spec::runtime::{LinuxNamespaceType, Process};

use super::init::{become_user, exec_target, prctl, prepare_user};
use super::seccomp::{hand_to_agent, load_seccomp, Before};
use super::sync::{self, FromInit, InitEnd, Peer};
use crate::error::{Context, Error, Result};
use crate::rlimits;
use crate::seccomp::Program;
use crate::sys::spawn::{clone3, Forked};
use crate::sys::PidFd;

/// What the exec'd process needs; the child gets its copy through the fork.
pub struct ExecConfig<'a> {
    pub process: &'a Process,
    /// The container's init.
    pub init: &'a PidFd,
    pub seccomp: Option<Program>,
    pub sigmask: SigSet,
    pub preserve_fds: u32,
    /// The connected console socket, for a process with a terminal.
    pub console: Option<crate::tty::ConsoleSocket>,
    /// The container's cgroup, which the process joins before it runs.
    pub cgroup: &'a crate::cgroups::Manager,
    /// For a NOTIFY filter: the agent and the container's state (JSON).
    pub seccomp_agent: Option<(crate::seccomp::Agent, Vec<u8>)>,
    /// The scheduler, I/O priority (the process's, else the container's,
    /// as runc) and the container's linux.personality.
    pub scheduler: Option<&'a oci_spec::runtime::Scheduler>,
    pub io_priority: Option<&'a oci_spec::runtime::LinuxIOPriority>,
    pub personality: Option<&'a oci_spec::runtime::LinuxPersonality>,
    /// The container's linux.memoryPolicy (current runc sets it for exec too).
    pub memory_policy: Option<&'a oci_spec::runtime::LinuxMemoryPolicy>,
    /// execCPUAffinity (initial, final), the process's else the container's.
    pub cpu_affinity: super::cpu_affinity::Masks,
    /// The container has a user namespace of its own: join it first.
    pub userns: bool,
    /// The other namespaces to join (`joined_namespaces`).
    pub join: CloneFlags,
}

/// The namespaces exec enters besides the user namespace: the mount
/// namespace always (by pidfd that also puts the process under the init's
/// root, chrooted or pivoted), and of pid, ipc, uts, network, cgroup and
/// time those the config lists, as runc: a namespace the container shares with
/// the runtime that created it is not entered. Root of a user namespace
/// (a runtime under rootless podman) may not enter one owned by an
/// ancestor namespace, such as the host's cgroup namespace.
pub fn joined_namespaces(listed: impl IntoIterator<Item = LinuxNamespaceType>) -> CloneFlags {
    listed
        .into_iter()
        .filter(|t| *t != LinuxNamespaceType::User)
        .fold(CloneFlags::CLONE_NEWNS, |f, t| {
            f | crate::namespaces::clone_flag(t)
        })
}

/// Starts the process; returns its pid and pidfd once it has exec'd.
pub fn spawn(cfg: &ExecConfig) -> Result<(i32, PidFd)> {
    if cfg.join.contains(CloneFlags::CLONE_NEWPID) {
        match setns(cfg.init.as_fd(), CloneFlags::CLONE_NEWPID) {
            Ok(()) => {}
            // The init exited since the status check.
            Err(nix::errno::Errno::ESRCH) => {
                return Err(Error::msg("cannot exec in a stopped container"))
            }
            Err(e) => return Err(e).ctx(|| "setns into the container's pid namespace".into()),
        }
    }
    let (ours, theirs) = sync::pair(Peer::Exec).ctx(|| "create sync socketpair".into())?;
    let v2_fd = cfg.cgroup.v2_dir_fd()?;
    let cgroup_fd = v2_fd.as_ref().map(std::os::fd::AsRawFd::as_raw_fd);
    let placement = cfg.cgroup.placement(cgroup_fd.is_some())?;
    // The child inherits the initial mask; the runtime gets its own back.
    let own_mask = match &cfg.cpu_affinity.0 {
        Some(initial) => Some(super::cpu_affinity::set_own(initial, "initial")?),
        None => None,
    };
    let forked = clone3(0, cgroup_fd).ctx(|| "clone3".into());
    if let (Some(m), Ok(Forked::Parent { .. })) = (&own_mask, &forked) {
        if let Err(e) = super::cpu_affinity::set_own(m, "the runtime's own") {
            tracing::warn!("{e}");
        }
    }
    match forked? {
        Forked::Child => {
            // First: the runtime writes this process's records.
            theirs.forward_logs();
            drop(ours);
            let err = match placement
                .enter()
                .map_err(Error::from)
                .and_then(|_| setup(cfg, &theirs))
            {
                Ok(never) => match never {},
                Err(e) => e,
            };
            if theirs.send(FromInit::Error(err.to_string())).is_err() {
                let _ = writeln!(std::io::stderr(), "berth exec: {err}");
            }
            crate::sys::spawn::exit_now(1)
        }
        Forked::Parent { pid, pidfd } => {
            drop(theirs);
            drop(placement);
            match sync::until_exec(&ours, &mut ExecHost { cfg, pid }) {
                Ok(()) => Ok((pid, pidfd)),
                Err(e) => {
                    // One that reported its failure is on its way out.
                    if !e.reported() {
                        let _ = pidfd.signal(libc::SIGKILL);
                    }
                    let _ = pidfd.wait();
                    Err(e.into())
                }
            }
        }
    }
}

/// The runtime's part in exec: the seccomp agent.
struct ExecHost<'a> {
    cfg: &'a ExecConfig<'a>,
    pid: i32,
}

impl sync::Host for ExecHost<'_> {
    fn hand_listener(&mut self, fd: BorrowedFd<'_>) -> Result<()> {
        let agent = self.cfg.seccomp_agent.as_ref();
        hand_to_agent(
            agent.map(|(a, _)| a),
            self.pid,
            agent.map(|(_, state)| state.as_slice()).unwrap_or_default(),
            fd,
        )
    }
}

fn setup(cfg: &ExecConfig, chan: &InitEnd) -> Result<Infallible> {
    // The pid namespace was entered by the runtime (it applies to children).
    let rest = cfg.join - CloneFlags::CLONE_NEWPID;
    if cfg.userns {
        // Hard limits above ours need CAP_SYS_RESOURCE on the host: raised
        // before the container's user namespace confines us.
        rlimits::raise_hard(0, cfg.process.rlimits().as_deref().unwrap_or(&[]))?;
        // setns with several flags enters the user namespace first, so the
        // rest is joined with the privilege it gives. Then, as the init,
        // become its root (the ids are still the host's, unmapped there).
        setns(cfg.init.as_fd(), rest | CloneFlags::CLONE_NEWUSER)
            .ctx(|| "setns into the container's namespaces".into())?;
        crate::user::become_userns_root()?;
    } else {
        setns(cfg.init.as_fd(), rest).ctx(|| "setns into the container's namespaces".into())?;
    }
    tracing::debug!("exec: joined the container's cgroup and namespaces");
    let p = cfg.process;
    if let Some(sock) = &cfg.console {
        crate::tty::setup(sock, p, false)?;
    }
    rlimits::apply(p.rlimits().as_deref().unwrap_or(&[]))?;
    // As in the init: before seccomp and the capability drop.
    super::scheduler::apply(cfg.scheduler)?;
    super::io_priority::apply(cfg.io_priority)?;
    super::personality::apply(cfg.personality)?;
    super::memory_policy::apply(cfg.memory_policy)?;
    if let Some(f) = &cfg.cpu_affinity.1 {
        super::cpu_affinity::set_own(f, "final")?;
    }
    // The container's /etc/passwd and /etc/group, read once (HOME, groups).
    let user_info = crate::user::container_user_info(p.user().uid());
    let (exe, argv, envp) = exec_target(p, &user_info)?;
    tracing::debug!("exec: process.args[0] resolved to {exe:?}");
    // Before any filter is loaded: a profile may block close_range. What is
    // opened from here on is opened close-on-exec.
    crate::sys::close_range_cloexec(3 + cfg.preserve_fds).ctx(|| "close_range".into())?;
    let plan = prepare_user(p, &user_info)?;
    let seccomp = cfg.seccomp.as_ref();
    load_seccomp(seccomp, p, &[Before::User], chan)?;
    become_user(p, &plan)?;
    if p.no_new_privileges() == Some(true) {
        prctl(libc::PR_SET_NO_NEW_PRIVS, 1, "PR_SET_NO_NEW_PRIVS")?;
    }
    crate::sys::exec::reset_signal_dispositions();
    sigprocmask(SigmaskHow::SIG_SETMASK, Some(&cfg.sigmask), None)
        .ctx(|| "restore signal mask".into())?;
    // The sync channel stays open until execve: a NOTIFY filter's listener
    // fd can go to the runtime from here too.
    load_seccomp(seccomp, p, &[Before::Handoff, Before::Exec], chan)?;
    let err = match nix::unistd::execve(&exe, &argv, &envp) {
        Ok(never) => match never {},
        Err(e) => e,
    };
    // The channel closes without a message: `exec` sees success and then
    // the process's exit status, 255, as with current runc.
    super::init::execve_failed(&exe, err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use LinuxNamespaceType::*;

    #[test]
    fn joins_the_mount_namespace_and_the_listed_ones_only() {
        assert_eq!(joined_namespaces([]), CloneFlags::CLONE_NEWNS);
        // As podman rootless lists them: no cgroup namespace, so the
        // host's (which root of a user namespace may not enter) is kept.
        let podman = joined_namespaces([Pid, Network, Ipc, Uts, Mount]);
        assert_eq!(
            podman,
            CloneFlags::CLONE_NEWNS
                | CloneFlags::CLONE_NEWPID
                | CloneFlags::CLONE_NEWNET
                | CloneFlags::CLONE_NEWIPC
                | CloneFlags::CLONE_NEWUTS
        );
        assert!(!podman.contains(CloneFlags::CLONE_NEWCGROUP));
        // The user namespace is joined on its own; a time namespace is
        // entered (as runc), effective at the process's execve.
        assert_eq!(
            joined_namespaces([User, Time, Cgroup]),
            CloneFlags::CLONE_NEWNS
                | CloneFlags::CLONE_NEWCGROUP
                | CloneFlags::from_bits_retain(libc::CLONE_NEWTIME)
        );
    }
}
