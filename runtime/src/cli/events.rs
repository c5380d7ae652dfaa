//! `berth events`: runc's JSON records for a container — one `stats`
//! record with `--stats`, or a stream of `stats` (every `--interval`) and
//! `oom` records until the container stops or is deleted. Records have
//! runc's key order (`cgroups::stats::Event`).

use std::io::Write;
use std::time::{Duration, Instant};

use crate::cgroups::stats::Event;
use crate::cgroups::{Manager, OomWatch};
use crate::container;
use crate::error::{Context, Error, Result};
use crate::state::Status;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// display the container's stats then exit
    #[arg(long)]
    pub stats: bool,
    /// set the stats collection interval
    #[arg(long, default_value = "5s")]
    pub interval: String,
    /// the container id
    pub id: String,
}

/// A Go-style duration: `500ms`, `5s`, `1m`, `1h` (one unit).
pub fn parse_interval(s: &str) -> Result<Duration> {
    let split = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| Error::msg(format!("invalid interval {s:?}")))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" | "" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(Error::msg(format!("invalid interval {s:?}"))),
    };
    if secs <= 0.0 {
        return Err(Error::msg("duration interval must be greater than 0"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// How often a waiting `events` looks whether the container is still
/// there (runc's ends once the container is gone, too).
const ALIVE_CHECK: Duration = Duration::from_millis(250);

fn emit(record: &Event) -> Result<()> {
    let line = serde_json::to_string(record).map_err(|e| Error::msg(format!("events: {e}")))?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")
        .and_then(|_| out.flush())
        .ctx(|| "write events".into())
}

pub fn run(a: Args, g: &super::Global) -> Result<i32> {
    let interval = parse_interval(&a.interval)?;
    let v = container::view(&g.root, &a.id)?;
    if v.status == Status::Stopped {
        return Err(Error::msg(format!(
            "container with id {} is not running",
            a.id
        )));
    }
    let mgr = Manager::open(&v.saved.cgroup)?;
    if a.stats {
        emit(&mgr.stats()?.event(&a.id))?;
        return Ok(0);
    }
    let mut oom = mgr.oom_watch().ok();
    loop {
        if !wait_interval(&a.id, g, interval, oom.as_mut())? {
            return Ok(0);
        }
        // The container may stop and its cgroup go between the check and
        // the read (ENODEV from a removed v2 cgroup): that is the end too.
        match mgr.stats() {
            Ok(st) => emit(&st.event(&a.id))?,
            Err(_) if gone(&a.id, g) => return Ok(0),
            Err(e) => return Err(e.into()),
        }
    }
}

/// Whether the container is stopped or deleted.
fn gone(id: &str, g: &super::Global) -> bool {
    !container::view(&g.root, id)
        .is_ok_and(|v| matches!(v.status, Status::Running | Status::Paused))
}

/// Emits an `oom` record for each OOM until `interval` has passed; false
/// as soon as the container is stopped or deleted.
fn wait_interval(
    id: &str,
    g: &super::Global,
    interval: Duration,
    mut oom: Option<&mut OomWatch>,
) -> Result<bool> {
    let deadline = Instant::now() + interval;
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        let step = left.min(ALIVE_CHECK);
        let fired = match oom.as_deref_mut() {
            Some(w) => match w.wait(step.as_millis() as i32) {
                Ok(n) => n,
                Err(_) if gone(id, g) => return Ok(false),
                Err(e) => return Err(e.into()),
            },
            None => {
                std::thread::sleep(step);
                0
            }
        };
        for _ in 0..fired {
            emit(&Event::oom(id))?;
        }
        if gone(id, g) {
            return Ok(false);
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_go_durations() {
        assert_eq!(parse_interval("5s").unwrap(), Duration::from_secs(5));
        assert_eq!(parse_interval("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_interval("1m").unwrap(), Duration::from_secs(60));
        assert!(parse_interval("0s").is_err());
        assert!(parse_interval("x").is_err());
    }
}
