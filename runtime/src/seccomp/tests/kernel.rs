//! Installs a real filter in a throwaway thread.

use serde_json::json;

use crate::seccomp::{compile_json, install};

#[test]
#[ignore = "needs root (no_new_privs is not set): make unit runs it as root"]
fn install_in_a_throwaway_thread() {
    let program = compile_json(&json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [
            { "names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": libc::EACCES },
            { "names": ["getpid"], "action": "SCMP_ACT_ALLOW" }
        ]
    }))
    .unwrap();
    // Without SECCOMP_FILTER_FLAG_TSYNC a filter binds only the thread that
    // loads it: the harness's other threads never see it, and it goes away
    // with the thread.
    assert_eq!(program.flags, 0);
    let dir = "/tmp/berth-seccomp-test-must-not-exist";
    let code = std::thread::scope(|s| {
        s.spawn(|| match install(&program) {
            Err(_) => 10,
            Ok(Some(_)) => 11,
            Ok(None) => {
                let made = nix::unistd::mkdir(dir, nix::sys::stat::Mode::from_bits_truncate(0o755));
                let me = nix::unistd::getpid().as_raw();
                match made {
                    Err(nix::errno::Errno::EACCES) if me > 0 => 0,
                    Err(nix::errno::Errno::EACCES) => 12,
                    Ok(()) => 13,
                    Err(_) => 14,
                }
            }
        })
        .join()
        .unwrap()
    });
    assert_eq!(
        code, 0,
        "10: install failed, 12: getpid failed, 13: mkdir succeeded, 14: wrong errno"
    );
    assert!(!std::path::Path::new(dir).exists());
}
