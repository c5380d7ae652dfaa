//! The ttrpc Task service (task API v2): translates requests and responses;
//! the work is in `container::Tasks`.

use std::path::PathBuf;
use std::sync::Arc;

use containerd_shim::api::{
    CloseIORequest, ConnectRequest, ConnectResponse, CreateTaskRequest, CreateTaskResponse,
    DeleteRequest, DeleteResponse, Empty, ExecProcessRequest, KillRequest, PauseRequest,
    PidsRequest, PidsResponse, ResizePtyRequest, ResumeRequest, ShutdownRequest, StartRequest,
    StartResponse, StateRequest, StateResponse, StatsRequest, StatsResponse, UpdateTaskRequest,
    WaitRequest, WaitResponse,
};
use containerd_shim::protos::protobuf::well_known_types::any::Any;
use containerd_shim::protos::types::task::ProcessInfo;
use containerd_shim::{Task, TtrpcContext, TtrpcResult};

use crate::console;
use crate::container::{CreateRequest, Tasks};
use crate::error::Error;
use crate::events::timestamp;
use crate::mount::RootfsMount;
use crate::options;
use crate::process::StdioPaths;
use crate::stats;

pub struct Service {
    pub tasks: Arc<Tasks>,
}

/// The one place a request's failure is logged (a runtime failure as a
/// warning, with the runtime's exit status), then turned into a ttrpc status.
fn traced<T>(what: &str, id: &str, r: Result<T, Error>) -> TtrpcResult<T> {
    match r {
        Ok(v) => {
            tracing::debug!(id, "{what} ok");
            Ok(v)
        }
        Err(e) => {
            match &e {
                Error::Runtime { status, .. } => tracing::warn!(id, status, "{what}: {e}"),
                _ => tracing::info!(id, "{what}: {e}"),
            }
            Err(e.into())
        }
    }
}

impl Task for Service {
    fn create(
        &self,
        _ctx: &TtrpcContext,
        req: CreateTaskRequest,
    ) -> TtrpcResult<CreateTaskResponse> {
        let r = (|| {
            if !req.checkpoint.is_empty() {
                return Err(Error::InvalidArgument(
                    "restore from a checkpoint is not supported".into(),
                ));
            }
            let options = options::from_any(req.options.as_ref())?;
            let cr = CreateRequest {
                id: req.id.clone(),
                bundle: PathBuf::from(&req.bundle),
                rootfs: req
                    .rootfs
                    .iter()
                    .map(|m| RootfsMount {
                        fstype: m.type_.clone(),
                        source: m.source.clone(),
                        options: m.options.clone(),
                    })
                    .collect(),
                stdio: StdioPaths {
                    stdin: req.stdin.clone(),
                    stdout: req.stdout.clone(),
                    stderr: req.stderr.clone(),
                    terminal: req.terminal,
                },
                options,
            };
            self.tasks.create(cr)
        })();
        traced("create", &req.id, r).map(|pid| CreateTaskResponse {
            pid,
            ..Default::default()
        })
    }

    fn start(&self, _ctx: &TtrpcContext, req: StartRequest) -> TtrpcResult<StartResponse> {
        let r = self.tasks.start(&req.id, &req.exec_id);
        traced("start", &req.id, r).map(|pid| StartResponse {
            pid,
            ..Default::default()
        })
    }

    fn delete(&self, _ctx: &TtrpcContext, req: DeleteRequest) -> TtrpcResult<DeleteResponse> {
        let r = self.tasks.delete(&req.id, &req.exec_id);
        traced("delete", &req.id, r).map(|(pid, status, at)| DeleteResponse {
            pid,
            exit_status: status,
            exited_at: Some(timestamp(at)).into(),
            ..Default::default()
        })
    }

    fn exec(&self, _ctx: &TtrpcContext, req: ExecProcessRequest) -> TtrpcResult<Empty> {
        let stdio = StdioPaths {
            stdin: req.stdin.clone(),
            stdout: req.stdout.clone(),
            stderr: req.stderr.clone(),
            terminal: req.terminal,
        };
        let spec = req
            .spec
            .as_ref()
            .map(|a| a.value.clone())
            .unwrap_or_default();
        let r = self.tasks.exec(&req.id, &req.exec_id, stdio, spec);
        traced("exec", &req.id, r).map(|()| Empty::new())
    }

    fn kill(&self, _ctx: &TtrpcContext, req: KillRequest) -> TtrpcResult<Empty> {
        let r = self.tasks.kill(&req.id, &req.exec_id, req.signal, req.all);
        traced("kill", &req.id, r).map(|()| Empty::new())
    }

