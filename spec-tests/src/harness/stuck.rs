//! Describing processes that do not go away: a case process or a runtime
//! that outlives its SIGKILL is blocked in the kernel (state D), and what
//! it waits on is the only clue to the defect. The runner never waits for
//! such a process without a bound; it reports it with this description and
//! goes on.

use std::path::Path;
use std::time::{Duration, Instant};

/// One line per process: pid, command, state, wait channel and the
/// innermost kernel frames (/proc/PID/stack, readable by root).
pub fn describe(pids: &[i32]) -> String {
    pids.iter()
        .map(|&p| describe_one(p))
        .collect::<Vec<_>>()
        .join("; ")
}

fn describe_one(pid: i32) -> String {
    let Some((comm, fields)) = super::cleanup::proc_stat(pid) else {
        return format!("{pid} (gone)");
    };
    let state = fields.first().map_or("?", String::as_str);
    let dir = Path::new("/proc").join(pid.to_string());
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap_or_default();
    let frames: Vec<String> = read("stack")
        .lines()
        .take(6)
        .filter_map(|l| l.split_whitespace().nth(1))
        .map(|f| f.split('+').next().unwrap_or(f).to_string())
        .collect();
    format!(
        "{pid} ({comm}) state {state}, wchan {}, stack [{}]",
        read("wchan").trim(),
        frames.join(" < ")
    )
}

/// Poll `done` every 2 ms until it returns true or `limit` passes; returns
/// whether it did.
pub fn within(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if done() {
            return true;
        }
        if start.elapsed() > limit {
            return false;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describes_a_live_and_a_gone_process() {
        let me = std::process::id() as i32;
        let d = describe(&[me]);
        assert!(d.starts_with(&format!("{me} (")), "{d}");
        assert!(d.contains(" state "), "{d}");
        // pid_max is at most 2^22: this pid cannot exist.
        assert_eq!(describe(&[1 << 23]), format!("{} (gone)", 1 << 23));
    }

    #[test]
    fn within_stops_at_the_limit() {
        assert!(within(Duration::from_secs(1), || true));
        let start = Instant::now();
        assert!(!within(Duration::from_millis(20), || false));
        assert!(start.elapsed() >= Duration::from_millis(20));
    }
}
