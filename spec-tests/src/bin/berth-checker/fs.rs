//! Filesystem facts: mounts, file contents, metadata, writability, sysctl.

use crate::{errno_str, io_err};
use std::ffi::CString;
use std::fmt::Write;
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};

fn line(out: &mut String, key: &str, value: impl std::fmt::Display) {
    let _ = writeln!(out, "{key}={value}");
}

/// Undo the octal escapes (`\040`) of /proc/self/mountinfo.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut res = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() {
            if let Ok(v) = u8::from_str_radix(s.get(i + 1..i + 4).unwrap_or("x"), 8) {
                res.push(v);
                i += 4;
                continue;
            }
        }
        res.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&res).into_owned()
}

struct MountEntry {
    root: String,
    point: String,
    opts: String,
    optional: Vec<String>,
    fstype: String,
    source: String,
    superopts: String,
}

fn parse_mountinfo_line(l: &str) -> Option<MountEntry> {
    let (left, right) = l.split_once(" - ")?;
    let f: Vec<&str> = left.split(' ').collect();
    let r: Vec<&str> = right.split(' ').collect();
    if f.len() < 6 || r.len() < 3 {
        return None;
    }
    Some(MountEntry {
        root: unescape(f[3]),
        point: unescape(f[4]),
        opts: f[5].to_string(),
        optional: f[6..].iter().map(|s| s.to_string()).collect(),
        fstype: r[0].to_string(),
        source: unescape(r[1]),
        superopts: r[2].to_string(),
    })
}

fn propagation(optional: &[String]) -> String {
    let has = |p: &str| optional.iter().any(|o| o.starts_with(p));
    let mut v = Vec::new();
    if has("shared:") {
        v.push("shared");
    }
    if has("master:") {
        v.push("slave");
    }
    if has("unbindable") {
        v.push("unbindable");
    }
    if v.is_empty() {
        v.push("private");
    }
    v.join(",")
}

/// Facts about the topmost mount at PATH:
/// `mount:PATH.count` (mounts stacked there), `.fstype .source .root .opts
/// .superopts .prop .ro .nosuid .nodev .noexec`.
pub fn mount(path: &str, out: &mut String) -> Result<(), String> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").map_err(|e| format!("{e}"))?;
    let entries: Vec<MountEntry> = text
        .lines()
        .filter_map(parse_mountinfo_line)
        .filter(|m| m.point == path)
        .collect();
    let key = |k: &str| format!("mount:{path}.{k}");
    line(out, &key("count"), entries.len());
    let Some(m) = entries.last() else {
        return Ok(());
    };
    line(out, &key("fstype"), &m.fstype);
    line(out, &key("source"), &m.source);
    line(out, &key("root"), &m.root);
    line(out, &key("opts"), &m.opts);
    line(out, &key("superopts"), &m.superopts);
    line(out, &key("prop"), propagation(&m.optional));
    let opts: Vec<&str> = m.opts.split(',').collect();
    for flag in ["ro", "nosuid", "nodev", "noexec"] {
        line(out, &key(flag), opts.contains(&flag) as u8);
    }
    Ok(())
}

/// `read:PATH=ok:<len>` or `err:N`; `read:PATH.data=` the first 200 bytes
/// (newlines shown as `\n`).
pub fn read(path: &str, out: &mut String) -> Result<(), String> {
    let key = format!("read:{path}");
    let mut buf = Vec::new();
    let res =
        std::fs::File::open(path).and_then(|mut f| f.by_ref().take(4096).read_to_end(&mut buf));
    match res {
        Ok(n) => {
            line(out, &key, format!("ok:{n}"));
            let shown: String =
                String::from_utf8_lossy(&buf[..buf.len().min(200)]).replace('\n', "\\n");
            line(out, &format!("{key}.data"), shown);
        }
        Err(e) => line(out, &key, io_err(&e)),
    }
    Ok(())
}

/// `ls:PATH=a,b` sorted entry names, or `err:N`.
pub fn ls(path: &str, out: &mut String) -> Result<(), String> {
    let value = match std::fs::read_dir(path) {
        Ok(rd) => {
            let mut names: Vec<String> = rd
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            names.join(",")
        }
        Err(e) => io_err(&e),
    };
    line(out, &format!("ls:{path}"), value);
    Ok(())
}

/// lstat facts: `stat:PATH.type` (c b d f l p s), `.perm` (4 octal
/// digits), `.rdev` (major:minor), `.uid`, `.gid`, `.link`; or
/// `stat:PATH=err:N`.
pub fn stat(path: &str, out: &mut String) -> Result<(), String> {
    let key = |k: &str| format!("stat:{path}.{k}");
    let md = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) => {
            line(out, &format!("stat:{path}"), io_err(&e));
            return Ok(());
        }
    };
    let ft = md.file_type();
    let t = if ft.is_char_device() {
        "c"
    } else if ft.is_block_device() {
        "b"
    } else if ft.is_dir() {
        "d"
    } else if ft.is_symlink() {
        "l"
    } else if ft.is_fifo() {
        "p"
    } else if ft.is_socket() {
        "s"
    } else {
        "f"
    };
    line(out, &key("type"), t);
    line(out, &key("perm"), format!("{:04o}", md.mode() & 0o7777));
    let rdev = md.rdev();
    line(
        out,
        &key("rdev"),
        format!("{}:{}", libc::major(rdev), libc::minor(rdev)),
    );
    line(out, &key("uid"), md.uid());
    line(out, &key("gid"), md.gid());
    if ft.is_symlink() {
        let target = std::fs::read_link(path).map_err(|e| format!("readlink {path}: {e}"))?;
        line(out, &key("link"), target.display());
    }
    Ok(())
}

/// `openw:PATH=ok|err:N`: open for writing without writing anything.
pub fn openw(path: &str, out: &mut String) -> Result<(), String> {
    let value = match std::fs::OpenOptions::new().write(true).open(path) {
        Ok(_) => "ok".to_string(),
        Err(e) => io_err(&e),
    };
    line(out, &format!("openw:{path}"), value);
    Ok(())
}

/// `touch:DIR=ok|err:N`: create (and remove) a new file in DIR.
pub fn touch(dir: &str, out: &mut String) -> Result<(), String> {
    let probe = format!(
        "{}/.berth-probe-{}",
        dir.trim_end_matches('/'),
        std::process::id()
    );
    let value = match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(libc::O_CLOEXEC)
        .open(&probe)
    {
        Ok(_) => {
            let c = CString::new(probe).map_err(|e| e.to_string())?;
            // SAFETY: unlink of a path we just created.
            if unsafe { libc::unlink(c.as_ptr()) } != 0 {
                return Err(format!("unlink probe: {}", errno_str()));
            }
            "ok".to_string()
        }
        Err(e) => io_err(&e),
    };
    line(out, &format!("touch:{dir}"), value);
    Ok(())
}

/// `sysctl:NAME=value` read from /proc/sys, or `err:N`.
pub fn sysctl(name: &str, out: &mut String) -> Result<(), String> {
    let path = format!("/proc/sys/{}", name.replace('.', "/"));
    let value = match std::fs::read_to_string(path) {
        Ok(v) => v.trim().to_string(),
        Err(e) => io_err(&e),
    };
    line(out, &format!("sysctl:{name}"), value);
    Ok(())
}
