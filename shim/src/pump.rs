//! One thread ("io") multiplexes, with poll(2), every output stream of
//! every process (pipe or pty master → fifo or log file) and every OOM
//! watch, instead of a thread each. Sources are added from any thread
//! through an inbox and a wake-up pipe. Writes are non-blocking: a stream
//! whose destination is full keeps its pending bytes and stops reading
//! until the destination drains, so one stalled client never blocks others.
//!
//! stdin stays a blocking thread per process (io.rs): a fifo's EOF can only
//! be seen reliably by a blocking reader.

use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use berth::cgroups::OomWatch;
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::unistd::pipe2;

use crate::events::{Event, Publisher};

/// Something the io thread serves.
pub enum Source {
    /// Copy `src` to `dst` until EOF (a pty's EIO counts as EOF), then close
    /// both.
    Out { src: File, dst: File, name: String },
    /// Publish TaskOOM for `id` on every OOM; ends when `dir` is removed.
    Oom {
        watch: OomWatch,
        id: String,
        dir: PathBuf,
        events: Arc<Publisher>,
    },
}

struct Pump {
    inbox: Mutex<Vec<Source>>,
    wake: OwnedFd,
}

static PUMP: OnceLock<Option<Pump>> = OnceLock::new();

fn set_nonblocking(fd: impl AsFd) -> std::io::Result<()> {
    let flags = OFlag::from_bits_truncate(fcntl(&fd, FcntlArg::F_GETFL)?);
    fcntl(&fd, FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK))?;
    Ok(())
}

fn start() -> Option<Pump> {
    let started = (|| -> std::io::Result<Pump> {
        let (r, w) = pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK)?;
        std::thread::Builder::new()
            .name("io".into())
            .stack_size(128 * 1024)
            .spawn(move || run(File::from(r)))?;
        Ok(Pump {
            inbox: Mutex::new(Vec::new()),
            wake: w,
        })
    })();
    match started {
        Ok(p) => Some(p),
        Err(e) => {
            tracing::error!("start the io thread: {e}");
            None
        }
    }
}

/// Hands `s` to the io thread.
pub fn add(s: Source) {
    if let Source::Out { src, dst, name } = &s {
        for f in [src, dst] {
            if let Err(e) = set_nonblocking(f) {
                tracing::warn!("{name}: {e}");
            }
        }
    }
    let Some(p) = PUMP.get_or_init(start) else {
        return;
    };
    p.inbox.lock().unwrap_or_else(|e| e.into_inner()).push(s);
    // A full wake pipe already means "look at the inbox".
    let _ = nix::unistd::write(&p.wake, b"x");
}

struct Out {
    src: File,
    dst: File,
    name: String,
    pending: Vec<u8>,
}

enum Entry {
    Out(Out),
    Oom {
        watch: OomWatch,
        id: String,
        dir: PathBuf,
        events: Arc<Publisher>,
    },
}

/// Moves newly added sources into `entries`.
fn drain_inbox(entries: &mut Vec<Entry>) {
    let Some(p) = PUMP.get().and_then(Option::as_ref) else {
        return;
    };
    let mut inbox = p.inbox.lock().unwrap_or_else(|e| e.into_inner());
    entries.extend(inbox.drain(..).map(|s| match s {
        Source::Out { src, dst, name } => Entry::Out(Out {
            src,
            dst,
            name,
            pending: Vec::new(),
        }),
        Source::Oom {
            watch,
            id,
            dir,
            events,
        } => Entry::Oom {
            watch,
            id,
            dir,
            events,
        },
    }));
}

/// What to poll: the wake pipe first, then one fd per entry; and the
/// timeout (v2 OOM watches are looked at every second).
fn pollfds(wake: &File, entries: &[Entry]) -> (Vec<libc::pollfd>, i32) {
    let mut fds = vec![berth::sys::pollin(wake.as_raw_fd())];
    let mut timeout = -1;
    for e in entries {
        fds.push(match e {
            Entry::Out(o) if o.pending.is_empty() => berth::sys::pollin(o.src.as_raw_fd()),
            Entry::Out(o) => libc::pollfd {
                fd: o.dst.as_raw_fd(),
                events: libc::POLLOUT,
                revents: 0,
            },
            Entry::Oom { watch, .. } => {
                if matches!(watch, OomWatch::V2 { .. }) {
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

fn run(mut wake: File) {
    let mut entries: Vec<Entry> = Vec::new();
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        drain_inbox(&mut entries);
        let (mut fds, timeout) = pollfds(&wake, &entries);
        if let Err(e) = berth::sys::poll(&mut fds, timeout) {
            tracing::warn!("io poll: {e}");
            std::thread::sleep(std::time::Duration::from_millis(100));
            continue;
        }
        if fds[0].revents != 0 {
            while matches!(wake.read(&mut buf), Ok(n) if n > 0) {}
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
        Entry::Oom {
            mut watch,
            id,
            dir,
            events,
        } => {
            // v2 has no removal wake-up: it is looked at every second.
            let due = revents != 0 || matches!(watch, OomWatch::V2 { .. });
            let alive = !due || serve_oom(&mut watch, &id, &dir, &events);
            alive.then_some(Entry::Oom {
                watch,
                id,
                dir,
                events,
            })
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

fn serve_oom(watch: &mut OomWatch, id: &str, dir: &std::path::Path, events: &Publisher) -> bool {
    match watch.check() {
        Ok(n) if n > 0 => events.publish(Event::Oom(id.to_string())),
        Ok(_) => {}
        Err(e) => {
            tracing::debug!(id, "OOM watch ends: {e}");
            return false;
        }
    }
    dir.exists()
}
