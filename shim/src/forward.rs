//! Delivers the queued events (`events::Publisher`) to containerd as
//! `Forward` calls on its ttrpc Events service, from the server's loop and
//! without ever blocking it: the connection is non-blocking and polled with
//! the loop's other sockets, one Forward is in flight at a time, and an
//! event leaves the queue only when containerd has answered it.
//!
//! While containerd is away (stopped, restarting) the events stay queued
//! and the forwarder tries again after 50 ms, doubling up to 1 s, and at
//! once when containerd connects to the shim again; the first attempt that
//! finds containerd's socket back delivers the backlog, in order. An event
//! is sent once per connection: only when a connection breaks (or
//! containerd does not answer within 5 s) before its answer arrives is it
//! sent again, so containerd sees it twice only if it got it and then died
//! before answering.

use std::io::{self, ErrorKind, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use containerd_shim::protos::protobuf::Message;
use containerd_shim::protos::ttrpc::{Request, Response};
use nix::sys::socket::{connect, socket, AddressFamily, SockFlag, SockType, UnixAddr};

use crate::events::Publisher;
use crate::wire;

const EVENTS_SERVICE: &str = "containerd.services.events.ttrpc.v1.Events";
/// How long containerd has to answer a Forward before the connection is
/// given up (and the event sent again on a new one).
const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);
/// The pause after a failed attempt: doubling from the first to the last.
const RETRY_FIRST: Duration = Duration::from_millis(50);
const RETRY_LAST: Duration = Duration::from_secs(1);

/// A connection to containerd's ttrpc socket.
struct Conn {
    stream: UnixStream,
    wbuf: Vec<u8>,
    rbuf: Vec<u8>,
    next_stream: u32,
    /// The stream id of the Forward in flight and when it was sent.
    waiting: Option<(u32, Instant)>,
}

impl Conn {
    /// Connects without blocking: a refused or missing socket (containerd
    /// away) and a full backlog (EAGAIN) are errors, retried later.
    fn open(path: &Path) -> io::Result<Conn> {
        let fd = socket(
            AddressFamily::Unix,
            SockType::Stream,
            SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
            None,
        )?;
        connect(fd.as_raw_fd(), &UnixAddr::new(path)?)?;
        Ok(Conn {
            stream: UnixStream::from(fd),
            wbuf: Vec::new(),
            rbuf: Vec::new(),
            next_stream: 1,
            waiting: None,
        })
    }

    fn send(&mut self, payload: Vec<u8>, now: Instant) -> io::Result<()> {
        let mut req = Request::new();
        req.service = EVENTS_SERVICE.to_string();
        req.method = "Forward".to_string();
        req.payload = payload;
        req.timeout_nano = i64::try_from(ANSWER_TIMEOUT.as_nanos()).unwrap_or(i64::MAX);
        let body = req.write_to_bytes().map_err(io::Error::other)?;
        let id = self.next_stream;
        self.next_stream = self.next_stream.wrapping_add(2);
        self.wbuf
            .extend_from_slice(&wire::frame(id, wire::TYPE_REQUEST, &body));
        self.waiting = Some((id, now));
        self.flush()
    }

