//! `create`: load and validate the bundle, reserve the id, spawn the init
//! into its namespaces, and save the state once the init is ready.

use std::cell::{Cell, RefCell};
use std::fs;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::SystemTime;

use nix::sys::signal::SigSet;
use nix::sys::stat::Mode;

use super::pidfd_socket;
use crate::cgroups::{self as cgroups_mod, CgroupConfig, Manager};
use crate::error::{Context, Error, Result};
use crate::namespaces::Plan;
use crate::process::{self, InitConfig};
use crate::rootfs::cgroupfs::{self, Layout};
use crate::rootfs::compact;
use crate::rootfs::idmap::IdmappedMounts;
use crate::spec::{self, Bundle};
use crate::state::{ContainerDir, Root, Saved};
use crate::sys::proc::{self, ProcHandle};
use crate::sys::PidFd;
use crate::{binary, timefmt, tty};

/// Flags of `create` (and `run`).
#[derive(Debug)]
pub struct CreateOpts<'a> {
    pub id: &'a str,
    pub bundle: &'a Path,
    pub pid_file: Option<&'a Path>,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    pub preserve_fds: u32,
    /// Socket-activation fds handed to berth (LISTEN_FDS), passed on from
    /// fd 3, before the --preserve-fds ones.
    pub listen_fds: u32,
    pub console_socket: Option<&'a Path>,
    /// `--pidfd-socket`: where to send a pidfd of the init.
    pub pidfd_socket: Option<&'a Path>,
    /// NOTIFY_SOCKET is set: give the container a notify socket directory.
    pub notify_socket: bool,
    /// --systemd-cgroup
    pub systemd_cgroup: bool,
    /// `--rootless` as given (`crate::rootless::parse_flag`).
    pub rootless: &'a str,
    /// Whether the caller returns once the container runs (create, run -d).
    pub detach: bool,
    /// The mask to give back to the payload (run blocks signals first).
    pub sigmask: Option<SigSet>,
}

/// A created container: its init waits for `start`.
pub struct Created {
    pub dir: ContainerDir,
    pub saved: Saved,
    pub pidfd: PidFd,
    /// The pty master, when berth relays the terminal (foreground run).
    pub master: Option<OwnedFd>,
}

pub fn create(root: &Root, o: &CreateOpts) -> Result<Created> {
    let mut bundle = spec::load(o.bundle)?;
    // After the config, as runc: a bad value fails create and run only.
    let rootless_flag = crate::rootless::parse_flag(o.rootless)?;
    let rootless = || crate::rootless::detect(rootless_flag, o.systemd_cgroup);
    crate::rootless::check_config(&bundle.spec, crate::sys::exec_euid() == 0, rootless)?;
    tracing::debug!(
        "create {}: config loaded from {}",
        o.id,
        bundle.dir.display()
    );
    let process = bundle
        .spec
        .process()
        .as_ref()
        .ok_or_else(|| Error::config("process: missing"))?;
    let console = tty::mode(process, o.console_socket, o.detach)?;
    let dir = root.reserve(o.id)?;
    dir.save_config(&bundle.raw)?;
    if o.notify_socket {
        crate::notify::prepare(&mut bundle.spec, &dir.path)?;
    }
    let linux = bundle
        .spec
        .linux()
        .as_ref()
        .ok_or_else(|| Error::config("linux: missing"))?;
    let default_devices =
        cgroups_mod::runc_default_rules(linux.devices().as_deref().unwrap_or(&[]));
    let cfg = CgroupConfig {
        id: o.id,
        cgroups_path: linux.cgroups_path().as_ref().and_then(|p| p.to_str()),
        systemd: o.systemd_cgroup,
        resources: linux.resources().as_ref(),
        default_devices: &default_devices,
        rootless: rootless(),
    };
    let plan = Plan::from_spec(linux)?;
    let mut cgroup = Manager::plan(&cfg)?;
    // Recorded first, so a create killed from here on is still removable.
    dir.save_creating(&cgroup.planned())?;
    let after_clone = make_cgroup(&mut cgroup, &cfg, &plan, linux, rootless)?;
    let init = Init {
        root,
        o,
        bundle: &bundle,
        plan: &plan,
        console,
    };
    let created = spawn_in_cgroup(&init, dir, cgroup, &cfg, after_clone);
    if created.is_err() {
        compact::release_if_unused(&root.path);
    }
    created
}

