//! The runtime's side driven against a scripted peer over a real
//! socketpair: no namespaces, no root. The peer's packets are queued before
//! the runtime reads them (SOCK_SEQPACKET keeps them apart), and the
//! runtime's replies are read back afterwards.

use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd};

use super::serve::Stopped;
use super::*;
use crate::error::Error;

/// A host that records what it was asked to do.
#[derive(Default)]
struct Script {
    userns: bool,
    mapped: usize,
    devices: bool,
    moved: usize,
    hooks: bool,
    hooks_fail: bool,
    agent_fails: bool,
    hooks_ran: usize,
    listeners: usize,
}

impl Host for Script {
    fn mapping_wanted(&self) -> bool {
        self.userns
    }

    fn write_mappings(&mut self) -> Result<(), Error> {
        self.mapped += 1;
        Ok(())
    }

    fn net_devices_wanted(&self) -> bool {
        self.devices
    }

    fn move_net_devices(&mut self) -> Result<(), Error> {
        self.moved += 1;
        Ok(())
    }

    fn hooks_wanted(&self) -> bool {
        self.hooks
    }

    fn run_hooks(&mut self) -> Result<(), Error> {
        self.hooks_ran += 1;
        match self.hooks_fail {
            true => Err(Error::msg("error running prestart hook #0: exit 1")),
            false => Ok(()),
        }
    }

    fn hand_listener(&mut self, fd: BorrowedFd<'_>) -> Result<(), Error> {
        nix::sys::stat::fstat(fd).expect("the listener fd came through open");
        self.listeners += 1;
        match self.agent_fails {
            true => Err(Error::msg("seccomp agent: connect")),
            false => Ok(()),
        }
    }
}

fn with_hooks() -> Script {
    Script {
        hooks: true,
        ..Script::default()
    }
}

/// A message of the init's direction (with an fd for `Seccomp`).
fn msg(k: Kind) -> FromInit {
    match k {
        Kind::Mappings => FromInit::Mappings,
        Kind::NetDevices => FromInit::NetDevices,
        Kind::Hooks => FromInit::Hooks,
        Kind::Seccomp => FromInit::Seccomp(File::open("/dev/null").unwrap().into()),
        Kind::Ready => FromInit::Ready,
        Kind::Detached => FromInit::Detached,
        k => panic!("{k} is not sent by the init"),
    }
}

/// A pair whose init end has already sent `script`.
fn scripted(peer: Peer, script: &[Kind]) -> (RuntimeEnd, InitEnd) {
    let (rt, init) = pair(peer).unwrap();
    for &k in script {
        init.send(msg(k)).unwrap();
    }
    (rt, init)
}

/// The replies the runtime sent, as the init reads them.
fn replies(rt: RuntimeEnd, init: &InitEnd) -> Vec<ToInit> {
    drop(rt);
    std::iter::from_fn(|| init.recv().unwrap()).collect()
}

fn protocol_error(r: Result<(), Stopped>) -> SyncError {
    match r {
        Err(Stopped::Sync(e)) => e,
        other => panic!("expected a protocol error, got {other:?}"),
    }
}

#[test]
fn create_with_hooks_and_seccomp() {
    let (rt, init) = scripted(Peer::Init, &[Kind::Hooks, Kind::Seccomp, Kind::Ready]);
    let mut host = with_hooks();
    until_ready(&rt, &mut host).unwrap();
    assert_eq!((host.hooks_ran, host.listeners), (1, 1));
    init.send(FromInit::Detached).unwrap();
    release(&rt).unwrap();
    use ToInit::*;
    assert_eq!(replies(rt, &init), [HooksDone, SeccompDone, Ack]);
}

#[test]
fn create_with_a_user_namespace_maps_first() {
    let (rt, init) = scripted(Peer::Init, &[Kind::Mappings, Kind::Hooks, Kind::Ready]);
    let mut host = Script {
        userns: true,
        ..with_hooks()
    };
    until_ready(&rt, &mut host).unwrap();
    assert_eq!((host.mapped, host.hooks_ran), (1, 1));
    use ToInit::*;
    assert_eq!(replies(rt, &init), [Mapped, HooksDone]);
}

