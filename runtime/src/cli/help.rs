//! Help in runc's layout (urfave/cli, as current runc prints it): `NAME:`,
//! `USAGE:`, `VERSION:`, `DESCRIPTION:`, `COMMANDS:`, `GLOBAL OPTIONS:` for
//! `berth --help` and `berth help`; `NAME:` / `USAGE:` / `OPTIONS:` for
//! `berth CMD --help` and `berth help CMD`. A topic that is no command gets
//! runc's `No help topic for 'X'` and exit status 3.

use std::ffi::OsString;

use clap::{Arg, Command};

const DESCRIPTION: &str =
    "berth is a command line client for running applications packaged according to
the Open Container Initiative (OCI) format and is a compliant implementation of the
Open Container Initiative specification.

Containers are configured using bundles. A bundle for a container is a directory
that includes a specification file named \"config.json\" and a root filesystem.

To start a new instance of a container:

    # berth run [ -b bundle ] <container-id>";

const HELP: (&str, &str) = ("--help, -h", "show help");

/// What the command line asks for, when it asks for help.
#[derive(Debug, PartialEq, Eq)]
pub enum Request {
    Root,
    Command(String),
    NoTopic(String),
}

fn is_help(a: &str) -> bool {
    a == "-h" || a == "--help"
}

/// Whether `token` (a flag of `cmd`) takes the next token as its value.
fn takes_value(cmd: &Command, token: &str) -> bool {
    if token.contains('=') {
        return false;
    }
    let arg = match token.strip_prefix("--") {
        Some(long) => cmd.get_arguments().find(|a| a.get_long() == Some(long)),
        None => token
            .chars()
            .nth(1)
            .and_then(|c| cmd.get_arguments().find(|a| a.get_short() == Some(c))),
    };
    arg.is_some_and(|a| a.get_action().takes_values())
}

/// Index of the first positional token of `args` for `cmd`, skipping its
/// flags and their values; `--` ends the flags.
fn first_positional(cmd: &Command, args: &[String]) -> Option<usize> {
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        if a == "--" {
            return (i + 1 < args.len()).then_some(i + 1);
        }
        if !a.starts_with('-') || a == "-" {
            return Some(i);
        }
        i += if takes_value(cmd, a) { 2 } else { 1 };
    }
    None
}

/// Reads the command line (`argv[0]` first) for a help request.
pub fn request(root: &Command, argv: &[OsString]) -> Option<Request> {
    let args: Vec<String> = argv
        .iter()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let Some(at) = first_positional(root, &args) else {
        return args.iter().any(|a| is_help(a)).then_some(Request::Root);
    };
    if args[..at].iter().any(|a| is_help(a)) {
        return Some(Request::Root);
    }
    let name = &args[at];
    let rest = &args[at + 1..];
    if name == "help" || name == "h" {
        return Some(match rest.first() {
            None => Request::Root,
            Some(t) if root.find_subcommand(t).is_some() => Request::Command(t.clone()),
            Some(t) => Request::NoTopic(t.clone()),
        });
    }
    let Some(sub) = root.find_subcommand(name) else {
        return rest
            .iter()
            .any(|a| is_help(a))
            .then(|| Request::NoTopic(name.clone()));
    };
    // Flags end at the command's first argument (the container id), as
    // for runc's exec and kill: `exec ID ls --help` is the process's.
    let end = first_positional(&expanded(sub), rest).unwrap_or(rest.len());
    rest[..end]
        .iter()
        .any(|a| is_help(a))
        .then(|| Request::Command(name.clone()))
}

/// A verb's command with its flags: the CLI builds them only for the verb
/// it parses (`#[command(defer = true)]`), so help builds them here.
pub fn expanded(sub: &Command) -> Command {
    let mut sub = sub.clone();
    sub.build();
    sub
}

/// `--name, -x value` as urfave/cli writes a flag.
fn flag_name(a: &Arg) -> String {
    let mut s = match a.get_long() {
        Some(l) => format!("--{l}"),
        None => String::new(),
    };
    if let Some(c) = a.get_short() {
        s.push_str(&format!("{}-{c}", if s.is_empty() { "" } else { ", " }));
    }
    if a.get_action().takes_values() {
        s.push_str(" value");
    }
    s
}

/// Rows of `name  text`, the names padded to one column, 3 spaces in.
fn table(rows: &[(String, String)]) -> String {
    let width = rows.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
    rows.iter()
        .map(|(n, t)| format!("   {n:width$}  {t}").trim_end().to_string() + "\n")
        .collect()
}

