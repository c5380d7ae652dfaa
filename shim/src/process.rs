//! One container process (the init or an exec) as the shim tracks it: its
//! stdio, pid once the runtime reported it, status, and exit status once
//! the reaper delivered it. The events rule: TaskExit is published exactly
//! once, and never before the TaskStart/TaskExecStarted of the process.
//!
//! Plain data: the stdio paths and the shim's stdin end are defined here and
//! filled in by `io` and `console`, which depend on this module, never the
//! other way round.

use std::fs::File;
use std::os::fd::OwnedFd;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use containerd_shim::api::Status;

/// The stdio containerd gave for one process: fifo paths (or log URIs for
/// stdout), and whether it has a terminal.
#[derive(Clone, Debug, Default)]
pub struct StdioPaths {
    pub stdin: String,
    pub stdout: String,
    pub stderr: String,
    pub terminal: bool,
}

/// Where the process's stdin goes; `None` once closed.
pub type StdinWriter = Arc<Mutex<Option<File>>>;

/// The shim's side of a process's stdio (output is owned by the io thread).
#[derive(Default)]
pub struct ProcessIo {
    pub stdin: StdinWriter,
}

impl ProcessIo {
    /// CloseIO: the process sees EOF on stdin.
    pub fn close_stdin(&self) {
        if let Ok(mut w) = self.stdin.lock() {
            w.take();
        }
    }
}

/// A process forgotten (deleted) ends its stdin copy: the io thread drops
/// a copy whose writer is closed, with the fifo it holds.
impl Drop for ProcessIo {
    fn drop(&mut self) {
        self.close_stdin();
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Exec: added, not started. Init: created, not started.
    Created,
    Running,
    Paused,
    Stopped,
}

pub struct Process {
    /// "" for the init, the exec id otherwise.
    pub exec_id: String,
    pub stdio: StdioPaths,
    /// Exec: the process spec (JSON) from containerd.
    pub spec: Vec<u8>,
    pub pid: i32,
    pub phase: Phase,
    pub exit: Option<(i32, SystemTime)>,
    /// Start event published: TaskExit may follow.
    pub started_published: bool,
    pub exit_published: bool,
    pub io: ProcessIo,
    pub master: Option<Arc<OwnedFd>>,
}

impl Process {
    pub fn new(exec_id: String, stdio: StdioPaths, spec: Vec<u8>) -> Process {
        Process {
            exec_id,
            stdio,
            spec,
            pid: 0,
            phase: Phase::Created,
            exit: None,
            started_published: false,
            exit_published: false,
            io: ProcessIo::default(),
            master: None,
        }
    }

    pub fn pid_u32(&self) -> u32 {
        u32::try_from(self.pid).unwrap_or(0)
    }

    pub fn status(&self) -> Status {
        match self.phase {
            Phase::Created => Status::CREATED,
            Phase::Running => Status::RUNNING,
            Phase::Paused => Status::PAUSED,
            Phase::Stopped => Status::STOPPED,
        }
    }

    /// Records the exit (the first one only). True when TaskExit should be
    /// published now (the start event is out and no exit was published).
    pub fn set_exited(&mut self, status: i32) -> bool {
        if self.exit.is_some() {
            return false;
        }
        self.exit = Some((status, SystemTime::now()));
        self.phase = Phase::Stopped;
        self.claim_exit_event()
    }

    /// After the start event went out: true when the exit is due now.
    pub fn claim_exit_event(&mut self) -> bool {
        if self.exit.is_some() && self.started_published && !self.exit_published {
            self.exit_published = true;
            return true;
        }
        false
    }

    /// (status, time) for Wait/Delete/State; 0 and now while running.
    pub fn exit_status(&self) -> (u32, SystemTime) {
        match self.exit {
            Some((s, t)) => (u32::try_from(s).unwrap_or(255), t),
            None => (0, SystemTime::now()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_event_once_and_after_start() {
        let mut p = Process::new(String::new(), StdioPaths::default(), Vec::new());
        p.pid = 10;
        // Exit before the start event: held back.
        assert!(!p.set_exited(137));
        assert_eq!(p.status(), Status::STOPPED);
        p.started_published = true;
        assert!(p.claim_exit_event());
        assert!(!p.claim_exit_event());
        // A second exit report is ignored.
        assert!(!p.set_exited(0));
        assert_eq!(p.exit_status().0, 137);
    }

    #[test]
    fn forgetting_a_process_closes_its_stdin() {
        let (_r, w) = nix::unistd::pipe().unwrap();
        let p = Process::new("e1".into(), StdioPaths::default(), Vec::new());
        *p.io.stdin.lock().unwrap() = Some(File::from(w));
        let copy = Arc::clone(&p.io.stdin);
        drop(p);
        assert!(copy.lock().unwrap().is_none());
    }

    #[test]
    fn exit_after_start_is_published_immediately() {
        let mut p = Process::new("e1".into(), StdioPaths::default(), Vec::new());
        p.started_published = true;
        assert!(p.set_exited(5));
        assert!(!p.claim_exit_event());
    }
}