/// What `spawn_init` starts the init from.
struct Init<'a> {
    root: &'a Root,
    o: &'a CreateOpts<'a>,
    bundle: &'a Bundle,
    plan: &'a Plan,
    console: tty::Mode<'a>,
}

/// Makes the planned cgroup, or only its v2 leaf when the rest is made
/// after the clone (`cgroup_after_clone`; then true). A rootless create
/// that may not make it goes on without one, by runc's rules.
fn make_cgroup(
    cgroup: &mut Manager,
    cfg: &CgroupConfig,
    plan: &Plan,
    linux: &oci_spec::runtime::Linux,
    rootless: impl Fn() -> bool,
) -> Result<bool> {
    if cgroup_after_clone(cgroup, plan, cfg.rootless) {
        match cgroup.make_v2_first() {
            Ok(true) => {
                tracing::debug!("create {}: cgroup made after the clone", cfg.id);
                return Ok(true);
            }
            // The v2 leaf exists: `make` checks it before any fork.
            Ok(false) => {}
            Err(e) => {
                cgroup.remove_created();
                return Err(e.into());
            }
        }
    }
    if let Err(e) = cgroup.make(cfg) {
        // Rootless without the permission to make the default cgroup: runc's
        // rules (`cgroups::rootless`) may let it run without one.
        let explicit = cfg.cgroups_path.is_some();
        cgroups_mod::rootless::after_failure(e, explicit, cfg.resources, cgroup.mode(), rootless)?;
        warn_without_cgroup(linux);
        *cgroup = Manager::without_cgroup(cgroup.mode());
    }
    Ok(false)
}

/// Spawns the init with its cgroup (made, or made by `place` after the
/// clone), and removes the cgroup again if create fails.
fn spawn_in_cgroup(
    init: &Init,
    dir: ContainerDir,
    cgroup: Manager,
    cfg: &CgroupConfig,
    after_clone: bool,
) -> Result<Created> {
    // Whether the cgroup is this create's to remove on failure: not when
    // `make` failed (it removed what it made, and the leaves may be
    // another container's).
    let made = Cell::new(!after_clone);
    let cgroup = RefCell::new(cgroup);
    let place = |_pid: i32| -> Result<()> {
        cgroup.borrow_mut().make(cfg)?;
        made.set(true);
        Ok(())
    };
    let cg = CgroupSetup {
        manager: &cgroup,
        cfg,
        after_clone: after_clone.then_some(&place as &dyn Fn(i32) -> Result<()>),
    };
    let res = spawn_init(init, dir, &cg);
    match &res {
        Ok(created) => {
            tracing::debug!("create {}: created, init pid {}", cfg.id, created.saved.pid);
        }
        Err(_) => {
            // The init is dead and nothing else was started in the cgroup.
            let mut cgroup = cgroup.borrow_mut();
            if !made.get() {
                // What `make_v2_first` made, if anything: `make` failed
                // (and removed the rest) while the init lived in it.
                cgroup.remove_created();
            } else if let Err(d) = cgroup.destroy(&cgroups_mod::Scope::Cgroup) {
                tracing::warn!("removing the cgroup of failed container {}: {d}", cfg.id);
            }
        }
    }
    res
}

/// The container's cgroup as `spawn_init` gets it.
struct CgroupSetup<'a> {
    manager: &'a RefCell<Manager>,
    cfg: &'a CgroupConfig<'a>,
    /// Makes the cgroup, when the init is forked first (`cgroup_after_clone`).
    after_clone: Option<&'a dyn Fn(i32) -> Result<()>>,
}

