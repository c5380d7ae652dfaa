//! The container process: args, env, cwd, user, umask, capabilities,
//! rlimits, no_new_privs, oom_score_adj, inherited file descriptors.

use super::util::sh;
use crate::harness::case::{case, Case};
use crate::harness::{config, Bundle, Ctx, Facts, Fail, TestResult};
use crate::{ensure, ensure_eq};
use oci_spec::runtime::{
    Capability as Cap, LinuxCapabilitiesBuilder, PosixRlimitBuilder, PosixRlimitType as Rl,
    UserBuilder,
};
use std::collections::HashSet;

pub const CASES: &[Case] = &[
    case("process_args", args),
    case("process_env", env),
    case("process_cwd", cwd),
    case("process_cwd_created", cwd_created),
    case("process_user_groups_umask", user_groups_umask),
    case("process_umask_default", umask_default),
    case("caps_root_exact", caps_root),
    case("caps_user_exact", caps_user),
    case(
        "caps_ambient_without_inheritable",
        ambient_without_inheritable,
    ),
    case("rlimits", rlimits),
    case("no_new_privileges", no_new_privileges),
    case("oom_score_adj", oom_score_adj),
    case("fds_not_inherited", fds_not_inherited),
    case("fds_preserved", fds_preserved),
    case("fds_socket_activation", fds_socket_activation),
];

fn args(ctx: &Ctx) -> TestResult {
    let mut b = ctx.bundle("b")?;
    config::set_args(
        &mut b.spec,
        &[
            "/bin/sh",
            "-c",
            "printf '%s|' \"$0\" \"$@\"",
            "zero",
            "a",
            "b c",
            "",
        ],
    );
    let out = ctx.run("c1", &b)?.ok()?;
    ensure_eq!(out.stdout, "zero|a|b c||", "argv as seen by the payload");
    Ok(())
}

fn env(ctx: &Ctx) -> TestResult {
    let mut b = ctx.bundle("b")?;
    let vars = [config::PATH_ENV, "FOO=bar", "EMPTY=", "WITH_EQ=a=b"];
    config::process_mut(&mut b.spec).set_env(Some(vars.map(String::from).to_vec()));
    let f = ctx.check(&mut b, &["env"])?;
    f.expect("env.FOO", "bar")?;
    f.expect("env.EMPTY", "")?;
    f.expect("env.WITH_EQ", "a=b")?;
    f.expect("env.PATH", &config::PATH_ENV[5..])?;
    // runc adds HOME from the container's /etc/passwd when it is unset;
    // nothing else (in particular nothing of the runtime's environment).
    f.expect("env.HOME", "/root")?;
    f.expect("envcount", "5")
}

fn cwd(ctx: &Ctx) -> TestResult {
    let mut b = ctx.bundle("b")?;
    config::process_mut(&mut b.spec).set_cwd("/home/user".into());
    ctx.check(&mut b, &["cwd"])?.expect("cwd", "/home/user")
}

fn cwd_created(ctx: &Ctx) -> TestResult {
    let mut b = ctx.bundle("b")?;
    config::process_mut(&mut b.spec).set_cwd("/work/new/dir".into());
    ctx.check(&mut b, &["cwd", "+", "stat", "/work/new/dir"])?
        .expect("cwd", "/work/new/dir")
}

fn set_user(
    b: &mut Bundle,
    uid: u32,
    gid: u32,
    extra: Option<Vec<u32>>,
    umask: Option<u32>,
) -> TestResult {
    let mut u = UserBuilder::default().uid(uid).gid(gid);
    if let Some(g) = extra {
        u = u.additional_gids(g);
    }
    if let Some(m) = umask {
        u = u.umask(m);
    }
    config::process_mut(&mut b.spec).set_user(u.build().map_err(|e| format!("user: {e}"))?);
    Ok(())
}

fn user_groups_umask(ctx: &Ctx) -> TestResult {
    let mut b = ctx.bundle("b")?;
    set_user(&mut b, 1000, 1000, Some(vec![3000, 2000]), Some(0o077))?;
    let f = ctx.check(&mut b, &["ids", "+", "env"])?;
    for (k, v) in [
        ("uid", "1000"),
        ("euid", "1000"),
        ("gid", "1000"),
        ("egid", "1000"),
    ] {
        f.expect(k, v)?;
    }
    f.expect("groups", "2000,3000")?;
    f.expect("umask", "0077")?;
    f.expect("env.HOME", "/home/user")
}

fn umask_default(ctx: &Ctx) -> TestResult {
    let mut b = ctx.bundle("b")?;
    let f = ctx.check(&mut b, &["ids"])?;
    f.expect("uid", "0")?;
    f.expect("groups", "")?;
    f.expect("umask", "0022")
}

