//! SCMP_ACT_NOTIFY: listener settings are checked before the cache, and the
//! agent gets the container process state with the fd attached.

use std::os::fd::AsFd;
use std::os::unix::net::UnixListener;

use oci_spec::runtime::LinuxSeccomp;
use serde_json::{json, Value};

use crate::seccomp::{listener, load_or_compile, Agent};

fn typed(v: Value) -> LinuxSeccomp {
    serde_json::from_value(v).unwrap()
}

fn notify_profile(extra: Value) -> Value {
    let mut p = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [
            { "names": ["getpid"], "action": "SCMP_ACT_ALLOW" },
            { "names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY" }
        ]
    });
    for (k, v) in extra.as_object().unwrap() {
        p[k] = v.clone();
    }
    p
}

#[test]
fn listener_settings_are_checked() {
    let err = |v: Value| listener::check(&typed(v)).unwrap_err().to_string();
    assert!(err(notify_profile(json!({})))
        .starts_with("linux.seccomp.listenerPath: is required: syscalls[1] uses SCMP_ACT_NOTIFY"));
    assert!(err(notify_profile(json!({ "listenerPath": "" })))
        .starts_with("linux.seccomp.listenerPath: is required"));
    assert_eq!(
        err(json!({ "defaultAction": "SCMP_ACT_ALLOW", "listenerMetadata": "x" })),
        "linux.seccomp.listenerMetadata: must not be set without listenerPath"
    );
    listener::check(&typed(notify_profile(
        json!({ "listenerPath": "/run/a.sock" }),
    )))
    .unwrap();
    // listenerPath without NOTIFY is ignored (the spec).
    listener::check(&typed(
        json!({ "defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/x" }),
    ))
    .unwrap();
}

/// The cache key leaves the listener settings out, so a cached program must
/// not let a profile without listenerPath through.
#[test]
fn the_cache_does_not_bypass_the_listener_check() {
    let root = std::env::temp_dir().join(format!("berth-notify-cache.{}", std::process::id()));
    std::fs::create_dir_all(&root).unwrap();
    let good = typed(notify_profile(
        json!({ "listenerPath": "/run/a.sock", "listenerMetadata": "m" }),
    ));
    let p = load_or_compile(&root, &good).unwrap();
    assert!(p.notify);
    assert_ne!(p.flags & libc::SECCOMP_FILTER_FLAG_NEW_LISTENER as u32, 0);
    let cached = load_or_compile(&root, &good).unwrap();
    assert_eq!(cached, p);
    let bad = typed(notify_profile(json!({})));
    assert!(load_or_compile(&root, &bad).is_err());
    let bad = typed(notify_profile(json!({ "listenerMetadata": "m" })));
    assert!(load_or_compile(&root, &bad).is_err());
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn agent_gets_the_process_state_and_the_fd() {
    let dir = std::env::temp_dir().join(format!("berth-notify-agent.{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("agent.sock");
    let server = UnixListener::bind(&path).unwrap();
    let agent = Agent::of(&typed(notify_profile(
        json!({ "listenerPath": path, "listenerMetadata": "errno=18" }),
    )))
    .unwrap();
    let state = br#"{"ociVersion":"1.2.1","id":"c1","status":"creating","pid":42,"bundle":"/b"}"#;
    let doc = agent.process_state("1.2.1", 42, state);
    let file = std::fs::File::open("/proc/self/stat").unwrap();
    agent.send(&doc, file.as_fd()).unwrap();
    let (conn, _) = server.accept().unwrap();
    let mut buf = vec![0u8; 4096];
    let (n, fds) = crate::sys::scm::recv_with_fds(conn.as_fd(), &mut buf).unwrap();
    assert_eq!(fds.len(), 1);
    let v: Value = serde_json::from_slice(&buf[..n]).unwrap();
    assert_eq!(
        v,
        json!({
            "ociVersion": "1.2.1",
            "fds": ["seccompFd"],
            "pid": 42,
            "metadata": "errno=18",
            "state": {"ociVersion": "1.2.1", "id": "c1", "status": "creating", "pid": 42, "bundle": "/b"}
        })
    );
    // One state per connection: the runtime closed its end.
    let (n, _) = crate::sys::scm::recv_with_fds(conn.as_fd(), &mut buf).unwrap();
    assert_eq!(n, 0);
    // No agent listening: runc's words, then the path and Go's errno text.
    drop(server);
    std::fs::remove_file(&path).unwrap();
    let err = agent.send(&doc, file.as_fd()).unwrap_err().to_string();
    assert!(
        err.starts_with("linux.seccomp.listenerPath: failed to connect with seccomp agent specified in the seccomp profile: dial unix ")
            && err.ends_with("agent.sock: connect: no such file or directory"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