    fn resize_pty(&self, _ctx: &TtrpcContext, req: ResizePtyRequest) -> TtrpcResult<Empty> {
        let r = self.tasks.with(&req.id, |c| {
            match c.process(&req.exec_id)?.master.as_ref() {
                Some(m) => console::resize(m, req.width, req.height),
                None => Err(Error::Precondition("the process has no terminal".into())),
            }
        });
        traced("resize_pty", &req.id, r).map(|()| Empty::new())
    }

    fn close_io(&self, _ctx: &TtrpcContext, req: CloseIORequest) -> TtrpcResult<Empty> {
        let r = self.tasks.with(&req.id, |c| {
            if req.stdin {
                c.process(&req.exec_id)?.io.close_stdin();
            }
            Ok(())
        });
        traced("close_io", &req.id, r).map(|()| Empty::new())
    }

    fn state(&self, _ctx: &TtrpcContext, req: StateRequest) -> TtrpcResult<StateResponse> {
        let r = self.tasks.with(&req.id, |c| {
            let p = c.process(&req.exec_id)?;
            let (status, at) = p.exit_status();
            Ok(StateResponse {
                id: if req.exec_id.is_empty() {
                    c.id.clone()
                } else {
                    req.exec_id.clone()
                },
                bundle: c.bundle.display().to_string(),
                pid: p.pid_u32(),
                status: p.status().into(),
                stdin: p.stdio.stdin.clone(),
                stdout: p.stdio.stdout.clone(),
                stderr: p.stdio.stderr.clone(),
                terminal: p.stdio.terminal,
                exit_status: status,
                exited_at: p.exit.map(|_| timestamp(at)).into(),
                exec_id: req.exec_id.clone(),
                ..Default::default()
            })
        });
        traced("state", &req.id, r)
    }

    fn pids(&self, _ctx: &TtrpcContext, req: PidsRequest) -> TtrpcResult<PidsResponse> {
        let r = self.tasks.pids(&req.id);
        traced("pids", &req.id, r).map(|pids| PidsResponse {
            processes: pids
                .into_iter()
                .map(|pid| ProcessInfo {
                    pid,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        })
    }

    fn pause(&self, _ctx: &TtrpcContext, req: PauseRequest) -> TtrpcResult<Empty> {
        let r = self.tasks.pause(&req.id, true);
        traced("pause", &req.id, r).map(|()| Empty::new())
    }

    fn resume(&self, _ctx: &TtrpcContext, req: ResumeRequest) -> TtrpcResult<Empty> {
        let r = self.tasks.pause(&req.id, false);
        traced("resume", &req.id, r).map(|()| Empty::new())
    }

    fn update(&self, _ctx: &TtrpcContext, req: UpdateTaskRequest) -> TtrpcResult<Empty> {
        let res = req
            .resources
            .as_ref()
            .map(|a| a.value.clone())
            .unwrap_or_default();
        let r = self.tasks.update(&req.id, &res);
        traced("update", &req.id, r).map(|()| Empty::new())
    }

    fn wait(&self, _ctx: &TtrpcContext, req: WaitRequest) -> TtrpcResult<WaitResponse> {
        let r = self.tasks.wait(&req.id, &req.exec_id);
        traced("wait", &req.id, r).map(|(status, at)| WaitResponse {
            exit_status: status,
            exited_at: Some(timestamp(at)).into(),
            ..Default::default()
        })
    }

    fn stats(&self, _ctx: &TtrpcContext, req: StatsRequest) -> TtrpcResult<StatsResponse> {
        let r = (|| {
            let pid = self.tasks.with(&req.id, |c| {
                if c.init.exit.is_some() || c.init.pid <= 0 {
                    return Err(Error::Precondition(format!(
                        "container {} is not running",
                        req.id
                    )));
                }
                Ok(c.init.pid)
            })?;
            let (type_url, value) = stats::encode(pid)?;
            Ok(Any {
                type_url: type_url.into(),
                value,
                ..Default::default()
            })
        })();
        traced("stats", &req.id, r).map(|any| StatsResponse {
            stats: Some(any).into(),
            ..Default::default()
        })
    }

    fn connect(&self, _ctx: &TtrpcContext, req: ConnectRequest) -> TtrpcResult<ConnectResponse> {
        let task_pid = self
            .tasks
            .with(&req.id, |c| Ok(c.init.pid_u32()))
            .unwrap_or(0);
        Ok(ConnectResponse {
            shim_pid: std::process::id(),
            task_pid,
            version: env!("CARGO_PKG_VERSION").into(),
            ..Default::default()
        })
    }

    fn shutdown(&self, _ctx: &TtrpcContext, _req: ShutdownRequest) -> TtrpcResult<Empty> {
        self.tasks.shutdown();
        Ok(Empty::new())
    }
}
