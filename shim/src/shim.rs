//! The shim binary's lifecycle, as containerd-shim's `run` drives it:
//! `start` spawns the long-lived shim (same binary, `-socket`), prints its
//! address and writes the `address` file; `delete` cleans up after a shim
//! that died; without an action the process is the long-lived shim serving
//! the Task service until Shutdown.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use containerd_shim::api::DeleteResponse;
use containerd_shim::protos::protobuf::well_known_types::any::Any;
use containerd_shim::protos::protobuf::Message;
use containerd_shim::publisher::RemotePublisher;
use containerd_shim::util::write_address;
use containerd_shim::{Config, ExitSignal, Flags, StartOpts};

use crate::container::{self, Tasks};
use crate::events::{self, Publisher};
use crate::mount;
use crate::options;
use crate::pump::Pump;
use crate::reaper::Reaper;
use crate::runtime::args;
use crate::service::Service;

/// Spec annotations that put several containers in one shim (the runc
/// shim's grouping labels).
const GROUP_LABELS: [&str; 2] = [
    "io.containerd.runc.v2.group",
    "io.kubernetes.cri.sandbox-id",
];

pub struct Shim {
    namespace: String,
    id: String,
    bundle: PathBuf,
    exit: Arc<ExitSignal>,
}

/// The shim group of the container in the bundle `dir`: a grouping
/// annotation, or the container id.
fn grouping(dir: &Path, id: &str) -> String {
    let spec = std::fs::read(dir.join("config.json"))
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok());
    let annotations = spec.as_ref().and_then(|s| s.get("annotations"));
    GROUP_LABELS
        .iter()
        .find_map(|l| annotations?.get(*l)?.as_str().map(str::to_string))
        .unwrap_or_else(|| id.to_string())
}

/// ShimCgroup (best effort): containerd passes the create options on the
/// `start` command's stdin.
fn join_shim_cgroup(pid: u32) {
    if nix::unistd::isatty(std::io::stdin()).unwrap_or(true) {
        return;
    }
    let mut data = Vec::new();
    if std::io::stdin().read_to_end(&mut data).is_err() || data.is_empty() {
        return;
    }
    let Ok(any) = Any::parse_from_bytes(&data) else {
        return;
    };
    let Ok(opts) = options::from_any(Some(&any)) else {
        return;
    };
    if opts.shim_cgroup.is_empty() {
        return;
    }
    if let Err(e) = berth::api::join_cgroup(&opts.shim_cgroup, pid) {
        tracing::warn!("move the shim to its cgroup {}: {e}", opts.shim_cgroup);
    }
}

impl containerd_shim::Shim for Shim {
    type T = Service;

    fn new(_runtime_id: &str, args: &Flags, _config: &mut Config) -> Self {
        let bundle = if args.bundle.is_empty() {
            std::env::current_dir().unwrap_or_default()
        } else {
            PathBuf::from(&args.bundle)
        };
        Shim {
            namespace: args.namespace.clone(),
            id: args.id.clone(),
            bundle,
            exit: Arc::new(ExitSignal::default()),
        }
    }

    fn start_shim(&mut self, opts: StartOpts) -> containerd_shim::Result<String> {
        let group = grouping(&self.bundle, &opts.id);
        let (pid, address) = containerd_shim::spawn(opts, &group, Vec::new())?;
        write_address(&address)?;
        join_shim_cgroup(pid);
        Ok(address)
    }

    fn delete_shim(&mut self) -> containerd_shim::Result<DeleteResponse> {
        let reaper = Reaper::start().map_err(|e| containerd_shim::Error::Other(e.to_string()))?;
        match container::load_runtime(&self.bundle, &self.namespace, reaper) {
            Ok(rt) => {
                if let Err(e) = rt.run(
                    "delete",
                    &args(["delete", "--force", self.id.as_str()]),
                    None,
                ) {
                    tracing::warn!("delete {}: {e}", self.id);
                }
            }
            Err(e) => tracing::warn!("delete {}: {e}", self.id),
        }
        mount::unmount_all(&self.bundle.join("rootfs"));
        Ok(DeleteResponse {
            pid: 0,
            exit_status: 128 + libc::SIGKILL as u32,
            exited_at: Some(events::timestamp(std::time::SystemTime::now())).into(),
            ..Default::default()
        })
    }

    fn wait(&mut self) {
        self.exit.wait();
    }

    fn create_task_service(&self, publisher: RemotePublisher) -> Service {
        let reaper = match Reaper::start() {
            Ok(r) => r,
            Err(e) => {
                tracing::error!("start the reaper thread: {e}");
                std::process::exit(1);
            }
        };
        let events = Publisher::new(self.namespace.clone(), publisher);
        // Not fatal: the service starts without containers, and each Create
        // or Exec then fails with this error (see `Tasks::pump`).
        let pump = Pump::start().inspect_err(|e| tracing::error!("start the io thread: {e}"));
        Service {
            tasks: Tasks::new(
                self.namespace.clone(),
                reaper,
                events,
                pump,
                Arc::clone(&self.exit),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grouping_follows_the_runc_labels() {
        let dir = std::env::temp_dir().join(format!("berth-shim-group-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        assert_eq!(grouping(&dir, "c1"), "c1");
        std::fs::write(
            dir.join("config.json"),
            r#"{"annotations":{"io.kubernetes.cri.sandbox-id":"pod1"}}"#,
        )
        .unwrap();
        assert_eq!(grouping(&dir, "c1"), "pod1");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