#[test]
fn a_user_namespace_init_that_skips_its_mapping_is_refused() {
    let (rt, _init) = scripted(Peer::Init, &[Kind::Ready]);
    let mut host = Script {
        userns: true,
        ..Script::default()
    };
    let e = protocol_error(until_ready(&rt, &mut host));
    assert!(
        e.to_string().contains("expected Mappings, got Ready"),
        "{e}"
    );
    assert_eq!(host.mapped, 0);
    // And Mappings is not legal without a new user namespace.
    let (rt, _init) = scripted(Peer::Init, &[Kind::Mappings]);
    let e = protocol_error(until_ready(&rt, &mut Script::default()));
    assert!(e.to_string().contains("got Mappings"), "{e}");
}

#[test]
fn net_devices_come_after_the_maps_and_before_the_hooks() {
    let script = [Kind::Mappings, Kind::NetDevices, Kind::Hooks, Kind::Ready];
    let (rt, init) = scripted(Peer::Init, &script);
    let mut host = Script {
        userns: true,
        devices: true,
        ..with_hooks()
    };
    until_ready(&rt, &mut host).unwrap();
    assert_eq!((host.mapped, host.moved, host.hooks_ran), (1, 1, 1));
    use ToInit::*;
    assert_eq!(replies(rt, &init), [Mapped, NetDevicesMoved, HooksDone]);
    // Skipped when due, or sent when the config moves none: refused.
    let devices = Script {
        devices: true,
        ..with_hooks()
    };
    let (rt, _init) = scripted(Peer::Init, &[Kind::Hooks]);
    let e = protocol_error(until_ready(&rt, &mut { devices }));
    assert!(
        e.to_string().contains("expected NetDevices, got Hooks"),
        "{e}"
    );
    let (rt, _init) = scripted(Peer::Init, &[Kind::NetDevices]);
    let e = protocol_error(until_ready(&rt, &mut with_hooks()));
    assert!(e.to_string().contains("got NetDevices"), "{e}");
}

#[test]
fn create_without_hooks_or_seccomp() {
    let (rt, init) = scripted(Peer::Init, &[Kind::Ready]);
    until_ready(&rt, &mut Script::default()).unwrap();
    init.send(FromInit::Detached).unwrap();
    release(&rt).unwrap();
    assert_eq!(replies(rt, &init), [ToInit::Ack]);
}

#[test]
fn an_init_error_reads_as_runc_has_it() {
    let (rt, init) = pair(Peer::Init).unwrap();
    let text = r#"exec: "nope": executable file not found in $PATH"#;
    init.send(FromInit::Error(text.into())).unwrap();
    let r = until_ready(&rt, &mut Script::default());
    assert!(r.as_ref().is_err_and(Stopped::reported));
    assert_eq!(
        Error::from(r.unwrap_err()).to_string(),
        format!("unable to start container process: {text}")
    );
    // The same from an init that failed after Ack.
    init.send(FromInit::Error("boom".into())).unwrap();
    let e = Error::from(release(&rt).unwrap_err());
    assert_eq!(e.to_string(), "unable to start container process: boom");
}

#[test]
fn a_long_error_arrives_whole() {
    // Each packet is read into a buffer of its own size (peeked first): a
    // text near the 64 KiB bound must still come through entire.
    let (rt, init) = pair(Peer::Init).unwrap();
    let text = "x".repeat(60_000);
    init.send(FromInit::Error(text.clone())).unwrap();
    let e = protocol_error(until_ready(&rt, &mut Script::default()));
    assert!(matches!(&e, SyncError::Reported { message, .. } if *message == text));
}

#[test]
fn an_init_error_after_the_hooks() {
    let (rt, init) = scripted(Peer::Init, &[Kind::Hooks]);
    init.send(FromInit::Error("mount: denied".into())).unwrap();
    let mut host = with_hooks();
    let e = protocol_error(until_ready(&rt, &mut host));
    assert!(
        matches!(&e, SyncError::Reported { peer: Peer::Init, message } if message == "mount: denied")
    );
    assert_eq!(host.hooks_ran, 1);
    assert_eq!(replies(rt, &init), [ToInit::HooksDone]);
}

