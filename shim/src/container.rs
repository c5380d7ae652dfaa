//! The containers this shim serves and their lifecycle operations (the
//! Task service's substance; `service` only translates the ttrpc messages).
//!
//! Locking: `containers` (with `cond`, signalled on every exit) is never
//! held while a runtime command runs, because the reaper thread needs it to
//! deliver exits and runtime commands wait for the reaper. Operations that
//! change a container's lifecycle are serialised by `ops` instead, which the
//! reaper never takes.

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};

use crate::console::{self, ConsoleSocket};
use crate::error::{Error, IoContext, Result, RuntimeFailure};
use crate::events::{Event, Publisher};
use crate::io;
use crate::mount::{self, RootfsMount};
use crate::options::{self, Options};
use crate::process::{Phase, Process, ProcessIo, StdioPaths};
use crate::pump::Pump;
use crate::reaper::Reaper;
use crate::runtime::{self, args, ProcStdio, Runtime};

pub struct Container {
    pub id: String,
    pub bundle: PathBuf,
    pub runtime: Runtime,
    pub rootfs_mounted: bool,
    /// IoUid/IoGid and the rest, for execs too.
    pub options: Options,
    pub init: Process,
    pub execs: HashMap<String, Process>,
}

impl Container {
    pub fn process(&self, exec_id: &str) -> Result<&Process> {
        if exec_id.is_empty() {
            return Ok(&self.init);
        }
        self.execs
            .get(exec_id)
            .ok_or_else(|| Error::NotFound(format!("process {exec_id}")))
    }

    pub fn process_mut(&mut self, exec_id: &str) -> Result<&mut Process> {
        if exec_id.is_empty() {
            return Ok(&mut self.init);
        }
        self.execs
            .get_mut(exec_id)
            .ok_or_else(|| Error::NotFound(format!("process {exec_id}")))
    }

    fn rootfs(&self) -> PathBuf {
        self.bundle.join("rootfs")
    }
}

/// What Create needs from the request.
pub struct CreateRequest {
    pub id: String,
    pub bundle: PathBuf,
    pub rootfs: Vec<RootfsMount>,
    pub stdio: StdioPaths,
    pub options: Options,
}

/// The file in the bundle that tells `delete` (the shim subcommand, run
/// after a crash) how to reach the runtime.
pub const SHIM_OPTIONS_FILE: &str = "berth-shim.json";

#[derive(serde::Serialize, serde::Deserialize)]
pub struct SavedRuntime {
    pub binary: PathBuf,
    pub root: PathBuf,
    pub systemd_cgroup: bool,
}

pub struct Tasks {
    pub namespace: String,
    pub containers: Mutex<HashMap<String, Container>>,
    pub cond: Condvar,
    ops: Mutex<()>,
    pub reaper: Arc<Reaper>,
    pub events: Arc<Publisher>,
    /// The io thread (`pump`), started with the service; the error if it
    /// could not be started, which every process with stdio then fails on.
    pump: std::result::Result<Pump, String>,
    /// Shutdown was asked for with no container left: the shim exits.
    shutdown: AtomicBool,
    /// Told of every exit, delete and shutdown (the server re-checks its
    /// parked Wait requests).
    on_change: OnceLock<ChangeCallback>,
}

/// See `Tasks::set_on_change`.
pub type ChangeCallback = Box<dyn Fn() + Send + Sync>;

/// The pid in a runtime's pid file.
pub fn read_pid(path: &Path) -> Result<i32> {
    let s = std::fs::read_to_string(path).ctx(|| format!("read {}", path.display()))?;
    s.trim()
        .parse()
        .map_err(|_| Error::Shim(format!("bad pid file {}: {s:?}", path.display())))
}

