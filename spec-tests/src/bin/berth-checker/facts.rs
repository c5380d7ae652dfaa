//! Process-level facts: namespaces, identity, capabilities, limits, network.

use crate::{errno_str, io_err};
use std::ffi::{CStr, CString};
use std::fmt::Write;
use std::os::unix::fs::MetadataExt;

fn line(out: &mut String, key: &str, value: impl std::fmt::Display) {
    let _ = writeln!(out, "{key}={value}");
}

/// `ns:NAME=<inode>` of /proc/self/ns/NAME.
pub fn ns(name: &str, out: &mut String) -> Result<(), String> {
    let value = match std::fs::metadata(format!("/proc/self/ns/{name}")) {
        Ok(m) => m.ino().to_string(),
        Err(e) => io_err(&e),
    };
    line(out, &format!("ns:{name}"), value);
    Ok(())
}

fn cstr_field(buf: &[libc::c_char]) -> String {
    // SAFETY: utsname fields are NUL-terminated within their arrays.
    unsafe { CStr::from_ptr(buf.as_ptr()) }
        .to_string_lossy()
        .into_owned()
}

/// `hostname=`, `domainname=` from uname(2).
pub fn uts(out: &mut String) -> Result<(), String> {
    // SAFETY: uname fills a plain struct we own.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    if unsafe { libc::uname(&mut u) } != 0 {
        return Err(format!("uname: {}", errno_str()));
    }
    line(out, "hostname", cstr_field(&u.nodename));
    line(out, "domainname", cstr_field(&u.domainname));
    Ok(())
}

/// Lines of /proc/self/status as (key, value) pairs.
fn status() -> Result<Vec<(String, String)>, String> {
    let text = std::fs::read_to_string("/proc/self/status").map_err(|e| format!("status: {e}"))?;
    Ok(text
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_string(), v.trim().to_string()))
        .collect())
}

fn status_field(st: &[(String, String)], key: &str) -> String {
    st.iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| "missing".to_string())
}

/// `uid gid euid egid groups umask`.
pub fn ids(out: &mut String) -> Result<(), String> {
    // SAFETY: plain id getters.
    unsafe {
        line(out, "uid", libc::getuid());
        line(out, "gid", libc::getgid());
        line(out, "euid", libc::geteuid());
        line(out, "egid", libc::getegid());
    }
    let mut groups = vec![0 as libc::gid_t; 256];
    // SAFETY: the buffer holds 256 entries.
    let n = unsafe { libc::getgroups(256, groups.as_mut_ptr()) };
    if n < 0 {
        return Err(format!("getgroups: {}", errno_str()));
    }
    groups.truncate(n as usize);
    groups.sort_unstable();
    let list: Vec<String> = groups.iter().map(|g| g.to_string()).collect();
    line(out, "groups", list.join(","));
    line(out, "umask", status_field(&status()?, "Umask"));
    Ok(())
}

/// `cap.inh cap.prm cap.eff cap.bnd cap.amb nonewprivs`, as hex from status.
pub fn caps(out: &mut String) -> Result<(), String> {
    let st = status()?;
    for (key, name) in [
        ("CapInh", "inh"),
        ("CapPrm", "prm"),
        ("CapEff", "eff"),
        ("CapBnd", "bnd"),
        ("CapAmb", "amb"),
    ] {
        line(out, &format!("cap.{name}"), status_field(&st, key));
    }
    line(out, "nonewprivs", status_field(&st, "NoNewPrivs"));
    Ok(())
}

const RLIMITS: [(&str, libc::__rlimit_resource_t); 16] = [
    ("AS", libc::RLIMIT_AS),
    ("CORE", libc::RLIMIT_CORE),
    ("CPU", libc::RLIMIT_CPU),
    ("DATA", libc::RLIMIT_DATA),
    ("FSIZE", libc::RLIMIT_FSIZE),
    ("LOCKS", libc::RLIMIT_LOCKS),
    ("MEMLOCK", libc::RLIMIT_MEMLOCK),
    ("MSGQUEUE", libc::RLIMIT_MSGQUEUE),
    ("NICE", libc::RLIMIT_NICE),
    ("NOFILE", libc::RLIMIT_NOFILE),
    ("NPROC", libc::RLIMIT_NPROC),
    ("RSS", libc::RLIMIT_RSS),
    ("RTPRIO", libc::RLIMIT_RTPRIO),
    ("RTTIME", libc::RLIMIT_RTTIME),
    ("SIGPENDING", libc::RLIMIT_SIGPENDING),
    ("STACK", libc::RLIMIT_STACK),
];

fn lim(v: libc::rlim_t) -> String {
    if v == libc::RLIM_INFINITY {
        "unlimited".to_string()
    } else {
        v.to_string()
    }
}

