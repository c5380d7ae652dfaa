//! The rootfs mounts containerd passes with Create (an overlay from the
//! snapshotter, or a bind), mounted at `<bundle>/rootfs` before the runtime
//! runs and unmounted when the task is deleted.

use std::path::Path;

use nix::mount::{mount, umount2, MntFlags, MsFlags};

use crate::error::{Error, IoContext, Result};

/// A mount as containerd describes it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RootfsMount {
    pub fstype: String,
    pub source: String,
    pub options: Vec<String>,
}

/// Splits mount(8)-style options into flags, propagation flags and the data
/// string.
pub fn parse_options(options: &[String]) -> (MsFlags, MsFlags, String) {
    let mut flags = MsFlags::empty();
    let mut prop = MsFlags::empty();
    let mut data: Vec<&str> = Vec::new();
    for o in options {
        let (set, clear) = match o.as_str() {
            "ro" => (MsFlags::MS_RDONLY, MsFlags::empty()),
            "rw" => (MsFlags::empty(), MsFlags::MS_RDONLY),
            "bind" => (MsFlags::MS_BIND, MsFlags::empty()),
            "rbind" => (MsFlags::MS_BIND | MsFlags::MS_REC, MsFlags::empty()),
            "nosuid" => (MsFlags::MS_NOSUID, MsFlags::empty()),
            "suid" => (MsFlags::empty(), MsFlags::MS_NOSUID),
            "nodev" => (MsFlags::MS_NODEV, MsFlags::empty()),
            "dev" => (MsFlags::empty(), MsFlags::MS_NODEV),
            "noexec" => (MsFlags::MS_NOEXEC, MsFlags::empty()),
            "exec" => (MsFlags::empty(), MsFlags::MS_NOEXEC),
            "sync" => (MsFlags::MS_SYNCHRONOUS, MsFlags::empty()),
            "async" => (MsFlags::empty(), MsFlags::MS_SYNCHRONOUS),
            "noatime" => (MsFlags::MS_NOATIME, MsFlags::empty()),
            "atime" => (MsFlags::empty(), MsFlags::MS_NOATIME),
            "nodiratime" => (MsFlags::MS_NODIRATIME, MsFlags::empty()),
            "diratime" => (MsFlags::empty(), MsFlags::MS_NODIRATIME),
            "relatime" => (MsFlags::MS_RELATIME, MsFlags::empty()),
            "norelatime" => (MsFlags::empty(), MsFlags::MS_RELATIME),
            "strictatime" => (MsFlags::MS_STRICTATIME, MsFlags::empty()),
            "remount" => (MsFlags::MS_REMOUNT, MsFlags::empty()),
            "defaults" => (MsFlags::empty(), MsFlags::empty()),
            p @ ("private" | "rprivate" | "shared" | "rshared" | "slave" | "rslave"
            | "unbindable" | "runbindable") => {
                let base = match p.trim_start_matches('r') {
                    "private" => MsFlags::MS_PRIVATE,
                    "shared" => MsFlags::MS_SHARED,
                    "slave" => MsFlags::MS_SLAVE,
                    _ => MsFlags::MS_UNBINDABLE,
                };
                let rec = if p.starts_with('r') {
                    MsFlags::MS_REC
                } else {
                    MsFlags::empty()
                };
                prop |= base | rec;
                continue;
            }
            other => {
                data.push(other);
                continue;
            }
        };
        flags = (flags | set) & !clear;
    }
    (flags, prop, data.join(","))
}

/// Mounts every entry on `target`, in order.
pub fn mount_all(mounts: &[RootfsMount], target: &Path) -> Result<()> {
    for m in mounts {
        let (flags, prop, data) = parse_options(&m.options);
        if data.len() >= 4096 {
            return Err(Error::InvalidArgument(format!(
                "rootfs mount options of {} bytes are longer than a page",
                data.len()
            )));
        }
        let fstype = (!m.fstype.is_empty()).then_some(m.fstype.as_str());
        let data = (!data.is_empty()).then_some(data.as_str());
        let source = Some(m.source.as_str());
        mount(
            source,
            target,
            fstype,
            flags & !MsFlags::MS_RDONLY | ro_unless_bind(flags),
            data,
        )
        .ctx(|| format!("mount {} {} on {}", m.fstype, m.source, target.display()))?;
        // A bind ignores MS_RDONLY on the first call: remount it.
        if flags.contains(MsFlags::MS_BIND) && flags.contains(MsFlags::MS_RDONLY) {
            mount(
                None::<&str>,
                target,
                None::<&str>,
                flags | MsFlags::MS_REMOUNT,
                None::<&str>,
            )
            .ctx(|| format!("remount {} read-only", target.display()))?;
        }
        if !prop.is_empty() {
            mount(None::<&str>, target, None::<&str>, prop, None::<&str>)
                .ctx(|| format!("set the propagation of {}", target.display()))?;
        }
    }
    Ok(())
}

fn ro_unless_bind(flags: MsFlags) -> MsFlags {
    if flags.contains(MsFlags::MS_BIND) {
        MsFlags::empty()
    } else {
        flags & MsFlags::MS_RDONLY
    }
}

/// Unmounts everything stacked on `target` (lazily: a process still inside
/// must not keep the mount alive in the host's table).
pub fn unmount_all(target: &Path) {
    for _ in 0..64 {
        match umount2(target, MntFlags::MNT_DETACH) {
            Ok(()) => continue,
            Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => return,
            Err(e) => {
                tracing::warn!("unmount {}: {e}", target.display());
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn overlay_options_become_data() {
        let (f, p, d) = parse_options(&s(&[
            "index=off",
            "workdir=/w",
            "upperdir=/u",
            "lowerdir=/l",
        ]));
        assert!(f.is_empty() && p.is_empty());
        assert_eq!(d, "index=off,workdir=/w,upperdir=/u,lowerdir=/l");
    }

    #[test]
    fn flags_and_propagation() {
        let (f, p, d) = parse_options(&s(&["rbind", "ro", "nosuid", "rw", "rprivate", "mode=755"]));
        assert_eq!(f, MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_NOSUID);
        assert_eq!(p, MsFlags::MS_PRIVATE | MsFlags::MS_REC);
        assert_eq!(d, "mode=755");
        let (f, _, _) = parse_options(&s(&["bind", "ro"]));
        assert!(f.contains(MsFlags::MS_RDONLY));
    }
}