impl Tasks {
    pub fn new(
        namespace: String,
        reaper: Arc<Reaper>,
        events: Publisher,
        pump: std::io::Result<Pump>,
    ) -> Arc<Tasks> {
        let t = Arc::new(Tasks {
            namespace,
            containers: Mutex::new(HashMap::new()),
            cond: Condvar::new(),
            ops: Mutex::new(()),
            reaper: Arc::clone(&reaper),
            events: Arc::new(events),
            pump: pump.map_err(|e| e.to_string()),
            shutdown: AtomicBool::new(false),
            on_change: OnceLock::new(),
        });
        let weak = Arc::downgrade(&t);
        reaper.set_callback(Box::new(move |pid, status| {
            if let Some(t) = weak.upgrade() {
                t.on_exit(pid, status);
            }
        }));
        t
    }

    /// Sets what to call on every exit, delete and shutdown (once).
    pub fn set_on_change(&self, cb: ChangeCallback) {
        let _ = self.on_change.set(cb);
    }

    /// Wakes whoever waits for processes to exit (blocked `wait` callers
    /// and the server's parked Waits).
    fn changed(&self) {
        self.cond.notify_all();
        if let Some(cb) = self.on_change.get() {
            cb();
        }
    }

    pub fn lock(&self) -> MutexGuard<'_, HashMap<String, Container>> {
        self.containers.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn ops(&self) -> MutexGuard<'_, ()> {
        self.ops.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The io thread, or why there is none.
    fn pump(&self) -> Result<&Pump> {
        self.pump.as_ref().map_err(|e| {
            Error::Shim(format!(
                "the shim's io thread could not be started ({e}): no process can be given its stdio"
            ))
        })
    }

    /// Runs `f` on the container `id` under the lock.
    pub fn with<T>(&self, id: &str, f: impl FnOnce(&mut Container) -> Result<T>) -> Result<T> {
        let mut cs = self.lock();
        let c = cs
            .get_mut(id)
            .ok_or_else(|| Error::NotFound(format!("container {id}")))?;
        f(c)
    }

    fn exit_event(id: &str, p: &Process) -> Event {
        let (status, at) = p.exit_status();
        Event::Exit {
            id: id.to_string(),
            exec_id: if p.exec_id.is_empty() {
                id.to_string()
            } else {
                p.exec_id.clone()
            },
            pid: p.pid_u32(),
            status,
            at,
        }
    }

