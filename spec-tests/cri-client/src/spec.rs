//! The pod and container configs, built the way kubelet fills them for a
//! plain pod: the pod's own network and IPC namespaces, a pid namespace per
//! container, a cgroup parent per pod, logs under the pod's log directory.
//!
//! CreateContainer needs the pod's config again (containerd reads its log
//! directory and namespace options from it), so both are built from the
//! same [`PodArgs`].

use k8s_cri::v1::{
    ContainerConfig, ContainerMetadata, ImageSpec, LinuxContainerConfig, LinuxContainerResources,
    LinuxContainerSecurityContext, LinuxPodSandboxConfig, LinuxSandboxSecurityContext,
    NamespaceMode, NamespaceOption, PodSandboxConfig, PodSandboxMetadata,
};

/// The Kubernetes namespace every pod of the test is in.
const POD_NAMESPACE: &str = "berth-e2e";

/// What identifies a pod; given to `runp` and again to `create`.
#[derive(Clone, Debug, clap::Args)]
pub struct PodArgs {
    /// The pod's name (also its hostname and, with "-uid", its uid).
    #[arg(long)]
    pub pod_name: String,
    /// The directory the pod's container logs go to.
    #[arg(long)]
    pub log_dir: String,
    /// The pod's cgroup (cgroupfs driver: a path such as /berth-cri/pod1).
    #[arg(long)]
    pub cgroup_parent: String,
}

fn namespaces() -> NamespaceOption {
    NamespaceOption {
        network: NamespaceMode::Pod.into(),
        pid: NamespaceMode::Container.into(),
        ipc: NamespaceMode::Pod.into(),
        ..Default::default()
    }
}

pub fn pod_config(p: &PodArgs) -> PodSandboxConfig {
    PodSandboxConfig {
        metadata: Some(PodSandboxMetadata {
            name: p.pod_name.clone(),
            uid: format!("{}-uid", p.pod_name),
            namespace: POD_NAMESPACE.into(),
            attempt: 0,
        }),
        hostname: p.pod_name.clone(),
        log_directory: p.log_dir.clone(),
        linux: Some(LinuxPodSandboxConfig {
            cgroup_parent: p.cgroup_parent.clone(),
            security_context: Some(LinuxSandboxSecurityContext {
                namespace_options: Some(namespaces()),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A container of the pod: `name`, `image`, `command`; its log at
/// `<log dir>/<name>.log`; optional memory limit (bytes, 0 = none).
pub fn container_config(
    name: &str,
    image: &str,
    command: Vec<String>,
    memory: i64,
) -> ContainerConfig {
    ContainerConfig {
        metadata: Some(ContainerMetadata {
            name: name.into(),
            attempt: 0,
        }),
        image: Some(ImageSpec {
            image: image.into(),
            ..Default::default()
        }),
        command,
        log_path: format!("{name}.log"),
        linux: Some(LinuxContainerConfig {
            resources: Some(LinuxContainerResources {
                memory_limit_in_bytes: memory,
                ..Default::default()
            }),
            security_context: Some(LinuxContainerSecurityContext {
                namespace_options: Some(namespaces()),
                ..Default::default()
            }),
        }),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_and_container_configs() {
        let p = PodArgs {
            pod_name: "p1".into(),
            log_dir: "/tmp/logs".into(),
            cgroup_parent: "/berth-cri/p1".into(),
        };
        let pod = pod_config(&p);
        let meta = pod.metadata.as_ref().unwrap();
        assert_eq!((meta.name.as_str(), meta.uid.as_str()), ("p1", "p1-uid"));
        assert_eq!(pod.log_directory, "/tmp/logs");
        let linux = pod.linux.as_ref().unwrap();
        assert_eq!(linux.cgroup_parent, "/berth-cri/p1");
        let ns = linux.security_context.as_ref().unwrap();
        let ns = ns.namespace_options.as_ref().unwrap();
        assert_eq!(ns.pid, NamespaceMode::Container as i32);
        assert_eq!(ns.network, NamespaceMode::Pod as i32);

        let c = container_config("c1", "busybox", vec!["sleep".into(), "9".into()], 1 << 26);
        assert_eq!(c.log_path, "c1.log");
        assert_eq!(c.command, ["sleep", "9"]);
        let res = c.linux.unwrap().resources.unwrap();
        assert_eq!(res.memory_limit_in_bytes, 1 << 26);
    }
}
