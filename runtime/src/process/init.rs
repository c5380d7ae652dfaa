//! The container's init, from clone3 to execve of the payload. Runs in the
//! child of the runtime, already inside its new namespaces, with the parsed
//! config inherited through the fork. Any error goes back to the runtime
//! over the sync channel and is reported there, once.

use std::convert::Infallible;
use std::ffi::{CString, OsStr};
use std::fs::File;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::sys::signal::{sigprocmask, SigmaskHow};
use nix::sys::stat::{umask, Mode};
use oci_spec::runtime::{LinuxNamespaceType, Process};

use super::seccomp::{load_seccomp, Before};
use super::sync::{FromInit, InitEnd};
use super::InitConfig;
use crate::capabilities::{self, CapSets};
use crate::error::{Context, Error, Result};
use crate::sys::proc::ProcHandle;
use crate::{hooks, namespaces, rlimits, rootfs, sysctl, user};

/// Entry point of the init: never returns.
pub fn run(cfg: &InitConfig, chan: InitEnd) -> ! {
    // First: the log's fd is one of the host fds this process closes.
    chan.forward_logs();
    let err = match setup(cfg, &chan) {
        Ok(never) => match never {},
        Err(e) => e,
    };
    if chan.send(FromInit::Error(err.to_string())).is_err() {
        // After the hand-off nobody listens: the payload's stderr is all we have.
        let _ = writeln!(std::io::stderr(), "berth init: {err}");
    }
    crate::sys::spawn::exit_now(1)
}

pub(super) fn prctl(option: libc::c_int, arg: libc::c_ulong, what: &str) -> Result<()> {
    crate::sys::prctl::set(option, arg).ctx(|| format!("prctl({what})"))
}

/// The init's setup sequence. The order of the steps is security-relevant
/// (the cgroup entered before the cgroup namespace is unshared, sysctls and
/// createContainer hooks before pivot, the host's fds closed before any
/// seccomp filter, privileges dropped before the hand-off): keep it.
fn setup(cfg: &InitConfig, chan: &InitEnd) -> Result<Infallible> {
    tie_to_runtime(cfg)?;
    if cfg.place.is_some() {
        if cfg.net_after_clone {
            // While the runtime makes the cgroup (`InitConfig::place`).
            new_network_namespace()?;
        }
        // Nothing else before the runtime (or systemd) placed us in the
        // container's cgroup.
        chan.wait_for(super::sync::ToInit::Placed)?;
    }
    let spec = &cfg.bundle.spec;
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| Error::config("process: missing"))?;
    // First, as runc: what the init starts (createContainer hooks) has it
    // too. In a new user namespace the runtime writes it (with the maps).
    if let Some(adj) = process.oom_score_adj() {
        if !cfg.plan.creates(LinuxNamespaceType::User) {
            super::oom_score::set(&cfg.proc, None, adj)?;
        }
    }
    if cfg.plan.creates(LinuxNamespaceType::User) {
        become_mapped_root(chan)?;
    } else if cfg.plan.joins(LinuxNamespaceType::User) {
        super::joined_userns::enter(cfg, chan)?;
    }
    enter_cgroup(cfg)?;
    umask(Mode::empty());
    finish_namespaces(cfg, chan)?;
    build_rootfs(cfg, chan)?;
    apply_process_settings(cfg, process)?;
    if cfg.plan.creates(LinuxNamespaceType::Mount) || cfg.plan.joins(LinuxNamespaceType::Mount) {
        // After /dev/console is bound, as runc's finalizeRootfs.
        rootfs::mount::finalize_readonly(spec)?;
    }
    // The container's /etc/passwd and /etc/group, read once: HOME here,
    // the supplementary groups in `lock_down`.
    let user_info = user::container_user_info(process.user().uid());
    let (exe, argv, mut envp) = exec_target(process, &user_info)?;
    tracing::debug!("exec: process.args[0] resolved to {exe:?}, exec'd at start");
    pass_listen_fds(cfg, &mut envp)?;
    // Before any filter is loaded (a profile may block close_range).
    let fifo_proc = close_host_fds(cfg, chan)?;
    tracing::debug!(
        "init: host fds closed; dropping privileges (uid {})",
        process.user().uid()
    );
    lock_down(cfg, process, &user_info, chan)?;
    let mut fifo = handoff(cfg, chan, fifo_proc.as_ref().unwrap_or(&cfg.proc))?;
    let err = match exec(cfg, chan, &mut fifo, &exe, &argv, &envp) {
        Ok(never) => match never {},
        Err(e) => e,
    };
    // `start` is reading the fifo: a failure before execve (a
    // startContainer hook, the seccomp filter) is reported there, and only
    // there; a failed execve is the payload's (`execve_failed`).
    if fifo.write_all(format!("E{err}").as_bytes()).is_ok() {
        crate::sys::spawn::exit_now(1)
    }
    Err(err)
}

