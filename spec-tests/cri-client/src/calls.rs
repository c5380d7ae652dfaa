//! One function per subcommand: the CRI call, and its result printed as
//! `key value` lines (or a bare id) on stdout.

use std::io::Write;

use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use k8s_cri::v1::{
    ContainerState, ContainerStatsRequest, ContainerStatusRequest, CreateContainerRequest,
    ExecRequest, ExecSyncRequest, LinuxContainerResources, ListContainersRequest,
    ListPodSandboxRequest, PodSandboxState, PodSandboxStatsRequest, PodSandboxStatusRequest,
    RemoveContainerRequest, RemovePodSandboxRequest, ReopenContainerLogRequest,
    RunPodSandboxRequest, StartContainerRequest, StopContainerRequest, StopPodSandboxRequest,
    UInt64Value, UpdateContainerResourcesRequest, VersionRequest,
};
use tonic::transport::Channel;

use crate::error::{call, Error, Result};
use crate::spec::{self, PodArgs};
use crate::stream;
use crate::Cmd;

type Client = RuntimeServiceClient<Channel>;

fn kv(key: &str, value: impl std::fmt::Display) {
    println!("{key} {value}");
}

/// A `UInt64Value` that must be there.
fn value(v: Option<&UInt64Value>, what: &'static str) -> Result<u64> {
    v.map(|v| v.value).ok_or(Error::Missing(what))
}

/// Runs `cmd`; the exit status the client ends with.
pub async fn dispatch(c: &mut Client, cmd: Cmd) -> Result<i32> {
    match cmd {
        Cmd::ExecSync {
            id,
            timeout,
            command,
        } => exec_sync(c, id, timeout, command).await,
        Cmd::Exec {
            id,
            tty,
            stdin,
            resize,
            command,
        } => {
            let input = stream::Input {
                resize,
                stdin: stdin.as_deref().map(str::as_bytes),
            };
            exec(c, id, tty, input, command).await
        }
        Cmd::Version
        | Cmd::Runp { .. }
        | Cmd::PodStatus { .. }
        | Cmd::PodStats { .. }
        | Cmd::Stopp { .. }
        | Cmd::Rmp { .. }
        | Cmd::Pods => pod_cmd(c, cmd).await.map(|()| 0),
        _ => container_cmd(c, cmd).await.map(|()| 0),
    }
}

async fn pod_cmd(c: &mut Client, cmd: Cmd) -> Result<()> {
    match cmd {
        Cmd::Version => version(c).await,
        Cmd::Runp { handler, pod } => run_pod(c, handler, &pod).await,
        Cmd::PodStatus { pod } => pod_status(c, pod).await,
        Cmd::PodStats { pod } => pod_stats(c, pod).await,
        Cmd::Stopp { pod } => {
            let req = StopPodSandboxRequest {
                pod_sandbox_id: pod,
            };
            c.stop_pod_sandbox(req)
                .await
                .map_err(call("StopPodSandbox"))?;
            Ok(())
        }
        Cmd::Rmp { pod } => {
            let req = RemovePodSandboxRequest {
                pod_sandbox_id: pod,
            };
            c.remove_pod_sandbox(req)
                .await
                .map_err(call("RemovePodSandbox"))?;
            Ok(())
        }
        // Cmd::Pods: dispatch sends only the pod commands here.
        _ => list_pods(c).await,
    }
}

