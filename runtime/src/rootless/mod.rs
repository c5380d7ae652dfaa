//! Rootless mode: berth run by a non-root user, or by root inside a user
//! namespace it does not own. Two decisions are made here, as current runc
//! makes them:
//!
//! - where the state lives by default (`default_root`): `$XDG_RUNTIME_DIR/berth`
//!   for such a caller when `XDG_RUNTIME_DIR` is set and non-empty, else
//!   `/run/berth`; the XDG directory is created 0700 with the sticky bit
//!   (`prepare_xdg_root`) so the session's cleaner leaves it alone;
//! - whether cgroup permission errors may be ignored (`detect`, the global
//!   `--rootless true|false|auto` flag);
//!
//! and `validate` checks a config against what a non-root caller can do.

use std::ffi::OsString;
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

mod validate;
pub(crate) use validate::check as check_config;

/// The inode number of the initial user namespace's nsfs entry
/// (PROC_USER_INIT_INO in the kernel's include/uapi/linux/nsfs.h).
const PROC_USER_INIT_INO: u64 = 0xEFFF_FFFD;

/// Parses `--rootless` as runc does: empty or `auto` (any case) is `None`
/// (decide by `detect`); otherwise Go's `strconv.ParseBool` spellings, and
/// Go's error text for anything else (clients see runc's message).
pub(crate) fn parse_flag(s: &str) -> Result<Option<bool>> {
    if s.is_empty() || s.eq_ignore_ascii_case("auto") {
        return Ok(None);
    }
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(Some(true)),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(Some(false)),
        _ => Err(Error::msg(format!(
            "strconv.ParseBool: parsing {s:?}: invalid syntax"
        ))),
    }
}

/// Whether cgroup permission errors are to be ignored (runc's "rootless
/// cgroup manager"): the flag's value when given; with `auto`, true for a
/// non-root euid, false for root in the initial user namespace, and for
/// root in a user namespace true with the cgroupfs driver, or with
/// `--systemd-cgroup` whether the systemd user instance is not root's.
/// Called only where the answer matters, so root's usual path costs no
/// syscall beyond `geteuid`.
pub(crate) fn detect(flag: Option<bool>, systemd: bool) -> bool {
    if let Some(b) = flag {
        return b;
    }
    if !nix::unistd::geteuid().is_root() {
        return true;
    }
    if !running_in_user_ns() {
        return false;
    }
    if systemd {
        // runc: an OwnerUID it cannot learn counts as root's.
        return systemd_owner_uid().is_some_and(|u| u != 0);
    }
    true
}

/// Whether this process is outside the initial user namespace: the inode
/// of /proc/self/ns/user, or on a kernel without it the first line of
/// /proc/self/uid_map. An unreadable procfs counts as the initial namespace
/// (as runc).
pub(crate) fn running_in_user_ns() -> bool {
    match std::fs::metadata("/proc/self/ns/user") {
        Ok(m) => m.ino() != PROC_USER_INIT_INO,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            match std::fs::read_to_string("/proc/self/uid_map") {
                Ok(t) => uid_map_in_user_ns(t.lines().next().unwrap_or("")),
                Err(_) => false,
            }
        }
        Err(_) => false,
    }
}

/// The first line of a uid_map: empty (a new namespace not mapped yet) or
/// anything but the identity map of all 2^32-1 ids is a user namespace; a
/// line that does not parse is not.
fn uid_map_in_user_ns(line: &str) -> bool {
    if line.trim().is_empty() {
        return true;
    }
    let f: Vec<Option<u64>> = line
        .split_whitespace()
        .take(3)
        .map(|x| x.parse().ok())
        .collect();
    match f.as_slice() {
        [Some(a), Some(b), Some(c)] => !(*a == 0 && *b == 0 && *c == 4_294_967_295),
        _ => false,
    }
}

/// `OwnerUID=` of `busctl --user --no-pager status`, when it can be run
/// and says.
fn systemd_owner_uid() -> Option<u32> {
    let out = std::process::Command::new("busctl")
        .args(["--user", "--no-pager", "status"])
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| tracing::debug!("busctl --user status: {e}; assuming OwnerUID 0"))
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let uid = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("OwnerUID="))
        .and_then(|u| u.parse().ok());
    if uid.is_none() {
        tracing::debug!("busctl --user status: no OwnerUID; assuming 0");
    }
    uid
}

/// The state directory when `--root` is not given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct DefaultRoot {
    pub path: PathBuf,
    /// It is under `$XDG_RUNTIME_DIR` (then `prepare_xdg_root` runs first).
    pub xdg: bool,
}

/// `/run/berth` for root, `$XDG_RUNTIME_DIR/berth` for a rootless caller.
pub(crate) fn default_root() -> DefaultRoot {
    let euid_root = nix::unistd::geteuid().is_root();
    pick_root(
        euid_root,
        std::env::var_os("XDG_RUNTIME_DIR"),
        std::env::var_os("USER"),
        running_in_user_ns,
    )
}

