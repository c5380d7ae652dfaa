//! More features of current runc (1.2+) that runc 1.1 does not have:
//! `--pidfd-socket` on create, run and exec; `linux.memoryPolicy` (runc
//! 1.3+) for the init and exec'd processes; `linux.netDevices` (runc 1.3+),
//! host links moved, and renamed, into the container's network namespace
//! with their permanent global addresses.
//! Also the time namespace with `linux.timeOffsets` (runc 1.2+).
//! On runc 1.1.x each case is a
//! documented skip ("runc 1.1 predates …" for a flag runc 1.1 refuses,
//! "runc 1.1 ignores …" for a field it ignores), never a pass.

use super::runc_features::{bundle, exec_check_cmd, refused, with_running};
use super::util::write_patched;
use super::util::{expect_error, expect_gone, expect_nothing_left, go, is_runc_1_1, until_go};
use crate::ensure;
use crate::harness::case::{case, Case};
use crate::harness::{config, sys, Ctx, Fail, TestResult};
use serde_json::{json, Value};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::time::Duration;

pub const CASES: &[Case] = &[
    case("runc_feat_pidfd_socket", pidfd_socket),
    case("runc_feat_pidfd_socket_exec", pidfd_socket_exec),
    case("runc_feat_pidfd_socket_bad_input", pidfd_socket_bad_input),
    case("runc_feat_memory_policy", memory_policy),
    case("runc_feat_memory_policy_bad_input", memory_policy_bad_input),
    case("runc_feat_net_devices", net_devices),
    case("runc_feat_net_devices_addresses", net_devices_addresses),
    case("runc_feat_net_devices_userns", net_devices_userns),
    case("runc_feat_net_devices_bad_input", net_devices_bad_input),
    case("runc_feat_time_offsets", time_offsets),
    case("runc_feat_time_offsets_bad_input", time_offsets_bad_input),
];

const WAIT: Duration = Duration::from_secs(10);

/// Skips the case on runc 1.1, which predates `what`.
fn skip_on_runc_1_1(ctx: &Ctx, what: &str) -> TestResult {
    if is_runc_1_1(ctx) {
        return Err(Fail::Skip(format!("runc 1.1 predates {what}")));
    }
    Ok(())
}

/// On runc 1.1, which ignores `field` (runc 1.3+ implements it), a failure
/// becomes a skip.
fn newer_than_1_2(ctx: &Ctx, field: &str, res: TestResult) -> TestResult {
    match res {
        Err(Fail::Fail(m)) if is_runc_1_1(ctx) => Err(Fail::Skip(format!(
            "runc 1.1 ignores {field} (runc 1.3+ implements it): {m}"
        ))),
        other => other,
    }
}

/// A listening socket in the case's dir (the kernel queues the runtime's
/// connection and message until we take them, so no thread is needed).
fn listen(ctx: &Ctx, name: &str) -> Result<(UnixListener, String), Fail> {
    let path = ctx.path(name);
    let l = UnixListener::bind(&path).map_err(|e| format!("bind {}: {e}", path.display()))?;
    l.set_nonblocking(true)
        .map_err(|e| format!("nonblocking: {e}"))?;
    Ok((l, path.display().to_string()))
}

/// The one message the runtime sent: its bytes and the fd.
fn received(l: &UnixListener) -> Result<(String, OwnedFd), Fail> {
    let (conn, _) = l
        .accept()
        .map_err(|e| format!("the runtime did not connect to the pidfd socket: {e}"))?;
    let (msg, fd) =
        spec_tests::recv_fd(conn.as_raw_fd()).map_err(|e| format!("receive the pidfd: {e}"))?;
    Ok((String::from_utf8_lossy(&msg).into_owned(), fd))
}

/// The pid a pidfd refers to (`Pid:` in its fdinfo), which proves it is one.
fn pidfd_pid(fd: &OwnedFd) -> Result<i64, Fail> {
    let path = format!("/proc/self/fdinfo/{}", fd.as_raw_fd());
    let text = std::fs::read_to_string(&path).map_err(|e| format!("read {path}: {e}"))?;
    text.lines()
        .find_map(|l| l.strip_prefix("Pid:"))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| Fail::Fail(format!("fd is not a pidfd (no Pid: in {path}): {text}")))
}

