//! The shim binary's lifecycle, as containerd 1.6/1.7 drive a v2 shim
//! (flags `-namespace -id -address -publish-binary -bundle -debug`, then an
//! action), built here rather than by containerd-shim's `run`, whose ttrpc
//! server and signal thread cannot be sized:
//! - `start` (cwd: the bundle; the create options on stdin): binds the
//!   socket of the container's *group* (the sandbox id for a pod's
//!   containers, see `grouping`), or finds the group's shim already serving
//!   it; otherwise spawns the long-lived shim (this binary, no action,
//!   `-socket`) with the listening socket as its stdin and waits until it
//!   serves. Prints the address and writes the `address` file.
//! - `delete`: cleans up after a shim that died (runtime `delete --force`,
//!   rootfs unmounted), and prints the DeleteResponse.
//! - no action: the long-lived shim, serving the Task service (`server`)
//!   until Shutdown. Threads: main (the server's loop), "task" (runs
//!   requests), "reaper", "io" (every stdio stream and OOM watch).

use std::ffi::OsString;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use containerd_shim::api::DeleteResponse;
use containerd_shim::protos::protobuf::well_known_types::any::Any;
use containerd_shim::protos::protobuf::Message;
use containerd_shim::protos::shim_sync::create_task;
use containerd_shim::util::write_address;
use containerd_shim::Flags;

use crate::container::{self, Tasks};
use crate::events::{self, Publisher};
use crate::mount;
use crate::options;
use crate::pump::Pump;
use crate::reaper::Reaper;
use crate::runtime::args;
use crate::server::Server;
use crate::service::Service;

pub const RUNTIME_ID: &str = "io.containerd.berth.v2";

/// Where containerd says its ttrpc socket is (for events).
const TTRPC_ADDRESS: &str = "TTRPC_ADDRESS";

/// Spec annotations that put several containers in one shim (the runc
/// shim's grouping labels).
const GROUP_LABELS: [&str; 2] = [
    "io.containerd.runc.v2.group",
    "io.kubernetes.cri.sandbox-id",
];

type Result<T> = std::result::Result<T, String>;

/// The binary's entry: its exit status.
pub fn run() -> i32 {
    let argv: Vec<OsString> = std::env::args_os().collect();
    let r = containerd_shim::parse(argv.get(1..).unwrap_or_default())
        .map_err(|e| e.to_string())
        .and_then(|flags| dispatch(&flags));
    match r {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("{RUNTIME_ID}: {e}");
            1
        }
    }
}

fn dispatch(flags: &Flags) -> Result<()> {
    if flags.version {
        println!(
            "containerd-shim-berth-v2:\n  Version: {}",
            env!("CARGO_PKG_VERSION")
        );
        return Ok(());
    }
    if flags.namespace.is_empty() {
        return Err("Shim namespace cannot be empty".into());
    }
    match flags.action.as_str() {
        "start" => {
            let address = start(flags)?;
            let mut out = std::io::stdout().lock();
            write!(out, "{address}")
                .and_then(|()| out.flush())
                .map_err(|e| format!("write the address: {e}"))
        }
        "delete" => delete(flags),
        "" => serve(flags),
        other => Err(format!("unknown action {other:?}")),
    }
}

fn bundle_dir(flags: &Flags) -> PathBuf {
    if flags.bundle.is_empty() {
        std::env::current_dir().unwrap_or_default()
    } else {
        PathBuf::from(&flags.bundle)
    }
}

