//! The mount flags of a bind mount's top, as runc sets them: a bind that
//! names any flag option gets exactly the flags it names (runc remounts it
//! `MS_BIND|MS_REMOUNT|flags`, `mount --bind -o` semantics, so a bind of a
//! read-only source with `nosuid` is writable); atime flags are kept unless
//! one is named; a bind without flag options keeps the source's flags.
//!
//! Flags that the kernel locked on the source (a mount inherited from a
//! more privileged user namespace) cannot be cleared: as current runc, the
//! change is retried with the source's lockable flags kept, unless the
//! config explicitly asked to clear one of them (`rw`, `suid`, `dev`,
//! `exec`) or named a different atime mode, which is an error.

use crate::sys::mount_api::*;
use crate::sys::MountAttrs;

/// Per-mount flags a bind remount replaces.
const REPLACED: u64 = MOUNT_ATTR_RDONLY
    | MOUNT_ATTR_NOSUID
    | MOUNT_ATTR_NODEV
    | MOUNT_ATTR_NOEXEC
    | MOUNT_ATTR_NOSYMFOLLOW;
/// Flags the kernel can lock (MNT_LOCK_*), without atime.
const LOCKABLE: u64 = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC;
/// All atime attributes.
const ATIME: u64 = MOUNT_ATTR_ATIME_MASK | MOUNT_ATTR_NODIRATIME;

/// The attributes to apply to the top of a bind with the options' `req`.
pub fn top(req: &MountAttrs) -> MountAttrs {
    if req.attr_set == 0 && req.attr_clr == 0 {
        return MountAttrs::default();
    }
    MountAttrs {
        attr_set: req.attr_set,
        attr_clr: req.attr_clr | (REPLACED & !req.attr_set),
        ..MountAttrs::default()
    }
}

/// statfs(2) `f_flags` → mount attributes (lockable and atime ones).
fn from_statfs(f: u64) -> u64 {
    let map = [
        (libc::ST_RDONLY, MOUNT_ATTR_RDONLY),
        (libc::ST_NOSUID, MOUNT_ATTR_NOSUID),
        (libc::ST_NODEV, MOUNT_ATTR_NODEV),
        (libc::ST_NOEXEC, MOUNT_ATTR_NOEXEC),
        (libc::ST_NOATIME, MOUNT_ATTR_NOATIME),
        (libc::ST_NODIRATIME, MOUNT_ATTR_NODIRATIME),
    ];
    let mut a = map
        .iter()
        .filter(|(st, _)| f & *st != 0)
        .fold(0, |a, (_, m)| a | m);
    if f & (libc::ST_NOATIME | libc::ST_RELATIME) == 0 {
        a |= MOUNT_ATTR_STRICTATIME;
    }
    a
}

/// Option names of lockable attributes, for messages.
pub fn names(a: u64) -> String {
    let all = [
        (MOUNT_ATTR_RDONLY, "ro"),
        (MOUNT_ATTR_NOSUID, "nosuid"),
        (MOUNT_ATTR_NODEV, "nodev"),
        (MOUNT_ATTR_NOEXEC, "noexec"),
    ];
    let v: Vec<&str> = all
        .iter()
        .filter(|(f, _)| a & f != 0)
        .map(|(_, n)| *n)
        .collect();
    v.join(",")
}

/// Why the locked flags of the source cannot be kept.
#[derive(Debug, PartialEq, Eq)]
pub enum Locked {
    /// The config clears these locked flags.
    Clear(u64),
    /// The config names an atime mode other than the source's.
    Atime,
}

/// After the kernel refused `top(req)` (EPERM): the attributes with the
/// source's lockable flags (statfs `f_flags` of the source) kept.
pub fn keep_locked(req: &MountAttrs, src_statfs: u64) -> Result<MountAttrs, Locked> {
    let src = from_statfs(src_statfs);
    let clear = src & LOCKABLE & req.attr_clr;
    if clear != 0 {
        return Err(Locked::Clear(clear));
    }
    let atime_named = req.attr_clr & MOUNT_ATTR_ATIME_MASK != 0 || req.attr_set & ATIME != 0;
    if atime_named && req.attr_set & ATIME != src & ATIME {
        return Err(Locked::Atime);
    }
    let mut a = top(req);
    a.attr_set |= src & LOCKABLE;
    a.attr_clr &= !(src & LOCKABLE);
    Ok(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(set: u64, clr: u64) -> MountAttrs {
        MountAttrs {
            attr_set: set,
            attr_clr: clr,
            ..MountAttrs::default()
        }
    }

    #[test]
    fn named_flags_replace_the_source_flags() {
        assert!(top(&req(0, 0)).is_empty());
        let t = top(&req(MOUNT_ATTR_NODEV, 0));
        assert_eq!(t.attr_set, MOUNT_ATTR_NODEV);
        assert_eq!(t.attr_clr, REPLACED & !MOUNT_ATTR_NODEV);
        let rw = top(&req(0, MOUNT_ATTR_RDONLY));
        assert_eq!((rw.attr_set, rw.attr_clr), (0, REPLACED));
    }

    #[test]
    fn locked_flags_are_kept_unless_cleared() {
        let st = libc::ST_RDONLY | libc::ST_NOSUID | libc::ST_RELATIME;
        let a = keep_locked(&req(MOUNT_ATTR_NODEV, 0), st).unwrap();
        assert_eq!(
            a.attr_set,
            MOUNT_ATTR_NODEV | MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID
        );
        assert_eq!(a.attr_clr, MOUNT_ATTR_NOEXEC | MOUNT_ATTR_NOSYMFOLLOW);
        assert_eq!(
            keep_locked(&req(0, MOUNT_ATTR_RDONLY), st),
            Err(Locked::Clear(MOUNT_ATTR_RDONLY))
        );
        let noatime = req(MOUNT_ATTR_NOATIME, MOUNT_ATTR_ATIME_MASK);
        assert_eq!(keep_locked(&noatime, st), Err(Locked::Atime));
        let relatime = req(MOUNT_ATTR_RELATIME, MOUNT_ATTR_ATIME_MASK);
        assert!(keep_locked(&relatime, st).is_ok());
        assert_eq!(names(MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOEXEC), "ro,noexec");
    }
}