#[test]
fn a_failing_hook_or_agent_stops_without_a_reply() {
    let (rt, init) = scripted(Peer::Init, &[Kind::Hooks]);
    let mut host = Script {
        hooks_fail: true,
        ..with_hooks()
    };
    match until_ready(&rt, &mut host) {
        Err(Stopped::Host(e)) => assert!(e.to_string().starts_with("error running prestart")),
        other => panic!("{other:?}"),
    }
    assert_eq!(replies(rt, &init), []);

    let (rt, init) = scripted(Peer::Init, &[Kind::Seccomp]);
    let mut host = Script {
        agent_fails: true,
        ..Script::default()
    };
    let r = until_ready(&rt, &mut host);
    assert!(matches!(r, Err(Stopped::Host(_))) && !r.as_ref().is_err_and(Stopped::reported));
    assert_eq!(replies(rt, &init), []);
}

/// `script` with hooks `hooks` is refused at its last message.
fn refused(hooks: bool, script: &[Kind], expected: &str) {
    let (rt, _init) = scripted(Peer::Init, script);
    let host = &mut Script {
        hooks,
        ..Script::default()
    };
    let e = protocol_error(until_ready(&rt, host));
    let got = *script.last().unwrap();
    match &e {
        SyncError::Unexpected {
            peer: Peer::Init,
            expected: x,
            got: g,
        } => assert_eq!((*x, *g), (expected, got), "{script:?}"),
        other => panic!("{script:?}: {other:?}"),
    }
    assert_eq!(
        e.to_string(),
        format!("unexpected message from container init: expected {expected}, got {got}")
    );
}

#[test]
fn out_of_order_messages_are_errors() {
    use Kind::*;
    // Hooks come first when there are some: skipping them is an error ...
    refused(true, &[Ready], "Hooks");
    refused(true, &[Seccomp], "Hooks");
    refused(true, &[Detached], "Hooks");
    // ... and they are never asked for when there are none, nor twice.
    refused(false, &[Hooks], "Seccomp or Ready");
    refused(true, &[Hooks, Hooks], "Seccomp or Ready");
    // One listener fd at most, then Ready.
    refused(false, &[Seccomp, Seccomp], "Ready");
    refused(true, &[Hooks, Seccomp, Hooks], "Ready");
    // Detached answers Ack only.
    refused(false, &[Detached], "Seccomp or Ready");
}

#[test]
fn release_wants_detached() {
    let (rt, _init) = scripted(Peer::Init, &[Kind::Ready]);
    assert_eq!(
        release(&rt).unwrap_err().to_string(),
        "unexpected message from container init: expected Detached, got Ready"
    );
}

#[test]
fn an_unknown_tag_is_an_error_never_eof() {
    // Unknown bytes, and the runtime's own tags coming back.
    for tag in [b'z', 0, b'h', b'A', b's'] {
        let (rt, init) = pair(Peer::Init).unwrap();
        init.send_raw(&[tag, b'x'], &[]).unwrap();
        let e = protocol_error(until_ready(&rt, &mut Script::default()));
        assert!(
            matches!(e, SyncError::UnknownTag { peer: Peer::Init, tag: t } if t == tag),
            "{e:?}"
        );
    }
    // In exec, where EOF would mean that execve happened.
    let (rt, init) = pair(Peer::Exec).unwrap();
    init.send_raw(b"?", &[]).unwrap();
    let r = until_exec(&rt, &mut Script::default());
    assert!(!r.as_ref().is_err_and(Stopped::reported));
    assert_eq!(
        protocol_error(r).to_string(),
        "unknown message tag 0x3f from exec process"
    );
}

#[test]
fn eof_at_each_step_of_create() {
    let text = "unable to start container process: container init exited without reporting";
    for sent in [&[][..], &[Kind::Hooks], &[Kind::Hooks, Kind::Seccomp]] {
        let (rt, init) = scripted(Peer::Init, sent);
        init.close_write();
        let e = protocol_error(until_ready(&rt, &mut with_hooks()));
        assert!(
            matches!(
                e,
                SyncError::Eof {
                    waiting_for: Kind::Ready
                }
            ),
            "{e:?}"
        );
        assert_eq!(Error::from(e).to_string(), text);
    }
    // Gone after Ready, before the runtime's Ack: its send fails.
    let (rt, init) = pair(Peer::Init).unwrap();
    drop(init);
    let e = release(&rt).unwrap_err();
    assert!(
        matches!(
            e,
            SyncError::Io {
                context: "release container init",
                ..
            }
        ),
        "{e:?}"
    );
    // Gone after Ack, before Detached.
    let (rt, init) = pair(Peer::Init).unwrap();
    init.close_write();
    let e = release(&rt).unwrap_err();
    assert!(
        matches!(
            e,
            SyncError::Eof {
                waiting_for: Kind::Detached
            }
        ),
        "{e:?}"
    );
    assert_eq!(
        e.to_string(),
        "unable to start container process: container init exited during create"
    );
}

