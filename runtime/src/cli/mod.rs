//! The runc-compatible command line: flags, exit codes and output formats
//! are runc's. Errors are reported here, once: to stderr and to the log.

mod create;
mod delete;
mod events;
mod exec;
mod features;
mod help;
mod kill;
mod later;
mod list;
mod output;
mod ps;
mod run;
mod spec;
mod start;
mod state;
mod update;

use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand};

use crate::error::Result;
use crate::log;
use crate::state::Root;

#[derive(Parser, Debug)]
#[command(
    name = "berth",
    about = "berth: a runc-compatible OCI container runtime",
    disable_version_flag = true
)]
pub(crate) struct Cli {
    /// root directory for storage of container state
    #[arg(long, value_name = "DIR")]
    root: Option<PathBuf>,
    /// set the log file to write runtime logs to (default: stderr)
    #[arg(long, value_name = "FILE")]
    log: Option<PathBuf>,
    /// set the log format ('text' (default), or 'json')
    #[arg(long, value_name = "FORMAT", default_value = "text")]
    log_format: String,
    /// enable debug logging
    #[arg(long)]
    debug: bool,
    /// enable systemd cgroup support
    #[arg(long)]
    systemd_cgroup: bool,
    /// ignore cgroup permission errors ('true', 'false', or 'auto')
    #[arg(long, value_name = "VALUE")]
    rootless: Option<String>,
    /// path to the criu binary used for checkpoint and restore
    #[arg(long, value_name = "PATH", hide = true)]
    criu: Option<String>,
    /// print the version
    #[arg(short = 'v', long)]
    version: bool,
    #[command(subcommand)]
    cmd: Option<Cmd>,
}

/// `defer`: a verb's flags are built only when that verb is parsed (or its
/// help asked for, `help::expanded`), not the whole tree for every command.
#[derive(Subcommand, Debug)]
#[command(defer = true)]
enum Cmd {
    /// create a container
    Create(create::Args),
    /// executes the user defined process in a created container
    Start(start::Args),
    /// create and run a container
    Run(run::Args),
    /// output the state of a container
    State(state::Args),
    /// kill sends the specified signal (default: SIGTERM) to the container's init process
    Kill(kill::Args),
    /// delete any resources held by the container often used with detached containers
    Delete(delete::Args),
    /// execute new process inside the container
    Exec(Box<exec::Args>),
    /// lists containers started by berth with the given root
    List(list::Args),
    /// pause suspends all processes inside the container
    Pause(start::Args),
    /// resumes all processes that have been previously paused
    Resume(start::Args),
    /// display container events such as OOM notifications, cpu, memory, and IO usage statistics
    Events(events::Args),
    /// update container resource constraints
    Update(Box<update::Args>),
    /// ps displays the processes running inside a container
    Ps(ps::Args),
    /// create a new specification file
    Spec(spec::Args),
    /// show the enabled features
    Features,
    #[command(flatten)]
    Later(later::Later),
}

/// Global flags every verb may need.
pub struct Global {
    pub root: Root,
    pub systemd_cgroup: bool,
    /// `--rootless` as given (`auto` when absent); create and run parse it
    /// (`rootless::parse_flag`), as runc does.
    pub rootless: String,
    /// Whether records go to a --log file (then errors also go to stderr).
    pub log_to_file: bool,
}

/// Reports an error once: to the log (stderr without --log) and, with a
/// log file, also plainly on stderr, as runc does.
pub fn report(e: &crate::error::Error, g: &Global) {
    tracing::error!("{e}");
    if g.log_to_file {
        eprintln!("{e}");
    }
}

/// `X.Y.Z`, then runc's `commit:` (Docker's `info` reads it) and `spec:`.
fn version_text() -> String {
    format!(
        "{}\ncommit: {}\nspec: {}",
        env!("CARGO_PKG_VERSION"),
        env!("BERTH_COMMIT"),
        crate::state::OCI_VERSION
    )
}

fn print_version() {
    output::print(&format!("berth version {}\n", version_text()));
}

