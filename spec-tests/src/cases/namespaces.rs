//! Namespaces: new ones of every type, joining existing ones by path, uts
//! names, loopback, sysctl.

use crate::harness::case::{case, Case};
use crate::harness::{config, Ctx, Facts, Fail, TestResult};
use crate::{ensure, ensure_eq};
use oci_spec::runtime::LinuxNamespaceType as Ns;
use std::os::unix::fs::MetadataExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const CASES: &[Case] = &[
    case("ns_all_new", all_new),
    case("ns_absent_means_host", absent_means_host),
    case("ns_time", time_ns),
    case("ns_join_by_path", join_by_path),
    case("uts_hostname", hostname),
    case("uts_domainname", domainname),
    case("net_loopback_up", loopback_up),
    case("sysctl_net_and_ipc", sysctl),
];

/// Inode of one of our own namespaces (the harness runs in the host's).
fn host_ns(name: &str) -> Result<String, Fail> {
    std::fs::metadata(format!("/proc/self/ns/{name}"))
        .map(|m| m.ino().to_string())
        .map_err(|e| Fail::Fail(format!("stat /proc/self/ns/{name}: {e}")))
}

fn ns_args(names: &[&str]) -> Vec<String> {
    let mut v = Vec::new();
    for n in names {
        if !v.is_empty() {
            v.push("+".to_string());
        }
        v.push("ns".to_string());
        v.push(n.to_string());
    }
    v
}

fn check_ns(ctx: &Ctx, b: &mut crate::harness::Bundle, names: &[&str]) -> Result<Facts, Fail> {
    let mut args = ns_args(names);
    args.extend(["+", "pid"].map(String::from));
    let refs: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
    ctx.check(b, &refs)
}

const ALL: [&str; 6] = ["pid", "net", "ipc", "uts", "mnt", "cgroup"];

fn all_new(ctx: &Ctx) -> TestResult {
    let mut b = ctx.bundle("b")?;
    let mut list = config::base_namespaces();
    list.push(config::ns(Ns::Cgroup, None));
    config::linux_mut(&mut b.spec).set_namespaces(Some(list));
    let f = check_ns(ctx, &mut b, &ALL)?;
    for n in ALL {
        let inside = f.get(&format!("ns:{n}"))?;
        ensure!(
            inside != host_ns(n)?,
            "{n} namespace is the host's ({inside})"
        );
    }
    f.expect("pid", "1")
}

fn absent_means_host(ctx: &Ctx) -> TestResult {
    let mut b = ctx.bundle("b")?;
    let list = vec![config::ns(Ns::Pid, None), config::ns(Ns::Mount, None)];
    config::linux_mut(&mut b.spec).set_namespaces(Some(list));
    b.spec.set_hostname(None);
    let f = check_ns(ctx, &mut b, &ALL)?;
    for n in ["net", "ipc", "uts", "cgroup"] {
        f.expect(&format!("ns:{n}"), &host_ns(n)?)?;
    }
    for n in ["pid", "mnt"] {
        let inside = f.get(&format!("ns:{n}"))?;
        ensure!(inside != host_ns(n)?, "{n} namespace is the host's");
    }
    Ok(())
}

/// runc 1.1.5 has no time namespace; a runtime whose `features` omits it
/// is skipped, one that lists it (or has no `features`) is tested.
fn time_ns(ctx: &Ctx) -> TestResult {
    let feats = ctx.rt(&["features"])?;
    if feats.code == 0 {
        let v: serde_json::Value = serde_json::from_str(&feats.stdout).unwrap_or_default();
        let listed = v["linux"]["namespaces"]
            .as_array()
            .map(|a| a.iter().any(|n| n == "time"))
            .unwrap_or(false);
        if !listed {
            return Err(Fail::Skip(
                "runtime `features` does not list the time namespace".into(),
            ));
        }
    }
    let mut b = ctx.bundle("b")?;
    let mut list = config::base_namespaces();
    list.push(config::ns(Ns::Time, None));
    config::linux_mut(&mut b.spec).set_namespaces(Some(list));
    let f = ctx.check(&mut b, &["ns", "time"])?;
    let inside = f.get("ns:time")?;
    ensure!(inside != host_ns("time")?, "time namespace is the host's");
    Ok(())
}

/// A host process holding new net and uts namespaces; killed on drop.
struct Holder(Child);

