//! The shim is the child subreaper (`shim::serve` sets PR_SET_CHILD_SUBREAPER
//! before starting anything): the container inits and exec'd processes are
//! re-parented to it when the runtime command that made them exits. One
//! thread reaps every child with a blocking `waitpid(-1)`, so nothing else
//! may call wait: runtime commands are spawned through `Reaper::spawn` and
//! waited with `Reaper::wait`.
//!
//! Exit statuses are delivered exactly once:
//! - a runtime command's status goes to whoever waits for that pid (it is
//!   registered while the reaper's lock is held during the spawn, so even an
//!   instant exit cannot be missed);
//! - every other exit goes to the exit callback (the task service), and is
//!   also recorded in every open *window*. A container process's pid is only
//!   known after the runtime wrote its pid file, and the process may already
//!   be gone by then: the service opens a window before running the runtime
//!   and looks the pid up in it afterwards (containerd's Go shim does the
//!   same with its exit subscriptions).

use std::collections::HashMap;
use std::io;
use std::process::{Child, Command};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};

use nix::errno::Errno;
use nix::sys::wait::{waitpid, WaitStatus};

/// Called with (pid, exit status) for every exit that is not a runtime
/// command's.
pub type ExitCallback = Box<dyn Fn(i32, i32) + Send + Sync>;

#[derive(Default)]
struct State {
    /// Runtime commands: pid → status once reaped.
    commands: HashMap<i32, Option<i32>>,
    /// Open windows: id → exits seen while open.
    windows: HashMap<u64, Vec<(i32, i32)>>,
    next_window: u64,
    /// Bumped by every spawn: wakes the reaper when it had no children.
    spawned: u64,
}

pub struct Reaper {
    state: Mutex<State>,
    cond: Condvar,
    on_exit: OnceLock<ExitCallback>,
}

/// The exit status containerd expects: the code, or 128+signal.
pub fn exit_code(ws: WaitStatus) -> Option<(i32, i32)> {
    match ws {
        WaitStatus::Exited(pid, code) => Some((pid.as_raw(), code)),
        WaitStatus::Signaled(pid, sig, _) => Some((pid.as_raw(), 128 + sig as i32)),
        _ => None,
    }
}

impl Reaper {
    /// Starts the reaping thread.
    pub fn start() -> io::Result<Arc<Reaper>> {
        let r = Reaper::without_thread();
        let me = Arc::clone(&r);
        std::thread::Builder::new()
            .name("reaper".into())
            .spawn(move || me.run())?;
        Ok(r)
    }

    /// A reaper whose thread is not started: for tests that must not reap
    /// the test process's other children.
    pub fn without_thread() -> Arc<Reaper> {
        Arc::new(Reaper {
            state: Mutex::new(State::default()),
            cond: Condvar::new(),
            on_exit: OnceLock::new(),
        })
    }

