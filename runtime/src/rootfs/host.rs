//! Clones of the host's mounts that the rootfs is built from besides the
//! rootfs itself: bind sources, the v1 cgroup directories a `cgroup` entry
//! shows, and /dev/null for masking.
//!
//! Usually the init clones them in its copy of the host's mount namespace,
//! whose `/` it made a recursive slave first, so every clone is a slave
//! (or private) already. In a compact mount namespace (`rootfs::compact`)
//! the rootfs is built as a detached tree while the init is still in the
//! host's own namespace, where a clone of a shared mount joins its peer
//! group: each clone is given that propagation explicitly, so that nothing
//! mounted on it in the container reaches the host.

use std::io;
use std::path::Path;

use crate::sys::{MountAttrs, TreeFd};

/// How host mounts are cloned (see the module's text).
pub struct HostTrees {
    /// Given to every clone (recursively), if any.
    propagation: Option<MountAttrs>,
}

impl HostTrees {
    /// In the init's slave copy of the host's mounts.
    pub const IN_COPY: HostTrees = HostTrees { propagation: None };

    /// In the host's own namespace: each clone gets `propagation`
    /// (MS_SLAVE or MS_PRIVATE).
    pub fn in_host(propagation: u64) -> HostTrees {
        HostTrees {
            propagation: Some(MountAttrs {
                propagation,
                ..MountAttrs::default()
            }),
        }
    }

    /// Clones the host's `path` (with its submounts when `recursive`).
    pub fn clone_path(&self, path: &Path, recursive: bool) -> io::Result<TreeFd> {
        let tree = TreeFd::clone_path(libc::AT_FDCWD, path, recursive)?;
        if let Some(p) = &self.propagation {
            tree.set_attrs(p, true)?;
        }
        Ok(tree)
    }
}
