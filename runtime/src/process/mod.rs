//! Spawning the container's init (docs/architecture.md §2): one clone3 with every
//! new-namespace flag; the child inherits the parsed config through the fork
//! and reports over a socketpair; the parent runs the runtime-side hooks.
//! The protocol, create to exec, is drawn in `sync`.

pub mod cpu_affinity;
mod env;
pub mod exec;
pub mod forward;
mod id_list;
pub mod init;
pub mod io_priority;
mod joined_userns;
pub mod memory_policy;
mod oom_score;
pub mod personality;
pub mod scheduler;
mod seccomp;
pub mod sync;

use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};

use nix::sys::signal::SigSet;

use crate::error::{Context, Result};
use crate::hooks;
use crate::namespaces::{Join, Plan};
use crate::rootfs::cgroupfs::Layout;
use crate::spec::Bundle;
use crate::state::Status;
use crate::sys::proc::ProcHandle;
use crate::sys::spawn::{clone3, Forked};
use crate::sys::PidFd;
use sync::{Peer, RuntimeEnd};

/// Everything the init needs; it gets its own copy through the fork.
pub struct InitConfig<'a> {
    pub id: &'a str,
    pub bundle: &'a Bundle,
    pub plan: &'a Plan,
    pub joins: &'a [Join],
    /// `O_PATH` fd of the exec fifo (reopened for writing via procfs).
    pub fifo_fd: i32,
    /// A verified handle on the host's /proc.
    pub proc: ProcHandle,
    pub cgroups: Layout,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    /// The signal mask to restore before exec.
    pub sigmask: SigSet,
    pub preserve_fds: u32,
    /// How many of the kept fds are socket-activation fds (LISTEN_FDS).
    pub listen_fds: u32,
    /// The v2 cgroup directory for CLONE_INTO_CGROUP.
    pub cgroup_fd: Option<i32>,
    /// The cgroups the init joins itself before anything else.
    pub placement: &'a crate::cgroups::Placement,
    /// The connected console socket, when process.terminal is set.
    pub console: Option<crate::tty::ConsoleSocket>,
    /// The compiled seccomp filter, if the config has a profile.
    pub seccomp: Option<crate::seccomp::Program>,
    /// The runtime's state-dir lock, inherited through the fork.
    pub lock_fd: i32,
    /// linux.netDevices: the devices to move into the container's netns.
    pub net_devices: Option<&'a crate::netdevices::Devices>,
    /// The idmapped bind mounts' trees, prepared by the runtime.
    pub idmapped: &'a crate::rootfs::idmap::IdmappedMounts,
    /// Run by the runtime right after the clone with the new process's
    /// pid, to put it in its cgroup: with `--systemd-cgroup` the driver
    /// starts the container's scope with it; on a v1 or hybrid host the
    /// runtime makes the cgroup and moves the init in (`net_after_clone`).
    /// The init waits for `Placed` before anything else.
    pub place: Option<&'a dyn Fn(i32) -> Result<()>>,
    /// The init makes its new network namespace itself, before `Placed`,
    /// while the runtime makes the cgroup (instead of clone3 doing it
    /// before either can go on).
    pub net_after_clone: bool,
    /// The compact mount namespace's template (`rootfs::compact`): the
    /// init is cloned without CLONE_NEWNS and builds its rootfs in a copy
    /// of it.
    pub mntns_template: Option<std::os::fd::BorrowedFd<'a>>,
}

impl InitConfig<'_> {
    /// The state document for hooks.
    pub fn hook_state(&self, status: Status, pid: i32) -> Vec<u8> {
        hooks::state_json(
            self.id,
            status,
            pid,
            &self.bundle.dir,
            self.bundle.spec.annotations().as_ref(),
        )
    }

    /// Whether the runtime runs hooks during create (prestart,
    /// createRuntime): then the init asks for them.
    pub fn runtime_hooks_wanted(&self) -> bool {
        let h = self.bundle.spec.hooks().as_ref();
        !hooks::of_kind(h, "prestart").is_empty() || !hooks::of_kind(h, "createRuntime").is_empty()
    }
}

/// A live init, blocked until the runtime acknowledges it.
pub struct Spawned {
    pub pid: i32,
    pub pidfd: PidFd,
    chan: RuntimeEnd,
}

impl Spawned {
    /// Lets the init go on to wait for `start` (the state is saved).
    /// Waits until the init no longer dies with us, so the runtime may exit.
    pub fn release(self) -> Result<PidFd> {
        match sync::release(&self.chan) {
            Ok(()) => Ok(self.pidfd),
            Err(e) => {
                kill_and_reap(&self.pidfd);
                Err(e.into())
            }
        }
    }

    /// Kills and reaps the init after a failure.
    pub fn abort(self) {
        kill_and_reap(&self.pidfd);
    }
}

fn kill_and_reap(pidfd: &PidFd) {
    let _ = pidfd.signal(libc::SIGKILL);
    let _ = pidfd.wait();
}

