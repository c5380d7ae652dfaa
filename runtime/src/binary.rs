//! Protection of the runtime binary (CVE-2019-5736, docs/architecture.md §5).
//!
//! Any berth process the container can reach before its execve (the init)
//! runs from a read-only image of the binary: at the top of create/run,
//! berth re-executes itself from a detached, read-only bind mount of its own
//! executable (`open_tree` + `mount_setattr`, never attached to any mount
//! table), falling back to a sealed memfd copy. A container that opens
//! /proc/<init>/exe can then never write to the host's binary.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::sys::statvfs::{statvfs, FsFlags};

use crate::error::{Context, Error, Result};
use crate::sys::exec::execveat_fd;
use crate::sys::mount_api::MOUNT_ATTR_RDONLY;
use crate::sys::{MountAttrs, TreeFd};

const MEMFD_NAME: &str = "berth-sealed";

/// Whether we already run from a read-only or sealed image.
fn protected() -> bool {
    if statvfs("/proc/self/exe").is_ok_and(|s| s.flags().contains(FsFlags::ST_RDONLY)) {
        return true;
    }
    std::fs::read_link("/proc/self/exe").is_ok_and(|p| {
        p.as_os_str()
            .as_bytes()
            .starts_with(format!("/memfd:{MEMFD_NAME}").as_bytes())
    })
}

fn args_and_env() -> Result<(Vec<CString>, Vec<CString>)> {
    let nul = |_| Error::msg("argument or environment contains a NUL byte");
    let argv = std::env::args_os()
        .map(|a| CString::new(a.as_bytes()).map_err(nul))
        .collect::<Result<_>>()?;
    let envp = std::env::vars_os()
        .map(|(k, v)| {
            let mut kv = k.as_bytes().to_vec();
            kv.push(b'=');
            kv.extend_from_slice(v.as_bytes());
            CString::new(kv).map_err(nul)
        })
        .collect::<Result<_>>()?;
    Ok((argv, envp))
}

/// Re-executes from a protected image unless already running from one.
/// Returns only when already protected (or on error).
pub fn ensure_protected() -> Result<()> {
    if protected() {
        return Ok(());
    }
    let (argv, envp) = args_and_env()?;
    let ro = MountAttrs {
        attr_set: MOUNT_ATTR_RDONLY,
        ..MountAttrs::default()
    };
    let tree = TreeFd::clone_path(libc::AT_FDCWD, Path::new("/proc/self/exe"), false)
        .and_then(|t| t.set_attrs(&ro, false).map(|_| t));
    let err = match tree {
        Ok(t) => execveat_fd(t.as_raw_fd(), &argv, &envp),
        Err(e) => {
            tracing::debug!(
                "read-only bind of the berth binary failed ({e}); using a sealed memfd"
            );
            let fd = sealed_copy()?;
            execveat_fd(std::os::fd::AsRawFd::as_raw_fd(&fd), &argv, &envp)
        }
    };
    Err(err).ctx(|| "re-exec berth from a protected image".into())
}

fn sealed_copy() -> Result<std::os::fd::OwnedFd> {
    use nix::fcntl::{fcntl, FcntlArg, SealFlag};
    use nix::sys::memfd::{memfd_create, MFdFlags};
    let fd = memfd_create(
        MEMFD_NAME,
        MFdFlags::MFD_CLOEXEC | MFdFlags::MFD_ALLOW_SEALING,
    )
    .ctx(|| "memfd_create".into())?;
    let mut src = std::fs::File::open("/proc/self/exe").ctx(|| "open /proc/self/exe".into())?;
    let mut dst = std::fs::File::from(fd);
    std::io::copy(&mut src, &mut dst).ctx(|| "copy berth binary into memfd".into())?;
    let seals = SealFlag::F_SEAL_SEAL
        | SealFlag::F_SEAL_SHRINK
        | SealFlag::F_SEAL_GROW
        | SealFlag::F_SEAL_WRITE;
    fcntl(&dst, FcntlArg::F_ADD_SEALS(seals)).ctx(|| "seal memfd".into())?;
    Ok(dst.into())
}

/// PR_SET_DUMPABLE 0: no ptrace or /proc access to us from the container
/// until the payload's execve resets it.
pub fn set_non_dumpable() -> Result<()> {
    crate::sys::prctl::set(libc::PR_SET_DUMPABLE, 0).ctx(|| "prctl(PR_SET_DUMPABLE)".into())
}