/// SIGKILL through the pidfd; the pidfd reports the exit.
fn kill_through(fd: &OwnedFd) -> TestResult {
    sys::pidfd_send_signal(fd.as_raw_fd(), libc::SIGKILL)
        .map_err(|e| format!("pidfd_send_signal: {e}"))?;
    let done = sys::readable_within(fd.as_raw_fd(), 10_000).map_err(|e| format!("poll: {e}"))?;
    ensure!(
        done,
        "the process did not exit after SIGKILL through its pidfd"
    );
    Ok(())
}

/// `create --pidfd-socket` and `run -d --pidfd-socket`: the socket gets
/// a pidfd of the init (message "standard", as runc sends) before the
/// command returns; SIGKILL through it stops the container.
fn pidfd_socket(ctx: &Ctx) -> TestResult {
    skip_on_runc_1_1(ctx, "--pidfd-socket (runc 1.2+)")?;
    for cmd in ["create", "run"] {
        let mut b = bundle(ctx)?;
        until_go(&mut b);
        b.write()?;
        let (l, sock) = listen(ctx, &format!("{cmd}.sock"))?;
        let mut args = vec![cmd, "--pidfd-socket", &sock, "--bundle", b.path(), "c1"];
        if cmd == "run" {
            args.insert(1, "-d");
        }
        ctx.rt(&args)?.ok()?;
        let res = (|| {
            let (msg, fd) = received(&l)?;
            ensure!(
                msg == "standard",
                "{cmd}: message {msg:?}, want \"standard\""
            );
            let pid = ctx.state("c1")?["pid"].as_i64().unwrap_or(0);
            let got = pidfd_pid(&fd)?;
            ensure!(got == pid, "{cmd}: pidfd of pid {got}, the init is {pid}");
            kill_through(&fd)?;
            ctx.wait_status("c1", "stopped", WAIT)
        })();
        ctx.delete_force("c1")?;
        res?;
    }
    Ok(())
}

/// `exec -d --pidfd-socket`: a pidfd of the exec'd process (message
/// "setns"), not of the init; SIGKILL through it ends that process only.
fn pidfd_socket_exec(ctx: &Ctx) -> TestResult {
    skip_on_runc_1_1(ctx, "--pidfd-socket (runc 1.2+)")?;
    let mut b = bundle(ctx)?;
    super::util::start_waiting(ctx, "c1", &mut b)?;
    let res = (|| {
        let (l, sock) = listen(ctx, "exec.sock")?;
        ctx.rt(&["exec", "-d", "--pidfd-socket", &sock, "c1", "sleep", "100"])?
            .ok()?;
        let (msg, fd) = received(&l)?;
        ensure!(msg == "setns", "exec: message {msg:?}, want \"setns\"");
        let pid = pidfd_pid(&fd)?;
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        ensure!(
            cmdline.starts_with(b"sleep\x00100"),
            "pidfd of pid {pid}, running {:?} (want the exec'd sleep)",
            String::from_utf8_lossy(&cmdline)
        );
        kill_through(&fd)?;
        ensure!(
            ctx.state("c1")?["status"] == "running",
            "the init did not survive the exec'd process's SIGKILL"
        );
        Ok(())
    })();
    go(&b)?;
    ctx.delete_force("c1")?;
    res
}

/// A socket nobody listens on: exit 1, one error naming it, nothing left.
fn pidfd_socket_bad_input(ctx: &Ctx) -> TestResult {
    skip_on_runc_1_1(ctx, "--pidfd-socket (runc 1.2+)")?;
    let mut b = bundle(ctx)?;
    until_go(&mut b);
    b.write()?;
    let sock = ctx.path("nobody.sock").display().to_string();
    for cmd in ["create", "run"] {
        let args = [cmd, "--pidfd-socket", &sock, "--bundle", b.path(), "c1"];
        let (out, log) = ctx.rt_logged(&args)?;
        if out.code == 0 {
            let _ = ctx.delete_force("c1");
            return Err(Fail::Fail(format!(
                "{cmd} with a missing pidfd socket succeeded"
            )));
        }
        expect_error(&out, &log, &["nobody.sock", "no such file"])?;
        expect_gone(ctx, "c1")?;
        expect_nothing_left(ctx, "c1", &b)?;
    }
    Ok(())
}

/// The first line of /proc/self/numa_maps of `head` run by `run` under
/// the policy: the kernel shows the task's policy for mappings without
/// one of their own ("bind:0", "interleave:0", "local", …).
fn numa_maps_line(ctx: &Ctx, policy: &Value) -> Result<String, Fail> {
    let mut b = bundle(ctx)?;
    config::set_args(&mut b.spec, &["head", "-n1", "/proc/self/numa_maps"]);
    write_patched(&b, &[("/linux/memoryPolicy", policy.clone())])?;
    let out = ctx.rt(&["run", "--bundle", b.path(), "c1"])?.ok()?;
    Ok(out.stdout)
}

