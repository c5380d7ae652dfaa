//! The init of a container that joins a user namespace by path
//! (`linux.namespaces` entry `user` with a `path`, e.g. a pod's containers
//! joining the sandbox's).
//!
//! clone3 cannot create a child inside an existing user namespace, and the
//! namespaces the container creates must belong to the joined one (else
//! the init would have no privilege over them). So the runtime forks
//! without new namespaces, and that child joins the user namespace,
//! becomes its root and unshares the mount, uts, ipc and network
//! namespaces itself. A new pid namespace takes effect only for children:
//! then the child forks once more, with CLONE_PARENT so that the real init
//! is the runtime's child, hands the runtime its pidfd (`Reborn`) and
//! exits. This is runc's nsexec order (join, then unshare, then the
//! stage-2 child), with one fork fewer when the pid namespace is not new.

use nix::sched::{unshare, CloneFlags};
use oci_spec::runtime::LinuxNamespaceType;

use super::init::prctl;
use super::sync::{FromInit, InitEnd};
use super::InitConfig;
use crate::error::{Context, Result};
use crate::sys::spawn::{clone3, exit_now, Forked};

/// In the runtime's child: returns in the process that goes on as the
/// container's init.
pub(super) fn enter(cfg: &InitConfig, chan: &InitEnd) -> Result<()> {
    // Placed first: the init forked below inherits the cgroups.
    cfg.placement.enter()?;
    // Hard limits above ours need CAP_SYS_RESOURCE on the host: raised
    // before the joined namespace confines us; set in full later.
    let limits = cfg
        .bundle
        .spec
        .process()
        .as_ref()
        .and_then(|p| p.rlimits().clone());
    crate::rlimits::raise_hard(0, limits.as_deref().unwrap_or(&[]))?;
    crate::namespaces::join_user(cfg.joins)?;
    if let Some(linux) = cfg.bundle.spec.linux() {
        crate::userns::check_joined(linux)?;
    }
    crate::user::become_userns_root()?;
    let own = cfg.plan.clone_flags()
        & !((libc::CLONE_NEWPID | libc::CLONE_NEWCGROUP | libc::CLONE_NEWUSER) as u64);
    unshare(CloneFlags::from_bits_retain(own as libc::c_int))
        .ctx(|| "unshare the container's namespaces in the joined user namespace".into())?;
    tracing::debug!("init: joined the user namespace by path; namespaces unshared ({own:#x})");
    if cfg.plan.creates(LinuxNamespaceType::Pid) {
        let flags = (libc::CLONE_PARENT | libc::CLONE_NEWPID) as u64;
        match clone3(flags, None).ctx(|| "clone3 of the init into its pid namespace".into())? {
            Forked::Child => {}
            Forked::Parent { pid, pidfd } => {
                let sent = chan.send(FromInit::Reborn(pidfd.into_owned(), pid));
                exit_now(if sent.is_ok() { 0 } else { 1 })
            }
        }
    }
    // The id change cleared it, and the parent may be new (CLONE_PARENT
    // makes it the runtime again).
    prctl(
        libc::PR_SET_PDEATHSIG,
        libc::SIGKILL as libc::c_ulong,
        "PR_SET_PDEATHSIG",
    )
}
