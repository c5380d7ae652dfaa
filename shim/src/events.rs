//! Task events to containerd: `Forward` calls to containerd's ttrpc Events
//! service (TTRPC_ADDRESS) through the shim's own blocking client
//! (`wire::Client`: no threads of its own, reconnects after a containerd
//! restart). One lock serialises publishing, so events leave in the order
//! the service produced them.

use std::sync::Mutex;
use std::time::SystemTime;

use containerd_shim::protos::events::task::{
    TaskCreate, TaskDelete, TaskExecAdded, TaskExecStarted, TaskExit, TaskIO, TaskOOM, TaskPaused,
    TaskResumed, TaskStart,
};
use containerd_shim::protos::protobuf::well_known_types::timestamp::Timestamp;
use containerd_shim::protos::protobuf::{self, well_known_types::any::Any, Message};
use containerd_shim::protos::shim::event::Envelope;
use containerd_shim::protos::shim::events::ForwardRequest;
use containerd_shim::protos::topics;

use crate::process::StdioPaths;
use crate::wire::Client;

const EVENTS_SERVICE: &str = "containerd.services.events.ttrpc.v1.Events";

/// A task event, built by the service.
pub enum Event {
    Create {
        id: String,
        bundle: String,
        stdio: StdioPaths,
        pid: u32,
    },
    Start {
        id: String,
        pid: u32,
    },
    Exit {
        id: String,
        exec_id: String,
        pid: u32,
        status: u32,
        at: SystemTime,
    },
    Delete {
        id: String,
        pid: u32,
        status: u32,
        at: SystemTime,
    },
    ExecAdded {
        id: String,
        exec_id: String,
    },
    ExecStarted {
        id: String,
        exec_id: String,
        pid: u32,
    },
    Paused(String),
    Resumed(String),
    Oom(String),
}

pub fn timestamp(t: SystemTime) -> Timestamp {
    let d = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    Timestamp {
        seconds: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        nanos: i32::try_from(d.subsec_nanos()).unwrap_or(0),
        ..Default::default()
    }
}

impl Event {
    fn encode(self) -> (&'static str, protobuf::Result<Any>) {
        (self.topic(), self.into_any())
    }

    /// The topic containerd files the event under.
    fn topic(&self) -> &'static str {
        match self {
            Event::Create { .. } => topics::TASK_CREATE_EVENT_TOPIC,
            Event::Start { .. } => topics::TASK_START_EVENT_TOPIC,
            Event::Exit { .. } => topics::TASK_EXIT_EVENT_TOPIC,
            Event::Delete { .. } => topics::TASK_DELETE_EVENT_TOPIC,
            Event::ExecAdded { .. } => topics::TASK_EXEC_ADDED_EVENT_TOPIC,
            Event::ExecStarted { .. } => topics::TASK_EXEC_STARTED_EVENT_TOPIC,
            Event::Paused(_) => topics::TASK_PAUSED_EVENT_TOPIC,
            Event::Resumed(_) => topics::TASK_RESUMED_EVENT_TOPIC,
            Event::Oom(_) => topics::TASK_OOM_EVENT_TOPIC,
        }
    }

    /// The event as its containerd protobuf message, in an `Any`.
    fn into_any(self) -> protobuf::Result<Any> {
        match self {
            Event::Create {
                id,
                bundle,
                stdio,
                pid,
            } => any(TaskCreate {
                container_id: id,
                bundle,
                io: Some(task_io(stdio)).into(),
                pid,
                ..Default::default()
            }),
            Event::Start { id, pid } => any(TaskStart {
                container_id: id,
                pid,
                ..Default::default()
            }),
            Event::Exit {
                id,
                exec_id,
                pid,
                status,
                at,
            } => any(TaskExit {
                container_id: id,
                id: exec_id,
                pid,
                exit_status: status,
                exited_at: Some(timestamp(at)).into(),
                ..Default::default()
            }),
            Event::Delete {
                id,
                pid,
                status,
                at,
            } => any(TaskDelete {
                container_id: id.clone(),
                id,
                pid,
                exit_status: status,
                exited_at: Some(timestamp(at)).into(),
                ..Default::default()
            }),
            Event::ExecAdded { id, exec_id } => any(TaskExecAdded {
                container_id: id,
                exec_id,
                ..Default::default()
            }),
            Event::ExecStarted { id, exec_id, pid } => any(TaskExecStarted {
                container_id: id,
                exec_id,
                pid,
                ..Default::default()
            }),
            Event::Paused(id) => any(TaskPaused {
                container_id: id,
                ..Default::default()
            }),
            Event::Resumed(id) => any(TaskResumed {
                container_id: id,
                ..Default::default()
            }),
            Event::Oom(id) => any(TaskOOM {
                container_id: id,
                ..Default::default()
            }),
        }
    }
}