/// The policy as numa_maps shows it, among the line's fields.
fn shows(line: &str, want: &str, policy: &Value) -> TestResult {
    ensure!(
        line.contains(&format!(" {want} ")),
        "memoryPolicy {policy}: numa_maps shows {:?}, want {want:?}",
        line.trim()
    );
    Ok(())
}

/// Every mode (this host has node 0 only) and the flags, for the init;
/// exec'd processes get the container's policy too (current runc).
fn memory_policy(ctx: &Ctx) -> TestResult {
    let res = (|| {
        for (policy, want) in [
            (json!({"mode": "MPOL_BIND", "nodes": "0"}), "bind:0"),
            (
                json!({"mode": "MPOL_INTERLEAVE", "nodes": "0"}),
                "interleave:0",
            ),
            (json!({"mode": "MPOL_PREFERRED", "nodes": "0"}), "prefer:0"),
            (
                json!({"mode": "MPOL_PREFERRED_MANY", "nodes": "0"}),
                "prefer (many):0",
            ),
            (
                json!({"mode": "MPOL_WEIGHTED_INTERLEAVE", "nodes": "0"}),
                "weighted interleave:0",
            ),
            (json!({"mode": "MPOL_LOCAL"}), "local"),
            (json!({"mode": "MPOL_DEFAULT"}), "default"),
            (
                json!({"mode": "MPOL_BIND", "nodes": "0", "flags": ["MPOL_F_STATIC_NODES"]}),
                "bind=static:0",
            ),
            (
                json!({"mode": "MPOL_INTERLEAVE", "nodes": "0", "flags": ["MPOL_F_RELATIVE_NODES"]}),
                "interleave=relative:0",
            ),
            (
                json!({"mode": "MPOL_BIND", "nodes": "0", "flags": ["MPOL_F_NUMA_BALANCING"]}),
                "bind=balancing:0",
            ),
        ] {
            shows(&numa_maps_line(ctx, &policy)?, want, &policy)?;
        }
        let policy = json!({"mode": "MPOL_INTERLEAVE", "nodes": "0"});
        with_running(ctx, &[("/linux/memoryPolicy", policy.clone())], |ctx| {
            let out = exec_check_cmd(ctx, &["head", "-n1", "/proc/self/numa_maps"])?;
            shows(&out, "interleave:0", &policy)
        })?;
        features_memory_policy(ctx)
    })();
    newer_than_1_2(ctx, "linux.memoryPolicy", res)
}

/// `features` lists every mode and flag under linux.memoryPolicy.
fn features_memory_policy(ctx: &Ctx) -> TestResult {
    let out = ctx.rt(&["features"])?.ok()?;
    let v: Value = serde_json::from_str(&out.stdout).map_err(|e| format!("features: {e}"))?;
    let mp = &v["linux"]["memoryPolicy"];
    for (key, n) in [("modes", 7), ("flags", 3)] {
        let got = mp[key].as_array().map_or(0, Vec::len);
        ensure!(got == n, "features linux.memoryPolicy.{key}: {}", mp[key]);
    }
    Ok(())
}

fn memory_policy_bad_input(ctx: &Ctx) -> TestResult {
    let bad = [
        (
            json!({"mode": "MPOL_BINDD", "nodes": "0"}),
            &["memoryPolicy.mode|memory policy mode", "MPOL_BINDD"][..],
        ),
        (
            json!({"mode": "MPOL_BIND", "nodes": "0", "flags": ["MPOL_F_NOPE"]}),
            &["memoryPolicy.flags|memory policy flag", "MPOL_F_NOPE"][..],
        ),
        (
            json!({"mode": "MPOL_BIND"}),
            &["memoryPolicy|memory policy", "at least one node"][..],
        ),
        (
            json!({"mode": "MPOL_LOCAL", "nodes": "0"}),
            &["memoryPolicy|memory policy", "requires 0 nodes"][..],
        ),
        (
            json!({"mode": "MPOL_BIND", "nodes": "0-x"}),
            &["memoryPolicy.nodes|memory policy nodes"][..],
        ),
        (
            json!({"mode": "MPOL_BIND", "nodes": "4000"}),
            &["memoryPolicy|set_mempolicy"][..],
        ),
    ];
    let res = bad
        .into_iter()
        .try_for_each(|(p, words)| refused(ctx, &[("/linux/memoryPolicy", p)], words));
    newer_than_1_2(ctx, "linux.memoryPolicy", res)
}

