//! The io reactor: one thread ("io") multiplexes, with poll(2), every
//! stream of every process (stdout/stderr: pipe or pty master → fifo or log
//! file; stdin: fifo → pipe or pty master) and every OOM watch, instead of
//! a thread each. The task service owns the
//! `Pump` (started with the service); sources are added from any thread
//! through an inbox and a wake-up pipe. Writes are non-blocking: a stream
//! whose destination is full keeps its pending bytes and stops reading
//! until the destination drains, so one stalled client never blocks others.
//!
//! The pump knows nothing of containers or events: an OOM watch carries the
//! callback to run on each OOM. When the `Pump` is dropped, the thread
//! serves what it has until the last stream ends, then exits.
//!
//! A stdin fifo is opened non-blocking, so it reads as empty (EOF) before
//! the client opened its end; but Linux reports POLLHUP on a fifo's reader
//! only once a writer came and went after the reader's open, and POLLIN only
//! with data, so the stream is read only when poll says so and a read of 0
//! then is the client's real EOF (what a blocking reader would have seen).

use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::{Arc, Mutex};

use berth::api::{poll, pollin, OomWatch};
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::unistd::pipe2;

use crate::process::StdinWriter;

/// Called by the io thread on every OOM of a watched cgroup.
pub type OomCallback = Box<dyn Fn() + Send>;

/// Something the io thread serves.
pub enum Source {
    /// Copy `src` to `dst` until EOF (a pty's EIO counts as EOF), then close
    /// both.
    Out { src: File, dst: File, name: String },
    /// Run `on_oom` on every OOM of the container `id`; ends when its
    /// cgroup is removed.
    Oom {
        watch: OomWatch,
        id: String,
        on_oom: OomCallback,
    },
    /// Copy the fifo `src` into the process's stdin `dst` until the
    /// client's EOF, then close `dst` (the process's EOF); ends early when
    /// `dst` was closed (CloseIO, or the process exited).
    In {
        src: File,
        dst: StdinWriter,
        name: String,
    },
}

type Inbox = Arc<Mutex<Vec<Source>>>;

/// The handle of the io thread.
pub struct Pump {
    inbox: Inbox,
    /// The write end of the wake-up pipe; closing it (drop) tells the
    /// thread that nothing more will be added.
    wake: OwnedFd,
}

fn set_nonblocking(fd: impl AsFd) -> std::io::Result<()> {
    let flags = OFlag::from_bits_truncate(fcntl(&fd, FcntlArg::F_GETFL)?);
    fcntl(&fd, FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK))?;
    Ok(())
}

impl Pump {
    /// Starts the io thread.
    pub fn start() -> std::io::Result<Pump> {
        let (r, w) = pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK)?;
        let inbox = Inbox::default();
        let thread_inbox = Arc::clone(&inbox);
        std::thread::Builder::new()
            .name("io".into())
            .stack_size(128 * 1024)
            .spawn(move || run(File::from(r), &thread_inbox))?;
        Ok(Pump { inbox, wake: w })
    }

    /// Hands `s` to the io thread.
    pub fn add(&self, s: Source) {
        let nonblocking = |f: &File, name: &str| {
            if let Err(e) = set_nonblocking(f) {
                tracing::warn!("{name}: {e}");
            }
        };
        match &s {
            Source::Out { src, dst, name } => {
                nonblocking(src, name);
                nonblocking(dst, name);
            }
            Source::In { src, dst, name } => {
                nonblocking(src, name);
                if let Some(d) = dst.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
                    nonblocking(d, name);
                }
            }
            Source::Oom { .. } => {}
        }
        self.inbox.lock().unwrap_or_else(|e| e.into_inner()).push(s);
        // A full wake pipe already means "look at the inbox".
        let _ = nix::unistd::write(&self.wake, b"x");
    }
}

struct Out {
    src: File,
    dst: File,
    name: String,
    pending: Vec<u8>,
}

