//! A compact mount namespace for the container on a host with many mounts.
//!
//! A new mount namespace is a copy of its parent's: with 100 000 mounts on
//! the host, `clone3(CLONE_NEWNS)` copies them all, making them slaves
//! walks them all again, and detaching the old root after `pivot_root`
//! tears them all down (about 250 ms a container here, for every runtime).
//! No kernel up to 6.18 can start a mount namespace empty. So berth keeps
//! one small namespace per state root, the template: a read-only tmpfs
//! holding the directory `r`, and no other mount. It is made once (paying
//! the copy once), pinned by binding its nsfs file onto
//! `<root>/.pin:mntns`, and released (by `delete`, or a create that
//! failed) when the root holds no container and the host no longer has
//! many mounts.
//!
//! A container that uses it is cloned without `CLONE_NEWNS`. Its init,
//! still in the host's namespace, clones the rootfs as a detached tree and
//! builds the whole rootfs in it (mounts, devices, read-only and masked
//! paths: `rootfs::prepare`, each clone of a host mount made a slave, as
//! in the copy of the host's it would have been: `host::HostTrees`), so
//! every mount is made in the usual order. Then it joins the template,
//! unshares a copy of it (two mounts), attaches the tree on `/r` and
//! enters it as usual. The result is the mount table, line for line, that
//! the copy of the host's would have given after `pivot_root`.
//!
//! Only where nothing can tell the difference: a new mount namespace, no
//! user namespace, `pivot_root`, no hook that runs while the rootfs is
//! built (prestart, createRuntime, createContainer: they may look for the
//! rootfs at its path in the container's namespace), no idmapped mount, no
//! bind from inside the rootfs itself, and at least `MANY_MOUNTS` mounts on
//! the host. A template that cannot be made leaves the create to the
//! usual way.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{sched_getaffinity, sched_setaffinity, CloneFlags, CpuSet};
use nix::unistd::Pid;
use oci_spec::runtime::{LinuxNamespaceType as T, Spec};

use super::mount::{Kind, MountPlan};
use crate::namespaces::Plan;
use crate::sys::mount_api::{
    MOUNT_ATTR_NODEV, MOUNT_ATTR_NOEXEC, MOUNT_ATTR_NOSUID, MOUNT_ATTR_RDONLY,
};
use crate::sys::spawn::{clone3, exit_now, Forked};
use crate::sys::{FsContext, MountAttrs, TreeFd};

/// From this many mounts on, a container gets a compact mount namespace:
/// copying and tearing down 1000 mounts costs about 2.5 ms here, half a
/// `run`, where the template costs nothing measurable.
pub const MANY_MOUNTS: usize = 1000;
/// Where the container's rootfs is attached in its copy of the template.
pub const ROOT: &str = "/r";
/// The pin's name in the state root (':' keeps it out of the container
/// ids, as the seccomp cache's name).
const PIN: &str = ".pin:mntns";

/// Whether a container with this config may use the template (see the
/// module's text), the host's mount table aside: a privileged runtime
/// outside any user namespace, and a config that fits.
pub fn fits(spec: &Spec, plan: &Plan, rootfs: &Path, bundle: &Path, no_pivot: bool) -> bool {
    crate::sys::exec_euid() == 0
        && !crate::rootless::running_in_user_ns()
        && config_fits(spec, plan, rootfs, bundle, no_pivot)
}

fn config_fits(spec: &Spec, plan: &Plan, rootfs: &Path, bundle: &Path, no_pivot: bool) -> bool {
    let h = spec.hooks().as_ref();
    let hooks_while_built = ["prestart", "createRuntime", "createContainer"]
        .iter()
        .any(|k| !crate::hooks::of_kind(h, k).is_empty());
    let mounts_fit =
        spec.mounts()
            .as_deref()
            .unwrap_or(&[])
            .iter()
            .all(|m| match MountPlan::from_spec(m) {
                Ok(p) => match (&p.kind, &p.source) {
                    (Kind::Bind { .. }, _) if p.idmap.is_some() => false,
                    (Kind::Bind { .. }, Some(src)) => !bundle.join(src).starts_with(rootfs),
                    _ => true,
                },
                // The usual way reports it.
                Err(_) => false,
            });
    plan.creates(T::Mount) && !plan.has(T::User) && !no_pivot && !hooks_while_built && mounts_fit
}

/// Whether the host's mount table is big enough for the template to pay.
pub fn many_mounts() -> bool {
    crate::sys::statmount::at_least_mounts(MANY_MOUNTS).unwrap_or(false)
}

/// The template of state root `root`: opened, or made and pinned first.
pub fn template(root: &Path) -> io::Result<OwnedFd> {
    let pin = root.join(PIN);
    if let Some(fd) = open_pinned(&pin)? {
        return Ok(fd);
    }
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(&pin)?;
    // One maker at a time; whoever waited finds the template made.
    crate::sys::fd::lock_exclusive(file.as_fd())?;
    if let Some(fd) = open_pinned(&pin)? {
        return Ok(fd);
    }
    // On failure the file stays (unmounted here; it may be another
    // namespace's pin): the next create tries again.
    make(&file, root)?;
    open_pinned(&pin)?.ok_or_else(|| io::Error::other("the template was not pinned"))
}