/// `ip ARGS` on the host.
fn ip(args: &[&str]) -> Result<(), Fail> {
    let out = std::process::Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip {args:?}: {e}"))?;
    ensure!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(())
}

fn host_has_link(name: &str) -> bool {
    std::path::Path::new(&format!("/sys/class/net/{name}")).exists()
}

/// Makes veth pair `a`/`b` on the host (this kernel has no dummy links).
fn veth(a: &str, b: &str) -> TestResult {
    let _ = ip(&["link", "del", a]);
    let _ = ip(&["link", "del", b]);
    ip(&["link", "add", a, "type", "veth", "peer", "name", b])
}

/// Two veth pairs made here: berthtest0 moved and renamed to eth7,
/// berthtest2 moved under its own name; their peers stay on the host. The
/// payload sees both in its own namespace (/proc/net/dev), the host no
/// longer has them, and once the container is deleted its namespace is
/// gone and the kernel has destroyed the (virtual) links with their peers,
/// as under runc.
fn net_devices(ctx: &Ctx) -> TestResult {
    let all = ["berthtest0", "berthtest1", "berthtest2", "berthtest3"];
    veth(all[0], all[1])?;
    veth(all[2], all[3])?;
    let res = (|| {
        let mut b = bundle(ctx)?;
        config::set_args(
            &mut b.spec,
            &[
                "sh",
                "-c",
                "cat /proc/net/dev; touch /tmp/seen; \
            while [ ! -e /tmp/go ]; do sleep 0.02; done",
            ],
        );
        let devs = json!({"berthtest0": {"name": "eth7"}, "berthtest2": {}});
        write_patched(&b, &[("/linux/netDevices", devs)])?;
        let run = ctx.spawn(&["run", "--bundle", b.path(), "c1"])?;
        let seen = super::util::wait_file(&b.rootfs().join("tmp/seen"), WAIT);
        let on_host: Vec<bool> = all.iter().map(|l| host_has_link(l)).collect();
        go(&b)?;
        let out = run.wait(WAIT)?.ok()?;
        seen?;
        ensure!(
            on_host == [false, true, false, true],
            "links on the host while the container runs (0-3): {on_host:?}"
        );
        for want in ["eth7:", "berthtest2:"] {
            ensure!(
                out.stdout.contains(want),
                "no {want} in the container: {}",
                out.stdout
            );
        }
        ensure!(
            !out.stdout.contains("berthtest0"),
            "berthtest0 not renamed: {}",
            out.stdout
        );
        let start = std::time::Instant::now();
        while all.iter().any(|l| host_has_link(l)) && start.elapsed() < WAIT {
            std::thread::sleep(Duration::from_millis(20));
        }
        let left: Vec<&str> = all.into_iter().filter(|l| host_has_link(l)).collect();
        ensure!(
            left.is_empty(),
            "links left on the host after delete: {left:?}"
        );
        features_net_devices(ctx)
    })();
    for l in all {
        if host_has_link(l) {
            let _ = ip(&["link", "del", l]);
        }
    }
    newer_than_1_2(ctx, "linux.netDevices", res)
}

/// `features` says linux.netDevices is enabled.
fn features_net_devices(ctx: &Ctx) -> TestResult {
    let out = ctx.rt(&["features"])?.ok()?;
    let v: Value = serde_json::from_str(&out.stdout).map_err(|e| format!("features: {e}"))?;
    let got = &v["linux"]["netDevices"]["enabled"];
    ensure!(
        *got == json!(true),
        "features linux.netDevices.enabled: {got}"
    );
    Ok(())
}

/// Addresses on berthtest0 before the move: (`ip addr add` arguments,
/// whether current runc carries it into the container). runc carries
/// permanent addresses with global scope, IPv4 and IPv6; it leaves dynamic
/// ones (a lifetime) and link- or host-scope ones behind.
const ADDRESSES: [(&str, bool); 6] = [
    ("192.0.2.10/24", true),
    ("2001:db8::10/64", true),
    ("198.51.100.7/24 valid_lft 300 preferred_lft 300", false),
    ("2001:db8:1::5/64 valid_lft 300 preferred_lft 300", false),
    ("192.0.2.33/32 scope link", false),
    ("fe80::1234/64", false),
];