fn socket_path(address: &str) -> &str {
    address.strip_prefix("unix://").unwrap_or(address)
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

/// The `start` action (see the module doc): the group's address.
fn start(flags: &Flags) -> Result<String> {
    let bundle = bundle_dir(flags);
    let group = grouping(&bundle, &flags.id);
    let address = containerd_shim::socket_address(&flags.address, &flags.namespace, &group);
    let path = socket_path(&address);
    if let Some(listener) = bind(path)? {
        let pid = spawn_daemon(flags, &bundle, &address, listener).inspect_err(|_| {
            let _ = std::fs::remove_file(path);
        })?;
        join_shim_cgroup(pid);
    }
    write_address(&address).map_err(|e| format!("write the address file: {e}"))?;
    Ok(address)
}

/// Binds the group's socket; `None` when a live shim already serves it (a
/// socket nobody answers on is a dead shim's, and is replaced).
fn bind(path: &str) -> Result<Option<UnixListener>> {
    if let Some(dir) = Path::new(path).parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
    }
    match UnixListener::bind(path) {
        Ok(l) => return Ok(Some(l)),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {}
        Err(e) => return Err(format!("listen on {path}: {e}")),
    }
    if UnixStream::connect(path).is_ok() {
        return Ok(None);
    }
    std::fs::remove_file(path).map_err(|e| format!("remove the stale socket {path}: {e}"))?;
    UnixListener::bind(path)
        .map(Some)
        .map_err(|e| format!("listen on {path}: {e}"))
}

