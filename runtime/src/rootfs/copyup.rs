//! `tmpcopyup`: the contents of the image directory a tmpfs goes over are
//! copied into the new, still detached tmpfs (runc's option of that name).
//!
//! The source is the container's (hostile) image, so every step is relative
//! to a directory fd and never follows a symlink: entries are `fstatat`'d
//! with `AT_SYMLINK_NOFOLLOW`, opened with `O_NOFOLLOW`, and a symlink is
//! copied as a symlink. The destination is the fresh tmpfs, reachable by fd
//! only. Owner and mode are kept; sockets are skipped.

use std::ffi::OsStr;
use std::fs::File;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

use nix::dir::Dir;
use nix::errno::Errno;
use nix::fcntl::{openat, readlinkat, AtFlags, OFlag};
use nix::sys::stat::{fchmodat, fstatat, mkdirat, mknodat, FchmodatFlags, Mode, SFlag};
use nix::unistd::{fchownat, symlinkat, Gid, Uid};

/// Copies the tree below directory `src` (any fd of it, also `O_PATH`)
/// into directory `dst`.
pub fn copy_dir(src: BorrowedFd, dst: BorrowedFd) -> nix::Result<()> {
    let src = openat(src, ".", dir_flags(), Mode::empty())?;
    let dst = openat(dst, ".", dir_flags(), Mode::empty())?;
    copy_entries(&src, &dst)
}

fn dir_flags() -> OFlag {
    OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC
}

fn io_errno(e: std::io::Error) -> Errno {
    Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO))
}

fn copy_entries(src: &OwnedFd, dst: &OwnedFd) -> nix::Result<()> {
    // Dir takes its own fd: a duplicate, so `src` stays usable for *at calls.
    let mut dir = Dir::from_fd(src.try_clone().map_err(io_errno)?)?;
    for entry in dir.iter() {
        let entry = entry?;
        let name = OsStr::from_bytes(entry.file_name().to_bytes());
        if name == "." || name == ".." {
            continue;
        }
        copy_entry(src, dst, name)?;
    }
    Ok(())
}

fn copy_entry(src: &OwnedFd, dst: &OwnedFd, name: &OsStr) -> nix::Result<()> {
    let st = fstatat(src, name, AtFlags::AT_SYMLINK_NOFOLLOW)?;
    let kind = SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT;
    let private = Mode::from_bits_truncate(0o600);
    match kind {
        SFlag::S_IFDIR => {
            mkdirat(dst, name, Mode::from_bits_truncate(0o700))?;
            let s = openat(src, name, dir_flags(), Mode::empty())?;
            let d = openat(dst, name, dir_flags(), Mode::empty())?;
            copy_entries(&s, &d)?;
        }
        SFlag::S_IFREG => {
            let ro = OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
            let mut from = File::from(openat(src, name, ro, Mode::empty())?);
            let new = OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_CLOEXEC;
            let mut to = File::from(openat(dst, name, new | OFlag::O_NOFOLLOW, private)?);
            std::io::copy(&mut from, &mut to).map_err(io_errno)?;
        }
        SFlag::S_IFLNK => {
            let target = readlinkat(src, name)?;
            symlinkat(target.as_os_str(), dst, name)?;
        }
        SFlag::S_IFCHR | SFlag::S_IFBLK | SFlag::S_IFIFO => {
            mknodat(dst, name, kind, private, st.st_rdev)?;
        }
        _ => {
            tracing::warn!("tmpcopyup: skipping {name:?} (a socket)");
            return Ok(());
        }
    }
    let (uid, gid) = (Uid::from_raw(st.st_uid), Gid::from_raw(st.st_gid));
    fchownat(
        dst,
        name,
        Some(uid),
        Some(gid),
        AtFlags::AT_SYMLINK_NOFOLLOW,
    )?;
    if kind != SFlag::S_IFLNK {
        // After the chown, which clears set-id bits. The entry is ours, in
        // a tmpfs no one else can reach yet, and no symlink (made above),
        // so following is safe.
        let perm = Mode::from_bits_truncate(st.st_mode & 0o7777);
        fchmodat(dst, name, perm, FchmodatFlags::FollowSymlink)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn copies_files_dirs_links_and_modes() {
        let base = std::env::temp_dir().join(format!("berth-copyup-{}", std::process::id()));
        let (src, dst) = (base.join("src"), base.join("dst"));
        std::fs::create_dir_all(src.join("d")).unwrap();
        std::fs::create_dir_all(&dst).unwrap();
        std::fs::write(src.join("d/f"), "x").unwrap();
        std::fs::set_permissions(src.join("d/f"), std::fs::Permissions::from_mode(0o604)).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", src.join("l")).unwrap();
        let s = File::open(&src).unwrap();
        let d = File::open(&dst).unwrap();
        copy_dir(s.as_fd(), d.as_fd()).unwrap();
        assert_eq!(std::fs::read_to_string(dst.join("d/f")).unwrap(), "x");
        let mode = std::fs::metadata(dst.join("d/f"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o7777, 0o604);
        let link = std::fs::read_link(dst.join("l")).unwrap();
        assert_eq!(link, std::path::Path::new("/etc/passwd"));
        std::fs::remove_dir_all(&base).unwrap();
    }
}
