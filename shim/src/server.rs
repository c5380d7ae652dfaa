//! The shim's ttrpc server: one event loop (the main thread) and one worker
//! thread ("task"), instead of ttrpc's server with its listener, reaper and
//! per-connection reader, writer and handler pool (6+ threads per shim).
//!
//! - The loop accepts containerd's connections, reads requests, writes
//!   responses, all non-blocking under one poll(2).
//! - Every request but Wait goes to the worker, in arrival order: the
//!   Task service's calls run runtime commands and block. The worker hands
//!   the encoded response back through the outbox and wakes the loop.
//! - Wait is answered by the loop itself: at once when the process already
//!   exited (or does not exist), else *parked* until `Tasks` reports a
//!   change (an exit, a delete), so a pod's many pending Waits cost no
//!   thread at all.
//!
//! - The loop also delivers the shim's events to containerd (`forward`),
//!   on a non-blocking connection polled with the others.
//!
//! The loop ends once Shutdown was accepted, its response written and the
//! queued events delivered (or, if containerd cannot be reached, after
//! `SHUTDOWN_GRACE`).

use std::collections::HashMap;
use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use berth::api::{poll, pollin};
use containerd_shim::api::WaitRequest;
use containerd_shim::protos::protobuf::Message;
use containerd_shim::protos::ttrpc::{Code, MessageHeader, MethodHandler, Request, TtrpcContext};
use nix::fcntl::OFlag;
use nix::unistd::pipe2;

use crate::container::Tasks;
use crate::forward::Forwarder;
use crate::wire::{self, Header};

/// The Task service's handlers by path (`/containerd.task.v2.Task/Create`).
pub type Methods = HashMap<String, Box<dyn MethodHandler + Send + Sync>>;

const WAIT_PATH: &str = "/containerd.task.v2.Task/Wait";

/// After Shutdown, how long the shim still tries to deliver its last
/// events when containerd does not take them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// One request for the worker (or parked): the connection it came on.
struct Job {
    conn: u64,
    header: Header,
    req: Request,
}

type Outbox = Arc<Mutex<Vec<(u64, Vec<u8>)>>>;

/// Wakes the loop from other threads: a byte down a non-blocking pipe (a
/// full pipe already means "look").
#[derive(Clone)]
pub struct Waker(Arc<OwnedFd>);

impl Waker {
    pub fn wake(&self) {
        let _ = nix::unistd::write(&*self.0, b"x");
    }
}

struct Conn {
    stream: UnixStream,
    rbuf: Vec<u8>,
    wbuf: Vec<u8>,
}

pub struct Server {
    listener: UnixListener,
    conns: HashMap<u64, Conn>,
    next_conn: u64,
    wake_r: File,
    jobs: Sender<Job>,
    /// Requests sent to the worker whose response is not back yet.
    in_flight: usize,
    outbox: Outbox,
    parked: Vec<(Job, WaitRequest)>,
    methods: Arc<Methods>,
    tasks: Arc<Tasks>,
    forward: Forwarder,
    /// When the loop first saw Shutdown accepted.
    shutdown_at: Option<Instant>,
}

/// Runs one request's handler; the encoded response message.
fn handle(methods: &Methods, job: Job) -> Vec<u8> {
    let stream_id = job.header.stream_id;
    let path = format!("/{}/{}", job.req.service, job.req.method);
    let Some(method) = methods.get(&path) else {
        let body = wire::error_response(Code::UNIMPLEMENTED, format!("{path} does not exist"));
        return wire::frame(stream_id, wire::TYPE_RESPONSE, &body);
    };
    let (tx, rx) = channel();
    let ctx = TtrpcContext {
        // The connection's number: the service does not look at it.
        fd: i32::try_from(job.conn).unwrap_or(i32::MAX),
        cancel_rx: crossbeam_channel::never(),
        mh: MessageHeader {
            length: job.header.length,
            stream_id,
            type_: job.header.kind,
            flags: job.header.flags,
        },
        res_tx: tx,
        metadata: HashMap::new(),
        timeout_nano: job.req.timeout_nano,
    };
    let body = match method.handler(ctx, job.req) {
        // The generated handler answers through the channel.
        Ok(()) => rx.try_recv().map(|(_, b)| b).unwrap_or_else(|_| {
            wire::error_response(Code::INTERNAL, format!("{path}: no response"))
        }),
        Err(e) => wire::error_response(Code::INVALID_ARGUMENT, format!("{path}: {e:?}")),
    };
    wire::frame(stream_id, wire::TYPE_RESPONSE, &body)
}

/// The worker: runs jobs in order until the loop is gone.
fn worker(jobs: Receiver<Job>, methods: Arc<Methods>, outbox: Outbox, waker: Waker) {
    for job in jobs {
        let conn = job.conn;
        let out = handle(&methods, job);
        outbox
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((conn, out));
        waker.wake();
    }
}

