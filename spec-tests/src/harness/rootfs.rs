//! The template rootfs: Debian's busybox-static, its applets as symlinks,
//! the checker, and minimal /etc/passwd and /etc/group. Built once per run
//! and copied (`cp -a`) into every bundle.

use super::Fail;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;
use std::process::Command;

pub const BUSYBOX: &str = "/bin/busybox";

pub const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
user:x:1000:1000:user:/home/user:/bin/sh\n\
nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n";

pub const GROUP: &str = "root:x:0:\n\
tty:x:5:\n\
user:x:1000:\n\
staff:x:2000:\n\
nogroup:x:65534:\n";

fn err(what: &str, e: impl std::fmt::Display) -> Fail {
    Fail::Fail(format!("template rootfs: {what}: {e}"))
}

fn mkdir_mode(p: &Path, mode: u32) -> Result<(), Fail> {
    std::fs::create_dir_all(p).map_err(|e| err(&format!("mkdir {p:?}"), e))?;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode))
        .map_err(|e| err(&format!("chmod {p:?}"), e))
}

/// Build the template rootfs at `dir` from /bin/busybox and `checker`.
pub fn build_template(dir: &Path, checker: &Path) -> Result<(), Fail> {
    for d in ["bin", "etc", "dev", "proc", "sys", "root", "var", "run"] {
        mkdir_mode(&dir.join(d), 0o755)?;
    }
    mkdir_mode(&dir.join("tmp"), 0o1777)?;
    mkdir_mode(&dir.join("home/user"), 0o755)?;
    std::os::unix::fs::chown(dir.join("home/user"), Some(1000), Some(1000))
        .map_err(|e| err("chown home", e))?;
    std::fs::copy(BUSYBOX, dir.join("bin/busybox")).map_err(|e| err("copy busybox", e))?;
    std::fs::copy(checker, dir.join("bin/berth-checker")).map_err(|e| err("copy checker", e))?;
    let list = Command::new(BUSYBOX)
        .arg("--list")
        .output()
        .map_err(|e| err("busybox --list", e))?;
    for name in String::from_utf8_lossy(&list.stdout).lines() {
        let name = name.trim();
        if name.is_empty() || name == "busybox" || name.contains('/') {
            continue;
        }
        symlink("busybox", dir.join("bin").join(name))
            .map_err(|e| err(&format!("symlink {name}"), e))?;
    }
    std::fs::write(dir.join("etc/passwd"), PASSWD).map_err(|e| err("passwd", e))?;
    std::fs::write(dir.join("etc/group"), GROUP).map_err(|e| err("group", e))?;
    std::fs::write(dir.join("etc/hostname"), "template\n").map_err(|e| err("hostname", e))?;
    Ok(())
}

/// Copy the template to `dest` preserving owners, modes and symlinks.
pub fn copy_template(template: &Path, dest: &Path) -> Result<(), Fail> {
    let out = Command::new("cp")
        .arg("-a")
        .arg(template)
        .arg(dest)
        .output()
        .map_err(|e| err("cp", e))?;
    if !out.status.success() {
        return Err(err(
            "cp -a",
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        ));
    }
    Ok(())
}
