//! A host whose mount namespace holds many mounts: the container's mount
//! table must not depend on it. berth builds the container's namespace
//! from a small pinned template from 1000 host mounts on (runtime
//! rootfs::compact) instead of copying the host's; the container must not
//! tell the difference, and `--root` must hold no container's entry or
//! mount after (a runtime's own entry, with ':' in its name, may stay).
//!
//! Both runs start in a private mount namespace of their own (`unshare`),
//! so that a host whose mounts are shared (systemd) gives both the same
//! propagation: the baseline with a few mounts, then one with 2048 more.

use super::util::sh;
use crate::harness::case::{case, Case};
use crate::harness::{cleanup, cmd, config, Bundle, Ctx, Fail, TestResult};
use crate::{ensure, ensure_eq};
use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

pub const CASES: &[Case] = &[case(
    "mounts_host_many_mounts_same_table",
    many_host_mounts_same_table,
)];

/// `runc spec`'s masked and read-only paths.
const MASKED: &[&str] = &[
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/sys/firmware",
    "/proc/scsi",
];
const READONLY: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// The payload: its mount table, then what the binds show.
const PAYLOAD: &str = "cat /proc/self/mountinfo; echo ==data; cat /data/file /etc/bound";
const DATA: &str = "bound dir\nbound file\n";

/// Fewer host mounts than berth's threshold (1000), and well more.
const FEW: usize = 1000;
const MANY: usize = 1100;
/// 2^11 = 2048 extra mounts (fs.mount-max is far above).
const DOUBLINGS: u32 = 11;

/// In a private mount namespace: a tmpfs on $BASE bound into itself
/// $DOUBLINGS times, the runtime's `run` ("$@"), then what `--root` holds
/// and which mounts of this namespace name it.
const SCRIPT: &str = r#"
mount -t tmpfs -o size=64k spec-many "$BASE" || exit 90
k=0
while [ "$k" -lt "$DOUBLINGS" ]; do
    mkdir "$BASE/d$k" && mount --rbind "$BASE" "$BASE/d$k" || exit 91
    k=$((k + 1))
done
echo "==mounts $(wc -l < /proc/self/mountinfo)"
"$@"
echo "==rc $?"
echo "==root"
ls -A "$ROOT"
echo "==left"
grep -F "$ROOT" /proc/self/mountinfo
echo "==end"
"#;

/// What one run showed.
struct Seen {
    host_mounts: usize,
    table: Vec<String>,
    data: String,
}

/// The same container (busybox, the default mounts, a v1 or v2 cgroup
/// mount, a read-only bind of a host directory and a bind of a host file,
/// masked and read-only paths) run with a few and with many mounts on the
/// host: the same mount table but for ids and anonymous device numbers,
/// the binds' content in both, and nothing left under `--root` (but a
/// runtime's cache entries, with ':' in their names) nor mounted there.
fn many_host_mounts_same_table(ctx: &Ctx) -> TestResult {
    let host = ctx.path("host");
    let base = ctx.path("many");
    let res = bundle(ctx, &host).and_then(|b| {
        let few = run_in_namespace(ctx, &b, "c1", &base, 0)?;
        if few.host_mounts >= FEW {
            return Err(Fail::Skip(format!(
                "the host already has {} mounts: no baseline",
                few.host_mounts
            )));
        }
        let many = run_in_namespace(ctx, &b, "c2", &base, DOUBLINGS)?;
        ensure!(
            many.host_mounts >= MANY,
            "only {} mounts in the namespace",
            many.host_mounts
        );
        ensure_eq!(few.data.as_str(), DATA, "binds with few host mounts");
        ensure_eq!(many.data.as_str(), DATA, "binds with many host mounts");
        same_tables(&few.table, &many.table)
    });
    for d in [&host, &base] {
        let _ = std::fs::remove_dir_all(d);
    }
    res
}

/// The bundle, its host directory `host` holding `file` and `bound`.
fn bundle(ctx: &Ctx, host: &Path) -> Result<Bundle, Fail> {
    std::fs::create_dir(host).map_err(|e| format!("mkdir {host:?}: {e}"))?;
    let (file, bound) = (host.join("file"), host.join("bound"));
    std::fs::write(&file, "bound dir\n").map_err(|e| format!("write {file:?}: {e}"))?;
    std::fs::write(&bound, "bound file\n").map_err(|e| format!("write {bound:?}: {e}"))?;
    let s = |p: &Path| p.to_str().unwrap_or_default().to_string();
    let mut b = ctx.bundle("b")?;
    let cgroup = ["nosuid", "noexec", "nodev", "relatime", "ro"];
    for m in [
        config::mount("/sys/fs/cgroup", "cgroup", "cgroup", &cgroup),
        config::mount("/data", "bind", &s(host), &["rbind", "ro"]),
        config::mount("/etc/bound", "bind", &s(&bound), &["bind"]),
    ] {
        config::add_mount(&mut b.spec, m);
    }
    let linux = config::linux_mut(&mut b.spec);
    linux.set_masked_paths(Some(MASKED.iter().map(|p| p.to_string()).collect()));
    linux.set_readonly_paths(Some(READONLY.iter().map(|p| p.to_string()).collect()));
    // The cgroup mount shows the container's cgroup path: the same for
    // both runs (the systemd mode names the bundle's unit already).
    if !ctx.env.systemd {
        let path = format!("/spec-many-mounts-{}", std::process::id());
        linux.set_cgroups_path(Some(path.into()));
    }
    sh(&mut b, PAYLOAD);
    b.write()?;
    Ok(b)
}