impl Drop for Holder {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_holder() -> Result<Holder, Fail> {
    let child = Command::new("unshare")
        .args(["--net", "--uts", "--", "sleep", "60"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| Fail::Fail(format!("spawn unshare: {e}")))?;
    let h = Holder(child);
    let pid = h.0.id();
    let start = Instant::now();
    // unshare(1) unshares, then execs sleep: wait for the exec.
    while std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default() != "sleep\n" {
        ensure!(
            start.elapsed() < Duration::from_secs(5),
            "namespace holder did not start"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(h)
}

fn ino(path: &str) -> Result<String, Fail> {
    std::fs::metadata(path)
        .map(|m| m.ino().to_string())
        .map_err(|e| Fail::Fail(format!("stat {path}: {e}")))
}

fn join_by_path(ctx: &Ctx) -> TestResult {
    let holder = start_holder()?;
    let pid = holder.0.id();
    let net_path = format!("/proc/{pid}/ns/net");
    // The uts namespace goes through a bind-mounted nsfs file.
    let uts_file = ctx.path("utsns");
    std::fs::write(&uts_file, "").map_err(|e| format!("utsns file: {e}"))?;
    let uts_s = uts_file.to_str().unwrap_or_default().to_string();
    let st = Command::new("mount")
        .args(["--bind", &format!("/proc/{pid}/ns/uts"), &uts_s])
        .status()
        .map_err(|e| format!("mount: {e}"))?;
    ensure!(st.success(), "bind mount of the uts namespace failed");
    let result = (|| {
        let mut b = ctx.bundle("b")?;
        let list = vec![
            config::ns(Ns::Pid, None),
            config::ns(Ns::Mount, None),
            config::ns(Ns::Ipc, None),
            config::ns(Ns::Network, Some(&net_path)),
            config::ns(Ns::Uts, Some(&uts_s)),
        ];
        config::linux_mut(&mut b.spec).set_namespaces(Some(list));
        b.spec.set_hostname(None);
        let f = check_ns(ctx, &mut b, &["net", "uts", "ipc"])?;
        f.expect("ns:net", &ino(&net_path)?)?;
        f.expect("ns:uts", &ino(&uts_s)?)?;
        ensure!(
            f.get("ns:net")? != host_ns("net")?,
            "holder net ns is the host's"
        );
        ensure!(
            f.get("ns:ipc")? != host_ns("ipc")?,
            "ipc namespace is the host's"
        );
        Ok(())
    })();
    crate::harness::sys::umount_detach(&uts_file).map_err(|e| format!("umount utsns: {e}"))?;
    drop(holder);
    result
}

fn hostname(ctx: &Ctx) -> TestResult {
    let mut b = ctx.bundle("b")?;
    b.spec.set_hostname(Some("spec-host".into()));
    ctx.check(&mut b, &["uts"])?.expect("hostname", "spec-host")
}

/// config.md: domainname changes the domainname in the container's UTS
/// namespace. runc 1.1 ignores the field (support came in runc 1.2).
fn domainname(ctx: &Ctx) -> TestResult {
    let mut b = ctx.bundle("b")?;
    b.spec.set_domainname(Some("spec.example".into()));
    let res = ctx
        .check(&mut b, &["uts"])
        .and_then(|f| f.expect("domainname", "spec.example"));
    super::util::known_runc_1_1_gap(ctx, "domainname is ignored", res)
}

fn loopback_up(ctx: &Ctx) -> TestResult {
    let mut b = ctx.bundle("b")?;
    let f = ctx.check(&mut b, &["ifaces", "+", "ifup", "lo"])?;
    f.expect("ifaces", "lo")?;
    f.expect("ifup:lo", "1")
}

fn sysctl(ctx: &Ctx) -> TestResult {
    let mut b = ctx.bundle("b")?;
    let host_fwd = std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap_or_default();
    let host_shm = std::fs::read_to_string("/proc/sys/kernel/shmmax").unwrap_or_default();
    let sysctls = [
        ("net.ipv4.ip_forward", "1"),
        ("kernel.shmmax", "123456789"),
        ("kernel.msgmax", "12345"),
    ];
    config::linux_mut(&mut b.spec).set_sysctl(Some(
        sysctls
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    ));
    let mut args = Vec::new();
    for (k, _) in sysctls {
        args.extend(["sysctl", k, "+"]);
    }
    args.pop();
    let f = ctx.check(&mut b, &args)?;
    for (k, v) in sysctls {
        f.expect(&format!("sysctl:{k}"), v)?;
    }
    // The host's values are untouched: they live in the new namespaces.
    let now_fwd = std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap_or_default();
    let now_shm = std::fs::read_to_string("/proc/sys/kernel/shmmax").unwrap_or_default();
    ensure_eq!(now_fwd, host_fwd, "host net.ipv4.ip_forward");
    ensure_eq!(now_shm, host_shm, "host kernel.shmmax");
    Ok(())
}