#[test]
fn seccomp_without_its_fd() {
    let (rt, init) = pair(Peer::Init).unwrap();
    init.send_raw(b"S", &[]).unwrap();
    let e = protocol_error(until_ready(&rt, &mut Script::default()));
    assert!(matches!(e, SyncError::MissingFd), "{e:?}");
    assert_eq!(
        e.to_string(),
        "seccomp: the process reported a listener fd, but there is none or no listenerPath"
    );
    assert_eq!(replies(rt, &init), []);
}

#[test]
fn fds_come_only_with_seccomp() {
    let f = File::open("/dev/null").unwrap();
    let (rt, init) = pair(Peer::Init).unwrap();
    init.send_raw(b"R", &[f.as_fd()]).unwrap();
    let e = protocol_error(until_ready(&rt, &mut Script::default()));
    assert!(
        matches!(
            e,
            SyncError::StrayFds {
                kind: Kind::Ready,
                count: 1,
                ..
            }
        ),
        "{e:?}"
    );
    let (rt, init) = pair(Peer::Init).unwrap();
    init.send_raw(b"S", &[f.as_fd(), f.as_fd()]).unwrap();
    let e = protocol_error(until_ready(&rt, &mut Script::default()));
    assert!(
        matches!(
            e,
            SyncError::StrayFds {
                kind: Kind::Seccomp,
                count: 2,
                ..
            }
        ),
        "{e:?}"
    );
}

#[test]
fn in_exec_eof_is_execve() {
    let (rt, init) = pair(Peer::Exec).unwrap();
    drop(init);
    until_exec(&rt, &mut Script::default()).unwrap();
    // With a listener fd first.
    let (rt, init) = scripted(Peer::Exec, &[Kind::Seccomp]);
    init.close_write();
    let mut host = Script::default();
    until_exec(&rt, &mut host).unwrap();
    assert_eq!(host.listeners, 1);
    assert_eq!(replies(rt, &init), [ToInit::SeccompDone]);
}

#[test]
fn exec_errors_and_violations() {
    let (rt, init) = pair(Peer::Exec).unwrap();
    let text = r#"exec: "x": permission denied"#;
    init.send(FromInit::Error(text.into())).unwrap();
    let r = until_exec(&rt, &mut Script::default());
    assert!(r.as_ref().is_err_and(Stopped::reported));
    // As runc's ("exec failed: " comes later, at the CLI).
    assert_eq!(
        Error::from(r.unwrap_err()).to_string(),
        format!("unable to start container process: {text}")
    );
    for (script, expected) in [
        (&[Kind::Seccomp, Kind::Ready][..], "execve"),
        (&[Kind::Hooks], "Seccomp or execve"),
        (&[Kind::Seccomp, Kind::Seccomp], "execve"),
    ] {
        let (rt, _init) = scripted(Peer::Exec, script);
        let got = script.last().unwrap();
        assert_eq!(
            protocol_error(until_exec(&rt, &mut Script::default())).to_string(),
            format!("unexpected message from exec process: expected {expected}, got {got}")
        );
    }
}

#[test]
fn the_init_side_gets_the_reply_it_asked_for() {
    let (rt, init) = pair(Peer::Init).unwrap();
    rt.send(ToInit::HooksDone).unwrap();
    init.request(FromInit::Hooks).unwrap();
    rt.send(ToInit::SeccompDone).unwrap();
    init.request(msg(Kind::Seccomp)).unwrap();
    rt.send(ToInit::HooksDone).unwrap();
    assert_eq!(
        init.request(FromInit::Ready).unwrap_err().to_string(),
        "unexpected message from the runtime: expected Ack, got HooksDone"
    );
    // An unknown tag, and an init's own tag, from the runtime.
    for tag in [b'z', b'R'] {
        rt.send_raw(&[tag]).unwrap();
        let e = init.request(FromInit::Hooks).unwrap_err();
        assert!(
            matches!(e, SyncError::UnknownTag { peer: Peer::Runtime, tag: t } if t == tag),
            "{e:?}"
        );
    }
}