/// Whether the init is forked before its cgroup exists, making its network
/// namespace (about 0.3 ms here) while the runtime makes the cgroup (a
/// directory in each of the ~10 hierarchies of a v1 or hybrid host: about
/// 0.5 ms, the memory one most), then joins it (`InitConfig::place`). For a
/// privileged container with a network namespace of its own and no user
/// namespace, without systemd; on a v2 host the init is still born in its
/// cgroup (CLONE_INTO_CGROUP). Until it joins, the network namespace is
/// the only thing it makes, and the kernel charges that namespace's memory
/// to the runtime's cgroup instead of the container's.
fn cgroup_after_clone(cgroup: &Manager, plan: &Plan, rootless: bool) -> bool {
    use oci_spec::runtime::LinuxNamespaceType as T;
    cgroup.mode() != cgroups_mod::Mode::V2
        && cgroup.unit().is_none()
        && !rootless
        && crate::sys::exec_euid() == 0
        && plan.creates(T::Network)
        && !plan.has(T::User)
}

/// runc's warning for a container without a cgroup that shares the host's
/// pid namespace: nothing can find all its processes to kill them.
fn warn_without_cgroup(linux: &oci_spec::runtime::Linux) {
    let own_pid_ns = linux
        .namespaces()
        .iter()
        .flatten()
        .any(|n| n.typ() == oci_spec::runtime::LinuxNamespaceType::Pid && n.path().is_none());
    if !own_pid_ns {
        tracing::warn!("creating a rootless container with no cgroup and no private pid namespace: its processes cannot all be found and killed (only the init is signalled)");
    }
}

/// Everything after the cgroup exists (or, `CgroupSetup::after_clone`,
/// is planned): the init is born into it, or joins it first thing.
fn spawn_init(init: &Init, dir: ContainerDir, cg: &CgroupSetup) -> Result<Created> {
    let Init {
        root,
        o,
        bundle,
        plan,
        console,
    } = *init;
    let linux = bundle
        .spec
        .linux()
        .as_ref()
        .ok_or_else(|| Error::config("linux: missing"))?;
    let fifo = make_fifo(&dir)?;
    let (console, relay) = tty::sockets(console)?;
    let pidfd_socket = o.pidfd_socket.map(pidfd_socket::connect).transpose()?;
    let (v2_fd, placement) = cgroup_entry(&cg.manager.borrow(), cg.after_clone.is_some())?;
    let start_unit = |pid: i32| Ok(cg.manager.borrow().start_unit(pid, cg.cfg)?);
    let joins = plan.open_joins()?;
    let net_devices = crate::netdevices::prepare(linux)?;
    let (proc, idmapped) = proc_and_idmapped(bundle)?;
    let template = compact_template(root, bundle, plan, o.no_pivot);
    let cfg = InitConfig {
        id: o.id,
        bundle,
        plan,
        joins: &joins,
        fifo_fd: process::raw(&fifo),
        proc,
        cgroups: cgroup_layout(bundle, &cg.manager.borrow())?,
        no_pivot: o.no_pivot,
        no_new_keyring: o.no_new_keyring,
        sigmask: o
            .sigmask
            .unwrap_or_else(crate::process::forward::current_mask),
        preserve_fds: o.listen_fds + o.preserve_fds,
        listen_fds: o.listen_fds,
        lock_fd: dir.lock_fd(),
        net_devices: net_devices.as_ref(),
        idmapped: &idmapped,
        place: match cg.manager.borrow().unit() {
            Some(_) => Some(&start_unit as &dyn Fn(i32) -> Result<()>),
            None => cg.after_clone,
        },
        net_after_clone: cg.after_clone.is_some(),
        mntns_template: template.as_ref().map(AsFd::as_fd),
        cgroup_fd: v2_fd.as_ref().map(process::raw),
        placement: &placement,
        console,
        seccomp: match linux.seccomp() {
            Some(s) => Some(crate::seccomp::load_or_compile(&root.path, s)?),
            None => None,
        },
    };
    let own_ns = plan.prepare_parent(&joins)?;
    binary::set_non_dumpable()?;
    crate::sys::close_range_cloexec(3 + o.listen_fds + o.preserve_fds)
        .ctx(|| "close_range".into())?;
    let spawned = process::spawn(&cfg, &own_ns)?;
    drop(cfg);
    drop(idmapped);
    let cgroup = cg.manager.borrow();
    let ends = (relay.as_ref(), pidfd_socket.as_ref());
    complete(init, dir, spawned, ends, &cgroup)
}