/// `rlimit.NAME=soft:hard` for every resource.
pub fn rlimits(out: &mut String) -> Result<(), String> {
    for (name, res) in RLIMITS {
        let mut r = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit fills a struct we own.
        if unsafe { libc::getrlimit(res, &mut r) } != 0 {
            return Err(format!("getrlimit {name}: {}", errno_str()));
        }
        line(
            out,
            &format!("rlimit.{name}"),
            format!("{}:{}", lim(r.rlim_cur), lim(r.rlim_max)),
        );
    }
    Ok(())
}

/// `oom_score_adj=`.
pub fn oom(out: &mut String) -> Result<(), String> {
    let v = std::fs::read_to_string("/proc/self/oom_score_adj").map_err(|e| format!("oom: {e}"))?;
    line(out, "oom_score_adj", v.trim());
    Ok(())
}

/// `cwd=`.
pub fn cwd(out: &mut String) -> Result<(), String> {
    let v = match std::env::current_dir() {
        Ok(p) => p.display().to_string(),
        Err(e) => io_err(&e),
    };
    line(out, "cwd", v);
    Ok(())
}

/// `env.KEY=VALUE` for every variable and `envcount=N`.
pub fn env(out: &mut String) -> Result<(), String> {
    let vars: Vec<(String, String)> = std::env::vars_os()
        .map(|(k, v)| (k.to_string_lossy().into(), v.to_string_lossy().into()))
        .collect();
    for (k, v) in &vars {
        line(out, &format!("env.{k}"), v);
    }
    line(out, "envcount", vars.len());
    Ok(())
}

/// `fds=0,1,2`: the open descriptors, without the one used to list them.
pub fn fds(out: &mut String) -> Result<(), String> {
    let path = CString::new("/proc/self/fd").expect("no NUL");
    // SAFETY: opendir/readdir/closedir on a stream we own.
    let list = unsafe {
        let dir = libc::opendir(path.as_ptr());
        if dir.is_null() {
            return Err(format!("opendir /proc/self/fd: {}", errno_str()));
        }
        let own = libc::dirfd(dir);
        let mut list = Vec::new();
        loop {
            let ent = libc::readdir(dir);
            if ent.is_null() {
                break;
            }
            let name = CStr::from_ptr((*ent).d_name.as_ptr()).to_string_lossy();
            if let Ok(fd) = name.parse::<i32>() {
                if fd != own {
                    list.push(fd);
                }
            }
        }
        libc::closedir(dir);
        list
    };
    let mut list = list;
    list.sort_unstable();
    let s: Vec<String> = list.iter().map(|f| f.to_string()).collect();
    line(out, "fds", s.join(","));
    Ok(())
}

/// `pid=`, `ppid=`.
pub fn pid(out: &mut String) -> Result<(), String> {
    line(out, "pid", std::process::id());
    // SAFETY: getppid has no preconditions.
    line(out, "ppid", unsafe { libc::getppid() });
    Ok(())
}

/// `ifup:NAME=1|0|err:N`: IFF_UP of an interface via SIOCGIFFLAGS.
pub fn ifup(name: &str, out: &mut String) -> Result<(), String> {
    let key = format!("ifup:{name}");
    // SAFETY: socket/ioctl/close on objects we own; ifreq is zeroed and the
    // name is bounded to IFNAMSIZ-1 bytes.
    let value = unsafe {
        let sock = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if sock < 0 {
            line(out, &key, errno_str());
            return Ok(());
        }
        let mut req: libc::ifreq = std::mem::zeroed();
        for (i, b) in name.bytes().take(libc::IFNAMSIZ - 1).enumerate() {
            req.ifr_name[i] = b as libc::c_char;
        }
        let r = libc::ioctl(sock, libc::SIOCGIFFLAGS, &mut req);
        let v = if r < 0 {
            errno_str()
        } else {
            let flags = req.ifr_ifru.ifru_flags as i32;
            if flags & libc::IFF_UP != 0 {
                "1".to_string()
            } else {
                "0".to_string()
            }
        };
        libc::close(sock);
        v
    };
    line(out, &key, value);
    Ok(())
}

/// `ifaces=a,b`: interface names from /proc/net/dev, sorted.
pub fn ifaces(out: &mut String) -> Result<(), String> {
    let text = std::fs::read_to_string("/proc/net/dev").map_err(|e| format!("net/dev: {e}"))?;
    let mut names: Vec<&str> = text
        .lines()
        .skip(2)
        .filter_map(|l| l.split_once(':'))
        .map(|(n, _)| n.trim())
        .collect();
    names.sort_unstable();
    line(out, "ifaces", names.join(","));
    Ok(())
}