async fn container_cmd(c: &mut Client, cmd: Cmd) -> Result<()> {
    match cmd {
        Cmd::Create {
            pod,
            pod_args,
            name,
            image,
            memory,
            command,
        } => {
            let req = CreateContainerRequest {
                pod_sandbox_id: pod,
                config: Some(spec::container_config(&name, &image, command, memory)),
                sandbox_config: Some(spec::pod_config(&pod_args)),
            };
            let resp = c
                .create_container(req)
                .await
                .map_err(call("CreateContainer"))?;
            println!("{}", resp.into_inner().container_id);
        }
        Cmd::Start { id } => {
            let req = StartContainerRequest { container_id: id };
            c.start_container(req)
                .await
                .map_err(call("StartContainer"))?;
        }
        Cmd::Status { id } => container_status(c, id).await?,
        Cmd::Stats { id } => container_stats(c, id).await?,
        Cmd::Update {
            id,
            memory,
            cpu_shares,
            cpu_quota,
            cpu_period,
        } => {
            let linux = LinuxContainerResources {
                memory_limit_in_bytes: memory,
                cpu_shares,
                cpu_quota,
                cpu_period,
                ..Default::default()
            };
            let req = UpdateContainerResourcesRequest {
                container_id: id,
                linux: Some(linux),
                ..Default::default()
            };
            let resp = c.update_container_resources(req).await;
            resp.map_err(call("UpdateContainerResources"))?;
        }
        Cmd::ReopenLog { id } => {
            let req = ReopenContainerLogRequest { container_id: id };
            c.reopen_container_log(req)
                .await
                .map_err(call("ReopenContainerLog"))?;
        }
        Cmd::Stop { id, timeout } => {
            let req = StopContainerRequest {
                container_id: id,
                timeout,
            };
            c.stop_container(req).await.map_err(call("StopContainer"))?;
        }
        Cmd::Rm { id } => {
            let req = RemoveContainerRequest { container_id: id };
            c.remove_container(req)
                .await
                .map_err(call("RemoveContainer"))?;
        }
        // Cmd::Ps: dispatch sends only the container commands here.
        _ => list_containers(c).await?,
    }
    Ok(())
}

async fn version(c: &mut Client) -> Result<()> {
    let req = VersionRequest {
        version: "v1".into(),
    };
    let v = c.version(req).await.map_err(call("Version"))?.into_inner();
    kv("runtime_name", v.runtime_name);
    kv("runtime_version", v.runtime_version);
    kv("runtime_api_version", v.runtime_api_version);
    Ok(())
}

async fn run_pod(c: &mut Client, handler: String, pod: &PodArgs) -> Result<()> {
    let req = RunPodSandboxRequest {
        config: Some(spec::pod_config(pod)),
        runtime_handler: handler,
    };
    let resp = c
        .run_pod_sandbox(req)
        .await
        .map_err(call("RunPodSandbox"))?;
    println!("{}", resp.into_inner().pod_sandbox_id);
    Ok(())
}

/// The verbose `info` object containerd adds to a status (pid, spec…).
fn info(map: &std::collections::HashMap<String, String>) -> serde_json::Value {
    map.get("info")
        .and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or_default()
}

/// pid and cgroups path from the verbose info, when there.
fn print_info(info: &serde_json::Value) {
    if let Some(pid) = info["pid"].as_u64() {
        kv("pid", pid);
    }
    if let Some(cg) = info["runtimeSpec"]["linux"]["cgroupsPath"].as_str() {
        kv("cgroups_path", cg);
    }
}

async fn pod_status(c: &mut Client, pod: String) -> Result<()> {
    let req = PodSandboxStatusRequest {
        pod_sandbox_id: pod,
        verbose: true,
    };
    let resp = c
        .pod_sandbox_status(req)
        .await
        .map_err(call("PodSandboxStatus"))?;
    let resp = resp.into_inner();
    let st = resp.status.ok_or(Error::Missing("status"))?;
    let state = PodSandboxState::try_from(st.state).map_or("?", |s| s.as_str_name());
    kv("state", state);
    kv("runtime_handler", st.runtime_handler);
    if let Some(net) = st.network.filter(|n| !n.ip.is_empty()) {
        kv("ip", net.ip);
    }
    let info = info(&resp.info);
    print_info(&info);
    let namespaces = info["runtimeSpec"]["linux"]["namespaces"].as_array();
    let netns = namespaces
        .into_iter()
        .flatten()
        .find(|n| n["type"] == "network")
        .and_then(|n| n["path"].as_str());
    if let Some(path) = netns {
        kv("netns", path);
    }
    Ok(())
}

/// The two usage lines a pod's and a container's stats both print.
fn print_cpu_memory(cpu: &k8s_cri::v1::CpuUsage, mem: &k8s_cri::v1::MemoryUsage) -> Result<()> {
    kv(
        "cpu_usage_core_nano_seconds",
        value(cpu.usage_core_nano_seconds.as_ref(), "cpu usage")?,
    );
    kv(
        "memory_working_set_bytes",
        value(mem.working_set_bytes.as_ref(), "working set")?,
    );
    Ok(())
}