/// A veth end with IPv4 and IPv6 addresses, moved in and renamed to eth7:
/// `ip addr` in the container shows the permanent global addresses (the
/// kernel dropped them on the move; the runtime adds them again), not the
/// others, and the link is up (runc sets it up).
fn net_devices_addresses(ctx: &Ctx) -> TestResult {
    skip_on_runc_1_1(ctx, "linux.netDevices")?;
    veth("berthtest0", "berthtest1")?;
    let res = (|| {
        for (a, _) in ADDRESSES {
            let mut args = vec!["addr", "add"];
            args.extend(a.split(' '));
            ip(&[&args[..], &["dev", "berthtest0"]].concat())?;
        }
        let mut b = bundle(ctx)?;
        config::set_args(&mut b.spec, &["ip", "addr", "show", "dev", "eth7"]);
        let devs = json!({"berthtest0": {"name": "eth7"}});
        write_patched(&b, &[("/linux/netDevices", devs)])?;
        let out = ctx.rt(&["run", "--bundle", b.path(), "c1"])?.ok()?;
        for (a, carried) in ADDRESSES {
            let addr = a.split(' ').next().unwrap_or(a);
            let shown = out.stdout.contains(&format!(" {addr} "));
            ensure!(
                shown == carried,
                "{addr} shown in the container: {shown}, want {carried}: {}",
                out.stdout
            );
        }
        let flags = out.stdout.split(['<', '>']).nth(1).unwrap_or("");
        ensure!(
            flags.split(',').any(|f| f == "UP"),
            "eth7 not up in the container: {}",
            out.stdout
        );
        Ok(())
    })();
    if host_has_link("berthtest0") {
        let _ = ip(&["link", "del", "berthtest0"]);
    }
    res
}

/// A container with its own user namespace (`0 100000 65536`): the
/// runtime, not the init (which has no capability over the host's network
/// namespace), moves berthtest0 in as eth7 with its address; the payload
/// is root there and sees eth7 up with 192.0.2.10.
fn net_devices_userns(ctx: &Ctx) -> TestResult {
    skip_on_runc_1_1(ctx, "linux.netDevices")?;
    veth("berthtest0", "berthtest1")?;
    let res = (|| {
        ip(&["addr", "add", "192.0.2.10/24", "dev", "berthtest0"])?;
        let mut b = bundle(ctx)?;
        config::set_args(
            &mut b.spec,
            &[
                "sh",
                "-c",
                "id -u; cat /proc/self/uid_map; ip addr show dev eth7",
            ],
        );
        let mut patches = super::userns::userns_patches(&b)?;
        patches.push(("/linux/netDevices", json!({"berthtest0": {"name": "eth7"}})));
        write_patched(&b, &patches)?;
        let out = ctx.rt(&["run", "--bundle", b.path(), "c1"])?.ok()?;
        let mut lines = out.stdout.lines();
        ensure!(
            lines.next() == Some("0")
                && lines.next().map(super::userns::normalised).as_deref()
                    == Some(super::userns::MAP_LINE),
            "not root in the user namespace: {}",
            out.stdout
        );
        let flags = out.stdout.split(['<', '>']).nth(1).unwrap_or("");
        ensure!(
            out.stdout.contains(" 192.0.2.10/24 ") && flags.split(',').any(|f| f == "UP"),
            "eth7 without its address or not up: {}",
            out.stdout
        );
        expect_nothing_left(ctx, "c1", &b)
    })();
    if host_has_link("berthtest0") {
        let _ = ip(&["link", "del", "berthtest0"]);
    }
    res
}

/// A device that does not exist, bad names, no network namespace: exit 1,
/// one error naming the field or device, nothing left (the host's link is
/// still there).
fn net_devices_bad_input(ctx: &Ctx) -> TestResult {
    veth("berthtest0", "berthtest1")?;
    let no_netns = json!([{"type": "pid"}, {"type": "mount"}, {"type": "ipc"}, {"type": "uts"}]);
    let ok = json!({"berthtest0": {}});
    type Patches<'a> = Vec<(&'a str, Value)>;
    let cases: [(Patches, &[&str]); 4] = [
        (
            vec![("/linux/netDevices", json!({"berthnope0": {}}))],
            &["netDevice", "berthnope0"],
        ),
        (
            vec![("/linux/netDevices", json!({"berthtest0": {"name": "a/b"}}))],
            &["network device name", "a/b"],
        ),
        (
            vec![("/linux/netDevices", json!({"x:y": {}}))],
            &["network device name", "x:y"],
        ),
        (
            vec![("/linux/netDevices", ok), ("/linux/namespaces", no_netns)],
            &["without a NET namespace"],
        ),
    ];
    let res = cases.iter().try_for_each(|(patches, words)| {
        refused(ctx, patches, words)?;
        ensure!(
            host_has_link("berthtest0"),
            "berthtest0 left the host after {patches:?}"
        );
        Ok(())
    });
    let _ = ip(&["link", "del", "berthtest0"]);
    newer_than_1_2(ctx, "linux.netDevices", res)
}