/// `run` of container `id` in a private mount namespace with a tmpfs on
/// `base` bound into itself `n` times; fails unless it exits 0 and
/// leaves `--root` without a container's entry or mount in that namespace.
fn run_in_namespace(ctx: &Ctx, b: &Bundle, id: &str, base: &Path, n: u32) -> Result<Seen, Fail> {
    std::fs::create_dir_all(base).map_err(|e| format!("mkdir {base:?}: {e}"))?;
    let rt = ctx.command(&["run", "--bundle", b.path(), id]);
    let mut c = std::process::Command::new("unshare");
    c.args(["--mount", "--propagation", "private", "--", "sh", "-c"])
        .args([SCRIPT, "sh"])
        .arg(rt.get_program())
        .args(rt.get_args())
        .env("BASE", base)
        .env("ROOT", &ctx.root)
        .env("DOUBLINGS", n.to_string());
    let out = cmd::spawn(c, &ctx.dir, &format!("unshare-{id}"))?
        .wait(Duration::from_secs(40))?
        .ok()?;
    let text = out.stdout.as_str();
    let what = format!("{id} ({n} doublings)");
    let (mounts, shown) = between(text, "==mounts ", "==rc ")?
        .split_once('\n')
        .ok_or_else(|| format!("{what}: no mount count in {text:?}"))?;
    let host_mounts = mounts.trim().parse().map_err(|e| format!("{what}: {e}"))?;
    let rc = between(text, "==rc ", "\n")?;
    ensure!(rc == "0", "{what}: run exited {rc}: {}", out.stderr.trim());
    let (table, data) = shown
        .split_once("==data\n")
        .ok_or_else(|| format!("{what}: no ==data in {shown:?}"))?;
    let left: Vec<&str> = between(text, "==root\n", "==left\n")?
        .lines()
        .filter(|n| !n.contains(':'))
        .collect();
    ensure!(left.is_empty(), "{what}: --root still holds {left:?}");
    // A runtime's own entry may stay mounted while the host has many
    // mounts (berth's pinned template, `.pin:mntns`): not a container's.
    let mounted: Vec<&str> = between(text, "==left\n", "==end")?
        .lines()
        .filter(|l| {
            let point = l.split(' ').nth(4).map(Path::new);
            !point.is_some_and(|p| cleanup::runtime_entry(&ctx.root, p))
        })
        .collect();
    ensure!(
        mounted.is_empty(),
        "{what}: mounts under --root: {mounted:?}"
    );
    Ok(Seen {
        host_mounts,
        table: normalise(table),
        data: data.to_string(),
    })
}

/// The text between the first `start` and the next `end` after it.
fn between<'a>(text: &'a str, start: &str, end: &str) -> Result<&'a str, Fail> {
    let from = text
        .find(start)
        .map(|i| i + start.len())
        .ok_or_else(|| format!("no {start:?} in output: {text:?}"))?;
    let len = text[from..]
        .find(end)
        .ok_or_else(|| format!("no {end:?} after {start:?}: {text:?}"))?;
    Ok(&text[from..from + len])
}

/// Numbers in first-seen order, for what differs between runs but must
/// relate the same way (anonymous devices, peer groups).
#[derive(Default)]
struct Renumber(HashMap<String, usize>);

impl Renumber {
    fn get(&mut self, key: &str) -> usize {
        let n = self.0.len();
        *self.0.entry(key.to_string()).or_insert(n)
    }
}

/// mountinfo lines with each mount's id dropped (its line stands for it),
/// its parent's id as the parent's line (`-` if not shown), anonymous
/// devices (`0:N`) and peer groups renumbered; the rest kept as is.
fn normalise(table: &str) -> Vec<String> {
    let rows: Vec<Vec<&str>> = table.lines().map(|l| l.split(' ').collect()).collect();
    let line_of: HashMap<&str, usize> = rows
        .iter()
        .enumerate()
        .filter_map(|(i, f)| Some((*f.first()?, i)))
        .collect();
    let (mut devs, mut peers) = (Renumber::default(), Renumber::default());
    rows.iter()
        .map(|f| {
            let parent = f.get(1).and_then(|p| line_of.get(p));
            let mut v = vec![parent.map_or("-".to_string(), |i| i.to_string())];
            for (i, x) in f.iter().enumerate().skip(2) {
                let peer = ["shared:", "master:", "propagate_from:"]
                    .iter()
                    .find_map(|p| Some((*p, x.strip_prefix(p)?)));
                v.push(match (i, x.strip_prefix("0:"), peer) {
                    (2, Some(minor), _) => format!("0:#{}", devs.get(minor)),
                    (_, _, Some((p, n))) if i > 5 => format!("{p}#{}", peers.get(n)),
                    _ => x.to_string(),
                });
            }
            v.join(" ")
        })
        .collect()
}

/// Fails naming the first line that differs, with both tables.
fn same_tables(few: &[String], many: &[String]) -> TestResult {
    ensure!(few.len() >= 10, "too few mounts: {few:#?}");
    let mut both = few.iter().zip(many).enumerate();
    let first = match both.find(|(_, (a, b))| a != b) {
        Some((i, (a, b))) => format!("line {i} differs:\n  few:  {a}\n  many: {b}"),
        None if few.len() != many.len() => format!("{} lines, then {}", few.len(), many.len()),
        None => return Ok(()),
    };
    Err(Fail::Fail(format!(
        "the mount table differs with many host mounts: {first}\nfew: {few:#?}\nmany: {many:#?}"
    )))
}