/// --systemd-cgroup: the runtime sends `Placed` unasked, before anything
/// else; the init waits for exactly that, and the runtime's death is EOF.
#[test]
fn placed_comes_first_and_unasked() {
    let (rt, init) = pair(Peer::Init).unwrap();
    rt.send(ToInit::Placed).unwrap();
    rt.send(ToInit::Mapped).unwrap();
    init.wait_for(ToInit::Placed).unwrap();
    init.request(FromInit::Mappings).unwrap();
    rt.send(ToInit::Mapped).unwrap();
    assert_eq!(
        init.wait_for(ToInit::Placed).unwrap_err().to_string(),
        "unexpected message from the runtime: expected Placed, got Mapped"
    );
    // Read what the init sent, so closing is EOF (not a reset) for it.
    assert!(matches!(rt.recv("read"), Ok(Some(FromInit::Mappings))));
    drop(rt);
    let e = init.wait_for(ToInit::Placed).unwrap_err();
    assert!(
        matches!(
            e,
            SyncError::Eof {
                waiting_for: Kind::Placed
            }
        ),
        "{e:?}"
    );
    assert_eq!(
        e.to_string(),
        "the runtime did not start the container's systemd unit"
    );
    // Never accepted from the init's side.
    let (rt, init) = pair(Peer::Init).unwrap();
    init.send_raw(b"P", &[]).unwrap();
    let e = rt.recv("read").unwrap_err();
    assert!(
        matches!(e, SyncError::UnknownTag { tag: b'P', .. }),
        "{e:?}"
    );
}

#[test]
fn the_init_side_sees_the_runtime_gone() {
    for (m, text) in [
        (Kind::Hooks, "the runtime did not finish its hooks"),
        (Kind::Ready, "the runtime went away before saving the state"),
        (
            Kind::Seccomp,
            "the runtime did not hand the seccomp listener fd to the agent",
        ),
    ] {
        // Gone after reading the request.
        let (rt, init) = pair(Peer::Init).unwrap();
        rt.close_write();
        let e = init.request(msg(m)).unwrap_err();
        assert_eq!(Error::from(e).to_string(), text);
        // Gone before: the send fails.
        drop(rt);
        let e = Error::from(init.request(msg(m)).unwrap_err());
        assert!(matches!(e, Error::Sync(SyncError::Io { .. })), "{e}");
    }
}

#[test]
fn io_errors_stay_io_errors() {
    let e = Error::from(SyncError::Io {
        context: "read from container init",
        source: std::io::Error::from_raw_os_error(libc::ECONNRESET),
    });
    assert!(matches!(e, Error::Sync(SyncError::Io { .. })));
    assert!(e.to_string().starts_with("read from container init: "));
}

#[test]
fn log_records_interleave_with_the_protocol() {
    let (rt, init) = pair(Peer::Init).unwrap();
    init.send(FromInit::Log(
        tracing::Level::DEBUG,
        "mount /proc type proc".into(),
    ))
    .unwrap();
    init.send(msg(Kind::Hooks)).unwrap();
    init.send(FromInit::Log(tracing::Level::WARN, "ünïcode".into()))
        .unwrap();
    init.send(msg(Kind::Ready)).unwrap();
    let mut host = with_hooks();
    until_ready(&rt, &mut host).unwrap();
    assert_eq!(host.hooks_ran, 1);
    assert_eq!(replies(rt, &init), vec![ToInit::HooksDone]);
}

#[test]
fn a_log_record_round_trips() {
    let m = FromInit::Log(tracing::Level::ERROR, "x y".into());
    match FromInit::decode(Peer::Init, &m.encode(), Vec::new()).unwrap() {
        FromInit::Log(l, t) => assert_eq!((l, t.as_str()), (tracing::Level::ERROR, "x y")),
        other => panic!("{other:?}"),
    }
    // A level byte that names no level is refused.
    assert!(FromInit::decode(Peer::Init, b"Lzmsg", Vec::new()).is_err());
}