/// The base namespaces plus a new time namespace, as raw JSON.
fn with_time_ns(b: &crate::harness::Bundle) -> Value {
    let mut list: Vec<Value> = b
        .spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().clone())
        .unwrap_or_default()
        .iter()
        .map(|n| json!({"type": n.typ()}))
        .collect();
    list.push(json!({"type": "time"}));
    Value::Array(list)
}

/// A year of boottime and 1000 s + 5 ns of monotonic time: the payload's
/// /proc/self/timens_offsets shows both, and its /proc/uptime (boottime)
/// is at least a year; so is an exec'd process's.
fn time_offsets(ctx: &Ctx) -> TestResult {
    skip_on_runc_1_1(ctx, "the time namespace (runc 1.2+)")?;
    const YEAR: u64 = 365 * 24 * 3600;
    let mut b = bundle(ctx)?;
    config::set_args(
        &mut b.spec,
        &["sh", "-c", "cat /proc/self/timens_offsets /proc/uptime"],
    );
    let offsets = json!({"boottime": {"secs": YEAR}, "monotonic": {"secs": 1000, "nanosecs": 5}});
    let ns = with_time_ns(&b);
    write_patched(
        &b,
        &[("/linux/namespaces", ns), ("/linux/timeOffsets", offsets)],
    )?;
    let out = ctx.rt(&["run", "--bundle", b.path(), "c1"])?.ok()?;
    let words: Vec<&str> = out.stdout.split_whitespace().collect();
    for want in [["monotonic", "1000", "5"], ["boottime", "31536000", "0"]] {
        ensure!(
            words.windows(3).any(|w| w == want),
            "timens_offsets lacks {want:?}: {}",
            out.stdout
        );
    }
    // Whole seconds of /proc/uptime's first field.
    let uptime: u64 = words
        .get(6)
        .and_then(|u| u.split('.').next()?.parse().ok())
        .unwrap_or(0);
    ensure!(
        uptime >= YEAR,
        "/proc/uptime {uptime} is not shifted by a year"
    );
    let feats: Value = serde_json::from_str(&ctx.rt(&["features"])?.ok()?.stdout)
        .map_err(|e| format!("features: {e}"))?;
    let listed = feats["linux"]["namespaces"].as_array();
    ensure!(
        listed.is_some_and(|a| a.iter().any(|n| n == "time")),
        "features does not list the time namespace"
    );
    // exec enters the container's time namespace too (as runc).
    let patches = [
        ("/linux/namespaces", with_time_ns(&b)),
        ("/linux/timeOffsets", json!({"boottime": {"secs": YEAR}})),
    ];
    with_running(ctx, &patches, |ctx| {
        let out = ctx.rt(&["exec", "c1", "cat", "/proc/uptime"])?.ok()?;
        let uptime: u64 = out
            .stdout
            .split('.')
            .next()
            .and_then(|u| u.trim().parse().ok())
            .unwrap_or(0);
        ensure!(
            uptime >= YEAR,
            "exec: /proc/uptime {uptime} is not shifted by a year"
        );
        Ok(())
    })
}

/// An unknown clock, and offsets without a new time namespace.
fn time_offsets_bad_input(ctx: &Ctx) -> TestResult {
    skip_on_runc_1_1(ctx, "the time namespace (runc 1.2+)")?;
    let b = bundle(ctx)?;
    let ns = with_time_ns(&b);
    let realtime = json!({"realtime": {"secs": 1}});
    refused(
        ctx,
        &[("/linux/namespaces", ns), ("/linux/timeOffsets", realtime)],
        &["timeOffsets|timens_offsets", "realtime|invalid argument"],
    )?;
    let mono = json!({"monotonic": {"secs": 1}});
    refused(
        ctx,
        &[("/linux/timeOffsets", mono)],
        &["timeOffsets|time namespace offsets", "time namespace"],
    )
}
