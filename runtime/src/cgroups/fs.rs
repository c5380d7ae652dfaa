//! Reading and writing cgroup control files.
//!
//! We write the files directly rather than through cgroups-rs (docs/architecture.md §7):
//! create→apply is on the hot path of every container, and the crate's
//! per-controller objects read files and allocate we do not need, cannot
//! express the hybrid layout this host runs (v1 controllers plus a cgroup2
//! hierarchy carrying hugetlb), has no eBPF device filter without its own
//! dependency tree, and drags in an async D-Bus stack for systemd. A control
//! file write is one open + one write(2); errors name the spec field, the
//! file and the value.

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use super::error::{CgroupError, Result};

/// Writes `value` to `dir/file` in one write(2) (no O_CREAT, no O_TRUNC: a
/// missing control file is an error, not a new file). `field` is the spec
/// field it comes from, for the error message.
pub fn write(dir: &Path, file: &str, value: &str, field: &str) -> Result<()> {
    write_io(dir, file, value).map_err(|source| write_error(field, dir, file, value, source))
}

/// The error of a failed `write_io` of `value` to `dir/file` for `field`.
pub fn write_error(
    field: &str,
    dir: &Path,
    file: &str,
    value: &str,
    source: io::Error,
) -> CgroupError {
    CgroupError::Write {
        field: field.to_string(),
        value: value.to_string(),
        path: dir.join(file),
        source,
    }
}

/// `write` without the error decoration (for callers that inspect errno).
pub fn write_io(dir: &Path, file: &str, value: &str) -> io::Result<()> {
    let mut f = OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_CLOEXEC)
        .open(dir.join(file))?;
    f.write_all(value.as_bytes())
}

/// Reads a whole control file.
pub fn read(dir: &Path, file: &str) -> io::Result<String> {
    read_path(&dir.join(file))
}

/// Reads a pseudo-file whole (`sys::proc::read_pseudo`: plain read(2)s).
pub fn read_path(path: &Path) -> io::Result<String> {
    crate::sys::proc::read_pseudo(path)
}

/// Reads a control file, naming it on failure.
pub fn read_ctx(dir: &Path, file: &str) -> Result<String> {
    read(dir, file).map_err(|source| CgroupError::Io {
        context: format!("read {}", dir.join(file).display()),
        source,
    })
}

/// Parses a single-value file: a number, or `max` (as `u64::MAX`).
pub fn parse_u64(s: &str) -> Option<u64> {
    let s = s.trim();
    if s == "max" {
        return Some(u64::MAX);
    }
    s.parse::<u64>().ok().or_else(|| {
        s.parse::<i64>()
            .ok()
            .map(|v| if v < 0 { u64::MAX } else { v as u64 })
    })
}

/// Reads a single-value file; `None` when absent or unparsable.
pub fn read_u64(dir: &Path, file: &str) -> Option<u64> {
    read(dir, file).ok().and_then(|s| parse_u64(&s))
}

/// The value of `key` in a flat keyed file ("key value" lines, e.g.
/// memory.stat, cpu.stat, memory.events, memory.oom_control).
pub fn keyed(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| parse_u64(v)).flatten()
    })
}

/// All pairs of a flat keyed file.
pub fn keyed_all(text: &str) -> impl Iterator<Item = (&str, u64)> {
    text.lines().filter_map(|l| {
        let (k, v) = l.split_once(' ')?;
        Some((k, parse_u64(v)?))
    })
}

/// The pids listed in a cgroup.procs file.
pub fn parse_pids(text: &str) -> Vec<i32> {
    text.lines().filter_map(|l| l.trim().parse().ok()).collect()
}

/// Whether `e` means "the file is not there" (controller absent).
pub fn is_missing(e: &io::Error) -> bool {
    e.raw_os_error() == Some(libc::ENOENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_values() {
        assert_eq!(parse_u64("max\n"), Some(u64::MAX));
        assert_eq!(parse_u64("42\n"), Some(42));
        assert_eq!(parse_u64("-1"), Some(u64::MAX));
        assert_eq!(parse_u64("x"), None);
        let t = "cache 10\nrss 20\noom_kill 3\n";
        assert_eq!(keyed(t, "rss"), Some(20));
        assert_eq!(keyed(t, "oom_kill"), Some(3));
        assert_eq!(keyed(t, "nope"), None);
        assert_eq!(keyed_all(t).count(), 3);
        assert_eq!(parse_pids("1\n22\n\n"), vec![1, 22]);
    }
}