/// runc's rule: XDG_RUNTIME_DIR (when non-empty) is honoured for a non-root
/// euid, and for root inside a user namespace unless USER is "root" (a
/// root login's /run/user/0 keeps /run/berth, as before).
fn pick_root(
    euid_root: bool,
    xdg: Option<OsString>,
    user: Option<OsString>,
    in_user_ns: impl FnOnce() -> bool,
) -> DefaultRoot {
    let honour = |x: &OsString| {
        !x.is_empty() && (!euid_root || (in_user_ns() && user.as_deref() != Some("root".as_ref())))
    };
    match xdg {
        Some(x) if honour(&x) => DefaultRoot {
            path: PathBuf::from(x).join("berth"),
            xdg: true,
        },
        _ => DefaultRoot {
            path: PathBuf::from("/run/berth"),
            xdg: false,
        },
    }
}

/// Creates the default root under XDG_RUNTIME_DIR (mode 0700) and sets the
/// sticky bit, which the XDG base directory spec asks of files that must
/// not be pruned. On failure: runc's hint line (printed by the caller
/// before the error) and the error.
pub(crate) fn prepare_xdg_root(path: &Path) -> std::result::Result<(), (&'static str, Error)> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .map_err(|e| {
            (
                "the path in $XDG_RUNTIME_DIR must be writable by the user",
                Error::Io {
                    context: format!("mkdir {}", path.display()),
                    source: e,
                },
            )
        })?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o1700)).map_err(|e| {
        (
            "you should check permission of the path in $XDG_RUNTIME_DIR",
            Error::Io {
                context: format!("chmod {}", path.display()),
                source: e,
            },
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_parses_like_go() {
        for s in ["", "auto", "AUTO", "Auto"] {
            assert_eq!(parse_flag(s).unwrap(), None, "{s}");
        }
        for s in ["1", "t", "T", "TRUE", "true", "True"] {
            assert_eq!(parse_flag(s).unwrap(), Some(true), "{s}");
        }
        for s in ["0", "f", "F", "FALSE", "false", "False"] {
            assert_eq!(parse_flag(s).unwrap(), Some(false), "{s}");
        }
        for s in ["xyz", "yes", "tRUE", " true"] {
            assert!(parse_flag(s).is_err(), "{s}");
        }
        assert_eq!(
            parse_flag("xyz").unwrap_err().to_string(),
            "strconv.ParseBool: parsing \"xyz\": invalid syntax"
        );
    }

    #[test]
    fn explicit_flag_wins() {
        assert!(detect(Some(true), false));
        assert!(!detect(Some(false), true));
    }

    #[test]
    fn auto_as_root_on_the_host_is_not_rootless() {
        // The test suite runs as root in the initial user namespace.
        if nix::unistd::geteuid().is_root() && !running_in_user_ns() {
            assert!(!detect(None, false));
        }
    }

    #[test]
    fn exec_euid_is_the_euid() {
        assert_eq!(crate::sys::exec_euid(), nix::unistd::geteuid().as_raw());
    }

    #[test]
    fn uid_map_lines() {
        assert!(!uid_map_in_user_ns("         0          0 4294967295"));
        assert!(uid_map_in_user_ns("0 1000 1"));
        assert!(uid_map_in_user_ns("0 0 65536"));
        assert!(uid_map_in_user_ns(""));
        assert!(!uid_map_in_user_ns("garbage"));
    }

    #[test]
    fn this_process_is_in_the_initial_user_ns() {
        let map = std::fs::read_to_string("/proc/self/uid_map").unwrap();
        let first = map.lines().next().unwrap_or("");
        assert_eq!(running_in_user_ns(), uid_map_in_user_ns(first));
    }

    #[test]
    fn default_root_rules() {
        let x = |s: &str| Some(OsString::from(s));
        let run = PathBuf::from("/run/berth");
        let user = PathBuf::from("/run/user/1000/berth");
        let no_ns = || false;
        let in_ns = || true;
        // Root on the host: /run/berth whatever the environment says.
        assert_eq!(
            pick_root(true, x("/run/user/0"), x("root"), no_ns).path,
            run
        );
        assert_eq!(pick_root(true, x("/run/user/0"), None, no_ns).path, run);
        // Non-root: XDG when set and non-empty.
        let r = pick_root(false, x("/run/user/1000"), x("u"), no_ns);
        assert_eq!((r.path, r.xdg), (user.clone(), true));
        let r = pick_root(false, x(""), x("u"), no_ns);
        assert_eq!((r.path, r.xdg), (run.clone(), false));
        assert_eq!(pick_root(false, None, None, no_ns).path, run);
        // Root in a user namespace: XDG unless USER=root.
        assert_eq!(
            pick_root(true, x("/run/user/1000"), x("u"), in_ns).path,
            user
        );
        assert_eq!(pick_root(true, x("/run/user/1000"), None, in_ns).path, user);
        assert_eq!(
            pick_root(true, x("/run/user/1000"), x("root"), in_ns).path,
            run
        );
    }

    #[test]
    fn xdg_root_is_private_and_sticky() {
        let base = std::env::temp_dir().join(format!("berth-xdg-{}", std::process::id()));
        let dir = base.join("berth");
        prepare_xdg_root(&dir).unwrap();
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
        assert_eq!(mode & 0o7777, 0o1700);
        // Idempotent.
        prepare_xdg_root(&dir).unwrap();
        std::fs::remove_dir_all(&base).unwrap();
    }
}
