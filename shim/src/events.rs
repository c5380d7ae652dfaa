//! Task events for containerd: what each event carries, and the queue
//! (`Publisher`) they wait in until `forward` delivers them as `Forward`
//! calls on containerd's ttrpc Events service (TTRPC_ADDRESS), in the order
//! they were produced.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard, OnceLock};
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

/// At most this many events wait for containerd; more are dropped (and
/// counted in the log). While containerd is away only exits and OOMs are
/// produced, a few hundred bytes each.
const MAX_QUEUED: usize = 1024;

/// The shim's outgoing events, in the order the service produced them.
/// `publish` only queues them and wakes the server's loop, whose
/// `forward::Forwarder` delivers them: no thread that publishes (the task
/// thread, the reaper, the io thread) ever waits for containerd, and an
/// event that cannot be delivered while containerd is down or restarting
/// stays queued until it is back.
pub struct Publisher {
    namespace: String,
    /// containerd's ttrpc socket (TTRPC_ADDRESS).
    pub address: PathBuf,
    queue: Mutex<VecDeque<Vec<u8>>>,
    wake: OnceLock<Box<dyn Fn() + Send + Sync>>,
}

impl Publisher {
    /// A publisher to containerd's ttrpc `address` (`unix://` optional).
    pub fn new(namespace: String, address: &str) -> Publisher {
        Publisher {
            namespace,
            address: PathBuf::from(address.strip_prefix("unix://").unwrap_or(address)),
            queue: Mutex::new(VecDeque::new()),
            wake: OnceLock::new(),
        }
    }

    /// Sets what to call when an event was queued (once: the server loop's
    /// waker).
    pub fn set_waker(&self, wake: Box<dyn Fn() + Send + Sync>) {
        let _ = self.wake.set(wake);
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

    fn queue(&self) -> MutexGuard<'_, VecDeque<Vec<u8>>> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues the event for containerd and wakes the forwarder.
    pub fn publish(&self, ev: Event) {
        let (topic, any) = ev.encode();
        let Some(payload) = self.envelope(topic, any) else {
            return;
        };
        {
            let mut q = self.queue();
            if q.len() >= MAX_QUEUED {
                tracing::warn!("{MAX_QUEUED} events wait for containerd: {topic} dropped");
                return;
            }
            q.push_back(payload);
        }
        if let Some(wake) = self.wake.get() {
            wake();
        }
    }

    /// The oldest undelivered event's `ForwardRequest` (it stays queued).
    pub fn front(&self) -> Option<Vec<u8>> {
        self.queue().front().cloned()
    }

    /// The oldest event was delivered (or refused for good).
    pub fn pop(&self) {
        self.queue().pop_front();
    }

    pub fn is_empty(&self) -> bool {
        self.queue().is_empty()
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