/// Binds the init's life to the runtime's and lets go of the runtime's
/// lock. If the runtime dies mid-create we die too; had it died before the
/// prctl, the sync channel's EOF stops us at the next message.
fn tie_to_runtime(cfg: &InitConfig) -> Result<()> {
    prctl(
        libc::PR_SET_PDEATHSIG,
        libc::SIGKILL as libc::c_ulong,
        "PR_SET_PDEATHSIG",
    )?;
    crate::sys::spawn::close_runtime_lock(cfg.lock_fd)
        .ctx(|| "close the runtime's lock in the container init".into())
}

/// In a new user namespace: asks the runtime to write its uid and gid maps
/// (only a writer in the parent namespace may), then becomes the
/// namespace's root (the ids it was born with are the host's, unmapped
/// here), so that what it builds is owned by the container's root. The id
/// change resets the parent-death signal (the kernel clears it on any
/// credential change): set it again.
fn become_mapped_root(chan: &InitEnd) -> Result<()> {
    // A rootless runtime may open this process's uid_map, and later its
    // ns/pid, only while it is dumpable (else its /proc files are the host
    // root's). Rootless, the init has the runtime's own unprivileged ids
    // and holds nothing the runtime's user could not reach anyway, so it
    // stays dumpable (runc's nsexec: non-dumpable "only breaks things"
    // there); a privileged runtime's init never is (§5).
    if crate::sys::exec_euid() != 0 {
        prctl(libc::PR_SET_DUMPABLE, 1, "PR_SET_DUMPABLE")?;
    }
    chan.request(super::sync::FromInit::Mappings)?;
    user::become_userns_root()?;
    prctl(
        libc::PR_SET_PDEATHSIG,
        libc::SIGKILL as libc::c_ulong,
        "PR_SET_PDEATHSIG",
    )?;
    tracing::debug!("init: mapped, root in its user namespace");
    Ok(())
}

/// Moves the init into the container's cgroup, then (if the config asks for
/// one) unshares the cgroup namespace, so that cgroup is its root.
fn enter_cgroup(cfg: &InitConfig) -> Result<()> {
    cfg.placement.enter()?;
    tracing::debug!("init: joined the container's cgroup");
    if cfg.plan.creates(LinuxNamespaceType::Cgroup) {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWCGROUP)
            .ctx(|| "unshare cgroup namespace".into())?;
    }
    Ok(())
}

/// Joins the namespaces the config gives by path (those joined in the
/// init), has the runtime move linux.netDevices into the network namespace, gives the container a new session keyring (unless
/// `--no-new-keyring`), brings up loopback in a new network namespace, and
/// sets the hostname and domainname.
fn finish_namespaces(cfg: &InitConfig, chan: &InitEnd) -> Result<()> {
    namespaces::join_in_child(cfg.plan, cfg.joins)?;
    tracing::debug!("init: joined {} namespace(s) by path", cfg.joins.len());
    if cfg.net_devices.is_some() {
        // The runtime moves them (only it may take links from the host).
        chan.request(super::sync::FromInit::NetDevices)?;
    }
    if !cfg.no_new_keyring {
        crate::sys::keyring::join_session(cfg.id)?;
    }
    if cfg.plan.creates(LinuxNamespaceType::Network) && !cfg.net_after_clone {
        namespaces::loopback_up()?;
    }
    set_names(cfg)
}