async fn pod_stats(c: &mut Client, pod: String) -> Result<()> {
    let req = PodSandboxStatsRequest {
        pod_sandbox_id: pod,
    };
    let resp = c
        .pod_sandbox_stats(req)
        .await
        .map_err(call("PodSandboxStats"))?;
    let stats = resp.into_inner().stats.ok_or(Error::Missing("stats"))?;
    let linux = stats.linux.ok_or(Error::Missing("stats.linux"))?;
    let cpu = linux.cpu.ok_or(Error::Missing("stats.linux.cpu"))?;
    let mem = linux.memory.ok_or(Error::Missing("stats.linux.memory"))?;
    print_cpu_memory(&cpu, &mem)?;
    if let Some(p) = linux.process {
        kv(
            "process_count",
            value(p.process_count.as_ref(), "process count")?,
        );
    }
    if let Some(net) = linux.network.and_then(|n| n.default_interface) {
        kv("network_interface", net.name);
    }
    kv("containers", linux.containers.len());
    Ok(())
}

async fn container_status(c: &mut Client, id: String) -> Result<()> {
    let req = ContainerStatusRequest {
        container_id: id,
        verbose: true,
    };
    let resp = c
        .container_status(req)
        .await
        .map_err(call("ContainerStatus"))?;
    let resp = resp.into_inner();
    let st = resp.status.ok_or(Error::Missing("status"))?;
    let state = ContainerState::try_from(st.state).map_or("?", |s| s.as_str_name());
    kv("state", state);
    kv("exit_code", st.exit_code);
    if !st.reason.is_empty() {
        kv("reason", st.reason);
    }
    kv("log_path", st.log_path);
    print_info(&info(&resp.info));
    Ok(())
}

async fn container_stats(c: &mut Client, id: String) -> Result<()> {
    let req = ContainerStatsRequest { container_id: id };
    let resp = c
        .container_stats(req)
        .await
        .map_err(call("ContainerStats"))?;
    let stats = resp.into_inner().stats.ok_or(Error::Missing("stats"))?;
    let cpu = stats.cpu.ok_or(Error::Missing("stats.cpu"))?;
    let mem = stats.memory.ok_or(Error::Missing("stats.memory"))?;
    print_cpu_memory(&cpu, &mem)?;
    if let Some(fs) = stats.writable_layer {
        kv(
            "writable_layer_used_bytes",
            value(fs.used_bytes.as_ref(), "used bytes")?,
        );
    }
    Ok(())
}

async fn exec_sync(c: &mut Client, id: String, timeout: i64, cmd: Vec<String>) -> Result<i32> {
    let req = ExecSyncRequest {
        container_id: id,
        cmd,
        timeout,
    };
    let resp = c
        .exec_sync(req)
        .await
        .map_err(call("ExecSync"))?
        .into_inner();
    write_out(&resp.stdout, &resp.stderr);
    Ok(resp.exit_code)
}

async fn exec(
    c: &mut Client,
    id: String,
    tty: bool,
    input: stream::Input<'_>,
    cmd: Vec<String>,
) -> Result<i32> {
    let req = ExecRequest {
        container_id: id,
        cmd,
        tty,
        stdin: input.stdin.is_some(),
        stdout: true,
        // With a terminal both go to it: the CRI refuses stderr with tty.
        stderr: !tty,
    };
    let url = c.exec(req).await.map_err(call("Exec"))?.into_inner().url;
    let out = stream::exec(&url, input).await?;
    write_out(&out.stdout, &out.stderr);
    Ok(out.exit_code)
}

fn write_out(stdout: &[u8], stderr: &[u8]) {
    // A closed stdout or stderr is the caller's choice: nothing to report.
    let _ = std::io::stdout().write_all(stdout);
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().write_all(stderr);
}

async fn list_pods(c: &mut Client) -> Result<()> {
    let req = ListPodSandboxRequest { filter: None };
    let resp = c
        .list_pod_sandbox(req)
        .await
        .map_err(call("ListPodSandbox"))?;
    for p in resp.into_inner().items {
        println!("{}", p.id);
    }
    Ok(())
}

async fn list_containers(c: &mut Client) -> Result<()> {
    let req = ListContainersRequest { filter: None };
    let resp = c
        .list_containers(req)
        .await
        .map_err(call("ListContainers"))?;
    for ct in resp.into_inner().containers {
        println!("{}", ct.id);
    }
    Ok(())
}
