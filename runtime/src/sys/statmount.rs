//! One mount's facts without reading /proc/self/mountinfo: `statx(2)` gives
//! the unique id of the mount a path is on (Linux 6.8+), `statmount(2)`
//! (6.8+; mount options 6.11+) that mount's filesystem type, root, mount
//! point and options. Both cost the same whatever the size of the mount
//! table, where reading mountinfo costs about 1 µs a mount.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// `statmount(2)`: the same number on every architecture berth builds for.
const SYS_STATMOUNT: libc::c_long = 457;
/// `struct mnt_id_req`, MNT_ID_REQ_SIZE_VER0.
const MNT_ID_REQ_SIZE_VER0: u32 = 24;
const STATMOUNT_MNT_ROOT: u64 = 0x8;
const STATMOUNT_MNT_POINT: u64 = 0x10;
const STATMOUNT_FS_TYPE: u64 = 0x20;
const STATMOUNT_MNT_OPTS: u64 = 0x80;
/// Size of `struct statmount` before its strings (`str[]`).
const HEADER: usize = 512;
// Field offsets in `struct statmount` (include/uapi/linux/mount.h).
const OFF_SIZE: usize = 0;
const OFF_MNT_OPTS: usize = 4;
const OFF_MASK: usize = 8;
const OFF_FS_TYPE: usize = 36;
const OFF_MNT_ROOT: usize = 104;
const OFF_MNT_POINT: usize = 108;

/// What `statmount` said about one mount.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MountFacts {
    /// e.g. `cgroup`, `cgroup2`, `tmpfs`.
    pub fs_type: String,
    /// The mount's root inside its filesystem ("/" unless a bind narrowed it).
    pub root: String,
    /// Where it is mounted, from this process's root.
    pub point: String,
    /// The filesystem's own options (e.g. `cpu,cpuacct`); None where the
    /// kernel does not report them (before 6.11).
    pub opts: Option<String>,
}

#[repr(C)]
struct MntIdReq {
    size: u32,
    spare: u32,
    mnt_id: u64,
    param: u64,
}