/// The container's new network namespace, with loopback up, made by the
/// init rather than by clone3 (`InitConfig::net_after_clone`).
fn new_network_namespace() -> Result<()> {
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET)
        .ctx(|| "unshare network namespace".into())?;
    Ok(namespaces::loopback_up()?)
}

/// Prepares the rootfs (mounts, devices, masked and read-only paths),
/// applies the sysctls through the init's /proc handle, runs the create
/// hooks, then pivots into the rootfs and finishes it (`root.readonly`,
/// rootfsPropagation).
fn build_rootfs(cfg: &InitConfig, chan: &InitEnd) -> Result<()> {
    let spec = &cfg.bundle.spec;
    let mount_ns = cfg.plan.has(LinuxNamespaceType::Mount);
    let setup = rootfs::Setup {
        spec,
        bundle: &cfg.bundle.dir,
        rootfs: &cfg.bundle.rootfs,
        cgroups: &cfg.cgroups,
        mount_ns,
        // A runtime that is itself in a user namespace (podman rootless
        // runs it as root of its own) cannot mknod either: as runc.
        userns: cfg.plan.has(LinuxNamespaceType::User) || crate::rootless::running_in_user_ns(),
        idmapped: cfg.idmapped,
        template: cfg.mntns_template,
    };
    rootfs::prepare(&setup)?;
    if let Some(s) = spec.linux().as_ref().and_then(|l| l.sysctl().as_ref()) {
        sysctl::apply(s, &cfg.proc)?;
    }
    create_hooks(cfg, chan)?;
    tracing::debug!(
        "pivot_root into {} (no_pivot: {}, mount namespace: {mount_ns})",
        setup.root_path().display(),
        cfg.no_pivot
    );
    rootfs::enter(setup.root_path(), cfg.no_pivot, mount_ns)?;
    if mount_ns {
        rootfs::finish(spec)?;
    }
    Ok(())
}

/// The process's console, OOM score, rlimits, scheduler, I/O priority,
/// personality and memory policy, set while the init still has the privileges to (runc's
/// order: before seccomp and the capability drop, as SCHED_FIFO/RR and
/// IOPRIO_CLASS_RT need CAP_SYS_NICE or CAP_SYS_ADMIN).
fn apply_process_settings(cfg: &InitConfig, process: &Process) -> Result<()> {
    if let Some(sock) = &cfg.console {
        crate::tty::setup(sock, process, true)?;
    }
    rlimits::apply(process.rlimits().as_deref().unwrap_or(&[]))?;
    super::scheduler::apply(process.scheduler().as_ref())?;
    super::io_priority::apply(process.io_priority().as_ref())?;
    let linux = cfg.bundle.spec.linux().as_ref();
    super::personality::apply(linux.and_then(|l| l.personality().as_ref()))?;
    super::memory_policy::apply(linux.and_then(|l| l.memory_policy().as_ref()))
}

/// With socket activation (fds passed to the runtime with LISTEN_FDS): the
/// payload's LISTEN_FDS and LISTEN_PID become the count and the init's pid.
fn pass_listen_fds(cfg: &InitConfig, envp: &mut Vec<CString>) -> Result<()> {
    if cfg.listen_fds > 0 {
        // sd_listen_fds(3): the fds start at 3 and are ours.
        envp.retain(|e| {
            !e.as_bytes().starts_with(b"LISTEN_FDS=") && !e.as_bytes().starts_with(b"LISTEN_PID=")
        });
        let pid = nix::unistd::getpid();
        envp.push(cstring(
            format!("LISTEN_FDS={}", cfg.listen_fds).as_bytes(),
            "env",
        )?);
        envp.push(cstring(format!("LISTEN_PID={pid}").as_bytes(), "env")?);
    }
    Ok(())
}

