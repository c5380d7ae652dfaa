//! `--no-pivot`: the host's procfs and sysfs are taken out of the
//! container's mount namespace before the rootfs is moved onto `/`.
//!
//! With pivot_root the old root (and every host mount with it) leaves the
//! namespace. MS_MOVE + chroot only hides it from path lookup: the host's
//! mounts stay in the namespace's mount list. The kernel lets a process
//! that is root in a user namespace of its own mount a fresh proc or sysfs
//! only when one of the same type is already fully visible in its mount
//! namespace (a mount of the filesystem's root with no locked mount over
//! anything in it); that check walks the whole list, chroot or not. So an
//! unprivileged process in a --no-pivot container could `unshare -Urmpf`
//! and mount an unmasked /proc (its sysrq-trigger, kcore…) thanks to the
//! host's copy. Current runc (and runc 1.1.5: since 1.0.0-rc7) closes this
//! in msMoveRoot; berth does the same, in its own way:
//!
//! - every proc and sysfs mount of a filesystem's root outside the rootfs
//!   is lazily unmounted (the namespace's mounts are already slaves of the
//!   host's, see `prepare`, so nothing propagates back);
//! - a mount the namespace may not unmount (EINVAL/EPERM: it was copied
//!   into a user namespace's mount namespace, so it is locked) is covered
//!   by a read-only empty tmpfs instead. In a mount namespace the attacker
//!   copies, that tmpfs is locked too, so the mount under it no longer
//!   counts as fully visible;
//! - deeper mount points go first, so a nested one is reached before a
//!   cover hides its path (runc walks parents first and skips what it can
//!   no longer reach); mounts stacked on one point are taken one by one.
//!
//! The limit (runc's too): where the container's own user namespace owns
//! the mount namespace and the process keeps CAP_SYS_ADMIN there, it can
//! unmount the cover itself; with or without --no-pivot such a process can
//! also mount proc next to its own unlocked /proc.

use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::mount::{mount as mount2, umount2, MntFlags, MsFlags};

use super::error::{Context, Result};

/// One mount of mountinfo that must go: a proc or sysfs root outside the
/// rootfs.
#[derive(Debug, PartialEq, Eq)]
struct HostMount {
    mount_point: PathBuf,
    fstype: String,
}

/// Unmounts or covers every full proc and sysfs mount outside `rootfs`
/// (canonical, as `spec::load` makes it) in the current mount namespace.
pub fn hide_host_pseudo_fs(rootfs: &Path) -> Result<()> {
    let info = std::fs::read_to_string("/proc/thread-self/mountinfo")
        .ctx(|| "read /proc/thread-self/mountinfo".into())?;
    for m in to_hide(&info, rootfs) {
        let p = &m.mount_point;
        match umount2(p, MntFlags::MNT_DETACH) {
            Ok(()) => tracing::debug!(
                "--no-pivot: unmounted the host's {} at {}",
                m.fstype,
                p.display()
            ),
            // Out of reach: under a mount covered or gone before.
            Err(Errno::ENOENT) => {}
            Err(Errno::EINVAL | Errno::EPERM) => {
                cover(p).ctx(|| {
                    format!(
                        "--no-pivot: cover the host's {} at {}",
                        m.fstype,
                        p.display()
                    )
                })?;
                tracing::debug!(
                    "--no-pivot: covered the host's {} at {} (locked)",
                    m.fstype,
                    p.display()
                );
            }
            Err(e) => {
                return Err(std::io::Error::from(e)).ctx(|| {
                    format!(
                        "--no-pivot: unmount the host's {} at {}",
                        m.fstype,
                        p.display()
                    )
                })
            }
        }
    }
    Ok(())
}

/// An empty read-only tmpfs over `p`.
fn cover(p: &Path) -> nix::Result<()> {
    mount2(
        Some("tmpfs"),
        p,
        Some("tmpfs"),
        MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        Some("mode=0555"),
    )
}

/// The proc and sysfs mounts of a filesystem's root (a bind of a subtree
/// never counts as fully visible) outside `rootfs`, deepest first; mounts
/// stacked on one point stay in mountinfo order (each unmount takes the
/// top one).
fn to_hide(mountinfo: &str, rootfs: &Path) -> Vec<HostMount> {
    let mut out: Vec<HostMount> = mountinfo
        .lines()
        .filter_map(parse_line)
        .filter(|(root, m)| {
            root == "/"
                && (m.fstype == "proc" || m.fstype == "sysfs")
                && !m.mount_point.starts_with(rootfs)
        })
        .map(|(_, m)| m)
        .collect();
    out.sort_by_key(|m| std::cmp::Reverse(m.mount_point.components().count()));
    out
}

/// A mountinfo line's root (field 4), mount point (field 5) and type (the
/// first field after ` - `).
fn parse_line(line: &str) -> Option<(String, HostMount)> {
    let (left, right) = line.split_once(" - ")?;
    let mut f = left.split(' ');
    let root = unescape(f.nth(3)?);
    let mount_point = PathBuf::from(unescape(f.next()?));
    let fstype = right.split(' ').next()?.to_string();
    Some((
        root,
        HostMount {
            mount_point,
            fstype,
        },
    ))
}

/// mountinfo's octal escapes (`\040` for a space, `\134` for a backslash).
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let oct = b
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match (b[i], oct) {
            (b'\\', Some(d)) => {
                out.push(d.iter().fold(0u8, |v, c| v.wrapping_mul(8) + (c - b'0')));
                i += 4;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const INFO: &str = "\
22 1 0:21 / / rw,relatime shared:1 - ext4 /dev/vda rw
23 22 0:22 / /proc rw,nosuid,nodev,noexec,relatime shared:5 - proc proc rw
24 22 0:23 / /sys rw,nosuid,nodev,noexec,relatime shared:6 - sysfs sysfs rw
25 24 0:24 / /sys/fs/cgroup ro shared:7 - tmpfs tmpfs ro,mode=755
26 23 0:25 / /proc/sys/fs/binfmt_misc rw shared:8 - autofs systemd-1 rw
27 22 0:22 /sys /mnt/procsys rw - proc proc rw
28 22 0:30 / /run/b/rootfs/proc rw - proc proc rw
29 22 0:31 / /run/b/rootfs/sys ro - sysfs sysfs ro
30 23 0:32 / /proc/a\\040b rw - proc proc rw
31 22 0:22 / /proc rw - proc proc rw
32 22 0:33 / /run/b/rootfs-other/proc rw - proc proc rw
";

    #[test]
    fn picks_full_proc_and_sysfs_outside_the_rootfs_deepest_first() {
        let got: Vec<(String, String)> = to_hide(INFO, Path::new("/run/b/rootfs"))
            .into_iter()
            .map(|m| (m.mount_point.display().to_string(), m.fstype))
            .collect();
        let want = [
            ("/run/b/rootfs-other/proc", "proc"),
            ("/proc/a b", "proc"),
            ("/proc", "proc"),
            ("/sys", "sysfs"),
            ("/proc", "proc"),
        ];
        let want: Vec<(String, String)> = want
            .iter()
            .map(|(p, t)| (p.to_string(), t.to_string()))
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn unescapes_octal_and_keeps_the_rest() {
        assert_eq!(unescape(r"/a\040b\134c"), r"/a b\c");
        assert_eq!(unescape(r"/a\9x\04"), r"/a\9x\04");
        assert_eq!(unescape("/plain"), "/plain");
    }

    #[test]
    fn skips_lines_without_a_separator() {
        assert!(parse_line("22 1 0:21 / / rw").is_none());
    }
}
