//! runc-compatible logging on top of `tracing`.
//!
//! Without `--log`, records go to stderr in logrus' text form
//! (`time="…" level=error msg="…"`). With `--log FILE`, they go to FILE as text
//! or, with `--log-format json`, as `{"level":"error","msg":"…","time":"…"}`
//! lines — containerd shows the msg of the last error line to its user.
//!
//! The init and exec'd processes are forks of the runtime and inherit this
//! logger, but not its fds for long: the init closes the host's fds (the log
//! file among them, docs/architecture.md §6), and its stderr may be the
//! container's pty. So a child first calls `forward`: its records then go as
//! text to the runtime over the sync channel (kept, close-on-exec), which
//! writes them with its own (`replay`). Once the channel may no longer be
//! used (a seccomp filter is about to be loaded, or the runtime stops
//! listening), the child calls `silence` and writes nothing more. Switching
//! costs no syscall; a record costs one send, so with the default level
//! (warnings) nothing is sent unless something is wrong.

use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::Mutex;
use std::time::SystemTime;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Metadata, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::Layer;

use crate::timefmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

enum Sink {
    Stderr,
    File(File),
}

/// What a child of the runtime does with a record: its level and text.
pub type Forward = Box<dyn Fn(Level, &str) + Send>;

/// Where this process's records go (see the module doc).
enum Route {
    /// To the sink (`--log` file or stderr): the runtime itself.
    Sink,
    /// To the runtime, through the child's sync channel.
    Forward(Forward),
    /// Nowhere: the child may no longer write.
    Silent,
}

static ROUTE: Mutex<Route> = Mutex::new(Route::Sink);

fn set_route(r: Route) {
    // A poisoned lock only means a panic while a record was written.
    match ROUTE.lock() {
        Ok(mut g) => *g = r,
        Err(p) => *p.into_inner() = r,
    }
}

/// In a child of the runtime, before anything else: send records to `f`
/// instead of the inherited sink, whose fd the child will close.
pub fn forward(f: Forward) {
    set_route(Route::Forward(f));
}

/// In a child of the runtime: write no record from here on.
pub fn silence() {
    set_route(Route::Silent);
}

/// In the runtime: writes a record its child forwarded, as its own.
pub fn replay(level: Level, msg: &str) {
    match level {
        Level::ERROR => tracing::error!("{msg}"),
        Level::WARN => tracing::warn!("{msg}"),
        Level::INFO => tracing::info!("{msg}"),
        Level::DEBUG => tracing::debug!("{msg}"),
        Level::TRACE => tracing::trace!("{msg}"),
    }
}

/// A level as one byte on the wire (its name's first letter), and back.
pub fn level_byte(l: Level) -> u8 {
    level_name(&l).as_bytes()[0]
}

pub fn level_of_byte(b: u8) -> Option<Level> {
    [
        Level::ERROR,
        Level::WARN,
        Level::INFO,
        Level::DEBUG,
        Level::TRACE,
    ]
    .into_iter()
    .find(|l| level_byte(*l) == b)
}

struct RuncLayer {
    sink: Mutex<Sink>,
    format: Format,
    max: Level,
}

/// Installs the global logger. Returns whether a log file is in use (then the
/// CLI also prints the final error plainly on stderr, as runc does).
pub fn init(file: Option<&Path>, format: Format, debug: bool) -> io::Result<bool> {
    let sink = match file {
        Some(p) => Sink::File(
            OpenOptions::new()
                .create(true)
                .append(true)
                .mode(0o644)
                .custom_flags(libc::O_CLOEXEC)
                .open(p)?,
        ),
        None => Sink::Stderr,
    };
    let layer = RuncLayer {
        sink: Mutex::new(sink),
        format,
        max: if debug { Level::DEBUG } else { Level::WARN },
    };
    let subscriber = tracing_subscriber::registry().with(layer);
    // A second init (impossible in the binary) would simply keep the first.
    let _ = tracing::subscriber::set_global_default(subscriber);
    Ok(file.is_some())
}

#[derive(Default)]
struct Message(String);

impl Visit for Message {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.push(field, value);
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.push(field, &format!("{value:?}"));
    }
}

impl Message {
    fn push(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0.insert_str(0, value);
        } else {
            let _ = write!(self.0, " {}={}", field.name(), value);
        }
    }
}

