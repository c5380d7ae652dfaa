//! `process.oomScoreAdj`, set before anything else of the init (as runc's
//! nsexec does), so that what the init starts (createContainer hooks) has
//! it too. The kernel lets a process go below the lowest value a
//! privileged writer set (at first the runtime's own) only with
//! CAP_SYS_RESOURCE on the host: the init of a new user namespace has
//! capabilities in that namespace alone, so there the runtime writes it
//! from outside while the init waits for its mappings (`write_for`).

use std::io;

use crate::error::{Error, Result};
use crate::sys::proc::ProcHandle;

/// Writes `adj` as the oom_score_adj of `pid` (`None`: the caller).
pub fn set(proc: &ProcHandle, pid: Option<i32>, adj: i32) -> Result<()> {
    let who = pid.map_or_else(|| "self".to_string(), |p| p.to_string());
    proc.write(&format!("{who}/oom_score_adj"), adj.to_string().as_bytes())
        .map_err(|e| Error::msg(failure_text(adj, &e)))
}

/// The error for a refused write; EACCES (the kernel's answer to a value
/// below the allowed minimum) says why.
fn failure_text(adj: i32, e: &io::Error) -> String {
    let hint = if e.raw_os_error() == Some(libc::EACCES) {
        "; a value below the runtime's own oom_score_adj (or the lowest one a \
         privileged process set for it) needs CAP_SYS_RESOURCE on the host"
    } else {
        ""
    };
    format!("process.oomScoreAdj: set oom_score_adj to {adj}: {e}{hint}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eacces_says_why() {
        let t = failure_text(-500, &io::Error::from_raw_os_error(libc::EACCES));
        assert!(
            t.starts_with("process.oomScoreAdj: set oom_score_adj to -500: ")
                && t.contains("CAP_SYS_RESOURCE on the host"),
            "{t}"
        );
        let t = failure_text(5, &io::Error::from_raw_os_error(libc::ENOENT));
        assert!(!t.contains("CAP_SYS_RESOURCE"), "{t}");
    }

    #[test]
    fn writes_the_current_value() {
        let proc = ProcHandle::open(std::path::Path::new("/proc")).unwrap();
        let now: i32 = std::fs::read_to_string("/proc/self/oom_score_adj")
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        set(&proc, None, now).unwrap();
        set(&proc, Some(std::process::id() as i32), now).unwrap();
    }
}
