//! OOM events from the container's memory cgroup (berth's `OomWatch`: the
//! v1 memory.oom_control eventfd, or v2 memory.events), watched by the io
//! thread (`pump`) and published as TaskOOM. The watch ends when the cgroup
//! is removed (v1 wakes the eventfd on removal; v2 is re-checked every
//! second).

use std::sync::Arc;

use berth::api::Cgroup;

use crate::events::{Event, Publisher};
use crate::pump::{Pump, Source};

/// Starts watching the cgroup of the container's init `pid` (best effort:
/// a container without a memory cgroup has no OOM events).
pub fn watch(pump: &Pump, pid: i32, id: String, events: Arc<Publisher>) {
    let cgroup = match Cgroup::of_pid(pid) {
        Ok(c) => c,
        Err(e) => {
            tracing::debug!(id, "no cgroup to watch for OOM: {e}");
            return;
        }
    };
    let watch = match cgroup.oom_watch() {
        Ok(w) => w,
        Err(e) => {
            tracing::warn!(id, "OOM watch: {e}");
            return;
        }
    };
    let oom_id = id.clone();
    pump.add(Source::Oom {
        watch,
        id,
        on_oom: Box::new(move || events.publish(Event::Oom(oom_id.clone()))),
    });
}
