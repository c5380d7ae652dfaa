//! File-descriptor level helpers: `openat2` path resolution, `close_range`
//! and `flock`.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::check;

/// How `openat2` may resolve a path relative to its directory fd.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResolveMode {
    /// Resolve as if the directory were `/`: absolute symlinks and `..` stay inside it.
    InRoot,
    /// Fail if resolution would leave the directory at all.
    Beneath,
}

/// `openat2(2)` with `RESOLVE_NO_MAGICLINKS` plus the given scope. The result
/// always has `O_CLOEXEC`.
pub fn openat2(
    dir: RawFd,
    path: &Path,
    flags: libc::c_int,
    mode: libc::mode_t,
    scope: ResolveMode,
) -> io::Result<OwnedFd> {
    let cpath = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    let resolve = libc::RESOLVE_NO_MAGICLINKS
        | match scope {
            ResolveMode::InRoot => libc::RESOLVE_IN_ROOT,
            ResolveMode::Beneath => libc::RESOLVE_BENEATH,
        };
    // SAFETY: `open_how` holds only integers (flags, mode, resolve): all-zero
    // is a valid value, and the one the kernel wants for what we do not set.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (flags | libc::O_CLOEXEC) as u64;
    if flags & libc::O_CREAT != 0 {
        how.mode = u64::from(mode);
    }
    how.resolve = resolve;
    loop {
        // SAFETY: `cpath` is a valid NUL-terminated string and `how` a valid
        // `open_how` whose size we pass; the kernel only reads both.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                dir,
                cpath.as_ptr(),
                &how as *const libc::open_how,
                std::mem::size_of::<libc::open_how>(),
            )
        };
        match check(ret) {
            // SAFETY: a non-negative return of openat2 is a new fd the kernel
            // just installed for us; nothing else refers to it.
            Ok(fd) => return Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) }),
            Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Opens a trusted host path (from the command line or the bundle, never
/// from inside a rootfs) with `O_CLOEXEC`.
pub fn open_host(path: &Path, flags: libc::c_int) -> io::Result<OwnedFd> {
    nix::fcntl::open(
        path,
        nix::fcntl::OFlag::from_bits_truncate(flags | libc::O_CLOEXEC),
        nix::sys::stat::Mode::empty(),
    )
    .map_err(io::Error::from)
}

/// Marks every fd from `first` upwards close-on-exec (`close_range(2)` with
/// `CLOSE_RANGE_CLOEXEC`).
pub fn close_range_cloexec(first: u32) -> io::Result<()> {
    // SAFETY: no pointers. With CLOSE_RANGE_CLOEXEC nothing is closed or
    // replaced: every fd keeps referring to the same file for its owner, and
    // only what survives a later execve changes.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    check(ret).map(|_| ())
}

/// Closes every fd from `first` upwards except those in `keep`, with one
/// `close_range(2)` per gap.
///
/// # Safety
/// Every closed fd must be one that no object of this process will use or
/// close again: an fd number freed here is reused by the next open, and a
/// stale owner would then act on an unrelated file. Only the container's
/// init calls this, through `spawn::close_runtime_fds`, which says why that
/// holds there.
pub(super) unsafe fn close_all_except(first: u32, keep: &[RawFd]) -> io::Result<()> {
    let mut keep: Vec<u32> = keep
        .iter()
        .filter_map(|&fd| u32::try_from(fd).ok())
        .filter(|&fd| fd >= first)
        .collect();
    keep.sort_unstable();
    keep.dedup();
    let mut from = first;
    for k in keep.into_iter().chain(std::iter::once(u32::MAX)) {
        if k > from {
            let last = if k == u32::MAX { u32::MAX } else { k - 1 };
            // SAFETY: no pointers; the caller guarantees that no object
            // uses or closes these fds again (see `# Safety`).
            check(unsafe { libc::syscall(libc::SYS_close_range, from, last, 0) })?;
        }
        from = k.saturating_add(1);
    }
    Ok(())
}

/// Takes an exclusive `flock(2)` on `fd`, blocking until it is ours. The lock
/// belongs to the open file description: it is released when the last fd on
/// it is closed.
pub fn lock_exclusive(fd: BorrowedFd) -> io::Result<()> {
    // SAFETY: no pointers; `fd` is borrowed, so it is open for the call.
    let ret = unsafe { libc::flock(fd.as_raw_fd(), libc::LOCK_EX) };
    if ret != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `NS_GET_NSTYPE` (`_IO(0xb7, 0x3)`, linux/nsfs.h).
const NS_GET_NSTYPE: libc::c_ulong = 0xb703;

/// The `CLONE_NEW*` type of the namespace file `fd` refers to; `ENOTTY`
/// for any other file.
pub fn namespace_type(fd: BorrowedFd) -> io::Result<libc::c_int> {
    // SAFETY: NS_GET_NSTYPE takes no argument and only returns an int;
    // `fd` is borrowed, so it is open for the call.
    let ret = unsafe { libc::ioctl(fd.as_raw_fd(), NS_GET_NSTYPE) };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(ret)
}
