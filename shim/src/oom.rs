//! OOM events from the container's memory cgroup (berth's `OomWatch`: the
//! v1 memory.oom_control eventfd, or v2 memory.events), watched by the io
//! thread (`pump`) and published as TaskOOM. The watch ends when the cgroup
//! is removed (v1 wakes the eventfd on removal; v2 is re-checked every
//! second).

use std::path::PathBuf;
use std::sync::Arc;

use berth::cgroups::hierarchy::{detect_mode, Mode};
use berth::cgroups::OomWatch;

use crate::events::Publisher;
use crate::pump;
use crate::stats::cgroup_of;

/// The memory cgroup of `pid` and whether it is a v2 one.
fn memory_dir(pid: i32) -> Option<(PathBuf, bool)> {
    let rec = cgroup_of(pid).ok()?;
    if detect_mode() == Mode::V2 {
        return rec.dirs.into_iter().next().map(|d| (d, true));
    }
    rec.dirs
        .into_iter()
        .find(|d| d.join("memory.oom_control").exists())
        .map(|d| (d, false))
}

/// Starts watching the cgroup of the container's init `pid`.
pub fn watch(pid: i32, id: String, events: Arc<Publisher>) {
    let Some((dir, v2)) = memory_dir(pid) else {
        tracing::debug!(id, "no memory cgroup to watch for OOM");
        return;
    };
    let watch = if v2 {
        OomWatch::v2(&dir)
    } else {
        OomWatch::v1(&dir)
    };
    let watch = match watch {
        Ok(w) => w,
        Err(e) => {
            tracing::warn!(id, "OOM watch: {e}");
            return;
        }
    };
    pump::add(pump::Source::Oom {
        watch,
        id,
        dir,
        events,
    });
}