fn caps(list: &[Cap]) -> HashSet<Cap> {
    list.iter().copied().collect()
}

/// Bits of capability numbers as /proc/self/status prints them.
fn mask(bits: &[u32]) -> String {
    format!("{:016x}", bits.iter().fold(0u64, |m, b| m | (1 << b)))
}

// CAP_CHOWN=0 CAP_KILL=5 CAP_NET_BIND_SERVICE=10 CAP_NET_RAW=13 CAP_SYS_CHROOT=18
fn five_sets(b: &mut Bundle) -> TestResult {
    let c = LinuxCapabilitiesBuilder::default()
        .bounding(caps(&[
            Cap::Chown,
            Cap::Kill,
            Cap::NetBindService,
            Cap::NetRaw,
            Cap::SysChroot,
        ]))
        .permitted(caps(&[Cap::Chown, Cap::Kill, Cap::NetRaw, Cap::SysChroot]))
        .effective(caps(&[Cap::Chown, Cap::Kill]))
        .inheritable(caps(&[Cap::Kill, Cap::NetRaw]))
        .ambient(caps(&[Cap::Kill]))
        .build()
        .map_err(|e| format!("caps: {e}"))?;
    config::process_mut(&mut b.spec).set_capabilities(Some(c));
    Ok(())
}

/// As root, execve gives P' = bounding | inheritable (no securebits), and
/// with noNewPrivileges (the base config) the kernel caps that at the old
/// permitted set: permitted and effective show the configured permitted
/// set; inheritable, bounding and ambient show as configured.
fn caps_root(ctx: &Ctx) -> TestResult {
    let mut b = ctx.bundle("b")?;
    five_sets(&mut b)?;
    let f = ctx.check(&mut b, &["caps"])?;
    f.expect("cap.bnd", &mask(&[0, 5, 10, 13, 18]))?;
    f.expect("cap.inh", &mask(&[5, 13]))?;
    f.expect("cap.amb", &mask(&[5]))?;
    f.expect("cap.prm", &mask(&[0, 5, 13, 18]))?;
    f.expect("cap.eff", &mask(&[0, 5, 13, 18]))
}

/// As uid 1000, execve of a plain file keeps only the ambient set in
/// permitted and effective: every one of the five sets is visible exactly.
fn caps_user(ctx: &Ctx) -> TestResult {
    let mut b = ctx.bundle("b")?;
    five_sets(&mut b)?;
    set_user(&mut b, 1000, 1000, None, None)?;
    let f = ctx.check(&mut b, &["caps"])?;
    f.expect("cap.bnd", &mask(&[0, 5, 10, 13, 18]))?;
    f.expect("cap.inh", &mask(&[5, 13]))?;
    f.expect("cap.amb", &mask(&[5]))?;
    f.expect("cap.prm", &mask(&[5]))?;
    f.expect("cap.eff", &mask(&[5]))
}

/// `runc spec` lists the three default capabilities as ambient but not as
/// inheritable. The kernel refuses to raise such an ambient capability;
/// runc ignores that and starts the container without them, so configs
/// generated by `runc spec` work.
fn ambient_without_inheritable(ctx: &Ctx) -> TestResult {
    let mut b = ctx.bundle("b")?;
    let d = config::default_caps();
    let c = LinuxCapabilitiesBuilder::default()
        .bounding(d.clone())
        .permitted(d.clone())
        .effective(d.clone())
        .inheritable(HashSet::new())
        .ambient(d)
        .build()
        .map_err(|e| format!("caps: {e}"))?;
    config::process_mut(&mut b.spec).set_capabilities(Some(c));
    let f = ctx.check(&mut b, &["caps"])?;
    f.expect("cap.amb", &mask(&[]))?;
    f.expect("cap.inh", &mask(&[]))?;
    // CAP_KILL=5, CAP_NET_BIND_SERVICE=10, CAP_AUDIT_WRITE=29
    f.expect("cap.eff", &mask(&[5, 10, 29]))
}

fn rlimits(ctx: &Ctx) -> TestResult {
    let mut b = ctx.bundle("b")?;
    let want = [
        (Rl::RlimitNofile, "NOFILE", 1024u64, 1024u64),
        (Rl::RlimitCpu, "CPU", 100, 200),
        (Rl::RlimitMsgqueue, "MSGQUEUE", 4096, 8192),
        (Rl::RlimitNproc, "NPROC", 5000, 6000),
    ];
    let mut list = Vec::new();
    for (typ, _, soft, hard) in want {
        list.push(
            PosixRlimitBuilder::default()
                .typ(typ)
                .soft(soft)
                .hard(hard)
                .build()
                .map_err(|e| format!("rlimit: {e}"))?,
        );
    }
    config::process_mut(&mut b.spec).set_rlimits(Some(list));
    let f = ctx.check(&mut b, &["rlimits"])?;
    for (_, name, soft, hard) in want {
        f.expect(&format!("rlimit.{name}"), &format!("{soft}:{hard}"))?;
    }
    Ok(())
}