/// A stdin copy (see `Source::In`).
struct In {
    src: File,
    dst: StdinWriter,
    name: String,
    pending: Vec<u8>,
}

enum Entry {
    Out(Out),
    In(In),
    Oom {
        watch: OomWatch,
        id: String,
        on_oom: OomCallback,
    },
}

/// Moves newly added sources into `entries`.
fn drain_inbox(inbox: &Inbox, entries: &mut Vec<Entry>) {
    let mut inbox = inbox.lock().unwrap_or_else(|e| e.into_inner());
    entries.extend(inbox.drain(..).map(|s| match s {
        Source::Out { src, dst, name } => Entry::Out(Out {
            src,
            dst,
            name,
            pending: Vec::new(),
        }),
        Source::In { src, dst, name } => Entry::In(In {
            src,
            dst,
            name,
            pending: Vec::new(),
        }),
        Source::Oom { watch, id, on_oom } => Entry::Oom { watch, id, on_oom },
    }));
}

/// What to poll: the wake pipe first (-1, ignored by poll, once it is
/// closed), then one fd per entry; and the timeout (v2 OOM watches are
/// looked at every second).
fn pollfds(wake: Option<&File>, entries: &[Entry]) -> (Vec<libc::pollfd>, i32) {
    let mut fds = vec![pollin(wake.map_or(-1, |w| w.as_raw_fd()))];
    let mut timeout = -1;
    for e in entries {
        fds.push(match e {
            Entry::Out(o) if o.pending.is_empty() => pollin(o.src.as_raw_fd()),
            Entry::Out(o) => libc::pollfd {
                fd: o.dst.as_raw_fd(),
                events: libc::POLLOUT,
                revents: 0,
            },
            Entry::In(i) if i.pending.is_empty() => pollin(i.src.as_raw_fd()),
            // Only the fd number: a copy closed meanwhile is found closed
            // by `serve_in`, which writes through the lock.
            Entry::In(i) => libc::pollfd {
                fd: i
                    .dst
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .as_ref()
                    .map_or(i.src.as_raw_fd(), |d| d.as_raw_fd()),
                events: libc::POLLOUT,
                revents: 0,
            },
            Entry::Oom { watch, .. } => {
                if watch.needs_periodic_check() {
                    timeout = 1000;
                }
                libc::pollfd {
                    fd: watch.fd().as_raw_fd(),
                    events: watch.poll_events(),
                    revents: 0,
                }
            }
        });
    }
    (fds, timeout)
}

/// Empties the wake pipe; false once every `Pump` handle is gone (EOF).
fn drain_wake(wake: &mut File, buf: &mut [u8]) -> bool {
    loop {
        match wake.read(buf) {
            Ok(0) => return false,
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return true,
        }
    }
}

fn run(wake: File, inbox: &Inbox) {
    let mut wake = Some(wake);
    let mut entries: Vec<Entry> = Vec::new();
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        drain_inbox(inbox, &mut entries);
        // A stdin copy whose process end was closed (CloseIO, exit) ends
        // now, even if its client never opened the fifo.
        entries.retain(|e| !matches!(e, Entry::In(i) if stdin_closed(i)));
        if wake.is_none() && entries.is_empty() {
            return;
        }
        let (mut fds, timeout) = pollfds(wake.as_ref(), &entries);
        if let Err(e) = poll(&mut fds, timeout) {
            tracing::warn!("io poll: {e}");
            std::thread::sleep(std::time::Duration::from_millis(100));
            continue;
        }
        if fds[0].revents != 0 {
            if let Some(w) = wake.as_mut() {
                if !drain_wake(w, &mut buf) {
                    wake = None;
                }
            }
        }
        let mut keep = Vec::with_capacity(entries.len());
        for (e, pfd) in entries.into_iter().zip(&fds[1..]) {
            keep.extend(serve(e, pfd.revents, &mut buf));
        }
        entries = keep;
    }
}