/// The pinned template, if `pin` is one.
fn open_pinned(pin: &Path) -> io::Result<Option<OwnedFd>> {
    let f = match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(pin)
    {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    match crate::sys::fd::namespace_type(f.as_fd()) {
        Ok(t) if t == libc::CLONE_NEWNS => Ok(Some(f.into())),
        _ => Ok(None),
    }
}

/// Makes the template and binds it onto `pin`. The kernel refuses (ELOOP)
/// to bind a mount namespace whose id is not above the caller's own, and
/// 6.18 hands ids out in per-CPU batches: a namespace made later on
/// another CPU can get a lower one. So where the first try is refused, the
/// maker is run on each allowed CPU in turn until one is not.
fn make(pin: &File, root: &Path) -> io::Result<()> {
    let is_loop = |r: &io::Result<()>| matches!(r, Err(e) if e.raw_os_error() == Some(libc::ELOOP));
    let mut last = make_on(pin, root, None);
    if !is_loop(&last) {
        return last;
    }
    let allowed = sched_getaffinity(Pid::from_raw(0))?;
    for cpu in (0..CpuSet::count()).filter(|c| allowed.is_set(*c).unwrap_or(false)) {
        tracing::debug!(
            "mount namespace template: pinning refused (ELOOP), making it on CPU {cpu}"
        );
        last = make_on(pin, root, Some(cpu));
        if !is_loop(&last) {
            break;
        }
    }
    last
}

/// One try: a child (on `cpu`, if given) makes the template in a new mount
/// namespace, which is bound onto `pin`.
fn make_on(pin: &File, root: &Path, cpu: Option<usize>) -> io::Result<()> {
    let (mut rd, wr) = pipe()?;
    match clone3(0, None)? {
        Forked::Child => {
            drop(rd);
            if build(root, cpu).is_ok() && (&wr).write_all(b"1").is_ok() {
                // Held until the runtime has pinned the namespace and kills us.
                loop {
                    nix::unistd::pause();
                }
            }
            exit_now(1)
        }
        Forked::Parent { pid, pidfd } => {
            drop(wr);
            let mut b = [0u8; 1];
            let built = rd.read(&mut b);
            let pinned = match built {
                Ok(1) => bind_namespace(pid, pin.as_fd()),
                Ok(_) => Err(io::Error::other("the template's maker failed")),
                Err(e) => Err(e),
            };
            let _ = pidfd.signal(libc::SIGKILL);
            let _ = pidfd.wait();
            pinned
        }
    }
}

fn pipe() -> io::Result<(File, File)> {
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    Ok((File::from(r), File::from(w)))
}

/// The maker's namespace bound onto `pin`. Its nsfs file is a magic
/// link, which the verified /proc handle refuses to follow; the maker is
/// our own unreaped child, so its pid cannot name another process.
fn bind_namespace(pid: i32, pin: BorrowedFd) -> io::Result<()> {
    let ns = File::open(format!("/proc/{pid}/ns/mnt"))?;
    let tree = TreeFd::clone_fd(ns.as_raw_fd(), false)?;
    tree.move_to(pin.as_raw_fd())
}

/// In the template's maker: a new mount namespace (made on `cpu`, if
/// given), where a read-only tmpfs holding `r` becomes the root and every
/// other mount goes.
fn build(dir: &Path, cpu: Option<usize>) -> io::Result<()> {
    let parent = nix::unistd::getppid();
    crate::sys::prctl::set(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong)?;
    if nix::unistd::getppid() != parent {
        return Err(io::Error::other("the runtime is gone"));
    }
    if let Some(cpu) = cpu {
        let mut one = CpuSet::new();
        one.set(cpu)?;
        sched_setaffinity(Pid::from_raw(0), &one)?;
    }
    nix::sched::unshare(CloneFlags::CLONE_NEWNS)?;
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )?;
    let fs = FsContext::open("tmpfs")?;
    fs.set("mode", Some("755"))?;
    fs.set("size", Some("4k"))?;
    let tree = fs.mount(0)?;
    nix::sys::stat::mkdirat(
        tree.as_fd(),
        "r",
        nix::sys::stat::Mode::from_bits_truncate(0o755),
    )?;
    let ro = MountAttrs {
        attr_set: MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC,
        ..MountAttrs::default()
    };
    tree.set_attrs(&ro, false)?;
    let at = crate::sys::open_host(dir, libc::O_PATH | libc::O_DIRECTORY)?;
    tree.move_to(at.as_raw_fd())?;
    nix::unistd::fchdir(tree.as_fd())?;
    nix::unistd::pivot_root(".", ".")?;
    umount2(".", MntFlags::MNT_DETACH)?;
    nix::unistd::chdir("/")?;
    Ok(())
}

