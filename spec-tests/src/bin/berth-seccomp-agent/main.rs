//! berth-seccomp-agent: a seccomp agent for the SCMP_ACT_NOTIFY cases.
//!
//! Usage: `berth-seccomp-agent SOCKET OUTDIR CONNECTIONS TIMEOUT_SECS`
//!
//! Listens on the unix socket SOCKET (SOCK_STREAM), writes `OUTDIR/ready`
//! once it accepts connections, and for each of CONNECTIONS connections
//! reads one container process state (JSON, the listener fd in SCM_RIGHTS),
//! checks its shape and saves it as `OUTDIR/state-N.json` (and whether the
//! runtime closed the connection after it as `OUTDIR/conn-N`). It then answers
//! the notifications of every listener, steered by the state's `metadata`
//! (`key=value` pairs separated by `;`):
//! - `errno=N`: mkdir and mkdirat fail with errno N;
//! - `value=N`: getpgid returns N;
//! - any other notified syscall is let through (SECCOMP_USER_NOTIF_FLAG_CONTINUE).
//!
//! Every event is a line in `OUTDIR/log`. It exits 0 once CONNECTIONS states
//! were received and every listener is gone (all processes of the filters
//! exited), 1 on a malformed state, and 3 after TIMEOUT_SECS in any case: a
//! case never hangs on it.

use serde_json::Value;
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

struct Listener {
    fd: OwnedFd,
    errno: Option<i32>,
    value: Option<i64>,
}

struct Agent {
    out: PathBuf,
    log: std::fs::File,
    listeners: Vec<Listener>,
    states: usize,
}

impl Agent {
    fn log(&mut self, line: &str) {
        let _ = writeln!(self.log, "{line}");
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [socket, out, conns, timeout] = args.as_slice() else {
        eprintln!("usage: berth-seccomp-agent SOCKET OUTDIR CONNECTIONS TIMEOUT_SECS");
        std::process::exit(2);
    };
    let (Ok(conns), Ok(timeout)) = (conns.parse::<usize>(), timeout.parse::<u64>()) else {
        eprintln!("berth-seccomp-agent: CONNECTIONS and TIMEOUT_SECS must be numbers");
        std::process::exit(2);
    };
    let code = match run(Path::new(socket), Path::new(out), conns, timeout) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("berth-seccomp-agent: {e}");
            1
        }
    };
    let _ = std::fs::remove_file(socket);
    std::process::exit(code);
}

fn run(socket: &Path, out: &Path, conns: usize, timeout: u64) -> Result<i32, String> {
    let server = UnixListener::bind(socket).map_err(|e| format!("bind {socket:?}: {e}"))?;
    server
        .set_nonblocking(true)
        .map_err(|e| format!("nonblocking: {e}"))?;
    let log = std::fs::File::create(out.join("log")).map_err(|e| format!("log: {e}"))?;
    let mut agent = Agent {
        out: out.to_path_buf(),
        log,
        listeners: Vec::new(),
        states: 0,
    };
    std::fs::write(out.join("ready"), "").map_err(|e| format!("ready: {e}"))?;
    let deadline = Instant::now() + Duration::from_secs(timeout);
    while agent.states < conns || !agent.listeners.is_empty() {
        if Instant::now() > deadline {
            agent.log("timeout");
            return Ok(3);
        }
        let mut fds = vec![pollfd(server.as_raw_fd())];
        fds.extend(agent.listeners.iter().map(|l| pollfd(l.fd.as_raw_fd())));
        // SAFETY: `fds` is a valid array of pollfds of the length passed.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, 100) };
        if n <= 0 {
            continue;
        }
        if fds[0].revents & libc::POLLIN != 0 {
            if let Ok((conn, _)) = server.accept() {
                accept(&mut agent, conn)?;
            }
        }
        let mut gone = Vec::new();
        for (i, p) in fds[1..].iter().enumerate() {
            if p.revents & libc::POLLIN != 0 {
                answer(&mut agent, i);
            } else if p.revents & (libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0 {
                gone.push(i);
            }
        }
        for i in gone.into_iter().rev() {
            agent.listeners.remove(i);
            agent.log("listener closed");
        }
    }
    agent.log("done");
    Ok(0)
}

fn pollfd(fd: RawFd) -> libc::pollfd {
    libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    }
}

