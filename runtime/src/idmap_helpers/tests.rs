//! Tests of `idmap_helpers`. The real ones run the writer as an
//! unprivileged user for real: this test binary re-executes itself as
//! nobody (65534) to run one `child_*` scenario (ignored in a normal run),
//! which starts `unshare --user sleep` as nobody and maps that process's
//! namespace. No /etc file is changed: mapping one's own id is what the
//! kernel (and newuidmap/newgidmap) allow without /etc/subuid ranges.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use oci_spec::runtime::{LinuxIdMapping, LinuxIdMappingBuilder};

use super::*;

const NOBODY: u32 = 65534;
const SCENARIO_ENV: &str = "BERTH_IDMAP_SCENARIO";

fn map(c: u32, h: u32, n: u32) -> LinuxIdMapping {
    LinuxIdMappingBuilder::default()
        .container_id(c)
        .host_id(h)
        .size(n)
        .build()
        .unwrap()
}

#[test]
fn map_text_is_one_line_per_range() {
    assert_eq!(map_text(&[map(0, 1000, 1)]), "0 1000 1\n");
    assert_eq!(
        map_text(&[map(0, 1000, 1), map(1, 100000, 65536)]),
        "0 1000 1\n1 100000 65536\n"
    );
}

#[test]
fn tool_args_are_pid_then_triples() {
    assert_eq!(tool_args(42, &[map(0, 1000, 1)]), ["42", "0", "1000", "1"]);
    assert_eq!(
        tool_args(7, &[map(0, 1000, 1), map(1, 100000, 65536)]),
        ["7", "0", "1000", "1", "1", "100000", "65536"]
    );
}

#[test]
fn self_map_is_exactly_one_line_of_the_own_id() {
    assert!(is_self_map(&[map(0, 1000, 1)], 1000));
    assert!(!is_self_map(&[map(0, 1000, 2)], 1000));
    assert!(!is_self_map(&[map(1, 1000, 1)], 1000));
    assert!(!is_self_map(&[map(0, 1001, 1)], 1000));
    assert!(!is_self_map(&[map(0, 1000, 1), map(1, 100000, 10)], 1000));
    assert!(!is_self_map(&[], 1000));
}

#[test]
fn a_missing_helper_names_the_package() {
    let dir = std::env::temp_dir().join(format!("berth-nohelper-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let e = find_tool("newuidmap", dir.as_os_str()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "newuidmap not found in $PATH: install Debian's uidmap package (it provides newuidmap and newgidmap), or use a single mapping of your own id"
    );
    // A non-executable file of that name is not the helper either.
    std::fs::write(dir.join("newgidmap"), "").unwrap();
    assert!(find_tool("newgidmap", dir.as_os_str()).is_err());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn helpers_are_found_in_path() {
    if !Path::new("/usr/bin/newuidmap").exists() {
        eprintln!("skipped: uidmap is not installed (scripts/install-deps.sh)");
        return;
    }
    let p = find_tool("newuidmap", "/nonexistent:/usr/bin".as_ref()).unwrap();
    assert_eq!(p, Path::new("/usr/bin/newuidmap"));
}

/// Runs scenario `name` (the ignored test `child_<name>`) in this test
/// binary as nobody; panics with its output unless it passed.
fn run_as_nobody(name: &str) {
    let exe = std::env::current_exe().unwrap();
    let test = format!("idmap_helpers::tests::child_{name}");
    let out = std::os::unix::process::CommandExt::gid(
        std::os::unix::process::CommandExt::uid(&mut Command::new(exe), NOBODY),
        NOBODY,
    )
    .args([
        &test,
        "--exact",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ])
    .env(SCENARIO_ENV, name)
    .env("PATH", "/usr/bin:/bin")
    .output()
    .unwrap();
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "scenario {name} as nobody: {text}");
    assert!(
        text.contains("1 passed"),
        "scenario {name} did not run: {text}"
    );
}

fn root_with_helpers() -> bool {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: needs root (to become nobody)");
        return false;
    }
    if !Path::new("/usr/bin/newuidmap").exists() {
        eprintln!("skipped: uidmap is not installed (scripts/install-deps.sh)");
        return false;
    }
    true
}

