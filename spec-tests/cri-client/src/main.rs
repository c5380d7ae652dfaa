//! `cri-client`: a small CRI (runtime.v1) client for berth's e2e test.
//!
//! One CRI call (or one streaming exec) per invocation, against containerd's
//! gRPC socket; results are printed as `key value` lines (ids alone) for
//! scripts/e2e/cri.sh to assert on. Exit status: the process's for
//! `exec-sync`/`exec`, 1 with a one-line message for any failed call.

mod calls;
mod error;
mod spec;
mod stream;

use clap::{Parser, Subcommand};
use hyper_util::rt::TokioIo;
use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use tokio::net::UnixStream;
use tonic::transport::{Channel, Endpoint, Uri};

use crate::error::{Error, Result};
use crate::spec::PodArgs;

#[derive(Parser, Debug)]
#[command(name = "cri-client", about = "A small CRI client (berth's e2e tests)")]
struct Cli {
    /// containerd's gRPC socket.
    #[arg(long, default_value = "/run/containerd/containerd.sock")]
    socket: String,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// The runtime's name, version and CRI version.
    Version,
    /// RunPodSandbox; prints the pod id.
    Runp {
        /// The RuntimeClass handler (containerd's runtime name).
        #[arg(long)]
        handler: String,
        #[command(flatten)]
        pod: PodArgs,
    },
    /// PodSandboxStatus (verbose): state, ip, pid, netns, cgroups_path.
    PodStatus { pod: String },
    /// PodSandboxStats: cpu, memory, process count, containers.
    PodStats { pod: String },
    /// StopPodSandbox.
    Stopp { pod: String },
    /// RemovePodSandbox.
    Rmp { pod: String },
    /// ListPodSandbox: one id a line.
    Pods,
    /// CreateContainer; prints the container id.
    Create {
        /// The pod's id (from runp).
        #[arg(long)]
        pod: String,
        #[command(flatten)]
        pod_args: PodArgs,
        #[arg(long)]
        name: String,
        #[arg(long)]
        image: String,
        /// Memory limit in bytes (0: none).
        #[arg(long, default_value_t = 0)]
        memory: i64,
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
    /// StartContainer.
    Start { id: String },
    /// ContainerStatus (verbose): state, exit_code, pid, log_path, cgroups_path.
    Status { id: String },
    /// ContainerStats: cpu, memory, writable layer.
    Stats { id: String },
    /// ExecSync: the command's stdout, stderr and exit status become ours.
    ExecSync {
        id: String,
        /// Seconds (0: none); past it containerd kills the command and fails the call.
        #[arg(long, default_value_t = 0)]
        timeout: i64,
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
    /// Exec through the streaming server (WebSocket, v4.channel.k8s.io).
    Exec {
        id: String,
        /// Allocate a terminal (stderr then comes on stdout).
        #[arg(long)]
        tty: bool,
        /// Send this text on stdin.
        #[arg(long)]
        stdin: Option<String>,
        /// Terminal size WIDTHxHEIGHT, sent before stdin.
        #[arg(long, value_parser = parse_size)]
        resize: Option<(u16, u16)>,
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
    /// UpdateContainerResources (Linux; 0 leaves a value unset).
    Update {
        id: String,
        #[arg(long, default_value_t = 0)]
        memory: i64,
        #[arg(long, default_value_t = 0)]
        cpu_shares: i64,
        #[arg(long, default_value_t = 0)]
        cpu_quota: i64,
        #[arg(long, default_value_t = 0)]
        cpu_period: i64,
    },
    /// ReopenContainerLog.
    ReopenLog { id: String },
    /// StopContainer.
    Stop {
        id: String,
        /// Seconds before SIGKILL.
        #[arg(long, default_value_t = 10)]
        timeout: i64,
    },
    /// RemoveContainer.
    Rm { id: String },
    /// ListContainers: one id a line.
    Ps,
}

fn parse_size(s: &str) -> std::result::Result<(u16, u16), String> {
    let bad = || format!("{s:?}: want WIDTHxHEIGHT");
    let (w, h) = s.split_once('x').ok_or_else(bad)?;
    Ok((w.parse().map_err(|_| bad())?, h.parse().map_err(|_| bad())?))
}

/// A gRPC channel over containerd's unix socket (the URI is a placeholder
/// tonic needs; the connector ignores it).
async fn connect(path: &str) -> Result<RuntimeServiceClient<Channel>> {
    let owned = path.to_string();
    let connector = tower::service_fn(move |_: Uri| {
        let p = owned.clone();
        async move { Ok::<_, std::io::Error>(TokioIo::new(UnixStream::connect(p).await?)) }
    });
    let channel = Endpoint::from_static("http://[::]:0")
        .connect_with_connector(connector)
        .await
        .map_err(|e| Error::Connect {
            path: path.to_string(),
            reason: error::chain(&e),
        })?;
    Ok(RuntimeServiceClient::new(channel))
}

async fn run(cli: Cli) -> Result<i32> {
    let mut c = connect(&cli.socket).await?;
    calls::dispatch(&mut c, cli.cmd).await
}

fn main() {
    let cli = Cli::parse();
    // One call at a time: a current-thread runtime is enough.
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cri-client: tokio runtime: {e}");
            std::process::exit(1);
        }
    };
    match rt.block_on(run(cli)) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("cri-client: {e}");
            std::process::exit(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("120x40").unwrap(), (120, 40));
        assert!(parse_size("120").is_err());
        assert!(parse_size("ax40").is_err());
    }

    #[test]
    fn command_line() {
        let cli = Cli::try_parse_from([
            "cri-client",
            "--socket",
            "/s",
            "exec-sync",
            "c1",
            "--timeout",
            "2",
            "--",
            "sh",
            "-c",
            "exit 3",
        ])
        .unwrap();
        let Cmd::ExecSync {
            id,
            timeout,
            command,
        } = cli.cmd
        else {
            panic!("{:?}", cli.cmd);
        };
        assert_eq!((id.as_str(), timeout), ("c1", 2));
        assert_eq!(command, ["sh", "-c", "exit 3"]);
        assert!(Cli::try_parse_from(["cri-client", "exec-sync", "c1"]).is_err());
        // The pod's flags and the container's own name side by side.
        let cli = Cli::try_parse_from([
            "cri-client",
            "create",
            "--pod",
            "p",
            "--pod-name",
            "pn",
            "--log-dir",
            "/l",
            "--cgroup-parent",
            "/cg",
            "--name",
            "c1",
            "--image",
            "busybox",
            "--",
            "true",
        ])
        .unwrap();
        let Cmd::Create { pod_args, name, .. } = cli.cmd else {
            panic!("{:?}", cli.cmd);
        };
        assert_eq!((pod_args.pod_name.as_str(), name.as_str()), ("pn", "c1"));
    }
}