/// Reads one container process state and its fd from `conn`: until the JSON
/// is complete (runc 1.1 keeps the connection open until it exits), then
/// notes in `OUTDIR/conn-N` whether the runtime closed the connection right
/// after the state ("closed") or left it open ("open"), as the spec demands.
fn accept(agent: &mut Agent, conn: UnixStream) -> Result<(), String> {
    conn.set_nonblocking(false).map_err(|e| e.to_string())?;
    conn.set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    let mut data = Vec::new();
    let mut fds = Vec::new();
    let mut closed = false;
    while serde_json::from_slice::<Value>(&data).is_err() {
        let (chunk, got) = recv(&conn)?;
        if chunk.is_empty() {
            closed = true;
            break;
        }
        if !data.is_empty() && !got.is_empty() {
            return Err("fds arrived after the first sendmsg".into());
        }
        data.extend(chunk);
        fds.extend(got);
    }
    if !closed {
        conn.set_read_timeout(Some(Duration::from_secs(1)))
            .map_err(|e| e.to_string())?;
        match recv(&conn) {
            Ok((chunk, got)) if chunk.is_empty() && got.is_empty() => closed = true,
            Ok(_) => return Err("more data after the container process state".into()),
            Err(_) => {}
        }
    }
    let n = agent.states;
    agent.states += 1;
    let conn_state = if closed { "closed" } else { "open" };
    std::fs::write(agent.out.join(format!("conn-{n}")), conn_state)
        .map_err(|e| format!("save conn state: {e}"))?;
    std::fs::write(agent.out.join(format!("state-{n}.json")), &data)
        .map_err(|e| format!("save state: {e}"))?;
    let doc: Value =
        serde_json::from_slice(&data).map_err(|e| format!("state is not JSON: {e}"))?;
    check_state(&doc, fds.len())?;
    let meta = doc["metadata"].as_str().unwrap_or("");
    let pick = |key: &str| {
        meta.split(';')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == key)
            .and_then(|(_, v)| v.parse::<i64>().ok())
    };
    let fd = fds.pop().ok_or("no fd")?;
    agent.log(&format!(
        "state {n}: pid {} status {}",
        doc["pid"], doc["state"]["status"]
    ));
    agent.listeners.push(Listener {
        fd,
        errno: pick("errno").map(|e| e as i32),
        value: pick("value"),
    });
    Ok(())
}

fn check_state(doc: &Value, nfds: usize) -> Result<(), String> {
    let fail = |m: &str| Err(format!("bad container process state ({m}): {doc}"));
    if nfds != 1 {
        return fail(&format!("{nfds} fds in SCM_RIGHTS"));
    }
    if doc["ociVersion"].as_str().is_none_or(str::is_empty) {
        return fail("ociVersion");
    }
    if doc["fds"] != serde_json::json!(["seccompFd"]) {
        return fail("fds");
    }
    if doc["pid"].as_i64().is_none_or(|p| p <= 0) {
        return fail("pid");
    }
    let st = &doc["state"];
    for key in ["ociVersion", "id", "status", "bundle"] {
        if !st[key].is_string() {
            return fail(&format!("state.{key}"));
        }
    }
    if st["pid"].as_i64().is_none_or(|p| p <= 0) {
        return fail("state.pid");
    }
    Ok(())
}

/// One recvmsg: the bytes and any fds attached.
fn recv(conn: &UnixStream) -> Result<(Vec<u8>, Vec<OwnedFd>), String> {
    let mut buf = vec![0u8; 65536];
    let mut cbuf = [0u64; 16];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: msghdr is plain data; it points at buffers that live across the call.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&cbuf);
    // SAFETY: a valid socket and msghdr.
    let n = unsafe { libc::recvmsg(conn.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) };
    if n < 0 {
        return Err(format!("recvmsg: {}", std::io::Error::last_os_error()));
    }
    let mut fds = Vec::new();
    // SAFETY: walking the control messages the kernel wrote into `cbuf`.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_RIGHTS {
                let data = libc::CMSG_DATA(c).cast::<RawFd>();
                let len = (*c).cmsg_len as usize - libc::CMSG_LEN(0) as usize;
                for i in 0..len / std::mem::size_of::<RawFd>() {
                    fds.push(OwnedFd::from_raw_fd(data.add(i).read_unaligned()));
                }
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    buf.truncate(n as usize);
    Ok((buf, fds))
}

/// Receives one notification on listener `i` and answers it.
fn answer(agent: &mut Agent, i: usize) {
    let l = &agent.listeners[i];
    // SAFETY: the kernel requires a zeroed seccomp_notif; both ioctls get
    // pointers to structs we own, of the sizes their request codes encode.
    let (nr, pid, sent) = unsafe {
        let mut req: libc::seccomp_notif = std::mem::zeroed();
        if libc::ioctl(l.fd.as_raw_fd(), libc::SECCOMP_IOCTL_NOTIF_RECV, &mut req) != 0 {
            // The notifying process died meanwhile (ENOENT) or was interrupted.
            return;
        }
        let nr = i64::from(req.data.nr);
        let mut resp: libc::seccomp_notif_resp = std::mem::zeroed();
        resp.id = req.id;
        match (nr, l.errno, l.value) {
            (libc::SYS_mkdir | libc::SYS_mkdirat, Some(e), _) => resp.error = -e,
            (libc::SYS_getpgid, _, Some(v)) => resp.val = v,
            _ => resp.flags = libc::SECCOMP_USER_NOTIF_FLAG_CONTINUE as u32,
        }
        let sent = libc::ioctl(l.fd.as_raw_fd(), libc::SECCOMP_IOCTL_NOTIF_SEND, &resp) == 0;
        (nr, req.pid, sent)
    };
    agent.log(&format!("notification: nr {nr} pid {pid} answered {sent}"));
}
