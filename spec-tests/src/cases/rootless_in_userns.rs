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

pub const CASES: &[Case] = &[
    case("rootless_runtime_in_userns", runtime_in_userns),
    case("rootless_locked_bind_flags_kept", locked_bind_flags),
];

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

fn chown(p: &Path) -> TestResult {
    std::os::unix::fs::chown(p, Some(NOBODY), Some(NOBODY)).map_err(|e| format!("chown: {e}"))?;
    Ok(())
}

/// The container's mounts for a runtime run by nobody's namespace root:
/// the base config's, devpts without gid=5 (only nobody's ids are mapped,
/// and an unmapped devpts gid fails the mount on any runtime).
fn nobody_mounts(b: &crate::harness::Bundle) -> Vec<oci_spec::runtime::Mount> {
    let mut mounts = b.spec.mounts().clone().unwrap_or_default();
    for m in mounts
        .iter_mut()
        .filter(|m| m.typ().as_deref() == Some("devpts"))
    {
        let opts = m.options().clone().unwrap_or_default();
        m.set_options(Some(opts.into_iter().filter(|o| o != "gid=5").collect()));
    }
    mounts
}

/// Runs `script` (arguments: runtime, `root`, `b`'s dir, `out`) as root of
/// a user namespace nobody made; its key=value facts.
fn in_nobody_userns(
    ctx: &Ctx,
    root: &Path,
    b: &crate::harness::Bundle,
    script: &str,
    out: &Path,
) -> Result<Facts, crate::harness::Fail> {
    let path = ctx.path("in-userns.sh");
    write_script(&path, script)?;
    let mut c = Command::new("unshare");
    c.args(["--user", "--map-root-user", "sh"])
        .arg(&path)
        .arg(&ctx.env.runtime)
        .arg(root)
        .arg(b.path())
        .arg(out);
    c.uid(NOBODY).gid(NOBODY);
    let out = cmd::spawn(c, &ctx.dir, "in-userns")?
        .wait(CMD_TIMEOUT)?
        .ok()?;
    Ok(Facts::parse(&out.stdout))
}

fn run_in(ctx: &Ctx, root: &Path) -> TestResult {
    chown(root)?;
    let v2 = host_cgroup_v2();
    let mut b = ctx.bundle("b")?;
    config::set_args(&mut b.spec, &["sleep", "1000"]);
    let mut mounts = nobody_mounts(&b);
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
    let facts = in_nobody_userns(ctx, root, &b, SCRIPT, &out_file)?;
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

/// Create, start, the /data mount's line and a write there, delete.
const LOCKED_SCRIPT: &str = r#"rt=$1 root=$2 b=$3 out=$4
r() { "$rt" --root "$root" "$@"; }
if ! r create --bundle "$b" c1 </dev/null >"$out" 2>&1; then
  echo "create=failed: $(tr '\n' ' ' <"$out")"; exit 0
fi
r start c1; echo "start=$?"
echo "data=$(r exec c1 sh -c 'grep " /data " /proc/self/mounts' 2>&1 | tr '\n' ' ')"
echo "write=$(r exec c1 sh -c 'touch /data/new 2>/dev/null && echo ok || echo refused')"
r delete -f c1; echo "delete=$?""#;

/// In a user namespace the flags a mount had when the namespace copied it
/// are locked (ro, nosuid, nodev, noexec, atime). A bind of such a mount
/// whose options name only other flags (`nodev`, so rw is implied) keeps
/// the locked ones instead of failing with EPERM on the remount: here a
/// host tmpfs mounted ro,nosuid,noatime, bound with `bind,nodev` by the
/// runtime run as root of nobody's namespace, shows ro,nosuid,nodev,noatime
/// and refuses writes. runc 1.1.5 fails the remount: a documented skip.
fn locked_bind_flags(ctx: &Ctx) -> TestResult {
    let src = ctx.path("locked");
    super::mounts::host_tmpfs(&src)?;
    let root = std::env::temp_dir().join(format!("spec-locked-root-{}", std::process::id()));
    let res = std::fs::create_dir(&root)
        .map_err(|e| crate::harness::Fail::Fail(format!("mkdir {root:?}: {e}")))
        .and_then(|_| locked_in(ctx, &root, &src));
    let _ = std::fs::remove_dir_all(&root);
    let _ = crate::harness::sys::umount_detach(&src);
    match res {
        Err(crate::harness::Fail::Fail(m)) if super::util::is_runc_1_1(ctx) => Err(
            crate::harness::Fail::Skip(format!("runc 1.1 predates keeping locked flags: {m}")),
        ),
        other => other,
    }
}

fn locked_in(ctx: &Ctx, root: &Path, src: &Path) -> TestResult {
    chown(root)?;
    let st = Command::new("mount")
        .args(["-o", "remount,bind,ro,nosuid,noatime"])
        .arg(src)
        .status()
        .map_err(|e| format!("mount: {e}"))?;
    ensure!(st.success(), "remount {src:?} ro,nosuid,noatime failed");
    let mut b = ctx.bundle("b")?;
    config::set_args(&mut b.spec, &["sleep", "1000"]);
    std::fs::create_dir(b.rootfs().join("data")).map_err(|e| format!("mkdir data: {e}"))?;
    let mut mounts = nobody_mounts(&b);
    let src_s = src.to_str().unwrap_or_default();
    mounts.push(config::mount("/data", "bind", src_s, &["bind", "nodev"]));
    b.spec.set_mounts(Some(mounts));
    b.write()?;
    let out_file = ctx.path("container.out");
    std::fs::write(&out_file, "").map_err(|e| format!("write: {e}"))?;
    chown(&out_file)?;
    let facts = in_nobody_userns(ctx, root, &b, LOCKED_SCRIPT, &out_file)?;
    let create = facts.get("create").unwrap_or("ok");
    ensure!(create == "ok", "create with the locked bind: {create}");
    facts.expect("start", "0")?;
    let line = facts.get("data")?;
    let opts: Vec<&str> = line
        .split_whitespace()
        .nth(3)
        .unwrap_or_default()
        .split(',')
        .collect();
    for want in ["ro", "nosuid", "nodev", "noatime"] {
        ensure!(opts.contains(&want), "/data lacks {want}: {line:?}");
    }
    facts.expect("write", "refused")?;
    facts.expect("delete", "0")?;
    expect_nothing_left(ctx, "c1", &b)
}