/// After the init reported ready: the pty master and the pidfd handed
/// over (`hand_over`), the state saved, the init released.
fn complete(
    init: &Init,
    mut dir: ContainerDir,
    spawned: process::Spawned,
    (relay, pidfd_socket): (Option<&OwnedFd>, Option<&OwnedFd>),
    cgroup: &Manager,
) -> Result<Created> {
    let new_pid_ns = init
        .plan
        .creates(oci_spec::runtime::LinuxNamespaceType::Pid);
    let master = hand_over(relay, pidfd_socket, &spawned.pidfd);
    let pid = spawned.pid;
    match master.and_then(|m| {
        Ok((
            m,
            finish(&dir, init.bundle, init.o, pid, cgroup, new_pid_ns)?,
        ))
    }) {
        Ok((master, saved)) => {
            let pidfd = spawned.release()?;
            dir.keep();
            Ok(Created {
                dir,
                saved,
                pidfd,
                master,
            })
        }
        Err(e) => {
            spawned.abort();
            Err(e)
        }
    }
}

/// The v2 leaf's fd for CLONE_INTO_CGROUP, and the files through which the
/// init joins the other hierarchies. With --systemd-cgroup systemd moves the
/// init into the scope's v2 cgroup, which exists only once the init does
/// (`InitConfig::place`). A cgroup made `after_clone` does not exist yet:
/// the init opens all its files itself.
fn cgroup_entry(
    cgroup: &Manager,
    after_clone: bool,
) -> Result<(Option<OwnedFd>, cgroups_mod::Placement)> {
    if cgroup.unit().is_some() {
        return Ok((None, cgroup.placement_systemd()?));
    }
    let fd = cgroup.v2_dir_fd()?;
    if after_clone {
        return Ok((fd, cgroup.placement_after_clone(true)));
    }
    let placement = cgroup.placement(fd.is_some())?;
    Ok((fd, placement))
}

/// After the init reported ready: the pty master it sent (relayed run),
/// and a pidfd of it to `--pidfd-socket`.
fn hand_over(
    relay: Option<&OwnedFd>,
    pidfd_socket: Option<&OwnedFd>,
    pidfd: &PidFd,
) -> Result<Option<OwnedFd>> {
    let master = relay.map(tty::receive_master).transpose()?;
    if let Some(s) = pidfd_socket {
        pidfd_socket::send(s, pidfd, pidfd_socket::Kind::Init)?;
    }
    Ok(master)
}

/// A handle on the host's /proc, and the idmapped mounts' trees, made
/// before the clone: the init may be unable to idmap (`rootfs::idmap`).
fn proc_and_idmapped(bundle: &Bundle) -> Result<(ProcHandle, IdmappedMounts)> {
    let proc = ProcHandle::open(Path::new("/proc")).ctx(|| "open /proc".into())?;
    let idmapped = IdmappedMounts::prepare(&bundle.spec, &bundle.dir, &proc)?;
    Ok((proc, idmapped))
}