/// The unique id (STATX_MNT_ID_UNIQUE) of the mount `path` is on, not
/// following a final symlink. Unsupported kernels: `ENOSYS`.
pub fn mount_id(path: &Path) -> io::Result<u64> {
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: an all-zero `struct statx` is a valid value (plain integers).
    let mut stx: libc::statx = unsafe { std::mem::zeroed() };
    let flags = libc::AT_SYMLINK_NOFOLLOW | libc::AT_NO_AUTOMOUNT;
    // SAFETY: `c` is a NUL-terminated path alive for the call and `stx` a
    // writable `struct statx` the kernel fills; both outlive the call.
    let r = unsafe {
        libc::statx(
            libc::AT_FDCWD,
            c.as_ptr(),
            flags,
            libc::STATX_MNT_ID_UNIQUE,
            &mut stx,
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    if stx.stx_mask & libc::STATX_MNT_ID_UNIQUE == 0 {
        return Err(io::Error::from_raw_os_error(libc::ENOSYS));
    }
    Ok(stx.stx_mnt_id)
}

/// `statmount(2)` of the mount with unique id `id`: its type, root, mount
/// point and options. Unsupported kernels: `ENOSYS`.
pub fn statmount(id: u64) -> io::Result<MountFacts> {
    let req = MntIdReq {
        size: MNT_ID_REQ_SIZE_VER0,
        spare: 0,
        mnt_id: id,
        param: STATMOUNT_FS_TYPE | STATMOUNT_MNT_ROOT | STATMOUNT_MNT_POINT | STATMOUNT_MNT_OPTS,
    };
    let mut len = 4096;
    loop {
        // u64 words: the buffer is aligned for the struct's u64 fields.
        let mut buf = vec![0u64; len / 8];
        // SAFETY: `req` is a valid mnt_id_req of the size it states and
        // `buf` is `len` writable bytes; the kernel writes at most that and
        // both outlive the call.
        let r = unsafe {
            libc::syscall(
                SYS_STATMOUNT,
                &req as *const MntIdReq,
                buf.as_mut_ptr(),
                len,
                0u32,
            )
        };
        if r == 0 {
            // SAFETY: the u64 buffer is `len` initialised bytes; viewing it
            // as bytes (alignment 1) of the same length is always valid.
            let bytes = unsafe { std::slice::from_raw_parts(buf.as_ptr().cast::<u8>(), len) };
            return parse(bytes);
        }
        let e = io::Error::last_os_error();
        // Strings too long for the buffer: once bigger, then give up.
        if e.raw_os_error() == Some(libc::EOVERFLOW) && len < 65536 {
            len = 65536;
            continue;
        }
        return Err(e);
    }
}

/// `listmount(2)`: the same number on every architecture berth builds for.
const SYS_LISTMOUNT: libc::c_long = 458;
/// `LSMT_ROOT`: list from the caller's root.
const LSMT_ROOT: u64 = u64::MAX;

/// Whether this mount namespace holds at least `n` mounts below the
/// caller's root: one `listmount(2)` of up to `n` ids, which stops once
/// the buffer is full, so it costs O(n) whatever the size of the table.
/// Unsupported kernels (before 6.8) and seccomp filters: `ENOSYS`.
pub fn at_least_mounts(n: usize) -> io::Result<bool> {
    let req = MntIdReq {
        size: MNT_ID_REQ_SIZE_VER0,
        spare: 0,
        mnt_id: LSMT_ROOT,
        param: 0,
    };
    let mut ids = vec![0u64; n];
    // SAFETY: `req` is a valid mnt_id_req of the size it states and `ids`
    // holds `n` writable u64s, the count we pass; both outlive the call.
    let r = unsafe {
        libc::syscall(
            SYS_LISTMOUNT,
            &req as *const MntIdReq,
            ids.as_mut_ptr(),
            n,
            0u32,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(r as usize >= n)
}

/// Decodes a filled `struct statmount`.
fn parse(b: &[u8]) -> io::Result<MountFacts> {
    let bad = || io::Error::from_raw_os_error(libc::EIO);
    let u32_at = |o: usize| -> io::Result<u32> {
        let s = b.get(o..o + 4).ok_or_else(bad)?;
        Ok(u32::from_ne_bytes([s[0], s[1], s[2], s[3]]))
    };
    let size = (u32_at(OFF_SIZE)? as usize).min(b.len());
    let mut mask = [0u8; 8];
    mask.copy_from_slice(b.get(OFF_MASK..OFF_MASK + 8).ok_or_else(bad)?);
    let mask = u64::from_ne_bytes(mask);
    let text = |off: usize| -> io::Result<String> {
        let start = HEADER + u32_at(off)? as usize;
        let rest = b.get(start..size).ok_or_else(bad)?;
        let end = rest.iter().position(|&c| c == 0).ok_or_else(bad)?;
        Ok(String::from_utf8_lossy(&rest[..end]).into_owned())
    };
    let need = STATMOUNT_FS_TYPE | STATMOUNT_MNT_ROOT | STATMOUNT_MNT_POINT;
    if mask & need != need {
        return Err(io::Error::from_raw_os_error(libc::ENOSYS));
    }
    Ok(MountFacts {
        fs_type: text(OFF_FS_TYPE)?,
        root: text(OFF_MNT_ROOT)?,
        point: text(OFF_MNT_POINT)?,
        opts: if mask & STATMOUNT_MNT_OPTS != 0 {
            Some(text(OFF_MNT_OPTS)?)
        } else {
            None
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(b: &mut [u8], off: usize, v: u32) {
        b[off..off + 4].copy_from_slice(&v.to_ne_bytes());
    }

    #[test]
    fn parses_a_filled_struct() {
        let strings = b"cgroup\0/\0/sys/fs/cgroup/cpu\0cpu,cpuacct\0";
        let mut b = vec![0u8; HEADER + strings.len()];
        b[HEADER..].copy_from_slice(strings);
        let len = b.len() as u32;
        put(&mut b, OFF_SIZE, len);
        let mask =
            STATMOUNT_FS_TYPE | STATMOUNT_MNT_ROOT | STATMOUNT_MNT_POINT | STATMOUNT_MNT_OPTS;
        b[OFF_MASK..OFF_MASK + 8].copy_from_slice(&mask.to_ne_bytes());
        put(&mut b, OFF_FS_TYPE, 0);
        put(&mut b, OFF_MNT_ROOT, 7);
        put(&mut b, OFF_MNT_POINT, 9);
        put(&mut b, OFF_MNT_OPTS, 28);
        let f = parse(&b).unwrap();
        assert_eq!(f.fs_type, "cgroup");
        assert_eq!(f.root, "/");
        assert_eq!(f.point, "/sys/fs/cgroup/cpu");
        assert_eq!(f.opts.as_deref(), Some("cpu,cpuacct"));
        // Without STATMOUNT_MNT_OPTS in the mask (kernels before 6.11).
        let mask = mask & !STATMOUNT_MNT_OPTS;
        b[OFF_MASK..OFF_MASK + 8].copy_from_slice(&mask.to_ne_bytes());
        assert_eq!(parse(&b).unwrap().opts, None);
        // An offset past the end is an error, not a panic.
        put(&mut b, OFF_MNT_POINT, 4000);
        assert!(parse(&b).is_err());
    }

    #[test]
    fn root_mount_of_this_process() {
        let id = match mount_id(Path::new("/")) {
            Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => return, // before 6.8
            r => r.unwrap(),
        };
        match statmount(id) {
            Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => {}
            r => assert_eq!(r.unwrap().point, "/"),
        }
    }
}