/// The visible flags of `cmd`, then `extra` rows.
fn flags(cmd: &Command, extra: &[(&str, &str)]) -> String {
    let mut rows: Vec<(String, String)> = cmd
        .get_arguments()
        .filter(|a| !a.is_positional() && !a.is_hide_set())
        .filter(|a| a.get_long() != Some("help") && a.get_long() != Some("version"))
        .map(|a| {
            let mut text = a.get_help().map(|h| h.to_string()).unwrap_or_default();
            let defaults: Vec<String> = a
                .get_default_values()
                .iter()
                .map(|d| d.to_string_lossy().into_owned())
                .filter(|d| !d.is_empty() && d != "false" && d != "0")
                .collect();
            if let Some(d) = defaults.first() {
                text.push_str(&format!(" (default: {d:?})"));
            }
            (flag_name(a), text)
        })
        .collect();
    rows.extend(extra.iter().map(|(n, t)| (n.to_string(), t.to_string())));
    table(&rows)
}

/// `berth --help`.
pub fn root(cmd: &Command, version: &str) -> String {
    let mut rows: Vec<(String, String)> = cmd
        .get_subcommands()
        .filter(|c| !c.is_hide_set())
        .map(|c| {
            let about = c.get_about().map(|a| a.to_string()).unwrap_or_default();
            (c.get_name().to_string(), about)
        })
        .collect();
    rows.push((
        "help, h".into(),
        "Shows a list of commands or help for one command".into(),
    ));
    let globals = flags(cmd, &[HELP, ("--version, -v", "print the version")]);
    format!(
        "NAME:\n   berth - Open Container Initiative runtime\n\nUSAGE:\n   berth [global options] [command [command options]]\n\nVERSION:\n   {version}\n\nDESCRIPTION:\n{}\n\nCOMMANDS:\n{}\nGLOBAL OPTIONS:\n{globals}",
        indent(DESCRIPTION),
        table(&rows),
    )
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| {
            if l.is_empty() {
                String::new()
            } else {
                format!("   {l}")
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `berth NAME --help`.
pub fn command(cmd: &Command) -> String {
    let name = cmd.get_name();
    let about = cmd.get_about().map(|a| a.to_string()).unwrap_or_default();
    let args: Vec<String> = cmd
        .get_arguments()
        .filter(|a| a.is_positional())
        .map(|a| match a.get_id().as_str() {
            "id" => "<container-id>".to_string(),
            other
                if a.get_action().takes_values()
                    && a.get_num_args().is_some_and(|n| n.max_values() > 1) =>
            {
                format!("[{other}...]")
            }
            other if a.is_required_set() => format!("<{other}>"),
            other => format!("[{other}]"),
        })
        .collect();
    let mut usage = format!("berth {name} [command options]");
    for a in &args {
        usage.push(' ');
        usage.push_str(a);
    }
    format!(
        "NAME:\n   berth {name} - {about}\n\nUSAGE:\n   {usage}\n\nOPTIONS:\n{}",
        flags(cmd, &[HELP])
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn req(line: &str) -> Option<Request> {
        let cmd = crate::cli::Cli::command();
        let argv: Vec<OsString> = line.split_whitespace().map(OsString::from).collect();
        request(&cmd, &argv)
    }

    #[test]
    fn help_requests_like_runc() {
        assert_eq!(req("berth --help"), Some(Request::Root));
        assert_eq!(req("berth --root /x -h"), Some(Request::Root));
        assert_eq!(req("berth help"), Some(Request::Root));
        assert_eq!(req("berth h kill"), Some(Request::Command("kill".into())));
        assert_eq!(
            req("berth kill --help"),
            Some(Request::Command("kill".into()))
        );
        assert_eq!(
            req("berth --log /l exec -h"),
            Some(Request::Command("exec".into()))
        );
        assert_eq!(
            req("berth help nosuch"),
            Some(Request::NoTopic("nosuch".into()))
        );
        assert_eq!(
            req("berth nosuch -h"),
            Some(Request::NoTopic("nosuch".into()))
        );
        assert_eq!(req("berth exec c1 ls --help"), None);
        assert_eq!(req("berth exec --cwd / c1 h"), None);
        assert_eq!(req("berth start h"), None);
        assert_eq!(req("berth --root h list"), None);
    }

    #[test]
    fn layouts() {
        let cmd = crate::cli::Cli::command();
        let root = root(&cmd, "1.0");
        for head in [
            "NAME:\n   berth - ",
            "\nUSAGE:\n",
            "\nVERSION:\n   1.0\n",
            "\nDESCRIPTION:\n",
            "\nCOMMANDS:\n",
            "\nGLOBAL OPTIONS:\n",
        ] {
            assert!(root.contains(head), "{head:?} in {root}");
        }
        assert!(root.contains("\n   features "), "{root}");
        let kill = command(&expanded(cmd.find_subcommand("kill").unwrap()));
        assert!(
            kill.starts_with("NAME:\n   berth kill - kill sends"),
            "{kill}"
        );
        assert!(
            kill.contains("USAGE:\n   berth kill [command options] <container-id> [signal]\n"),
            "{kill}"
        );
    }
}