/// The compact mount namespace's template where it fits and pays
/// (`rootfs::compact`); none (the usual way) if it cannot be had.
fn compact_template(root: &Root, bundle: &Bundle, plan: &Plan, no_pivot: bool) -> Option<OwnedFd> {
    let spec = &bundle.spec;
    // The mount count first: one listmount(2), where most hosts stop.
    if !compact::many_mounts() || !compact::fits(spec, plan, &bundle.rootfs, &bundle.dir, no_pivot)
    {
        return None;
    }
    compact::template(&root.path)
        .map_err(|e| tracing::debug!("no compact mount namespace: {e}"))
        .ok()
}

/// The cgroup hierarchies a cgroup mount in the config shows (none without
/// one). A rootless container without a cgroup of its own on a v1 or
/// hybrid host stays in the runtime's cgroups: those are shown, as runc
/// binds the init's own.
fn cgroup_layout(bundle: &Bundle, cgroup: &Manager) -> Result<Layout> {
    let has_cgroup_mount = bundle
        .spec
        .mounts()
        .iter()
        .flatten()
        .any(|m| matches!(m.typ().as_deref(), Some("cgroup") | Some("cgroup2")));
    if !has_cgroup_mount {
        return Ok(Layout::Legacy(Vec::new()));
    }
    if cgroup.dirs().is_empty() && cgroup.mode() != cgroups_mod::Mode::V2 {
        let own = cgroups_mod::rootless::own_mounts_and_dirs()?;
        return Ok(cgroupfs::legacy(own));
    }
    let own_cgroupns = bundle.spec.linux().as_ref().is_some_and(|l| {
        l.namespaces()
            .iter()
            .flatten()
            .any(|n| n.typ() == oci_spec::runtime::LinuxNamespaceType::Cgroup && n.path().is_none())
    });
    Ok(cgroupfs::layout(cgroup, own_cgroupns))
}

/// The exec fifo: the init blocks opening it for writing until `start`
/// opens it for reading. Mode 0622 so a non-root init can reopen it.
fn make_fifo(dir: &ContainerDir) -> Result<std::os::fd::OwnedFd> {
    let path = dir.fifo_path();
    nix::unistd::mkfifo(&path, Mode::from_bits_truncate(0o622))
        .ctx(|| format!("mkfifo {}", path.display()))?;
    fs::set_permissions(&path, fs::Permissions::from_mode(0o622))
        .ctx(|| format!("chmod {}", path.display()))?;
    crate::sys::open_host(&path, libc::O_PATH).ctx(|| format!("open {}", path.display()))
}

fn finish(
    dir: &ContainerDir,
    bundle: &Bundle,
    o: &CreateOpts,
    pid: i32,
    cgroup: &Manager,
    new_pid_ns: bool,
) -> Result<Saved> {
    let st = proc::stat(pid).ok_or_else(|| Error::msg("container init exited during create"))?;
    let pid_ns = if new_pid_ns {
        let ns = cgroups_mod::pid_ns_of(pid)
            .ok_or_else(|| Error::msg("container init exited during create"))?;
        Some(ns)
    } else {
        None
    };
    let saved = Saved {
        id: o.id.to_string(),
        pid,
        pid_start_time: st.start_time,
        bundle: bundle.dir.clone(),
        rootfs: bundle.rootfs.clone(),
        created: timefmt::rfc3339_nano(SystemTime::now()),
        annotations: bundle.spec.annotations().clone().unwrap_or_default(),
        cgroup: cgroup.record(),
        pid_ns,
    };
    dir.save(&saved)?;
    if let Some(p) = o.pid_file {
        write_pid_file(p, pid)?;
    }
    Ok(saved)
}

/// Writes the pid file atomically (temp file + rename), as runc does.
pub fn write_pid_file(path: &Path, pid: i32) -> Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}"));
    fs::write(&tmp, pid.to_string()).ctx(|| format!("write pid file {}", tmp.display()))?;
    fs::rename(&tmp, path).ctx(|| format!("write pid file {}", path.display()))
}