    /// Sets where non-command exits go (once; later calls are ignored).
    pub fn set_callback(&self, cb: ExitCallback) {
        let _ = self.on_exit.set(cb);
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A poisoned lock only means another thread panicked while holding
        // it; the maps stay consistent (every update is a single insert).
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn run(&self) {
        loop {
            let generation = self.lock().spawned;
            match waitpid(None, None) {
                Ok(ws) => {
                    if let Some((pid, status)) = exit_code(ws) {
                        self.dispatch(pid, status);
                    }
                }
                Err(Errno::EINTR) => {}
                Err(Errno::ECHILD) => {
                    // No children: sleep until the next spawn.
                    let mut st = self.lock();
                    while st.spawned == generation {
                        st = self.cond.wait(st).unwrap_or_else(|p| p.into_inner());
                    }
                }
                Err(e) => {
                    tracing::warn!("waitpid: {e}");
                    std::thread::sleep(std::time::Duration::from_millis(100));
                }
            }
        }
    }

    fn dispatch(&self, pid: i32, status: i32) {
        let mut st = self.lock();
        if let Some(slot) = st.commands.get_mut(&pid) {
            *slot = Some(status);
            self.cond.notify_all();
            return;
        }
        for w in st.windows.values_mut() {
            w.push((pid, status));
        }
        drop(st);
        tracing::debug!(pid, status, "process exited");
        if let Some(cb) = self.on_exit.get() {
            cb(pid, status);
        }
    }

    /// Spawns a runtime command whose exit status `wait` will return.
    pub fn spawn(&self, cmd: &mut Command) -> io::Result<Child> {
        let mut st = self.lock();
        st.spawned += 1;
        self.cond.notify_all();
        let child = cmd.spawn()?;
        st.commands.insert(pid_of(&child), None);
        Ok(child)
    }

    /// Starts a process whose exit nobody waits for (a logger): only wakes
    /// the reaper, whose exit callback then ignores it.
    pub fn spawn_with<T, E>(&self, f: impl FnOnce() -> Result<T, E>) -> Result<T, E> {
        let mut st = self.lock();
        st.spawned += 1;
        self.cond.notify_all();
        f()
    }

    /// The exit status of a command started by `spawn` (blocks until it exits).
    pub fn wait(&self, child: &Child) -> i32 {
        let pid = pid_of(child);
        let mut st = self.lock();
        loop {
            if let Some(Some(status)) = st.commands.get(&pid) {
                let status = *status;
                st.commands.remove(&pid);
                return status;
            }
            if !st.commands.contains_key(&pid) {
                // Not ours (never spawned here): nothing will ever arrive.
                return -1;
            }
            st = self.cond.wait(st).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Starts recording exits (see the module doc).
    pub fn open_window(&self) -> u64 {
        let mut st = self.lock();
        st.next_window += 1;
        let id = st.next_window;
        st.windows.insert(id, Vec::new());
        id
    }

    /// Stops recording; the exits seen while the window was open.
    pub fn close_window(&self, id: u64) -> Vec<(i32, i32)> {
        self.lock().windows.remove(&id).unwrap_or_default()
    }
}

fn pid_of(child: &Child) -> i32 {
    // pids fit in i32 (pid_max is at most 2^22).
    i32::try_from(child.id()).unwrap_or(i32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::signal::Signal;
    use nix::unistd::Pid;

    #[test]
    fn exit_statuses_map_like_containerd() {
        let p = Pid::from_raw(42);
        assert_eq!(exit_code(WaitStatus::Exited(p, 7)), Some((42, 7)));
        assert_eq!(
            exit_code(WaitStatus::Signaled(p, Signal::SIGKILL, false)),
            Some((42, 137))
        );
        assert_eq!(
            exit_code(WaitStatus::Signaled(p, Signal::SIGTERM, true)),
            Some((42, 143))
        );
        assert_eq!(exit_code(WaitStatus::StillAlive), None);
    }

    // The reaper thread reaps these children.
    #[allow(clippy::zombie_processes)]
    #[test]
    fn windows_record_exits_and_commands_get_theirs() {
        let r = Reaper::start().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let tx = Mutex::new(tx);
        r.set_callback(Box::new(move |pid, st| {
            let _ = tx.lock().unwrap().send((pid, st));
        }));
        let w = r.open_window();
        // A command: its status goes to wait, not to the callback.
        let child = r
            .spawn(Command::new("/bin/sh").args(["-c", "exit 3"]))
            .unwrap();
        assert_eq!(r.wait(&child), 3);
        // A grandchild orphaned to us (we are not a subreaper in tests, so
        // use a direct child that is not registered as a command).
        let other = Command::new("/bin/sh")
            .args(["-c", "kill -9 $$"])
            .spawn()
            .unwrap();
        let pid = other.id() as i32;
        // Wake the reaper if it was idle.
        let nudge = r.spawn(&mut Command::new("/bin/true")).unwrap();
        r.wait(&nudge);
        let got = rx.recv_timeout(std::time::Duration::from_secs(5)).unwrap();
        assert_eq!(got, (pid, 137));
        assert!(r.close_window(w).contains(&(pid, 137)));
    }
}