/// In the init: leaves the host's mount namespace for a copy of the
/// template and attaches the rootfs, built as a detached tree, on `ROOT`.
pub fn enter(template: BorrowedFd, rootfs: &TreeFd) -> io::Result<()> {
    nix::sched::setns(template, CloneFlags::CLONE_NEWNS)?;
    nix::sched::unshare(CloneFlags::CLONE_NEWNS)?;
    let at = crate::sys::open_host(Path::new(ROOT), libc::O_PATH | libc::O_DIRECTORY)?;
    rootfs.move_to(at.as_raw_fd())
}

/// After a `delete` or a failed create: unpins the template of state root
/// `root` once no container is left there and the host no longer has many
/// mounts. While it has, the template stays: making it again would cost
/// the next create what the usual way costs (`run` after `run` in an
/// otherwise empty root would never gain).
///
/// Only a pin mounted in this mount namespace is unmounted and its file
/// removed: the file may hold the pin of another namespace (a caller that
/// runs berth in a namespace of its own with many mounts), and unlinking
/// it would detach that one.
pub fn release_if_unused(root: &Path) {
    let pin = root.join(PIN);
    if std::fs::symlink_metadata(&pin).is_err() || many_mounts() {
        return;
    }
    let in_use = match std::fs::read_dir(root) {
        Ok(mut rd) => rd.any(|e| e.map_or(true, |e| holds_a_container(&e.file_name()))),
        Err(_) => true,
    };
    if in_use {
        return;
    }
    match umount2(&pin, MntFlags::MNT_DETACH) {
        Ok(()) => {
            if let Err(e) = std::fs::remove_file(&pin) {
                tracing::debug!("remove {}: {e}", pin.display());
            }
        }
        Err(e) => tracing::debug!("unpin the mount namespace template {}: {e}", pin.display()),
    }
}

/// Whether an entry of the root is (or may be) a container's: anything but
/// the pin and the seccomp cache, a create's reserved directory included.
fn holds_a_container(name: &std::ffi::OsStr) -> bool {
    name != PIN && name != crate::seccomp::cache::CACHE_DIR
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fits_with(extra: serde_json::Value, no_pivot: bool) -> bool {
        let mut v = json!({
            "ociVersion": "1.0.2",
            "root": {"path": "rootfs"},
            "mounts": [
                {"destination": "/proc", "type": "proc", "source": "proc"},
                {"destination": "/data", "type": "bind", "source": "/srv/data", "options": ["rbind", "ro"]}
            ],
            "linux": {"namespaces": [{"type": "mount"}, {"type": "pid"}]}
        });
        for (k, x) in extra.as_object().unwrap() {
            v[k] = x.clone();
        }
        let spec: Spec = serde_json::from_value(v).unwrap();
        let plan = Plan::from_spec(spec.linux().as_ref().unwrap()).unwrap();
        config_fits(
            &spec,
            &plan,
            Path::new("/b/rootfs"),
            Path::new("/b"),
            no_pivot,
        )
    }

    #[test]
    fn only_configs_that_cannot_tell() {
        assert!(fits_with(json!({}), false));
        assert!(!fits_with(json!({}), true), "--no-pivot");
        let ns = |t: &[&str]| json!({"namespaces": t.iter().map(|t| json!({"type": t})).collect::<Vec<_>>()});
        assert!(
            !fits_with(json!({"linux": ns(&["pid"])}), false),
            "no mount namespace"
        );
        assert!(
            !fits_with(json!({"linux": ns(&["mount", "user"])}), false),
            "user namespace"
        );
        let joined = json!({"namespaces": [{"type": "mount", "path": "/proc/1/ns/mnt"}]});
        assert!(
            !fits_with(json!({"linux": joined}), false),
            "joined mount namespace"
        );
        for kind in ["prestart", "createRuntime", "createContainer"] {
            let hooks = json!({ kind: [{"path": "/bin/true"}] });
            assert!(!fits_with(json!({"hooks": hooks}), false), "{kind} hook");
        }
        let later = json!({"poststart": [{"path": "/bin/true"}], "startContainer": [{"path": "/bin/true"}]});
        assert!(
            fits_with(json!({"hooks": later}), false),
            "hooks after the rootfs"
        );
        let inside = json!([{"destination": "/x", "type": "bind", "source": "rootfs/y", "options": ["bind"]}]);
        assert!(
            !fits_with(json!({"mounts": inside}), false),
            "bind from the rootfs"
        );
        let idmap = json!([{"destination": "/x", "type": "bind", "source": "/s", "options": ["bind", "idmap"]}]);
        assert!(!fits_with(json!({"mounts": idmap}), false), "idmapped bind");
    }

    #[test]
    fn the_pin_and_the_cache_are_no_containers() {
        use std::ffi::OsStr;
        assert!(!holds_a_container(OsStr::new(PIN)));
        assert!(!holds_a_container(OsStr::new(".cache:seccomp")));
        assert!(holds_a_container(OsStr::new("c1")));
        assert!(holds_a_container(OsStr::new(".tmp-state")));
    }
}
