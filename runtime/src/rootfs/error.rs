//! The errors of rootfs preparation: config entries that cannot be
//! mounted as written, paths that would leave the rootfs, and failed
//! mounts with their source, target, filesystem type and errno.

use std::io;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum RootfsError {
    /// A `mounts` entry with neither a type nor a bind option.
    #[error("mount type is missing (and it is not a bind mount)")]
    MountTypeMissing,
    /// A bind `mounts` entry without a source.
    #[error("a bind mount needs a source")]
    BindWithoutSource,
    /// A `mounts` option berth does not implement.
    #[error("mount option {0:?} is not implemented yet")]
    OptionUnsupported(String),
    #[error("linux.rootfsPropagation: unknown propagation {0:?}")]
    UnknownPropagation(String),
    /// A `linux.devices` path that is the container's root.
    #[error("linux.devices: {}: a device cannot be the container's root", .0.display())]
    DeviceIsRoot(PathBuf),
    /// A `linux.devices` path where the image has another file.
    #[error("linux.devices: {}: a file that is not the requested device already exists at this path in the rootfs", .0.display())]
    DeviceTaken(PathBuf),
    /// A mount target that is the rootfs itself.
    #[error("refusing to use the rootfs itself as a target")]
    RootIsTarget,
    /// The host's /dev/null, used for masking, is not the real one.
    #[error("the host's /dev/null is not the 1:3 character device; refusing to mask with it")]
    BadDevNull,
    /// proc or sysfs mounted on something other than a directory (say a
    /// symlink in the image), in runc's words (clients match them).
    #[error("{}: filesystem {fstype:?} must be mounted on ordinary directory", describe(src.as_deref(), dest))]
    NotADirectory {
        src: Option<PathBuf>,
        dest: PathBuf,
        fstype: String,
    },
    /// A failed step of mounting one `mounts` entry.
    #[error(transparent)]
    Mount(Box<MountError>),
    /// A broken invariant of berth's own.
    #[error("{0}")]
    Internal(&'static str),
    /// Any other failed system operation, with what we were doing.
    #[error("{context}: {source}")]
    Io { context: String, source: io::Error },
}

/// A mount that failed: which entry, at which step, and the errno.
#[derive(Debug, thiserror::Error)]
#[error("{}{step}: {err}", describe(src.as_deref(), dest))]
pub struct MountError {
    pub src: Option<PathBuf>,
    /// The destination in the container.
    pub dest: PathBuf,
    /// The filesystem type (`None` for a bind mount).
    pub fstype: Option<String>,
    pub step: MountStep,
    #[source]
    pub err: io::Error,
}

/// The step of a mount that failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountStep {
    /// Making or attaching the mount.
    Mount,
    /// Setting the filesystem option `key`.
    Option(String),
    /// Applying a propagation option.
    Propagation,
    /// Binding a host cgroup directory (a `cgroup` entry on v1).
    Bind(PathBuf),
    /// `tmpcopyup`: copying the directory's contents into the tmpfs.
    CopyUp,
    /// The deferred read-only remount (`mount::finalize_readonly`).
    Remount,
    /// Keeping the source's locked flags on a bind (runc's wording).
    Locked(String),
}

impl std::fmt::Display for MountStep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MountStep::Mount => Ok(()),
            MountStep::Option(k) => write!(f, ": option {k}"),
            MountStep::Propagation => f.write_str(": set propagation"),
            MountStep::Bind(p) => write!(f, ": bind {}", p.display()),
            MountStep::CopyUp => f.write_str(": tmpcopyup"),
            MountStep::Remount => f.write_str(": remount read-only"),
            MountStep::Locked(what) => write!(f, ": {what}"),
        }
    }
}

/// How a mount entry is named in messages (runc's wording).
pub fn describe(src: Option<&Path>, dest: &Path) -> String {
    let src = src.map(|s| s.display().to_string()).unwrap_or_default();
    format!(
        "error mounting {src:?} to rootfs at {:?}",
        dest.display().to_string()
    )
}

pub type Result<T, E = RootfsError> = std::result::Result<T, E>;

impl RootfsError {
    /// The errno of a failed system operation.
    pub fn errno(&self) -> Option<i32> {
        match self {
            RootfsError::Mount(m) => m.err.raw_os_error(),
            RootfsError::Io { source, .. } => source.raw_os_error(),
            _ => None,
        }
    }
}

impl From<MountError> for RootfsError {
    fn from(e: MountError) -> RootfsError {
        RootfsError::Mount(Box::new(e))
    }
}

crate::error::io_context! {
    /// Adds context to I/O errors: `.ctx(|| format!("open {path}"))`.
    pub(crate) trait Context for RootfsError
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_errors_carry_the_entry_and_keep_runc_wording() {
        let enoent = || io::Error::from_raw_os_error(libc::ENOENT);
        let m = |step| -> RootfsError {
            MountError {
                src: Some("tmpfs".into()),
                dest: "/run".into(),
                fstype: Some("tmpfs".into()),
                step,
                err: enoent(),
            }
            .into()
        };
        let head = "error mounting \"tmpfs\" to rootfs at \"/run\"";
        let cases = [
            (m(MountStep::Mount), format!("{head}: {}", enoent())),
            (
                m(MountStep::Option("size".into())),
                format!("{head}: option size: {}", enoent()),
            ),
            (
                m(MountStep::Propagation),
                format!("{head}: set propagation: {}", enoent()),
            ),
            (
                m(MountStep::Bind("/sys/fs/cgroup/cpu/c1".into())),
                format!("{head}: bind /sys/fs/cgroup/cpu/c1: {}", enoent()),
            ),
        ];
        for (e, want) in cases {
            assert_eq!(e.to_string(), want);
            assert_eq!(e.errno(), Some(libc::ENOENT));
        }
        let e = RootfsError::NotADirectory {
            src: None,
            dest: "/proc".into(),
            fstype: "proc".into(),
        };
        assert_eq!(
            e.to_string(),
            "error mounting \"\" to rootfs at \"/proc\": filesystem \"proc\" must be mounted on ordinary directory"
        );
    }
}
