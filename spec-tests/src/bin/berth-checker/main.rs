//! berth-checker: runs as the container's process and prints what it sees.
//!
//! Usage: `berth-checker CMD [ARG] [+ CMD [ARG]]...`
//!
//! Every command prints `key=value` lines on stdout; the harness parses them
//! and asserts exact values. Keys are unique per command and argument, e.g.
//! `mount:/proc.fstype=proc`. Errors are reported as `err:<errno>`.
//! Exit status: 0 when every command could run, 2 on a usage error;
//! `exit N` exits with N.
//!
//! Only std and libc: the binary is linked statically and copied into a
//! minimal busybox rootfs.

mod facts;
mod fs;
mod sched;
mod sys;

use std::io::Write;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut out = String::new();
    let mut status = 0;
    for cmd in args.split(|a| a == "+") {
        if cmd.is_empty() {
            continue;
        }
        if let Err(msg) = dispatch(&cmd[0], &cmd[1..], &mut out) {
            eprintln!("berth-checker: {msg}");
            status = 2;
            break;
        }
    }
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(out.as_bytes());
    let _ = stdout.flush();
    std::process::exit(status);
}

fn one_arg<'a>(name: &str, args: &'a [String]) -> Result<&'a str, String> {
    match args {
        [a] => Ok(a.as_str()),
        _ => Err(format!("{name} takes exactly one argument")),
    }
}

fn dispatch(name: &str, args: &[String], out: &mut String) -> Result<(), String> {
    match name {
        "mount" => fs::mount(one_arg(name, args)?, out),
        "ns" => facts::ns(one_arg(name, args)?, out),
        "uts" => facts::uts(out),
        "ids" => facts::ids(out),
        "caps" => facts::caps(out),
        "rlimits" => facts::rlimits(out),
        "oom" => facts::oom(out),
        "cwd" => facts::cwd(out),
        "env" => facts::env(out),
        "fds" => facts::fds(out),
        "pid" => facts::pid(out),
        "read" => fs::read(one_arg(name, args)?, out),
        "ls" => fs::ls(one_arg(name, args)?, out),
        "stat" => fs::stat(one_arg(name, args)?, out),
        "openw" => fs::openw(one_arg(name, args)?, out),
        "touch" => fs::touch(one_arg(name, args)?, out),
        "sysctl" => fs::sysctl(one_arg(name, args)?, out),
        "ifup" => facts::ifup(one_arg(name, args)?, out),
        "ifaces" => facts::ifaces(out),
        "notify" => notify(one_arg(name, args)?, out),
        "seccomp" => sys::seccomp(out),
        "sched" => sched::sched(out),
        "ioprio" => sched::ioprio(out),
        "personality" => sched::personality(out),
        "affinity" => sched::affinity(out),
        "sys" => sys::sys(one_arg(name, args)?, out),
        "echo" => {
            out.push_str(&format!("echo={}\n", args.join(" ")));
            Ok(())
        }
        "sleep" => {
            let ms: u64 = one_arg(name, args)?
                .parse()
                .map_err(|e| format!("sleep: {e}"))?;
            std::thread::sleep(std::time::Duration::from_millis(ms));
            Ok(())
        }
        "exit" => {
            let code: i32 = one_arg(name, args)?
                .parse()
                .map_err(|e| format!("exit: {e}"))?;
            let mut stdout = std::io::stdout().lock();
            let _ = stdout.write_all(out.as_bytes());
            let _ = stdout.flush();
            std::process::exit(code);
        }
        _ => Err(format!("unknown command {name:?}")),
    }
}

/// sd_notify: sends MSG as one datagram to $NOTIFY_SOCKET.
fn notify(msg: &str, out: &mut String) -> Result<(), String> {
    let path = std::env::var("NOTIFY_SOCKET").map_err(|_| "NOTIFY_SOCKET is not set")?;
    let sent =
        std::os::unix::net::UnixDatagram::unbound().and_then(|s| s.send_to(msg.as_bytes(), &path));
    match sent {
        Ok(_) => out.push_str(&format!("notify:{path}=ok\n")),
        Err(e) => out.push_str(&format!("notify:{path}={}\n", io_err(&e))),
    }
    Ok(())
}

/// The last OS error as `err:<errno>`.
pub fn errno_str() -> String {
    format!(
        "err:{}",
        std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
    )
}

/// An io::Error as `err:<errno>`.
pub fn io_err(e: &std::io::Error) -> String {
    format!("err:{}", e.raw_os_error().unwrap_or(0))
}