/// Answers a help request in runc's layout (`help`); None when the command
/// line asks for none. The command description is built only when a help
/// word is on the command line.
fn help_requested() -> Option<i32> {
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let words = ["-h", "--help", "help", "h"];
    if argv.len() > 1 && !argv.iter().skip(1).any(|a| words.iter().any(|w| a == w)) {
        return None;
    }
    let cmd = <Cli as clap::CommandFactory>::command();
    let req = match help::request(&cmd, &argv) {
        Some(r) => r,
        None if argv.len() <= 1 => help::Request::Root,
        None => return None,
    };
    let text = match req {
        help::Request::Root => help::root(&cmd, &version_text()),
        help::Request::Command(name) => match cmd.find_subcommand(&name) {
            Some(sub) => help::command(&help::expanded(sub)),
            None => return None,
        },
        help::Request::NoTopic(t) => {
            eprintln!("No help topic for '{t}'");
            return Some(3);
        }
    };
    output::print(&text);
    Some(0)
}

/// Parses a command line (`argv[0]` first) as `main` does, and nothing
/// more: no command runs. For the fuzz target; the value is the parsed
/// command line's debug form.
pub fn parse_only<I, T>(argv: I) -> std::result::Result<String, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    Cli::try_parse_from(argv).map(|c| format!("{c:?}"))
}

/// Runs the CLI; returns the process exit status.
pub fn main() -> i32 {
    if let Some(code) = help_requested() {
        return code;
    }
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 1 } else { 0 };
        }
    };
    if cli.version {
        print_version();
        return 0;
    }
    let format = match cli.log_format.as_str() {
        "text" => log::Format::Text,
        "json" => log::Format::Json,
        other => {
            eprintln!("invalid log-format: {other}");
            return 1;
        }
    };
    let to_file = match log::init(cli.log.as_deref(), format, cli.debug) {
        Ok(f) => f,
        Err(e) => {
            // As runc: a record in the chosen format on stderr, Go's
            // wording (`open <path>: permission denied`).
            let path = cli.log.as_deref().unwrap_or(Path::new("")).display();
            let msg = format!("open {path}: {}", crate::go_text::io(&e));
            let now = std::time::SystemTime::now();
            eprint!("{}", log::format_line(format, "error", &msg, now));
            return 1;
        }
    };
    let root = match cli.root.clone() {
        Some(r) => r,
        None => match default_root(to_file) {
            Ok(r) => r,
            Err(code) => return code,
        },
    };
    let g = Global {
        root: Root::new(root),
        systemd_cgroup: cli.systemd_cgroup,
        rootless: cli.rootless.clone().unwrap_or_else(|| "auto".into()),
        log_to_file: to_file,
    };
    let Some(cmd) = cli.cmd else {
        let _ = <Cli as clap::CommandFactory>::command().print_help();
        return 0;
    };
    match dispatch(cmd, &g) {
        Ok(code) => code,
        Err(e) => {
            report(&e, &g);
            1
        }
    }
}

/// The state directory without --root (`rootless::default_root`); one
/// under XDG_RUNTIME_DIR is created private and sticky first, as runc does
/// for every command. Err: the exit status, the failure reported.
fn default_root(log_to_file: bool) -> std::result::Result<PathBuf, i32> {
    let d = crate::rootless::default_root();
    if d.xdg {
        if let Err((hint, e)) = crate::rootless::prepare_xdg_root(&d.path) {
            eprintln!("{hint}");
            tracing::error!("{e}");
            if log_to_file {
                eprintln!("{e}");
            }
            return Err(1);
        }
    }
    Ok(d.path)
}

fn dispatch(cmd: Cmd, g: &Global) -> Result<i32> {
    // Each command is one short process: the cgroup mounts are read once.
    crate::cgroups::hierarchy::Hierarchies::keep_detected();
    match cmd {
        Cmd::Create(a) => create::run(a, g),
        Cmd::Start(a) => start::run(a, g),
        Cmd::Run(a) => run::run(a, g),
        Cmd::State(a) => state::run(a, g),
        Cmd::Kill(a) => kill::run(a, g),
        Cmd::Delete(a) => delete::run(a, g),
        Cmd::Exec(a) => exec::run(*a, g),
        Cmd::List(a) => list::run(a, g),
        Cmd::Ps(a) => ps::run(a, g),
        Cmd::Events(a) => events::run(a, g),
        Cmd::Update(a) => update::run(*a, g),
        Cmd::Pause(a) => crate::container::pause(&g.root, &a.id).map(|_| 0),
        Cmd::Resume(a) => crate::container::resume(&g.root, &a.id).map(|_| 0),
        Cmd::Spec(a) => spec::run(a),
        Cmd::Features => features::run(),
        Cmd::Later(l) => later::run(l),
    }
}