    fn flush(&mut self) -> io::Result<()> {
        while !self.wbuf.is_empty() {
            match self.stream.write(&self.wbuf) {
                Ok(0) => return Err(ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.wbuf.drain(..n);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Reads what is there; true at EOF (containerd went away, perhaps
    /// right after answering: what was read before still counts).
    fn read(&mut self) -> io::Result<bool> {
        let mut buf = [0u8; 4096];
        loop {
            match self.stream.read(&mut buf) {
                Ok(0) => return Ok(true),
                Ok(n) => self.rbuf.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// The answer to the Forward in flight, if it has come: its error
    /// message when containerd refused the event.
    fn answer(&mut self) -> io::Result<Option<Option<String>>> {
        while let Some((h, body)) = wire::next_message(&mut self.rbuf)? {
            if h.kind != wire::TYPE_RESPONSE || self.waiting.map(|w| w.0) != Some(h.stream_id) {
                continue;
            }
            self.waiting = None;
            let res = Response::parse_from_bytes(&body)
                .map_err(|e| io::Error::new(ErrorKind::InvalidData, e))?;
            let refused = res
                .status
                .as_ref()
                .filter(|s| s.code.value() != 0)
                .map(|s| s.message.clone());
            return Ok(Some(refused));
        }
        Ok(None)
    }
}

pub struct Forwarder {
    events: Arc<Publisher>,
    conn: Option<Conn>,
    /// No attempt before this, after a failed one.
    retry_at: Option<Instant>,
    backoff: Duration,
    /// Attempts have been failing (logged once per outage).
    failing: bool,
}

impl Forwarder {
    pub fn new(events: Arc<Publisher>) -> Forwarder {
        Forwarder {
            events,
            conn: None,
            retry_at: None,
            backoff: RETRY_FIRST,
            failing: false,
        }
    }

    /// The connection for the loop to poll, if there is one.
    pub fn pollfd(&self) -> Option<libc::pollfd> {
        let c = self.conn.as_ref()?;
        let mut events = libc::POLLIN;
        if !c.wbuf.is_empty() {
            events |= libc::POLLOUT;
        }
        Some(libc::pollfd {
            fd: c.stream.as_raw_fd(),
            events,
            revents: 0,
        })
    }

    /// When `run` is due again without any socket becoming ready: the
    /// answer's deadline, or the next retry while events wait.
    pub fn deadline(&self) -> Option<Instant> {
        if let Some((_, sent)) = self.conn.as_ref().and_then(|c| c.waiting) {
            return Some(sent + ANSWER_TIMEOUT);
        }
        self.retry_at.filter(|_| !self.events.is_empty())
    }

    /// containerd is talking to the shim: try now, not at the next retry.
    pub fn retry_now(&mut self) {
        self.retry_at = None;
        self.backoff = RETRY_FIRST;
    }

    /// No event waits to be delivered.
    pub fn idle(&self) -> bool {
        self.events.is_empty()
    }

    /// Does what is due: the connection's reads and writes (`revents`
    /// from its pollfd, 0 if it was not polled), containerd's answer, the
    /// next event.
    pub fn run(&mut self, revents: libc::c_short, now: Instant) {
        if let Err(e) = self.step(revents, now) {
            self.failed(&e, now);
        }
    }

    fn step(&mut self, revents: libc::c_short, now: Instant) -> io::Result<()> {
        if let Some(c) = self.conn.as_mut() {
            if revents & libc::POLLOUT != 0 {
                c.flush()?;
            }
            let eof = revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0 && c.read()?;
            if let Some(refused) = c.answer()? {
                if let Some(msg) = refused {
                    // containerd would refuse it again: not retried.
                    tracing::warn!("containerd refused an event: {msg}");
                }
                self.events.pop();
                if self.failing {
                    tracing::info!("containerd is back: delivering the queued events");
                    self.failing = false;
                }
            }
            if eof {
                return Err(ErrorKind::UnexpectedEof.into());
            }
            if let Some((_, sent)) = c.waiting {
                if now >= sent + ANSWER_TIMEOUT {
                    return Err(io::Error::new(
                        ErrorKind::TimedOut,
                        "containerd did not answer a Forward",
                    ));
                }
                return Ok(());
            }
        }
        self.send_next(now)
    }

    fn send_next(&mut self, now: Instant) -> io::Result<()> {
        if self.retry_at.is_some_and(|t| now < t) {
            return Ok(());
        }
        let Some(payload) = self.events.front() else {
            return Ok(());
        };
        let c = match self.conn.as_mut() {
            Some(c) => c,
            None => self.conn.insert(Conn::open(&self.events.address)?),
        };
        c.send(payload, now)?;
        self.retry_at = None;
        self.backoff = RETRY_FIRST;
        Ok(())
    }

    /// The connection is unusable (or could not be made): drop it; the
    /// event in flight, if any, is still first in the queue.
    fn failed(&mut self, e: &io::Error, now: Instant) {
        self.conn = None;
        if self.events.is_empty() {
            return; // containerd closed an idle connection (it stopped).
        }
        if !self.failing {
            tracing::warn!(
                "cannot reach containerd at {} ({e}): events are kept until it is back",
                self.events.address.display()
            );
            self.failing = true;
        }
        self.retry_at = Some(now + self.backoff);
        self.backoff = (self.backoff * 2).min(RETRY_LAST);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::Event;
    use containerd_shim::protos::events::task::TaskOOM;
    use containerd_shim::protos::shim::events::ForwardRequest;
    use std::os::unix::net::UnixListener;

    /// Runs the forwarder as the server loop would, until `until` holds or
    /// 5 s have passed.
    fn drive(f: &mut Forwarder, until: impl Fn(&Forwarder) -> bool) {
        let end = Instant::now() + Duration::from_secs(5);
        while !until(f) && Instant::now() < end {
            let mut fds: Vec<libc::pollfd> = f.pollfd().into_iter().collect();
            let _ = berth::api::poll(&mut fds, 10);
            f.run(fds.first().map_or(0, |p| p.revents), Instant::now());
        }
    }

    /// A fake containerd: answers `n` Forwards on one connection (an error
    /// status for the ids in `refuse`) and returns the container ids, in
    /// the order received.
    fn serve(l: &UnixListener, n: usize, refuse: &[&str]) -> Vec<String> {
        let (mut s, _) = l.accept().unwrap();
        let mut got = Vec::new();
        let mut buf = Vec::new();
        while got.len() < n {
            let mut chunk = [0u8; 4096];
            let k = s.read(&mut chunk).unwrap();
            assert!(k > 0, "the forwarder closed the connection");
            buf.extend_from_slice(&chunk[..k]);
            while let Some((h, body)) = wire::next_message(&mut buf).unwrap() {
                let req = Request::parse_from_bytes(&body).unwrap();
                assert_eq!(
                    (req.service.as_str(), req.method.as_str()),
                    (EVENTS_SERVICE, "Forward")
                );
                let fwd = ForwardRequest::parse_from_bytes(&req.payload).unwrap();
                let ev = fwd.envelope.event.as_ref().unwrap();
                let id = TaskOOM::parse_from_bytes(&ev.value).unwrap().container_id;
                let res = if refuse.contains(&id.as_str()) {
                    wire::error_response(
                        containerd_shim::protos::ttrpc::Code::INVALID_ARGUMENT,
                        "no".into(),
                    )
                } else {
                    Response::new().write_to_bytes().unwrap()
                };
                s.write_all(&wire::frame(h.stream_id, wire::TYPE_RESPONSE, &res))
                    .unwrap();
                got.push(id);
            }
        }
        got
    }

    /// Events published while containerd is away wait, and are delivered
    /// in order, each once, when it is back; a refused one is not retried;
    /// after containerd restarts (the connection breaks) the next events
    /// go to the new instance.
    #[test]
    fn events_wait_for_containerd_and_arrive_once_in_order() {
        let dir = std::env::temp_dir().join(format!("berth-shim-fwd-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let sock = dir.join("ttrpc");
        let events = Arc::new(Publisher::new("ns".into(), sock.to_str().unwrap()));
        let mut f = Forwarder::new(Arc::clone(&events));
        for id in ["a", "b", "c"] {
            events.publish(Event::Oom(id.into()));
        }
        drive(&mut f, |f| {
            f.retry_at.is_some() && f.backoff > RETRY_FIRST * 2
        });
        assert!(!f.idle(), "events are kept while containerd is away");

        let l = UnixListener::bind(&sock).unwrap();
        let server = std::thread::spawn(move || {
            let first = serve(&l, 3, &["b"]);
            let second = serve(&l, 1, &[]);
            (first, second)
        });
        f.retry_now();
        drive(&mut f, Forwarder::idle);
        assert!(f.idle(), "the backlog was delivered");
        // containerd restarts: the old connection breaks.
        std::thread::sleep(Duration::from_millis(100));
        events.publish(Event::Oom("d".into()));
        drive(&mut f, Forwarder::idle);
        let (first, second) = server.join().unwrap();
        assert_eq!(first, ["a", "b", "c"]);
        assert_eq!(second, ["d"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// containerd answers and closes the connection at once (it is
    /// stopping): the answer, read with the end of the connection, still
    /// counts, and the event is not sent again.
    #[test]
    fn an_answer_read_with_the_connection_end_counts() {
        let dir = std::env::temp_dir().join(format!("berth-shim-fwd-eof-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let sock = dir.join("ttrpc");
        let l = UnixListener::bind(&sock).unwrap();
        let events = Arc::new(Publisher::new("ns".into(), sock.to_str().unwrap()));
        let mut f = Forwarder::new(Arc::clone(&events));
        events.publish(Event::Oom("x".into()));
        f.run(0, Instant::now()); // connects and sends
        let got = std::thread::scope(|s| s.spawn(|| serve(&l, 1, &[])).join().unwrap());
        assert_eq!(got, ["x"]);
        // Both the answer and the end of the connection wait to be read.
        drive(&mut f, |f| f.idle() && f.conn.is_none());
        assert!(f.idle(), "the answered event left the queue");
        l.set_nonblocking(true).unwrap();
        assert!(l.accept().is_err(), "the event was not sent again");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