/// The privilege drop, in seccomp's order: the cwd is entered and checked
/// and the user's groups read before any filter (`prepare_user`); a filter
/// without no_new_privs is loaded while CAP_SYS_ADMIN is still held; then capabilities, user and
/// groups are switched and no_new_privs is set if asked; then a NOTIFY
/// filter under no_new_privs is loaded, before the hand-off (the runtime
/// must still be there to take its listener fd). Any other no_new_privs
/// filter waits until right before execve (`exec`).
fn lock_down(
    cfg: &InitConfig,
    process: &Process,
    user_info: &user::UserInfo,
    chan: &InitEnd,
) -> Result<()> {
    let plan = prepare_user(process, user_info)?;
    let seccomp = cfg.seccomp.as_ref();
    if let Some(at) = seccomp.map(|s| Before::of(s, process)) {
        tracing::debug!("seccomp: the filter is loaded before {at:?} (no record after it)");
    }
    load_seccomp(seccomp, process, &[Before::User], chan)?;
    become_user(process, &plan)?;
    if process.no_new_privileges() == Some(true) {
        prctl(libc::PR_SET_NO_NEW_PRIVS, 1, "PR_SET_NO_NEW_PRIVS")?;
    }
    load_seccomp(seccomp, process, &[Before::Handoff], chan)
}

fn set_names(cfg: &InitConfig) -> Result<()> {
    let spec = &cfg.bundle.spec;
    if let Some(h) = spec.hostname().as_deref().filter(|h| !h.is_empty()) {
        nix::unistd::sethostname(h).ctx(|| format!("sethostname {h}"))?;
    }
    if let Some(d) = spec.domainname().as_deref().filter(|d| !d.is_empty()) {
        crate::sys::uts::set_domainname(d.as_bytes()).ctx(|| format!("setdomainname {d}"))?;
    }
    Ok(())
}

/// prestart and createRuntime run in the runtime (it asks for them here);
/// createContainer runs here, in the container's namespaces, before pivot.
fn create_hooks(cfg: &InitConfig, chan: &InitEnd) -> Result<()> {
    if cfg.runtime_hooks_wanted() {
        chan.request(FromInit::Hooks)?;
    }
    let h = cfg.bundle.spec.hooks().as_ref();
    let cc = hooks::of_kind(h, "createContainer");
    if !cc.is_empty() {
        // As runc: the hooks' cwd is the rootfs (the container's mount
        // namespace, before pivot_root), which `rootfs::enter` leaves again.
        let root = &cfg.bundle.rootfs;
        nix::unistd::chdir(root).ctx(|| format!("chdir {}", root.display()))?;
        let state = cfg.hook_state(
            crate::state::Status::Creating,
            nix::unistd::getpid().as_raw(),
        );
        hooks::run("createContainer", cc, &state)?;
    }
    Ok(())
}

fn cstring(b: &[u8], what: &str) -> Result<CString> {
    CString::new(b).map_err(|_| Error::config(format!("{what} contains a NUL byte")))
}

/// Resolves args[0] in the container (after pivot), and builds argv/envp
/// (HOME from `user`, the container's /etc/passwd entry, when unset).
pub(super) fn exec_target(
    p: &Process,
    user: &user::UserInfo,
) -> Result<(CString, Vec<CString>, Vec<CString>)> {
    let args = p.args().as_deref().unwrap_or(&[]);
    let env = super::env::prepare(p.env().as_deref().unwrap_or(&[]), || user.home.clone());
    let exe = lookup(&args[0], &env)?;
    let argv = args
        .iter()
        .map(|a| cstring(a.as_bytes(), "process.args"))
        .collect::<Result<_>>()?;
    let envp = env
        .iter()
        .map(|e| cstring(e.as_bytes(), "process.env"))
        .collect::<Result<_>>()?;
    Ok((
        cstring(exe.as_os_str().as_bytes(), "process.args[0]")?,
        argv,
        envp,
    ))
}

fn is_executable(p: &Path) -> std::result::Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    match std::fs::metadata(p) {
        Ok(m) if m.is_file() && m.permissions().mode() & 0o111 != 0 => Ok(()),
        Ok(m) if m.is_dir() => Err("is a directory".into()),
        Ok(_) => Err("permission denied".into()),
        Err(e) => Err(format!("stat {}: {}", p.display(), io_reason(&e))),
    }
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".into(),
        _ => e.to_string(),
    }
}

