//! Installs a real filter in a forked child.

use serde_json::json;

use crate::seccomp::{compile_json, install};

#[test]
#[ignore = "needs root (no_new_privs is not set): make unit runs it as root"]
fn install_in_forked_child() {
    let program = compile_json(&json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [
            { "names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": libc::EACCES },
            { "names": ["getpid"], "action": "SCMP_ACT_ALLOW" }
        ]
    }))
    .unwrap();
    let dir = c"/tmp/berth-seccomp-test-must-not-exist";
    // SAFETY: the child only makes raw syscalls (no allocation, no locks)
    // before _exit, so forking from the multi-threaded test harness is fine.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let code = match install(&program) {
            Err(_) => 10,
            Ok(Some(_)) => 11,
            Ok(None) => {
                // SAFETY: plain syscalls with a valid C string.
                let (rc, errno, me) = unsafe {
                    let rc = libc::mkdir(dir.as_ptr(), 0o755);
                    let errno = *libc::__errno_location();
                    (rc, errno, libc::syscall(libc::SYS_getpid))
                };
                match (rc, errno) {
                    (-1, libc::EACCES) if me > 0 => 0,
                    (-1, libc::EACCES) => 12,
                    (0, _) => 13,
                    _ => 14,
                }
            }
        };
        // SAFETY: terminating the forked child without running destructors.
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    // SAFETY: waiting for our own child.
    let waited = unsafe { libc::waitpid(pid, &mut status, 0) };
    assert_eq!(waited, pid);
    assert!(libc::WIFEXITED(status), "child died: status {status:#x}");
    assert_eq!(
        libc::WEXITSTATUS(status),
        0,
        "10: install failed, 12: getpid failed, 13: mkdir succeeded, 14: wrong errno"
    );
    assert!(!std::path::Path::new("/tmp/berth-seccomp-test-must-not-exist").exists());
}