fn no_new_privileges(ctx: &Ctx) -> TestResult {
    for (nnp, want) in [(true, "1"), (false, "0")] {
        let mut b = ctx.bundle(&format!("b{want}"))?;
        config::process_mut(&mut b.spec).set_no_new_privileges(Some(nnp));
        let f = ctx.check(&mut b, &["caps"])?;
        f.expect("nonewprivs", want)
            .map_err(|e| Fail::Fail(format!("noNewPrivileges {nnp}: {e:?}")))?;
    }
    Ok(())
}

fn oom_score_adj(ctx: &Ctx) -> TestResult {
    let mut b = ctx.bundle("b")?;
    config::process_mut(&mut b.spec).set_oom_score_adj(Some(100));
    ctx.check(&mut b, &["oom"])?.expect("oom_score_adj", "100")
}

/// Make `fd` a fresh file, inheritable across exec. The case runs in a
/// forked process of its own, so replacing whatever `fd` held (an
/// inherited descriptor) affects nothing else.
fn inheritable_fd(ctx: &Ctx, fd: i32) -> TestResult {
    use std::os::fd::IntoRawFd;
    let f = std::fs::File::create(ctx.path(&format!("fd{fd}"))).map_err(|e| format!("{e}"))?;
    let raw = f.into_raw_fd();
    // SAFETY: dup2/fcntl/close on descriptor numbers of this disposable
    // process; `raw` is owned here.
    let ok = unsafe {
        if raw == fd {
            libc::fcntl(fd, libc::F_SETFD, 0) == 0
        } else {
            let r = libc::dup2(raw, fd);
            libc::close(raw);
            r == fd
        }
    };
    ensure!(ok, "cannot make fd {fd} inheritable");
    Ok(())
}

fn close_fd(fd: i32) {
    // SAFETY: closing a descriptor this process made with inheritable_fd.
    unsafe { libc::close(fd) };
}

fn fds_not_inherited(ctx: &Ctx) -> TestResult {
    let mut b = ctx.bundle("b")?;
    inheritable_fd(ctx, 7)?;
    let res = ctx.check(&mut b, &["fds"]);
    close_fd(7);
    res?.expect("fds", "0,1,2")
}

fn fds_preserved(ctx: &Ctx) -> TestResult {
    let mut b = ctx.bundle("b")?;
    inheritable_fd(ctx, 3)?;
    inheritable_fd(ctx, 4)?;
    config::set_checker(&mut b.spec, &["fds"]);
    sh(&mut b, "echo via-fd3 >&3; /bin/berth-checker fds");
    b.write()?;
    let res = ctx.rt(&["run", "--preserve-fds", "1", "--bundle", b.path(), "c1"]);
    close_fd(3);
    close_fd(4);
    let out = res?.ok()?;
    Facts::parse(&out.stdout).expect("fds", "0,1,2,3")?;
    ensure_eq!(
        std::fs::read_to_string(ctx.path("fd3")).unwrap_or_default(),
        "via-fd3\n",
        "data written to the preserved fd"
    );
    Ok(())
}

/// Socket activation: with LISTEN_FDS=1 and LISTEN_PID naming the runtime,
/// fd 3 reaches the container, which gets LISTEN_FDS=1 and a LISTEN_PID
/// equal to its own pid.
fn fds_socket_activation(ctx: &Ctx) -> TestResult {
    let mut b = ctx.bundle("b")?;
    inheritable_fd(ctx, 3)?;
    sh(
        &mut b,
        "echo fds=$LISTEN_FDS pid=$LISTEN_PID self=$$; echo via-listen-fd >&3",
    );
    b.write()?;
    let rt = ctx.command(&["run", "--bundle", b.path(), "c1"]);
    let out = std::process::Command::new("/bin/sh")
        .arg("-c")
        .arg("LISTEN_PID=$$ LISTEN_FDS=1 exec \"$@\"")
        .arg("sh")
        .arg(rt.get_program())
        .args(rt.get_args())
        .output();
    close_fd(3);
    let out = out.map_err(|e| format!("spawn: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    ensure!(
        out.status.success(),
        "run failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    ensure_eq!(
        text.trim(),
        "fds=1 pid=1 self=1",
        "socket-activation environment"
    );
    ensure_eq!(
        std::fs::read_to_string(ctx.path("fd3")).unwrap_or_default(),
        "via-listen-fd\n",
        "data written to the listen fd"
    );
    Ok(())
}
