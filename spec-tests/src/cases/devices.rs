//! Devices: the default set, /dev symlinks, and `linux.devices`.

use crate::harness::case::{case, Case, CGROUP};
use crate::harness::{config, Ctx, Facts, TestResult};
use oci_spec::runtime::{LinuxDeviceBuilder, LinuxDeviceType};

pub const CASES: &[Case] = &[
    case("devices_default", default_devices).tagged(&[CGROUP]),
    case("devices_symlinks", dev_symlinks),
    case("devices_linux_devices", linux_devices),
];

fn stat_args<'a>(paths: &[&'a str]) -> Vec<&'a str> {
    let mut v = Vec::new();
    for p in paths {
        v.extend(["stat", p, "+"]);
    }
    v.pop();
    v
}

fn expect_dev(
    f: &Facts,
    path: &str,
    typ: &str,
    rdev: &str,
    perm: &str,
    owner: (u32, u32),
) -> TestResult {
    f.expect(&format!("stat:{path}.type"), typ)?;
    f.expect(&format!("stat:{path}.rdev"), rdev)?;
    f.expect(&format!("stat:{path}.perm"), perm)?;
    f.expect(&format!("stat:{path}.uid"), &owner.0.to_string())?;
    f.expect(&format!("stat:{path}.gid"), &owner.1.to_string())
}

fn default_devices(ctx: &Ctx) -> TestResult {
    let mut b = ctx.bundle("b")?;
    let devs = [
        ("/dev/null", "1:3"),
        ("/dev/zero", "1:5"),
        ("/dev/full", "1:7"),
        ("/dev/random", "1:8"),
        ("/dev/urandom", "1:9"),
        ("/dev/tty", "5:0"),
    ];
    let paths: Vec<&str> = devs.iter().map(|(p, _)| *p).collect();
    let mut args = stat_args(&paths);
    args.extend([
        "+",
        "openw",
        "/dev/null",
        "+",
        "read",
        "/dev/zero",
        "+",
        "read",
        "/dev/null",
        "+",
        "stat",
        "/dev/pts/ptmx",
    ]);
    let f = ctx.check(&mut b, &args)?;
    for (p, rdev) in devs {
        expect_dev(&f, p, "c", rdev, "0666", (0, 0))?;
    }
    f.expect("openw:/dev/null", "ok")?;
    f.expect("read:/dev/zero", "ok:4096")?;
    f.expect("read:/dev/null", "ok:0")?;
    f.expect("stat:/dev/pts/ptmx.type", "c")?;
    f.expect("stat:/dev/pts/ptmx.rdev", "5:2")
}

fn dev_symlinks(ctx: &Ctx) -> TestResult {
    let mut b = ctx.bundle("b")?;
    let links = [
        ("/dev/ptmx", "pts/ptmx"),
        ("/dev/fd", "/proc/self/fd"),
        ("/dev/stdin", "/proc/self/fd/0"),
        ("/dev/stdout", "/proc/self/fd/1"),
        ("/dev/stderr", "/proc/self/fd/2"),
    ];
    let paths: Vec<&str> = links.iter().map(|(p, _)| *p).collect();
    let f = ctx.check(&mut b, &stat_args(&paths))?;
    for (p, target) in links {
        f.expect(&format!("stat:{p}.type"), "l")?;
        f.expect(&format!("stat:{p}.link"), target)?;
    }
    Ok(())
}

fn linux_devices(ctx: &Ctx) -> TestResult {
    let mut b = ctx.bundle("b")?;
    let dev = |path: &str, typ, major, minor, mode, uid, gid| {
        LinuxDeviceBuilder::default()
            .path(path)
            .typ(typ)
            .major(major)
            .minor(minor)
            .file_mode(mode)
            .uid(uid)
            .gid(gid)
            .build()
            .map_err(|e| format!("device: {e}"))
    };
    let devices = vec![
        dev(
            "/dev/spec-char",
            LinuxDeviceType::C,
            1,
            3,
            0o640u32,
            1000u32,
            2000u32,
        )?,
        dev(
            "/dev/sub/spec-block",
            LinuxDeviceType::B,
            7,
            200,
            0o600u32,
            0u32,
            6u32,
        )?,
    ];
    config::linux_mut(&mut b.spec).set_devices(Some(devices));
    let f = ctx.check(
        &mut b,
        &stat_args(&["/dev/spec-char", "/dev/sub/spec-block"]),
    )?;
    expect_dev(&f, "/dev/spec-char", "c", "1:3", "0640", (1000, 2000))?;
    expect_dev(&f, "/dev/sub/spec-block", "b", "7:200", "0600", (0, 6))?;
    Ok(())
}
