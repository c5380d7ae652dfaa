//! The runtime as rootless podman runs it (issue 13 §4): as root of a user
//! namespace that an unprivileged user made (here nobody, `unshare --user
//! --map-root-user`), with a config that has no user namespace of its own,
//! no cgroupsPath and no cgroup namespace. There mknod is refused (the
//! default devices are bind-mounted from the host, as runc does), no cgroup
//! can be made (the container runs without one), and exec may not enter a
//! namespace owned by the host's user namespace, such as the host's cgroup
//! namespace the container shares (runc enters only the config's). On a
//! v1 or hybrid host its cgroup mount shows the cgroups it stays in, the
//! runtime's (runc binds the init's own).

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

use super::util::{expect_nothing_left, host_cgroup_v2};
use crate::ensure;
use crate::harness::case::{case, Case};
use crate::harness::cmd;
use crate::harness::config;
use crate::harness::{write_script, Ctx, Facts, TestResult, CMD_TIMEOUT};

pub const CASES: &[Case] = &[case("rootless_runtime_in_userns", runtime_in_userns)];

const NOBODY: u32 = 65534;

/// Run by nobody's namespace root: create, start, two execs, delete.
/// Prints key=value facts; the container's stdio goes to the file `$4`.
const SCRIPT: &str = r#"rt=$1 root=$2 b=$3 out=$4
r() { "$rt" --root "$root" "$@"; }
echo "uid_map=$(cat /proc/self/uid_map | tr -s ' ' | sed 's/^ //')"
if ! r create --bundle "$b" c1 </dev/null >"$out" 2>&1; then
  echo "create=failed: $(tr '\n' ' ' <"$out")"; exit 0
fi
r start c1; echo "start=$?"
echo "exec=$(r exec c1 sh -c 'echo $(id -u) $(stat -c %t:%T /dev/null)' 2>&1 | tr '\n' ' ')"
r exec c1 sh -c 'exit 5'; echo "exec_status=$?"
echo "cgroup=$(r exec c1 sh -c 'test -e /sys/fs/cgroup/pids/cgroup.procs && echo pids' 2>&1)"
r delete -f c1; echo "delete=$?""#;

fn runtime_in_userns(ctx: &Ctx) -> TestResult {
    let root = std::env::temp_dir().join(format!("spec-userns-root-{}", std::process::id()));
    std::fs::create_dir(&root).map_err(|e| format!("mkdir {root:?}: {e}"))?;
    let res = run_in(ctx, &root);
    let _ = std::fs::remove_dir_all(&root);
    res
}

fn run_in(ctx: &Ctx, root: &Path) -> TestResult {
    let chown = |p: &Path| {
        std::os::unix::fs::chown(p, Some(NOBODY), Some(NOBODY)).map_err(|e| format!("chown: {e}"))
    };
    chown(root)?;
    let v2 = host_cgroup_v2();
    let mut b = ctx.bundle("b")?;
    config::set_args(&mut b.spec, &["sleep", "1000"]);
    // No gid=5: only nobody's ids are mapped, and an unmapped devpts gid
    // fails the mount on any runtime.
    let mut mounts = b.spec.mounts().clone().unwrap_or_default();
    for m in mounts
        .iter_mut()
        .filter(|m| m.typ().as_deref() == Some("devpts"))
    {
        let opts = m.options().clone().unwrap_or_default();
        m.set_options(Some(opts.into_iter().filter(|o| o != "gid=5").collect()));
    }
    if !v2 {
        mounts.push(config::mount(
            "/sys/fs/cgroup",
            "cgroup",
            "cgroup",
            &["nosuid", "noexec", "nodev", "relatime", "ro"],
        ));
    }
    b.spec.set_mounts(Some(mounts));
    b.write()?;
    let out_file = ctx.path("container.out");
    std::fs::write(&out_file, "").map_err(|e| format!("write: {e}"))?;
    chown(&out_file)?;
    let script = ctx.path("in-userns.sh");
    write_script(&script, SCRIPT)?;
    let mut c = Command::new("unshare");
    c.args(["--user", "--map-root-user", "sh"])
        .arg(&script)
        .arg(&ctx.env.runtime)
        .arg(root)
        .arg(b.path())
        .arg(&out_file);
    c.uid(NOBODY).gid(NOBODY);
    let out = cmd::spawn(c, &ctx.dir, "in-userns")?
        .wait(CMD_TIMEOUT)?
        .ok()?;
    let facts = Facts::parse(&out.stdout);
    facts.expect("uid_map", "0 65534 1")?;
    let create = facts.get("create").unwrap_or("ok");
    ensure!(
        create == "ok",
        "create as root of nobody's user namespace: {create}"
    );
    facts.expect("start", "0")?;
    // Root inside; /dev/null is the host's char device 1:3 (bound).
    facts.expect("exec", "0 1:3 ")?;
    facts.expect("exec_status", "5")?;
    if !v2 {
        // The container has no cgroup; its cgroup mount shows the
        // runtime's own in each hierarchy, as runc binds them.
        facts.expect("cgroup", "pids")?;
    }
    facts.expect("delete", "0")?;
    let left: Vec<_> = std::fs::read_dir(root)
        .map_err(|e| format!("{e}"))?
        .collect();
    ensure!(left.is_empty(), "state left in {root:?}: {left:?}");
    expect_nothing_left(ctx, "c1", &b)
}