    /// The reaper's callback: a container process exited.
    pub fn on_exit(&self, pid: i32, status: i32) {
        let mut ev = None;
        {
            let mut cs = self.lock();
            'find: for c in cs.values_mut() {
                for p in std::iter::once(&mut c.init).chain(c.execs.values_mut()) {
                    if p.pid == pid && p.exit.is_none() {
                        if p.set_exited(status) {
                            ev = Some(Self::exit_event(&c.id, p));
                        }
                        p.io.close_stdin();
                        break 'find;
                    }
                }
            }
        }
        self.changed();
        if let Some(ev) = ev {
            self.events.publish(ev);
        }
    }

    /// Applies exits seen in a window to the process just registered.
    fn apply_window(&self, c: &mut Container, exec_id: &str, window: u64) {
        let exits = self.reaper.close_window(window);
        if let Ok(p) = c.process_mut(exec_id) {
            if let Some(&(_, status)) = exits.iter().find(|(pid, _)| *pid == p.pid) {
                p.set_exited(status);
                p.io.close_stdin();
                self.changed();
            }
        }
    }

    /// After the start event: publishes an exit that was held back.
    fn after_start_event(&self, id: &str, exec_id: &str) {
        let ev = self
            .with(id, |c| {
                let p = c.process_mut(exec_id)?;
                p.started_published = true;
                Ok(p.claim_exit_event().then(|| Self::exit_event(id, p)))
            })
            .ok()
            .flatten();
        if let Some(ev) = ev {
            self.events.publish(ev);
        }
    }

    pub fn create(&self, req: CreateRequest) -> Result<u32> {
        let _ops = self.ops();
        if self.lock().contains_key(&req.id) {
            return Err(Error::Precondition(format!(
                "container {} already exists",
                req.id
            )));
        }
        let opts = &req.options;
        let runtime = self.runtime_for(opts, &req.bundle)?;
        save_runtime(&req.bundle, &runtime)?;
        let rootfs = req.bundle.join("rootfs");
        let mounted = !req.rootfs.is_empty();
        if mounted {
            std::fs::create_dir_all(&rootfs).ctx(|| format!("mkdir {}", rootfs.display()))?;
            if let Err(e) = mount::mount_all(&req.rootfs, &rootfs) {
                mount::unmount_all(&rootfs);
                return Err(e);
            }
        }
        let window = self.reaper.open_window();
        let pid_file = req.bundle.join("init.pid");
        let a = create_args(&req.bundle, &pid_file, opts);
        let started =
            self.spawn_process(&runtime, "create", a, &req.id, &req.stdio, opts, &pid_file);
        let (pid, pio, master) = match started {
            Ok(v) => v,
            Err(e) => {
                self.reaper.close_window(window);
                let undo = args(["delete", "--force", req.id.as_str()]);
                if let Err(d) = runtime.run("delete", &undo, None) {
                    tracing::warn!(id = req.id, "clean up after the failed create: {d}");
                }
                if mounted {
                    mount::unmount_all(&rootfs);
                }
                return Err(e);
            }
        };
        let mut init = Process::new(String::new(), req.stdio.clone(), Vec::new());
        init.pid = pid;
        init.io = pio;
        init.master = master;
        {
            let mut cs = self.lock();
            let c = cs.entry(req.id.clone()).or_insert(Container {
                id: req.id.clone(),
                bundle: req.bundle.clone(),
                runtime,
                rootfs_mounted: mounted,
                options: req.options.clone(),
                init,
                execs: HashMap::new(),
            });
            self.apply_window(c, "", window);
        }
        if let Ok(pump) = self.pump() {
            crate::oom::watch(pump, pid, req.id.clone(), Arc::clone(&self.events));
        }
        self.events.publish(Event::Create {
            id: req.id,
            bundle: req.bundle.display().to_string(),
            stdio: req.stdio,
            pid: u32::try_from(pid).unwrap_or(0),
        });
        Ok(u32::try_from(pid).unwrap_or(0))
    }

    fn runtime_for(&self, opts: &Options, bundle: &Path) -> Result<Runtime> {
        Ok(Runtime {
            binary: runtime::find_binary(opts.binary_or_default())?,
            root: Path::new(opts.root_or_default()).join(&self.namespace),
            log: bundle.join("log.json"),
            systemd_cgroup: opts.systemd_cgroup,
            reaper: Arc::clone(&self.reaper),
        })
    }

    /// Runs `create` or `exec` with the process's stdio (pipes, or a console
    /// socket for a terminal); the pid, the shim's side of the stdio, and
    /// the pty master.
    #[allow(clippy::too_many_arguments)]
    fn spawn_process(
        &self,
        rt: &Runtime,
        verb: &str,
        mut a: Vec<OsString>,
        id: &str,
        stdio: &StdioPaths,
        opts: &Options,
        pid_file: &Path,
    ) -> Result<(i32, ProcessIo, Option<Arc<std::os::fd::OwnedFd>>)> {
        // Checked first, so that no process is started without its stdio.
        let pump = self.pump()?;
        if stdio.terminal {
            let sock = ConsoleSocket::new()?;
            a.push("--console-socket".into());
            a.push(sock.path.clone().into());
            a.push(id.into());
            let null = ProcStdio {
                stdin: std::process::Stdio::null(),
                stdout: std::process::Stdio::null(),
                stderr: std::process::Stdio::null(),
            };
            rt.run_with_stdio(verb, &a, null)?;
            let master = Arc::new(sock.receive()?);
            let pio = console::relay(&master, stdio, pump)?;
            Ok((read_pid(pid_file)?, pio, Some(master)))
        } else {
            let owner = io::Owner {
                id,
                namespace: &self.namespace,
                reaper: &self.reaper,
                uid: opts.io_uid,
                gid: opts.io_gid,
            };
            let (pstdio, pio) = io::pipes(stdio, &owner, pump)?;
            a.push(id.into());
            rt.run_with_stdio(verb, &a, pstdio)?;
            Ok((read_pid(pid_file)?, pio, None))
        }
    }

    pub fn start(&self, id: &str, exec_id: &str) -> Result<u32> {
        let _ops = self.ops();
        if !exec_id.is_empty() {
            return self.start_exec(id, exec_id);
        }
        let rt = self.with(id, |c| {
            if c.init.phase != Phase::Created {
                return Err(Error::Precondition(format!(
                    "container {id} was already started"
                )));
            }
            Ok(c.runtime.clone())
        })?;
        rt.run("start", &args(["start", id]), None)?;
        let pid = self.with(id, |c| {
            if c.init.phase == Phase::Created {
                c.init.phase = Phase::Running;
            }
            Ok(c.init.pid_u32())
        })?;
        self.events.publish(Event::Start { id: id.into(), pid });
        self.after_start_event(id, "");
        Ok(pid)
    }

    fn start_exec(&self, id: &str, exec_id: &str) -> Result<u32> {
        let (rt, bundle, stdio, spec, opts) = self.with(id, |c| {
            let p = c.process(exec_id)?;
            if p.phase != Phase::Created {
                return Err(Error::Precondition(format!(
                    "exec {exec_id} was already started"
                )));
            }
            Ok((
                c.runtime.clone(),
                c.bundle.clone(),
                p.stdio.clone(),
                p.spec.clone(),
                c.options.clone(),
            ))
        })?;
        let spec_file = bundle.join(format!(".exec-{exec_id}.json"));
        let pid_file = bundle.join(format!(".exec-{exec_id}.pid"));
        std::fs::write(&spec_file, &spec).ctx(|| format!("write {}", spec_file.display()))?;
        let mut a = args(["exec", "--detach", "--process"]);
        a.push(spec_file.clone().into());
        a.push("--pid-file".into());
        a.push(pid_file.clone().into());
        let window = self.reaper.open_window();
        let started = self.spawn_process(&rt, "exec", a, id, &stdio, &opts, &pid_file);
        let _ = std::fs::remove_file(&spec_file);
        let _ = std::fs::remove_file(&pid_file);
        let (pid, pio, master) = match started {
            Ok(v) => v,
            Err(e) => {
                self.reaper.close_window(window);
                return Err(e);
            }
        };
        self.with(id, |c| {
            let p = c.process_mut(exec_id)?;
            p.pid = pid;
            p.io = pio;
            p.master = master;
            if p.phase == Phase::Created {
                p.phase = Phase::Running;
            }
            self.apply_window(c, exec_id, window);
            Ok(())
        })?;
        let pid = u32::try_from(pid).unwrap_or(0);
        self.events.publish(Event::ExecStarted {
            id: id.into(),
            exec_id: exec_id.into(),
            pid,
        });
        self.after_start_event(id, exec_id);
        Ok(pid)
    }

    /// Delete: (pid, exit status, exited at).
    pub fn delete(&self, id: &str, exec_id: &str) -> Result<(u32, u32, std::time::SystemTime)> {
        let _ops = self.ops();
        if !exec_id.is_empty() {
            return self.with(id, |c| {
                let p = c.process(exec_id)?;
                if p.phase == Phase::Running {
                    return Err(Error::Precondition(format!(
                        "exec {exec_id} is still running"
                    )));
                }
                let (s, t) = p.exit_status();
                let pid = p.pid_u32();
                c.execs.remove(exec_id);
                Ok((pid, s, t))
            });
        }
        let (rt, rootfs, mounted) = self.with(id, |c| {
            if matches!(c.init.phase, Phase::Running | Phase::Paused) {
                return Err(Error::Precondition(format!(
                    "container {id} is still running"
                )));
            }
            Ok((c.runtime.clone(), c.rootfs(), c.rootfs_mounted))
        })?;
        if let Err(e) = rt.run("delete", &args(["delete", "--force", id]), None) {
            if e.runtime_failure() != Some(RuntimeFailure::NotFound) {
                return Err(e);
            }
        }
        if mounted {
            mount::unmount_all(&rootfs);
        }
        let (pid, status, at) = {
            let mut cs = self.lock();
            let c = cs
                .remove(id)
                .ok_or_else(|| Error::NotFound(format!("container {id}")))?;
            let (s, t) = c.init.exit_status();
            (c.init.pid_u32(), s, t)
        };
        self.changed();
        self.events.publish(Event::Delete {
            id: id.into(),
            pid,
            status,
            at,
        });
        Ok((pid, status, at))
    }

    pub fn exec(&self, id: &str, exec_id: &str, stdio: StdioPaths, spec: Vec<u8>) -> Result<()> {
        // Refused now rather than at its Start, like Create.
        self.pump()?;
        self.with(id, |c| {
            if c.init.exit.is_some() {
                return Err(Error::Precondition(format!(
                    "container {id} is not running"
                )));
            }
            if c.execs.contains_key(exec_id) {
                return Err(Error::Precondition(format!(
                    "exec {exec_id} already exists"
                )));
            }
            c.execs
                .insert(exec_id.into(), Process::new(exec_id.into(), stdio, spec));
            Ok(())
        })?;
        self.events.publish(Event::ExecAdded {
            id: id.into(),
            exec_id: exec_id.into(),
        });
        Ok(())
    }

    pub fn kill(&self, id: &str, exec_id: &str, signal: u32, all: bool) -> Result<()> {
        let rt = self.with(id, |c| {
            let p = c.process(exec_id)?;
            if p.exit.is_some() {
                return Err(Error::NotFound("process already finished".into()));
            }
            if !exec_id.is_empty() {
                if p.pid <= 0 {
                    return Err(Error::Precondition(format!(
                        "exec {exec_id} is not started"
                    )));
                }
                let sig = i32::try_from(signal)
                    .ok()
                    .and_then(|s| nix::sys::signal::Signal::try_from(s).ok())
                    .ok_or_else(|| Error::InvalidArgument(format!("bad signal {signal}")))?;
                // Not reported as exited: the process is alive or a zombie
                // not yet reaped (the reaper reaps, then reports under this
                // lock, so a recycled pid is only possible in that instant).
                nix::sys::signal::kill(nix::unistd::Pid::from_raw(p.pid), sig)
                    .ctx(|| format!("kill exec {exec_id}"))?;
                return Ok(None);
            }
            Ok(Some(c.runtime.clone()))
        })?;
        let Some(rt) = rt else { return Ok(()) };
        let mut a = args(["kill"]);
        if all {
            a.push("--all".into());
        }
        a.push(id.into());
        a.push(signal.to_string().into());
        rt.run("kill", &a, None)
            .map_err(|e| match e.runtime_failure() {
                // As containerd's runc shim: a process that is gone is "not
                // found", whichever way the runtime says it.
                Some(RuntimeFailure::NotFound | RuntimeFailure::NotRunning) => {
                    Error::NotFound("process already finished".into())
                }
                _ => e,
            })?;
        Ok(())
    }

    pub fn pause(&self, id: &str, pause: bool) -> Result<()> {
        let _ops = self.ops();
        let rt = self.with(id, |c| Ok(c.runtime.clone()))?;
        let verb = if pause { "pause" } else { "resume" };
        rt.run(verb, &args([verb, id]), None)?;
        self.with(id, |c| {
            match (pause, c.init.phase) {
                (true, Phase::Running) => c.init.phase = Phase::Paused,
                (false, Phase::Paused) => c.init.phase = Phase::Running,
                _ => {}
            }
            Ok(())
        })?;
        self.events.publish(if pause {
            Event::Paused(id.into())
        } else {
            Event::Resumed(id.into())
        });
        Ok(())
    }

    pub fn update(&self, id: &str, resources: &[u8]) -> Result<()> {
        let _ops = self.ops();
        let rt = self.with(id, |c| Ok(c.runtime.clone()))?;
        rt.run(
            "update",
            &args(["update", "--resources", "-", id]),
            Some(resources),
        )?;
        Ok(())
    }

    pub fn pids(&self, id: &str) -> Result<Vec<u32>> {
        let rt = self.with(id, |c| Ok(c.runtime.clone()))?;
        let out = rt.run("ps", &args(["ps", "--format", "json", id]), None)?;
        serde_json::from_slice::<Option<Vec<u32>>>(&out)
            .map(Option::unwrap_or_default)
            .map_err(|e| Error::Shim(format!("runtime ps output: {e}")))
    }

    /// Blocks until the process exited: (status, time).
    pub fn wait(&self, id: &str, exec_id: &str) -> Result<(u32, std::time::SystemTime)> {
        let mut cs = self.lock();
        loop {
            let c = cs
                .get(id)
                .ok_or_else(|| Error::NotFound(format!("container {id}")))?;
            let p = c.process(exec_id)?;
            if p.exit.is_some() {
                return Ok(p.exit_status());
            }
            cs = self.cond.wait(cs).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// True when `wait` would return at once: the process exited, or it
    /// (or its container) does not exist.
    pub fn wait_ready(&self, id: &str, exec_id: &str) -> bool {
        self.with(id, |c| Ok(c.process(exec_id)?.exit.is_some()))
            .unwrap_or(true)
    }

    /// Shutdown: the shim exits once it serves no container.
    pub fn shutdown(&self) {
        if self.lock().is_empty() {
            self.shutdown.store(true, Ordering::SeqCst);
            self.changed();
        }
    }

    /// Shutdown was accepted.
    pub fn shutting_down(&self) -> bool {
        self.shutdown.load(Ordering::SeqCst)
    }
}

/// `create` and its flags, without the id (`spawn_process` adds it).
fn create_args(bundle: &Path, pid_file: &Path, opts: &Options) -> Vec<OsString> {
    let mut a = args(["create", "--bundle"]);
    a.push(bundle.into());
    a.push("--pid-file".into());
    a.push(pid_file.into());
    if opts.no_pivot_root {
        a.push("--no-pivot".into());
    }
    if opts.no_new_keyring {
        a.push("--no-new-keyring".into());
    }
    a
}

fn save_runtime(bundle: &Path, rt: &Runtime) -> Result<()> {
    let saved = SavedRuntime {
        binary: rt.binary.clone(),
        root: rt.root.clone(),
        systemd_cgroup: rt.systemd_cgroup,
    };
    let path = bundle.join(SHIM_OPTIONS_FILE);
    let json = serde_json::to_vec(&saved).map_err(|e| Error::Shim(e.to_string()))?;
    std::fs::write(&path, json).ctx(|| format!("write {}", path.display()))
}

/// For the `delete` subcommand: the runtime recorded at Create, or the
/// defaults for `namespace`.
pub fn load_runtime(bundle: &Path, namespace: &str, reaper: Arc<Reaper>) -> Result<Runtime> {
    let saved = std::fs::read(bundle.join(SHIM_OPTIONS_FILE))
        .ok()
        .and_then(|b| serde_json::from_slice::<SavedRuntime>(&b).ok());
    let saved = match saved {
        Some(s) => s,
        None => SavedRuntime {
            binary: runtime::find_binary(options::DEFAULT_BINARY)?,
            root: Path::new(options::DEFAULT_ROOT).join(namespace),
            systemd_cgroup: false,
        },
    };
    Ok(Runtime {
        binary: saved.binary,
        root: saved.root,
        log: bundle.join("log.json"),
        systemd_cgroup: saved.systemd_cgroup,
        reaper,
    })
}