/// `m` in an `Any`. The type URL is written out (containerd's events are
/// in package `containerd.events`): asking protobuf's reflection for the
/// name would build the descriptors of every message of the file and its
/// imports, some 400 KiB of heap kept for the shim's life.
fn any<M: Message>(m: M) -> protobuf::Result<Any> {
    Ok(Any {
        type_url: format!("containerd.events.{}", M::NAME),
        value: m.write_to_bytes()?,
        ..Default::default()
    })
}

/// The task's stdio paths as given at create.
fn task_io(stdio: StdioPaths) -> TaskIO {
    TaskIO {
        stdin: stdio.stdin,
        stdout: stdio.stdout,
        stderr: stdio.stderr,
        terminal: stdio.terminal,
        ..Default::default()
    }
}

/// Publishes to containerd in order; failures are logged (containerd also
/// polls task state, and a lost event must not fail the RPC that caused it).
pub struct Publisher {
    namespace: String,
    client: Mutex<Client>,
}

impl Publisher {
    /// A publisher to containerd's ttrpc `address`; connects on first use.
    pub fn new(namespace: String, address: &str) -> Publisher {
        Publisher {
            namespace,
            client: Mutex::new(Client::new(address)),
        }
    }

    /// The `ForwardRequest` carrying the event.
    fn envelope(&self, topic: &str, any: protobuf::Result<Any>) -> Option<Vec<u8>> {
        let any = any
            .inspect_err(|e| tracing::warn!("encode {topic}: {e}"))
            .ok()?;
        let req = ForwardRequest {
            envelope: Some(Envelope {
                timestamp: Some(timestamp(SystemTime::now())).into(),
                namespace: self.namespace.clone(),
                topic: topic.to_string(),
                event: Some(any).into(),
                ..Default::default()
            })
            .into(),
            ..Default::default()
        };
        req.write_to_bytes()
            .inspect_err(|e| tracing::warn!("encode {topic}: {e}"))
            .ok()
    }

    pub fn publish(&self, ev: Event) {
        let (topic, any) = ev.encode();
        let Some(payload) = self.envelope(topic, any) else {
            return;
        };
        let mut client = self.client.lock().unwrap_or_else(|p| p.into_inner());
        // A second try on a fresh connection when the first found a broken
        // one (containerd restarted); not after an error status, which
        // means containerd got the event.
        let r = match client.call(EVENTS_SERVICE, "Forward", payload.clone()) {
            Err(e) if e.kind() != std::io::ErrorKind::Other => {
                client.call(EVENTS_SERVICE, "Forward", payload)
            }
            r => r,
        };
        if let Err(e) = r {
            tracing::warn!("publish {topic}: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use containerd_shim::protos::protobuf::MessageFull;

    /// The written-out type URLs are the ones reflection gives.
    #[test]
    fn type_urls_match_the_descriptors() {
        let at = SystemTime::now();
        let cases: [(Event, String); 4] = [
            (
                Event::Start {
                    id: "c".into(),
                    pid: 1,
                },
                TaskStart::descriptor().full_name().to_string(),
            ),
            (
                Event::Exit {
                    id: "c".into(),
                    exec_id: "e".into(),
                    pid: 1,
                    status: 2,
                    at,
                },
                TaskExit::descriptor().full_name().to_string(),
            ),
            (
                Event::Oom("c".into()),
                TaskOOM::descriptor().full_name().to_string(),
            ),
            (
                Event::ExecAdded {
                    id: "c".into(),
                    exec_id: "e".into(),
                },
                TaskExecAdded::descriptor().full_name().to_string(),
            ),
        ];
        for (ev, want) in cases {
            let (_, any) = ev.encode();
            assert_eq!(any.unwrap().type_url, want);
        }
        let (topic, any) = Event::Oom("c1".into()).encode();
        assert_eq!(topic, "/tasks/oom");
        let oom = TaskOOM::parse_from_bytes(&any.unwrap().value).unwrap();
        assert_eq!(oom.container_id, "c1");
    }
}