/// Serves one entry; `None` when it is finished.
fn serve(e: Entry, revents: libc::c_short, buf: &mut [u8]) -> Option<Entry> {
    match e {
        Entry::Out(mut o) => {
            let alive = revents == 0 || serve_out(&mut o, buf);
            alive.then_some(Entry::Out(o))
        }
        Entry::In(mut i) => {
            let alive = revents == 0 || serve_in(&mut i, buf);
            alive.then_some(Entry::In(i))
        }
        Entry::Oom {
            mut watch,
            id,
            on_oom,
        } => {
            // v2 has no removal wake-up: it is looked at every second.
            let due = revents != 0 || watch.needs_periodic_check();
            let alive = !due || serve_oom(&mut watch, &id, &on_oom);
            alive.then_some(Entry::Oom { watch, id, on_oom })
        }
    }
}

/// One step of a stream; false when it is finished.
fn serve_out(o: &mut Out, buf: &mut [u8]) -> bool {
    if o.pending.is_empty() {
        match o.src.read(buf) {
            Ok(0) => return false,
            Ok(n) => o.pending.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => {
                return true
            }
            // EIO: the pty's last slave closed.
            Err(_) => return false,
        }
    }
    while !o.pending.is_empty() {
        match o.dst.write(&o.pending) {
            Ok(n) => {
                o.pending.drain(..n);
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => break,
            Err(e) => {
                tracing::debug!("write {}: {e}", o.name);
                return false;
            }
        }
    }
    true
}

fn stdin_closed(i: &In) -> bool {
    i.dst.lock().unwrap_or_else(|e| e.into_inner()).is_none()
}

/// One step of a stdin copy; false when it is finished (and the process's
/// stdin closed).
fn serve_in(i: &mut In, buf: &mut [u8]) -> bool {
    let mut dst = i.dst.lock().unwrap_or_else(|e| e.into_inner());
    let Some(d) = dst.as_mut() else {
        return false;
    };
    if i.pending.is_empty() {
        match i.src.read(buf) {
            Ok(0) => {
                dst.take();
                return false;
            }
            Ok(n) => i.pending.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => {
                return true
            }
            Err(e) => {
                tracing::debug!("read {}: {e}", i.name);
                dst.take();
                return false;
            }
        }
    }
    while !i.pending.is_empty() {
        match d.write(&i.pending) {
            Ok(n) => {
                i.pending.drain(..n);
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => break,
            Err(e) => {
                tracing::debug!("write the stdin of {}: {e}", i.name);
                dst.take();
                return false;
            }
        }
    }
    true
}

/// One look at an OOM watch; false when it is finished.
fn serve_oom(watch: &mut OomWatch, id: &str, on_oom: &OomCallback) -> bool {
    match watch.check() {
        Ok(n) if n > 0 => on_oom(),
        Ok(_) => {}
        Err(e) => {
            tracing::debug!(id, "OOM watch ends: {e}");
            return false;
        }
    }
    !watch.cgroup_removed()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stream added before the handle is dropped is still copied to its
    /// end (the thread exits only once nothing is left to serve).
    #[test]
    fn streams_outlive_the_handle() {
        let pump = Pump::start().unwrap();
        let (in_r, in_w) = pipe2(OFlag::O_CLOEXEC).unwrap();
        let (out_r, out_w) = pipe2(OFlag::O_CLOEXEC).unwrap();
        pump.add(Source::Out {
            src: File::from(in_r),
            dst: File::from(out_w),
            name: "test".into(),
        });
        let mut w = File::from(in_w);
        w.write_all(b"through the pump").unwrap();
        drop(w);
        drop(pump);
        let mut got = String::new();
        // EOF only once the io thread closed `dst`, i.e. finished the stream.
        File::from(out_r).read_to_string(&mut got).unwrap();
        assert_eq!(got, "through the pump");
    }
}
