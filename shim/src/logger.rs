//! `binary://` log URIs (`ctr run --log-uri binary:///path?key=value`): the
//! shim starts the logging binary with the process's stdout and stderr pipes
//! as its fds 3 and 4 and a readiness pipe as fd 5, which the logger closes
//! (or writes to) once it is ready, as containerd's runc shim does. Query
//! pairs become arguments (`key value`); CONTAINER_ID and
//! CONTAINER_NAMESPACE are set in its environment.

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use berth::api::{poll, pollin};
use nix::fcntl::OFlag;
use nix::spawn::{posix_spawn, PosixSpawnAttr, PosixSpawnFileActions};
use nix::sys::stat::Mode;
use nix::unistd::pipe2;

use crate::error::{Error, IoContext, Result};
use crate::reaper::Reaper;

/// How long a logger may take to report ready.
const READY_TIMEOUT_MS: i32 = 10_000;

/// The binary path and arguments of a `binary://` URI.
pub fn parse_uri(uri: &str) -> Result<(String, Vec<String>)> {
    let rest = uri
        .strip_prefix("binary://")
        .ok_or_else(|| Error::InvalidArgument(format!("not a binary log URI: {uri}")))?;
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    if !path.starts_with('/') {
        return Err(Error::InvalidArgument(format!(
            "log URI {uri}: the binary must be an absolute path"
        )));
    }
    let mut args = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        args.push(k.to_string());
        if !v.is_empty() {
            args.push(v.to_string());
        }
    }
    Ok((path.to_string(), args))
}

fn cstr(s: &str) -> Result<CString> {
    CString::new(s).map_err(|_| Error::InvalidArgument(format!("NUL byte in {s:?}")))
}

/// Starts the logger for `uri`; returns the write ends for the process's
/// stdout and stderr once the logger is ready.
pub fn start(uri: &str, id: &str, namespace: &str, reaper: &Reaper) -> Result<(OwnedFd, OwnedFd)> {
    let (path, args) = parse_uri(uri)?;
    let (out_r, out_w) = pipe2(OFlag::O_CLOEXEC).ctx(|| "pipe2".into())?;
    let (err_r, err_w) = pipe2(OFlag::O_CLOEXEC).ctx(|| "pipe2".into())?;
    let (ready_r, ready_w) = pipe2(OFlag::O_CLOEXEC).ctx(|| "pipe2".into())?;
    let mut fa = PosixSpawnFileActions::init().ctx(|| "posix_spawn".into())?;
    let null = cstr("/dev/null")?;
    fa.add_open(0, null.as_c_str(), OFlag::O_RDONLY, Mode::empty())
        .ctx(|| "posix_spawn".into())?;
    fa.add_open(1, null.as_c_str(), OFlag::O_WRONLY, Mode::empty())
        .ctx(|| "posix_spawn".into())?;
    fa.add_open(2, null.as_c_str(), OFlag::O_WRONLY, Mode::empty())
        .ctx(|| "posix_spawn".into())?;
    // dup2 clears close-on-exec on the copies.
    for (fd, to) in [(&out_r, 3), (&err_r, 4), (&ready_w, 5)] {
        fa.add_dup2(fd.as_raw_fd(), to)
            .ctx(|| "posix_spawn".into())?;
    }
    let attr = PosixSpawnAttr::init().ctx(|| "posix_spawn".into())?;
    let mut argv = vec![cstr(&path)?];
    for a in &args {
        argv.push(cstr(a)?);
    }
    let mut envp: Vec<CString> = std::env::vars()
        .filter(|(k, _)| k != "CONTAINER_ID" && k != "CONTAINER_NAMESPACE")
        .filter_map(|(k, v)| CString::new(format!("{k}={v}")).ok())
        .collect();
    envp.push(cstr(&format!("CONTAINER_ID={id}"))?);
    envp.push(cstr(&format!("CONTAINER_NAMESPACE={namespace}"))?);
    reaper
        .spawn_with(|| posix_spawn(path.as_str(), &fa, &attr, &argv, &envp))
        .ctx(|| format!("start the logger {path}"))?;
    drop((out_r, err_r, ready_w));
    wait_ready(&ready_r, &path)?;
    Ok((out_w, err_w))
}

/// The logger closes fd 5 (EOF) or writes to it when it is ready.
fn wait_ready(ready: &OwnedFd, path: &str) -> Result<()> {
    let mut fds = [pollin(ready.as_fd().as_raw_fd())];
    let n = poll(&mut fds, READY_TIMEOUT_MS).ctx(|| "poll the logger".into())?;
    if n == 0 {
        return Err(Error::Shim(format!(
            "logger {path} did not report ready within {} s",
            READY_TIMEOUT_MS / 1000
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_query_becomes_arguments() {
        let (p, a) = parse_uri("binary:///usr/bin/logger?dir=/var/log&verbose").unwrap();
        assert_eq!(p, "/usr/bin/logger");
        assert_eq!(a, vec!["dir", "/var/log", "verbose"]);
        assert!(parse_uri("binary://relative").is_err());
        assert_eq!(parse_uri("binary:///x").unwrap().1, Vec::<String>::new());
    }
}
