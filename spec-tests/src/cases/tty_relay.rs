//! Terminals relayed by the runtime itself: `run` and `exec -t` in the
//! foreground without --console-socket. The harness plays the user's
//! terminal: a pty whose slave is the runtime's stdio and controlling
//! terminal. Input typed into it reaches the container's pty, the host
//! terminal's size (and its changes: SIGWINCH) reach the container, the
//! host terminal is raw while the container runs and restored afterwards,
//! and the runtime exits with the container's status.

use super::util::{expect_gone, start_waiting};
use crate::harness::case::{case, Case};
use crate::harness::{config, sys, Ctx, Fail, TestResult};
use crate::{ensure, ensure_eq};
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

pub const CASES: &[Case] = &[
    case("tty_run_foreground_relay", run_foreground),
    case("tty_exec_foreground_relay", exec_foreground),
];

const WAIT: Duration = Duration::from_secs(10);
/// Time for the runtime to act on what it has already been sent (a
/// resize): runc does it on another goroutine than the copying.
const SETTLE: Duration = Duration::from_millis(300);

/// The runtime running on a pty of ours.
struct OnPty {
    child: Child,
    master: File,
    out: String,
}

impl OnPty {
    fn spawn(ctx: &Ctx, args: &[&str], rows: u16, cols: u16) -> Result<OnPty, Fail> {
        let err = |e: std::io::Error| Fail::Fail(format!("pty: {e}"));
        let (master, slave) = sys::openpty(rows, cols).map_err(err)?;
        let mut cmd = ctx.command(args);
        cmd.stdin(Stdio::from(slave.try_clone().map_err(err)?))
            .stdout(Stdio::from(slave.try_clone().map_err(err)?))
            .stderr(Stdio::from(slave));
        // SAFETY: setsid and ioctl are async-signal-safe.
        unsafe { cmd.pre_exec(sys::controlling_tty_on_stdin) };
        let child = cmd
            .spawn()
            .map_err(|e| Fail::Fail(format!("spawn the runtime on a pty: {e}")))?;
        Ok(OnPty {
            child,
            master,
            out: String::new(),
        })
    }

    /// Reads the terminal until `needle` has appeared (or EOF/timeout).
    fn expect(&mut self, needle: &str) -> TestResult {
        let end = Instant::now() + WAIT;
        while !self.out.contains(needle) {
            ensure!(
                Instant::now() < end && self.read_some(100),
                "{needle:?} did not appear on the terminal; it shows {:?}",
                self.out
            );
        }
        Ok(())
    }

    /// One read, waiting up to `ms`; false at EOF (EIO: every slave closed).
    fn read_some(&mut self, ms: i32) -> bool {
        let mut pfd = libc::pollfd {
            fd: self.master.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: poll on one valid pollfd.
        if unsafe { libc::poll(&mut pfd, 1, ms) } <= 0 {
            return true;
        }
        let mut buf = [0u8; 4096];
        match self.master.read(&mut buf) {
            Ok(n) if n > 0 => {
                self.out.push_str(&String::from_utf8_lossy(&buf[..n]));
                true
            }
            _ => false,
        }
    }

    fn type_line(&mut self, line: &str) -> TestResult {
        std::thread::sleep(SETTLE);
        self.master
            .write_all(format!("{line}\n").as_bytes())
            .map_err(|e| Fail::Fail(format!("write to the terminal: {e}")))
    }

    fn resize(&self, rows: u16, cols: u16) -> TestResult {
        sys::set_winsize(self.master.as_raw_fd(), rows, cols)
            .map_err(|e| Fail::Fail(format!("TIOCSWINSZ: {e}")))
    }

    /// (canonical, echo) of the terminal's line discipline.
    fn cooked(&self) -> Result<(bool, bool), Fail> {
        let l = sys::term_lflag(self.master.as_raw_fd())
            .map_err(|e| Fail::Fail(format!("tcgetattr: {e}")))?;
        Ok((l & libc::ICANON != 0, l & libc::ECHO != 0))
    }

    /// The runtime's exit status, reading the terminal meanwhile.
    fn wait(&mut self) -> Result<i32, Fail> {
        let end = Instant::now() + WAIT;
        loop {
            if let Some(st) = self
                .child
                .try_wait()
                .map_err(|e| Fail::Fail(e.to_string()))?
            {
                use std::os::unix::process::ExitStatusExt;
                while self.read_some(0) && self.out.len() < 1 << 20 {}
                return Ok(st.code().unwrap_or_else(|| 128 + st.signal().unwrap_or(0)));
            }
            if Instant::now() > end {
                let _ = self.child.kill();
                let _ = self.child.wait();
                return Err(Fail::Fail(format!(
                    "the runtime did not exit within {WAIT:?}; terminal: {:?}",
                    self.out
                )));
            }
            self.read_some(10);
        }
    }
}

impl Drop for OnPty {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn run_foreground(ctx: &Ctx) -> TestResult {
    let mut b = ctx.bundle("b")?;
    // consoleSize differs from the terminal's: the terminal's size wins.
    config::set_terminal(&mut b.spec, 10, 20);
    let script = "echo ready; read l; stty size; echo got:$l; read l; stty size; exit 3";
    config::set_args(&mut b.spec, &["/bin/sh", "-c", script]);
    b.write()?;
    let mut t = OnPty::spawn(ctx, &["run", "--bundle", b.path(), "c1"], 30, 100)?;
    t.expect("ready")?;
    ensure_eq!(t.cooked()?, (false, false), "terminal raw while relaying");
    t.type_line("hello")?;
    t.expect("got:hello")?;
    ensure!(
        t.out.contains("30 100"),
        "the container's terminal does not have the host's size 30x100: {:?}",
        t.out
    );
    t.resize(50, 140)?;
    t.type_line("again")?;
    t.expect("50 140")?;
    ensure_eq!(t.wait()?, 3, "exit status of `run` (sh exited 3)");
    ensure_eq!(t.cooked()?, (true, true), "terminal restored after run");
    expect_gone(ctx, "c1")
}

fn exec_foreground(ctx: &Ctx) -> TestResult {
    let mut b = ctx.bundle("b")?;
    start_waiting(ctx, "c1", &mut b)?;
    let script = "echo ready; read l; echo got:$l; stty size; tty; exit 4";
    let args = ["exec", "-t", "c1", "sh", "-c", script];
    let mut t = OnPty::spawn(ctx, &args, 25, 90)?;
    t.expect("ready")?;
    t.type_line("world")?;
    t.expect("got:world")?;
    ensure_eq!(t.wait()?, 4, "exit status of `exec -t` (sh exited 4)");
    ensure!(
        t.out.contains("25 90"),
        "the exec'd process's terminal does not have the host's size 25x90: {:?}",
        t.out
    );
    ensure!(
        t.out.contains("/dev/pts/"),
        "the exec'd process's stdin is not a pty: {:?}",
        t.out
    );
    ensure_eq!(t.cooked()?, (true, true), "terminal restored after exec");
    ctx.delete_force("c1")
}