/// runc's lookup: a name with a slash is used as is; otherwise search the
/// process's PATH.
fn lookup(arg0: &str, env: &[String]) -> Result<PathBuf> {
    if arg0.contains('/') {
        return is_executable(Path::new(arg0))
            .map(|_| PathBuf::from(arg0))
            .map_err(|why| Error::msg(format!("exec: {arg0:?}: {why}")));
    }
    let path = env
        .iter()
        .rev()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or("");
    path.split(':')
        .map(|d| Path::new(if d.is_empty() { "." } else { d }).join(arg0))
        .find(|c| is_executable(c).is_ok())
        .ok_or_else(|| {
            Error::msg(format!(
                "exec: {arg0:?}: executable file not found in $PATH"
            ))
        })
}

/// What the privilege drop needs, worked out before any seccomp filter is
/// loaded: a profile may block what it takes (getcwd, reading /etc/passwd
/// and /etc/group, cap_last_cap), and the filter must not break the init.
pub(super) struct UserPlan {
    /// The masks and the kernel's last capability, with `process.capabilities`.
    caps: Option<(CapSets, u32)>,
    groups: Vec<u32>,
}

/// chdir to the cwd and check it (as root, as before: the user switch comes
/// later), and the capability masks and supplementary groups. Runs before the
/// filter; runc checks the cwd after it, and fails on a profile that blocks
/// getcwd (berth does not: issue 12).
pub(super) fn prepare_user(p: &Process, user: &user::UserInfo) -> Result<UserPlan> {
    chdir_checked(p.cwd())?;
    let u = p.user();
    let mut groups: Vec<u32> = u.additional_gids().clone().unwrap_or_default();
    for g in &user.groups {
        if !groups.contains(g) {
            groups.push(*g);
        }
    }
    let caps = p.capabilities().as_ref();
    Ok(UserPlan {
        caps: caps.map(|c| (CapSets::from_spec(c), capabilities::last_cap())),
        groups,
    })
}

/// Capabilities, uid/gid/groups and umask, as `plan` says. Only the
/// syscalls of the switch itself: this may run under the seccomp filter.
pub(super) fn become_user(p: &Process, plan: &UserPlan) -> Result<()> {
    if let Some((c, last)) = &plan.caps {
        capabilities::drop_bounding(c.bounding, *last)?;
    }
    let u = p.user();
    capabilities::set_keep_caps(true)?;
    user::switch(u.uid(), u.gid(), &plan.groups)?;
    capabilities::set_keep_caps(false)?;
    if let Some((c, _)) = &plan.caps {
        capabilities::apply(c)?;
    }
    umask(Mode::from_bits_truncate(u.umask().unwrap_or(0o022)));
    Ok(())
}

/// chdir, then make sure the cwd is really inside the new root: a cwd
/// reached through a leaked host fd shows as "(unreachable)" (CVE-2024-21626).
fn chdir_checked(cwd: &Path) -> Result<()> {
    nix::unistd::chdir(cwd)
        .ctx(|| format!("chdir to cwd ({}) set in config.json", cwd.display()))?;
    let now = nix::unistd::getcwd().ctx(|| "getcwd".into())?;
    if !now.is_absolute() || now.as_os_str().as_bytes().starts_with(b"(unreachable)") {
        return Err(Error::msg(format!(
            "current working directory {} is outside of the container's root",
            cwd.display()
        )));
    }
    Ok(())
}

/// Closes every fd the init inherited or opened on the host (cgroup files,
/// namespace and cgroup directory fds, /dev/null, the host's /proc, the
/// caller's leaked fds) before it reports ready: a process exec'd into the
/// created container must find nothing of the host in it. What stays: stdio,
/// the preserved fds, the sync channel, the exec fifo's `O_PATH` fd, and a
/// procfs to reopen the fifo through — the container's own /proc when it has
/// one (it shows only the container's pid namespace), else the host's.
fn close_host_fds(cfg: &InitConfig, chan: &InitEnd) -> Result<Option<ProcHandle>> {
    // Only if its self/fd/N really is the fifo (CVE-2025-52881: a mount
    // over /proc/1/fd would send the start byte elsewhere); else the host's.
    let own = ProcHandle::open(Path::new("/proc"))
        .ok()
        .filter(|p| p.reopen_own(cfg.fifo_fd, libc::O_PATH).is_ok());
    let proc_fd = own.as_ref().unwrap_or(&cfg.proc).as_raw_fd();
    let keep = [chan.as_raw_fd(), cfg.fifo_fd, proc_fd];
    // Every fd the init uses from here on is in `keep` or below the range
    // (sys::spawn::close_runtime_fds relies on it).
    crate::sys::spawn::close_runtime_fds(3 + cfg.preserve_fds, &keep)
        .ctx(|| "close the runtime's fds in the container init".into())?;
    // What is kept is close-on-exec already, and so is all the init opens
    // from here on; this is the check, done before any seccomp filter (a
    // profile may block close_range).
    crate::sys::close_range_cloexec(3 + cfg.preserve_fds).ctx(|| "close_range".into())?;
    Ok(own)
}