/// Starts the long-lived shim on `listener` and waits until it serves: it
/// replaces its stdout/stderr (a pipe to us) with /dev/null once ready, or
/// exits with its error written there.
fn spawn_daemon(
    flags: &Flags,
    bundle: &Path,
    address: &str,
    listener: UnixListener,
) -> Result<u32> {
    let exe = std::env::current_exe().map_err(|e| format!("the shim's own path: {e}"))?;
    let mut cmd = Command::new(exe);
    cmd.args(["-namespace", &flags.namespace, "-id", &flags.id])
        .args(["-address", &flags.address, "-socket", address]);
    if flags.debug {
        cmd.arg("-debug");
    }
    let (r, w) = std::io::pipe().map_err(|e| format!("pipe: {e}"))?;
    let w2 = w.try_clone().map_err(|e| format!("pipe: {e}"))?;
    cmd.current_dir(bundle)
        .stdin(Stdio::from(OwnedFd::from(listener)))
        .stdout(w)
        .stderr(w2)
        // Not in containerd's process group: its signals are not ours.
        .process_group(0);
    let mut child = cmd.spawn().map_err(|e| format!("start the shim: {e}"))?;
    drop(cmd);
    let mut said = String::new();
    let _ = { r }.take(64 * 1024).read_to_string(&mut said);
    if !said.trim().is_empty() {
        let status = child.wait().map(|s| s.to_string()).unwrap_or_default();
        return Err(format!(
            "the shim failed to start ({status}): {}",
            said.trim()
        ));
    }
    if let Ok(Some(status)) = child.try_wait() {
        return Err(format!("the shim exited while starting: {status}"));
    }
    Ok(child.id())
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

/// The `delete` action: cleans up after a dead shim. What fails goes to
/// stderr, which containerd logs ("cleanup warnings"); the response carries
/// the init's pid, as containerd's runc shim's does.
fn delete(flags: &Flags) -> Result<()> {
    let bundle = bundle_dir(flags);
    // The runtime's own children, if any, are ours to reap.
    let _ = nix::sys::prctl::set_child_subreaper(true);
    let reaper = Reaper::start().map_err(|e| format!("start the reaper thread: {e}"))?;
    match container::load_runtime(&bundle, &flags.namespace, reaper) {
        Ok(rt) => {
            let a = args(["delete", "--force", flags.id.as_str()]);
            if let Err(e) = rt.run("delete", &a, None) {
                eprintln!("delete {}: {e}", flags.id);
            }
        }
        Err(e) => eprintln!("delete {}: {e}", flags.id),
    }
    mount::unmount_all(&bundle.join("rootfs"));
    let pid = container::read_pid(&bundle.join("init.pid"))
        .ok()
        .and_then(|p| u32::try_from(p).ok())
        .unwrap_or(0);
    let resp = DeleteResponse {
        pid,
        exit_status: 128 + libc::SIGKILL as u32,
        exited_at: Some(events::timestamp(std::time::SystemTime::now())).into(),
        ..Default::default()
    };
    let bytes = resp.write_to_bytes().map_err(|e| e.to_string())?;
    let mut out = std::io::stdout().lock();
    out.write_all(&bytes)
        .and_then(|()| out.flush())
        .map_err(|e| format!("write the delete response: {e}"))
}

/// The listening socket `start` handed over as stdin; stdin becomes
/// /dev/null.
fn take_listener() -> Result<UnixListener> {
    use nix::sys::socket::{getsockopt, sockopt::AcceptConn};
    let not = "stdin is not a listening socket (the shim is started by its `start` action)";
    let fd = std::io::stdin()
        .as_fd()
        .try_clone_to_owned()
        .map_err(|e| format!("stdin: {e}"))?;
    if !getsockopt(&fd, AcceptConn).unwrap_or(false) {
        return Err(not.into());
    }
    let null = File::open("/dev/null").map_err(|e| format!("/dev/null: {e}"))?;
    nix::unistd::dup2_stdin(&null).map_err(|e| format!("dup2: {e}"))?;
    Ok(UnixListener::from(fd))
}

/// The long-lived shim (no action).
fn serve(flags: &Flags) -> Result<()> {
    if flags.socket.is_empty() {
        return Err("Shim socket cannot be empty".into());
    }
    let ttrpc_address =
        std::env::var(TTRPC_ADDRESS).map_err(|_| format!("{TTRPC_ADDRESS} is not set"))?;
    let listener = take_listener()?;
    nix::sys::prctl::set_child_subreaper(true).map_err(|e| format!("subreaper: {e}"))?;
    containerd_shim::logger::init(flags.debug, "info", &flags.namespace, &flags.id)
        .map_err(|e| format!("open the log: {e}"))?;
    // containerd stops a shim with Shutdown (or SIGKILL): SIGTERM and
    // SIGINT are noted and ignored, as containerd-shim's `run` did.
    for sig in [libc::SIGTERM, libc::SIGINT] {
        signal_hook::flag::register(sig, Arc::new(AtomicBool::new(false)))
            .map_err(|e| format!("signal {sig}: {e}"))?;
    }
    let reaper = Reaper::start().map_err(|e| format!("start the reaper thread: {e}"))?;
    let events = Publisher::new(flags.namespace.clone(), &ttrpc_address);
    // Not fatal: the service starts without containers, and each Create
    // or Exec then fails with this error (see `Tasks::pump`).
    let pump = Pump::start().inspect_err(|e| tracing::error!("start the io thread: {e}"));
    let tasks = Tasks::new(flags.namespace.clone(), reaper, events, pump);
    let service = Service {
        tasks: Arc::clone(&tasks),
    };
    let server = Server::new(listener, create_task(Arc::new(service)), tasks)
        .map_err(|e| format!("start the server: {e}"))?;
    // Ready: `start` reads our stdout and stderr until they close.
    let null = File::create("/dev/null").map_err(|e| format!("/dev/null: {e}"))?;
    nix::unistd::dup2_stdout(&null)
        .and_then(|()| nix::unistd::dup2_stderr(&null))
        .map_err(|e| format!("dup2: {e}"))?;
    tracing::info!("shim serving {}", flags.socket);
    server.run();
    tracing::info!("shim shutting down");
    let _ = std::fs::remove_file(socket_path(&flags.socket));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A group's socket: bound when free, joined while a shim listens,
    /// replaced once nobody does (a dead shim's).
    #[test]
    fn bind_joins_a_live_shim_and_replaces_a_dead_ones_socket() {
        let dir = std::env::temp_dir().join(format!("berth-shim-bind-{}", std::process::id()));
        let path = dir.join("s/sock");
        let p = path.to_str().unwrap();
        let live = bind(p).unwrap().expect("a free socket is bound");
        assert!(bind(p).unwrap().is_none(), "a live shim's socket is joined");
        drop(live);
        assert!(path.exists());
        let again = bind(p).unwrap().expect("a dead shim's socket is replaced");
        drop(again);
        std::fs::remove_dir_all(&dir).unwrap();
    }

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