impl Server {
    /// A server on `listener` (already bound); starts the worker thread and
    /// tells `tasks` to wake the loop on every change.
    pub fn new(
        listener: UnixListener,
        methods: Methods,
        tasks: Arc<Tasks>,
    ) -> std::io::Result<Server> {
        listener.set_nonblocking(true)?;
        let (r, w) = pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK)?;
        let waker = Waker(Arc::new(w));
        let methods = Arc::new(methods);
        let outbox = Outbox::default();
        let (jobs, rx) = channel();
        let (m, o, wk) = (Arc::clone(&methods), Arc::clone(&outbox), waker.clone());
        std::thread::Builder::new()
            .name("task".into())
            .stack_size(256 * 1024)
            .spawn(move || worker(rx, m, o, wk))?;
        let wk = waker.clone();
        tasks.events.set_waker(Box::new(move || wk.wake()));
        tasks.set_on_change(Box::new(move || waker.wake()));
        Ok(Server {
            listener,
            conns: HashMap::new(),
            next_conn: 0,
            wake_r: File::from(r),
            jobs,
            in_flight: 0,
            outbox,
            parked: Vec::new(),
            methods,
            forward: Forwarder::new(Arc::clone(&tasks.events)),
            tasks,
            shutdown_at: None,
        })
    }

    /// Serves until Shutdown (see the module doc).
    pub fn run(mut self) {
        loop {
            let now = Instant::now();
            if self.finished(now) {
                return;
            }
            let ids: Vec<u64> = self.conns.keys().copied().collect();
            let mut fds = self.pollfds(&ids);
            let fwd = self.forward.pollfd();
            fds.extend(fwd);
            if let Err(e) = poll(&mut fds, self.timeout_ms(now)) {
                tracing::warn!("server poll: {e}");
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
            if fds[1].revents != 0 {
                self.drain_wake();
                self.take_outbox();
                self.check_parked();
            }
            if fds[0].revents != 0 {
                self.accept();
            }
            for (id, pfd) in ids.iter().zip(&fds[2..2 + ids.len()]) {
                if pfd.revents != 0 {
                    self.serve_conn(*id, pfd.revents);
                }
            }
            let revents = fwd.and(fds.last()).map_or(0, |p| p.revents);
            self.forward.run(revents, Instant::now());
        }
    }

    /// Shutdown was accepted, every response written and the events
    /// delivered (or the grace for them is over).
    fn finished(&mut self, now: Instant) -> bool {
        if !self.tasks.shutting_down() {
            return false;
        }
        if self.shutdown_at.is_none() {
            self.shutdown_at = Some(now);
            self.forward.retry_now(); // containerd is there: it just asked
        }
        let grace_over = self.shutdown_at.is_some_and(|t| now >= t + SHUTDOWN_GRACE);
        self.in_flight == 0
            && self.conns.values().all(|c| c.wbuf.is_empty())
            && (self.forward.idle() || grace_over)
    }

    /// The listener, the wake-up pipe, then the connections `ids`.
    fn pollfds(&self, ids: &[u64]) -> Vec<libc::pollfd> {
        let mut fds = vec![
            pollin(self.listener.as_raw_fd()),
            pollin(self.wake_r.as_raw_fd()),
        ];
        for id in ids {
            let c = &self.conns[id];
            let mut ev = libc::POLLIN;
            if !c.wbuf.is_empty() {
                ev |= libc::POLLOUT;
            }
            fds.push(libc::pollfd {
                fd: c.stream.as_raw_fd(),
                events: ev,
                revents: 0,
            });
        }
        fds
    }

    /// How long poll may wait: until the forwarder's next deadline or the
    /// end of the shutdown grace; forever (-1) without either.
    fn timeout_ms(&self, now: Instant) -> i32 {
        let grace = self.shutdown_at.map(|t| t + SHUTDOWN_GRACE);
        let next = match (self.forward.deadline(), grace) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        next.map_or(-1, |t| {
            // Rounded up: waking a millisecond early would spin.
            let ms = t.saturating_duration_since(now).as_micros().div_ceil(1000);
            i32::try_from(ms).unwrap_or(i32::MAX)
        })
    }

    fn drain_wake(&mut self) {
        let mut buf = [0u8; 64];
        while matches!(self.wake_r.read(&mut buf), Ok(n) if n > 0) {}
    }

    fn accept(&mut self) {
        loop {
            match self.listener.accept() {
                Ok((stream, _)) => {
                    if let Err(e) = stream.set_nonblocking(true) {
                        tracing::warn!("ttrpc connection: {e}");
                        continue;
                    }
                    self.next_conn += 1;
                    // containerd (re)connected: events waiting for it go now.
                    self.forward.retry_now();
                    let conn = Conn {
                        stream,
                        rbuf: Vec::new(),
                        wbuf: Vec::new(),
                    };
                    self.conns.insert(self.next_conn, conn);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    tracing::warn!("accept: {e}");
                    return;
                }
            }
        }
    }

    /// Reads and writes what the connection is ready for; drops it at EOF
    /// or on an error.
    fn serve_conn(&mut self, id: u64, revents: libc::c_short) {
        let alive = (revents & libc::POLLOUT == 0 || self.flush(id))
            && (revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) == 0 || self.read(id));
        if !alive {
            self.conns.remove(&id);
            self.parked.retain(|(j, _)| j.conn != id);
        }
    }

    /// Reads all that is there and dispatches complete requests; false once
    /// the connection is finished.
    fn read(&mut self, id: u64) -> bool {
        let mut buf = [0u8; 16 * 1024];
        let mut eof = false;
        let mut messages = Vec::new();
        {
            let Some(c) = self.conns.get_mut(&id) else {
                return false;
            };
            loop {
                match c.stream.read(&mut buf) {
                    Ok(0) => {
                        eof = true;
                        break;
                    }
                    Ok(n) => c.rbuf.extend_from_slice(&buf[..n]),
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(_) => return false,
                }
            }
            loop {
                match wire::next_message(&mut c.rbuf) {
                    Ok(Some(m)) => messages.push(m),
                    Ok(None) => break,
                    Err(e) => {
                        tracing::warn!("ttrpc connection: {e}");
                        return false;
                    }
                }
            }
        }
        for (header, body) in messages {
            self.dispatch(id, header, &body);
        }
        !eof
    }

    fn dispatch(&mut self, conn: u64, header: Header, body: &[u8]) {
        if header.kind != wire::TYPE_REQUEST {
            return;
        }
        let req = match Request::parse_from_bytes(body) {
            Ok(r) => r,
            Err(e) => {
                let body = wire::error_response(Code::INVALID_ARGUMENT, e.to_string());
                self.respond(
                    conn,
                    wire::frame(header.stream_id, wire::TYPE_RESPONSE, &body),
                );
                return;
            }
        };
        let job = Job { conn, header, req };
        if format!("/{}/{}", job.req.service, job.req.method) == WAIT_PATH {
            if let Ok(w) = WaitRequest::parse_from_bytes(&job.req.payload) {
                if !self.tasks.wait_ready(&w.id, &w.exec_id) {
                    self.parked.push((job, w));
                    return;
                }
            }
            // Answered now: the handler does not block (or fails to decode).
            let out = handle(&self.methods, job);
            self.respond(conn, out);
            return;
        }
        match self.jobs.send(job) {
            Ok(()) => self.in_flight += 1,
            // Only if the task thread died (a bug): say so rather than
            // leave containerd waiting.
            Err(e) => {
                let body =
                    wire::error_response(Code::INTERNAL, "the shim's task thread is gone".into());
                let stream_id = e.0.header.stream_id;
                self.respond(conn, wire::frame(stream_id, wire::TYPE_RESPONSE, &body));
            }
        }
    }

    /// Answers the parked Waits whose process is gone.
    fn check_parked(&mut self) {
        let parked = std::mem::take(&mut self.parked);
        for (job, w) in parked {
            if self.tasks.wait_ready(&w.id, &w.exec_id) {
                let conn = job.conn;
                let out = handle(&self.methods, job);
                self.respond(conn, out);
            } else {
                self.parked.push((job, w));
            }
        }
    }

    fn take_outbox(&mut self) {
        let done = std::mem::take(&mut *self.outbox.lock().unwrap_or_else(|p| p.into_inner()));
        for (conn, out) in done {
            self.in_flight = self.in_flight.saturating_sub(1);
            self.respond(conn, out);
        }
    }

    /// Queues a response and writes what the socket takes now.
    fn respond(&mut self, conn: u64, out: Vec<u8>) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return; // The client went away.
        };
        c.wbuf.extend_from_slice(&out);
        if !self.flush(conn) {
            self.conns.remove(&conn);
            self.parked.retain(|(j, _)| j.conn != conn);
        }
    }

    /// Writes the connection's queued bytes; false on a broken connection.
    fn flush(&mut self, id: u64) -> bool {
        let Some(c) = self.conns.get_mut(&id) else {
            return false;
        };
        while !c.wbuf.is_empty() {
            match c.stream.write(&c.wbuf) {
                Ok(0) => return false,
                Ok(n) => {
                    c.wbuf.drain(..n);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return false,
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::Container;
    use crate::events::Publisher;
    use crate::options::Options;
    use crate::process::{Process, StdioPaths};
    use crate::pump::Pump;
    use crate::reaper::Reaper;
    use crate::runtime::Runtime;
    use crate::service::Service;
    use containerd_shim::api::{ConnectResponse, WaitResponse};
    use containerd_shim::protos::shim_sync::create_task;
    use containerd_shim::protos::ttrpc::Response;
    use std::time::Duration;

    fn request(stream_id: u32, method: &str, payload: Vec<u8>) -> Vec<u8> {
        let mut req = Request::new();
        req.service = "containerd.task.v2.Task".into();
        req.method = method.into();
        req.payload = payload;
        wire::frame(
            stream_id,
            wire::TYPE_REQUEST,
            &req.write_to_bytes().unwrap(),
        )
    }

    /// The next response: (stream id, status code, payload); None on timeout.
    fn response(s: &mut UnixStream) -> Option<(u32, i32, Vec<u8>)> {
        let mut head = [0u8; wire::HEADER_LEN];
        if let Err(e) = s.read_exact(&mut head) {
            assert_eq!(e.kind(), ErrorKind::WouldBlock, "{e}");
            return None;
        }
        let h = Header::parse(&head);
        let mut body = vec![0u8; h.length as usize];
        s.read_exact(&mut body).unwrap();
        let res = Response::parse_from_bytes(&body).unwrap();
        let code = res.status.as_ref().map_or(0, |st| st.code.value());
        Some((h.stream_id, code, res.payload))
    }

    fn container(tasks: &Tasks, id: &str, pid: i32) {
        let mut init = Process::new(String::new(), StdioPaths::default(), Vec::new());
        init.pid = pid;
        let c = Container {
            id: id.into(),
            bundle: "/nonexistent".into(),
            runtime: Runtime {
                binary: "/bin/false".into(),
                root: "/nonexistent".into(),
                log: "/nonexistent/log.json".into(),
                systemd_cgroup: false,
                reaper: Arc::clone(&tasks.reaper),
            },
            rootfs_mounted: false,
            options: Options::default(),
            init,
            execs: HashMap::new(),
        };
        tasks.lock().insert(id.into(), c);
    }

    /// Requests go through the worker, a Wait is parked until the exit and
    /// answered on its own stream while others are served, Shutdown ends
    /// the loop.
    #[test]
    fn waits_park_until_the_exit_and_shutdown_ends_the_loop() {
        let dir = std::env::temp_dir().join(format!("berth-shim-srv-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let sock = dir.join("s");
        let listener = UnixListener::bind(&sock).unwrap();
        // No reaper thread: it would reap the other tests' children.
        let reaper = Reaper::without_thread();
        let events = Publisher::new("ns".into(), "/nonexistent/ttrpc");
        let tasks = Tasks::new("ns".into(), reaper, events, Pump::start());
        let service = Service {
            tasks: Arc::clone(&tasks),
        };
        let server =
            Server::new(listener, create_task(Arc::new(service)), Arc::clone(&tasks)).unwrap();
        let loop_thread = std::thread::spawn(move || server.run());
        container(&tasks, "c1", 4242);

        let mut s = UnixStream::connect(&sock).unwrap();
        s.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let wait = WaitRequest {
            id: "c1".into(),
            ..Default::default()
        };
        s.write_all(&request(1, "Wait", wait.write_to_bytes().unwrap()))
            .unwrap();
        s.write_all(&request(3, "Connect", Vec::new())).unwrap();
        let (id, code, payload) = response(&mut s).expect("Connect answered");
        assert_eq!((id, code), (3, 0));
        let c = ConnectResponse::parse_from_bytes(&payload).unwrap();
        assert_eq!(c.shim_pid, std::process::id());
        assert!(response(&mut s).is_none(), "Wait answered before the exit");

        tasks.on_exit(4242, 3);
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let (id, code, payload) = response(&mut s).expect("Wait answered");
        assert_eq!((id, code), (1, 0));
        assert_eq!(
            WaitResponse::parse_from_bytes(&payload)
                .unwrap()
                .exit_status,
            3
        );

        // Unknown methods and containers: errors, the connection lives on.
        s.write_all(&request(5, "Nope", Vec::new())).unwrap();
        assert_eq!(response(&mut s).unwrap().1, Code::UNIMPLEMENTED as i32);
        let wait = WaitRequest {
            id: "nope".into(),
            ..Default::default()
        };
        s.write_all(&request(7, "Wait", wait.write_to_bytes().unwrap()))
            .unwrap();
        assert_eq!(response(&mut s).unwrap().1, Code::NOT_FOUND as i32);

        tasks.lock().clear();
        s.write_all(&request(9, "Shutdown", Vec::new())).unwrap();
        assert_eq!(response(&mut s).unwrap().0, 9);
        loop_thread.join().unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