/// Tells the runtime we are ready, waits for its ack, then waits for `start`
/// on the exec fifo and returns it (still open: see `exec`).
fn handoff(cfg: &InitConfig, chan: &InitEnd, proc: &ProcHandle) -> Result<File> {
    tracing::debug!("init: ready, waiting for start");
    chan.request(FromInit::Ready)?;
    prctl(libc::PR_SET_PDEATHSIG, 0, "PR_SET_PDEATHSIG")?;
    // Nobody reads the channel after Detached.
    crate::log::silence();
    chan.send(FromInit::Detached)?;
    // Checked again: a process exec'd into the created container may have
    // mounted over /proc/1/fd since (nothing is written to a wrong file).
    let fifo = proc
        .reopen_own(cfg.fifo_fd, libc::O_WRONLY)
        .ctx(|| "open exec fifo".into())?;
    Ok(File::from(fifo))
}

/// startContainer hooks, then exec. The fifo protocol with `start`: "0" is
/// written right before execve, whose O_CLOEXEC closes the fifo, so `start`
/// sees EOF once the payload runs (or the init exits 255 from a failed
/// execve); an error before that is written as "E<message>".
fn exec(
    cfg: &InitConfig,
    chan: &InitEnd,
    fifo: &mut File,
    exe: &CString,
    argv: &[CString],
    envp: &[CString],
) -> Result<Infallible> {
    let sc = hooks::of_kind(cfg.bundle.spec.hooks().as_ref(), "startContainer");
    if !sc.is_empty() {
        let state = cfg.hook_state(
            crate::state::Status::Created,
            nix::unistd::getpid().as_raw(),
        );
        // As runc: a hook without an env of its own gets the payload's.
        let env: Vec<String> = envp
            .iter()
            .map(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
            .collect();
        hooks::run_with_env("startContainer", sc, &state, Some(&env))?;
    }
    crate::sys::exec::reset_signal_dispositions();
    sigprocmask(SigmaskHow::SIG_SETMASK, Some(&cfg.sigmask), None)
        .ctx(|| "restore signal mask".into())?;
    fifo.write_all(b"0").ctx(|| "write exec fifo".into())?;
    if let Some(p) = cfg.bundle.spec.process() {
        load_seccomp(cfg.seccomp.as_ref(), p, &[Before::Exec], chan)?;
    }
    let err = match nix::unistd::execve(exe, argv, envp) {
        Ok(never) => match never {},
        Err(e) => e,
    };
    execve_failed(exe, err)
}

/// A failed execve, worded as runc (`exec /run.sh: no such file or
/// directory`; clients match it).
pub(super) fn exec_failed(exe: &CString, err: nix::errno::Errno) -> Error {
    Error::msg(format!(
        "exec {}: {}",
        OsStr::from_bytes(exe.as_bytes()).to_string_lossy(),
        crate::go_text::errno(err as i32)
    ))
}

/// The payload's execve failed after the hand-off (`start` or `exec` has
/// let it go): as current runc, the process prints the error on its own
/// stderr and exits 255, so `start` and `exec -d` succeed and `run` and
/// `exec` exit 255 with that one line (runc 1.1.5 exits 1: 255 came with
/// runc 1.2's CVE-2024-21626 rework of its init).
pub(super) fn execve_failed(exe: &CString, err: nix::errno::Errno) -> ! {
    let _ = writeln!(std::io::stderr(), "{}", exec_failed(exe, err));
    crate::sys::spawn::exit_now(255)
}
