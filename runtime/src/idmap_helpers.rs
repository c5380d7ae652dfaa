//! Writing a new user namespace's id maps as a non-root caller (rootless
//! mode). The kernel lets an unprivileged writer set only one line mapping
//! its own euid (and, once `setgroups` is "deny", its own egid); anything
//! else goes through the setuid helpers `newuidmap`/`newgidmap` (Debian's
//! `uidmap` package), which check the ranges /etc/subuid and /etc/subgid
//! grant. As current runc: each map is written directly first and the
//! helper is used when the kernel answers EPERM; "deny" goes to
//! `setgroups` only for runc's single self-map case (the kernel requires it
//! before an unprivileged gid_map; a helper decides on its own).

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use oci_spec::runtime::LinuxIdMapping;

/// A map that could not be written, with the config field it came from.
#[derive(Debug, thiserror::Error)]
#[error("{}: {cause}", kind.field())]
pub struct IdMapError {
    kind: Kind,
    cause: Cause,
}

/// Why a map could not be written.
#[derive(Debug, thiserror::Error)]
pub enum Cause {
    #[error("write /proc/{pid}/{file}: {}", crate::go_text::io(source))]
    Write {
        pid: i32,
        file: &'static str,
        source: io::Error,
    },
    #[error("{tool} not found in $PATH: install Debian's uidmap package (it provides newuidmap and newgidmap), or use a single mapping of your own id")]
    ToolMissing { tool: &'static str },
    #[error("run {}: {}", path.display(), crate::go_text::io(source))]
    ToolSpawn { path: PathBuf, source: io::Error },
    #[error("{} {}: {}: {}", path.display(), args.join(" "), crate::go_text::exit_status(*status), stderr.trim())]
    ToolFailed {
        path: PathBuf,
        args: Vec<String>,
        status: std::process::ExitStatus,
        stderr: String,
    },
}

/// Which map a helper writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Uid,
    Gid,
}

impl Kind {
    fn file(self) -> &'static str {
        match self {
            Kind::Uid => "uid_map",
            Kind::Gid => "gid_map",
        }
    }

    /// The config field a map of this kind comes from.
    fn field(self) -> &'static str {
        match self {
            Kind::Uid => "linux.uidMappings",
            Kind::Gid => "linux.gidMappings",
        }
    }

    fn tool(self) -> &'static str {
        match self {
            Kind::Uid => "newuidmap",
            Kind::Gid => "newgidmap",
        }
    }
}

/// Writes `uid_maps` and `gid_maps` of the user namespace of `pid` (a child
/// that has just unshared or been cloned into it and waits) as a non-root
/// caller: `setgroups` "deny" first when the gid map is exactly the
/// caller's egid as 0 (the only gid map the kernel then allows without a
/// helper, and only after that), then each map directly, or through
/// `newuidmap`/`newgidmap` when the kernel refuses it (EPERM).
pub(crate) fn write_maps_as_unprivileged(
    pid: i32,
    uid_maps: &[LinuxIdMapping],
    gid_maps: &[LinuxIdMapping],
) -> Result<(), IdMapError> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    write_maps_with_path(pid, uid_maps, gid_maps, &path)
}

/// `write_maps_as_unprivileged` with the helpers looked up in `path`.
fn write_maps_with_path(
    pid: i32,
    uid_maps: &[LinuxIdMapping],
    gid_maps: &[LinuxIdMapping],
    path: &std::ffi::OsStr,
) -> Result<(), IdMapError> {
    let named = |kind| move |cause| IdMapError { kind, cause };
    let egid = nix::unistd::getegid().as_raw();
    if !gid_maps.is_empty() && is_self_map(gid_maps, egid) {
        write_proc(pid, "setgroups", "deny").map_err(named(Kind::Gid))?;
    }
    write_map(pid, Kind::Uid, uid_maps, path).map_err(named(Kind::Uid))?;
    write_map(pid, Kind::Gid, gid_maps, path).map_err(named(Kind::Gid))
}

/// runc's test (requiresRootOrMappingTool, inverted): one line, 0 → `own`,
/// size 1.
fn is_self_map(maps: &[LinuxIdMapping], own: u32) -> bool {
    matches!(maps, [m] if m.container_id() == 0 && m.host_id() == own && m.size() == 1)
}

fn write_map(
    pid: i32,
    kind: Kind,
    maps: &[LinuxIdMapping],
    path_var: &std::ffi::OsStr,
) -> Result<(), Cause> {
    if maps.is_empty() {
        return Ok(());
    }
    match write_proc(pid, kind.file(), &map_text(maps)) {
        Err(Cause::Write { source, .. }) if source.raw_os_error() == Some(libc::EPERM) => {
            tracing::debug!(
                pid,
                "{} refused (EPERM): using {}",
                kind.file(),
                kind.tool()
            );
            let tool = find_tool(kind.tool(), path_var)?;
            run_tool(&tool, pid, maps)
        }
        other => other,
    }
}

use crate::userns::map_text;

fn write_proc(pid: i32, file: &'static str, text: &str) -> Result<(), Cause> {
    let werr = |source| Cause::Write { pid, file, source };
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(format!("/proc/{pid}/{file}"))
        .map_err(werr)?;
    f.write_all(text.as_bytes()).map_err(werr)
}

/// `tool` in the directories of `path_var` (runc looks the helpers up in
/// its own $PATH), as an executable file.
fn find_tool(tool: &'static str, path_var: &std::ffi::OsStr) -> Result<PathBuf, Cause> {
    use std::os::unix::fs::PermissionsExt;
    std::env::split_paths(path_var)
        .map(|d| d.join(tool))
        .find(|p| {
            std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
        .ok_or(Cause::ToolMissing { tool })
}

/// `newuidmap PID cid hid size [cid hid size]...`
fn tool_args(pid: i32, maps: &[LinuxIdMapping]) -> Vec<String> {
    let mut args = vec![pid.to_string()];
    for m in maps {
        args.extend([
            m.container_id().to_string(),
            m.host_id().to_string(),
            m.size().to_string(),
        ]);
    }
    args
}

/// Runs a helper with an empty environment (as runc), its stderr kept for
/// the error.
fn run_tool(tool: &Path, pid: i32, maps: &[LinuxIdMapping]) -> Result<(), Cause> {
    let args = tool_args(pid, maps);
    let out = Command::new(tool)
        .args(&args)
        .env_clear()
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|source| Cause::ToolSpawn {
            path: tool.to_path_buf(),
            source,
        })?;
    if out.status.success() {
        return Ok(());
    }
    Err(Cause::ToolFailed {
        path: tool.to_path_buf(),
        args,
        status: out.status,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

#[cfg(test)]
mod tests;