fn level_name(l: &Level) -> &'static str {
    match *l {
        Level::ERROR => "error",
        Level::WARN => "warning",
        Level::INFO => "info",
        Level::DEBUG => "debug",
        Level::TRACE => "trace",
    }
}

/// Quotes like logrus' text formatter: bare when only "safe" characters.
fn logfmt_value(s: &str) -> String {
    let safe = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._/@^+".contains(c));
    if safe {
        s.to_string()
    } else {
        // Go's %q and JSON agree on the escapes that matter here.
        serde_json::to_string(s).unwrap_or_default()
    }
}

/// Formats one record as runc would.
pub fn format_line(format: Format, level: &str, msg: &str, time: SystemTime) -> String {
    let time = timefmt::rfc3339(time);
    match format {
        Format::Json => {
            let m = serde_json::to_string(msg).unwrap_or_default();
            format!("{{\"level\":\"{level}\",\"msg\":{m},\"time\":\"{time}\"}}\n")
        }
        Format::Text => format!("time=\"{time}\" level={level} msg={}\n", logfmt_value(msg)),
    }
}

impl<S: Subscriber> Layer<S> for RuncLayer {
    // A disabled level is skipped before its arguments are even evaluated.
    fn enabled(&self, meta: &Metadata<'_>, _ctx: Context<'_, S>) -> bool {
        *meta.level() <= self.max
    }

    fn max_level_hint(&self) -> Option<tracing::level_filters::LevelFilter> {
        Some(tracing::level_filters::LevelFilter::from_level(self.max))
    }

    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let lvl = *event.metadata().level();
        if lvl > self.max {
            return;
        }
        let mut msg = Message::default();
        event.record(&mut msg);
        match ROUTE.lock().as_deref() {
            Ok(Route::Sink) => {}
            Ok(Route::Forward(f)) => return f(lvl, &msg.0),
            Ok(Route::Silent) | Err(_) => return,
        }
        let level = level_name(&lvl);
        let line = format_line(self.format, level, &msg.0, SystemTime::now());
        if let Ok(mut sink) = self.sink.lock() {
            let _ = match &mut *sink {
                Sink::Stderr => io::stderr().write_all(line.as_bytes()),
                Sink::File(f) => f.write_all(line.as_bytes()),
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    /// The init's route (module doc): its own sink until `forward`, then
    /// the forwarder, then nothing after `silence`.
    #[test]
    fn a_child_forwards_then_falls_silent() {
        use std::sync::Arc;
        let path = std::env::temp_dir().join(format!("berth-log-{}", std::process::id()));
        let layer = RuncLayer {
            sink: Mutex::new(Sink::File(File::create(&path).unwrap())),
            format: Format::Json,
            max: Level::DEBUG,
        };
        let got = Arc::new(Mutex::new(Vec::new()));
        let got2 = Arc::clone(&got);
        let sub = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(sub, || {
            tracing::debug!("own");
            forward(Box::new(move |l, m| {
                got2.lock().unwrap().push((l, m.to_string()))
            }));
            tracing::debug!("forwarded");
            silence();
            tracing::warn!("dropped");
            set_route(Route::Sink);
        });
        let text = std::fs::read_to_string(&path).unwrap();
        let _ = std::fs::remove_file(&path);
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(text.contains("\"msg\":\"own\""), "{text}");
        assert_eq!(
            *got.lock().unwrap(),
            vec![(Level::DEBUG, "forwarded".to_string())]
        );
        for l in [
            Level::ERROR,
            Level::WARN,
            Level::INFO,
            Level::DEBUG,
            Level::TRACE,
        ] {
            assert_eq!(level_of_byte(level_byte(l)), Some(l));
        }
    }

    #[test]
    fn lines_match_runc() {
        let t = UNIX_EPOCH + Duration::from_secs(1_795_449_339);
        assert_eq!(
            format_line(Format::Json, "error", "container does not exist", t),
            "{\"level\":\"error\",\"msg\":\"container does not exist\",\"time\":\"2026-11-23T15:55:39Z\"}\n"
        );
        assert_eq!(
            format_line(Format::Text, "error", "container does not exist", t),
            "time=\"2026-11-23T15:55:39Z\" level=error msg=\"container does not exist\"\n"
        );
        assert_eq!(
            format_line(Format::Text, "debug", "ok", t),
            "time=\"2026-11-23T15:55:39Z\" level=debug msg=ok\n"
        );
    }
}