#[test]
fn nobody_maps_its_own_ids_directly() {
    if root_with_helpers() {
        run_as_nobody("self_map");
    }
}

#[test]
fn nobody_maps_its_own_ids_through_the_helpers() {
    if root_with_helpers() {
        run_as_nobody("helpers");
    }
}

#[test]
fn a_refused_range_names_the_helper_and_its_stderr() {
    if root_with_helpers() {
        run_as_nobody("refused");
    }
}

/// A process in a new user namespace of its own, not yet mapped.
struct Target(Child);

impl Target {
    fn start() -> Target {
        let child = Command::new("unshare")
            .args(["--user", "sleep", "30"])
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let t = Target(child);
        let own = std::fs::read_link("/proc/self/ns/user").unwrap();
        let start = Instant::now();
        while std::fs::read_link(t.path("ns/user")).ok().as_ref() == Some(&own) {
            assert!(
                start.elapsed() < Duration::from_secs(5),
                "unshare did not unshare"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        t
    }

    fn pid(&self) -> i32 {
        self.0.id() as i32
    }

    fn path(&self, f: &str) -> String {
        format!("/proc/{}/{f}", self.0.id())
    }

    fn read(&self, f: &str) -> String {
        let t = std::fs::read_to_string(self.path(f)).unwrap();
        t.split_whitespace().collect::<Vec<_>>().join(" ")
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Only inside `run_as_nobody`.
fn in_scenario(name: &str) -> bool {
    if std::env::var(SCENARIO_ENV).as_deref() != Ok(name) {
        return false;
    }
    assert_eq!(nix::unistd::geteuid().as_raw(), NOBODY);
    true
}

#[test]
#[ignore = "run as nobody by nobody_maps_its_own_ids_directly"]
fn child_self_map() {
    if !in_scenario("self_map") {
        return;
    }
    let t = Target::start();
    // No helper on PATH: the direct write must not need one.
    let own = [map(0, NOBODY, 1)];
    write_maps_with_path(t.pid(), &own, &own, "/nonexistent".as_ref()).unwrap();
    assert_eq!(t.read("uid_map"), "0 65534 1");
    assert_eq!(t.read("gid_map"), "0 65534 1");
    assert_eq!(t.read("setgroups"), "deny");
}

#[test]
#[ignore = "run as nobody by nobody_maps_its_own_ids_through_the_helpers"]
fn child_helpers() {
    if !in_scenario("helpers") {
        return;
    }
    let t = Target::start();
    run_tool(
        Path::new("/usr/bin/newuidmap"),
        t.pid(),
        &[map(0, NOBODY, 1)],
    )
    .unwrap();
    run_tool(
        Path::new("/usr/bin/newgidmap"),
        t.pid(),
        &[map(0, NOBODY, 1)],
    )
    .unwrap();
    assert_eq!(t.read("uid_map"), "0 65534 1");
    assert_eq!(t.read("gid_map"), "0 65534 1");
}

#[test]
#[ignore = "run as nobody by a_refused_range_names_the_helper_and_its_stderr"]
fn child_refused() {
    if !in_scenario("refused") {
        return;
    }
    let t = Target::start();
    // Two ranges: the kernel refuses (EPERM), newuidmap is asked and
    // refuses too (nobody has no /etc/subuid range).
    let maps = [map(0, NOBODY, 1), map(1, 200000, 10)];
    let e = write_maps_as_unprivileged(t.pid(), &maps, &maps).unwrap_err();
    let text = e.to_string();
    assert!(
        text.starts_with(&format!(
            "linux.uidMappings: /usr/bin/newuidmap {} 0 65534 1 1 200000 10: exit status 1: newuidmap: ",
            t.pid()
        )),
        "{text}"
    );
    assert!(matches!(e.cause, Cause::ToolFailed { .. }), "{e:?}");
    // Nothing was written: the namespace is still unmapped.
    assert_eq!(t.read("uid_map"), "");
}