/// Forks the init and drives it until it is ready (or failed). The init
/// first joins its cgroups itself (`cfg.placement`), once `cfg.place` (if
/// any) has run; the runtime goes back to its own namespaces (`own_ns`)
/// before it runs any hook.
pub fn spawn(cfg: &InitConfig, own_ns: &crate::namespaces::Own) -> Result<Spawned> {
    let (ours, theirs) = sync::pair(Peer::Init).ctx(|| "create sync socketpair".into())?;
    // The cgroup namespace is unshared by the init once it is placed, so
    // that its root is the container's cgroup in every hierarchy.
    let mut flags = cfg.plan.clone_flags() & !(libc::CLONE_NEWCGROUP as u64);
    if cfg.net_after_clone {
        flags &= !(libc::CLONE_NEWNET as u64);
    }
    if cfg.mntns_template.is_some() {
        flags &= !(libc::CLONE_NEWNS as u64);
    }
    let joins_user = cfg.plan.joins(oci_spec::runtime::LinuxNamespaceType::User);
    if joins_user {
        // The child joins the user namespace and makes the rest there.
        flags = 0;
    }
    tracing::debug!("clone3 of the init, namespaces: {:?}", cfg.plan);
    match clone3(flags, cfg.cgroup_fd).ctx(|| format!("clone3 (flags {flags:#x})"))? {
        Forked::Child => {
            drop(ours);
            init::run(cfg, theirs)
        }
        Forked::Parent { pid, pidfd } => {
            drop(theirs);
            if let Err(e) = own_ns.restore() {
                kill_and_reap(&pidfd);
                return Err(e.into());
            }
            if let Some(place) = cfg.place {
                if let Err(e) = place(pid) {
                    kill_and_reap(&pidfd);
                    return Err(e);
                }
                if let Err(e) = ours.send(sync::ToInit::Placed) {
                    // The init may have failed before (making its network
                    // namespace) and sent why: `until_ready` reports that,
                    // or its exit without a word.
                    tracing::debug!("{e}");
                }
            }
            let (pid, pidfd) =
                match joins_user && cfg.plan.creates(oci_spec::runtime::LinuxNamespaceType::Pid) {
                    true => reborn(&ours, pidfd)?,
                    false => (pid, pidfd),
                };
            let spawned = Spawned {
                pid,
                pidfd,
                chan: ours,
            };
            let mut host = CreateHost { cfg, pid };
            match sync::until_ready(&spawned.chan, &mut host) {
                Ok(()) => Ok(spawned),
                Err(e) => {
                    spawned.abort();
                    Err(e.into())
                }
            }
        }
    }
}

/// The child made the real init (`joined_userns`) and exits: reap it, and
/// go on with the init it handed over.
fn reborn(chan: &sync::RuntimeEnd, first: PidFd) -> Result<(i32, PidFd)> {
    let got = sync::until_reborn(chan);
    let _ = first.wait();
    let (fd, pid) = got?;
    tracing::debug!("the init is {pid}, in its new pid namespace");
    Ok((pid, PidFd::from_owned(fd)))
}

/// The runtime's part in create: the maps, the network devices, the hooks
/// and the seccomp agent.
struct CreateHost<'a> {
    cfg: &'a InitConfig<'a>,
    pid: i32,
}

impl sync::Host for CreateHost<'_> {
    fn mapping_wanted(&self) -> bool {
        self.cfg
            .plan
            .creates(oci_spec::runtime::LinuxNamespaceType::User)
    }

    fn write_mappings(&mut self) -> Result<()> {
        // What needs CAP_SYS_RESOURCE on the host, which the init lost with
        // its new user namespace: set from here, as runc does.
        if let Some(p) = self.cfg.bundle.spec.process() {
            crate::rlimits::raise_hard(self.pid, p.rlimits().as_deref().unwrap_or(&[]))?;
            if let Some(adj) = p.oom_score_adj() {
                oom_score::set(&self.cfg.proc, Some(self.pid), adj)?;
            }
        }
        let linux = self.cfg.bundle.spec.linux().as_ref();
        let linux = linux.ok_or_else(|| crate::error::Error::config("linux: missing"))?;
        if crate::sys::exec_euid() != 0 {
            // Rootless: directly where the kernel lets an unprivileged
            // writer, else through newuidmap/newgidmap.
            let maps = |m: &Option<Vec<_>>| m.clone().unwrap_or_default();
            return Ok(crate::idmap_helpers::write_maps_as_unprivileged(
                self.pid,
                &maps(linux.uid_mappings()),
                &maps(linux.gid_mappings()),
            )?);
        }
        Ok(crate::userns::write_maps(&self.cfg.proc, self.pid, linux)?)
    }

    fn net_devices_wanted(&self) -> bool {
        self.cfg.net_devices.is_some()
    }

    fn move_net_devices(&mut self) -> Result<()> {
        match self.cfg.net_devices {
            Some(d) => d.move_into(&self.cfg.proc, self.pid),
            None => Ok(()),
        }
    }

    fn hooks_wanted(&self) -> bool {
        self.cfg.runtime_hooks_wanted()
    }

    fn run_hooks(&mut self) -> Result<()> {
        let h = self.cfg.bundle.spec.hooks().as_ref();
        // Status "creating" with the init's pid, as runc passes them (1.1.5
        // and current: the container is still being created, and runtime.md
        // gives prestart/createRuntime the state of a created-in-progress
        // container; no later status applies before `start`).
        let state = self.cfg.hook_state(Status::Creating, self.pid);
        hooks::run("prestart", hooks::of_kind(h, "prestart"), &state)?;
        hooks::run("createRuntime", hooks::of_kind(h, "createRuntime"), &state)
    }

    fn hand_listener(&mut self, fd: BorrowedFd<'_>) -> Result<()> {
        let agent = self
            .cfg
            .bundle
            .spec
            .linux()
            .as_ref()
            .and_then(|l| l.seccomp().as_ref())
            .and_then(crate::seccomp::Agent::of);
        let state = self.cfg.hook_state(Status::Creating, self.pid);
        seccomp::hand_to_agent(agent.as_ref(), self.pid, &state, fd)
    }
}

/// The raw fd number of an owned fd (for the child to reopen by number).
pub fn raw(fd: &OwnedFd) -> i32 {
    fd.as_raw_fd()
}
