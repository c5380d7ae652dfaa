//! `berth ps`: the container's processes, as a `ps` table filtered to them
//! (extra arguments go to ps, default `-ef`) or as a JSON array of pids.

use std::process::Command;

use crate::container;
use crate::error::{Context, Error, Result};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// select one of: table or json (default: "table")
    #[arg(short = 'f', long, default_value = "table")]
    pub format: String,
    /// the container id
    pub id: String,
    /// arguments for ps (default: -ef)
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub ps_args: Vec<String>,
}

/// Keeps the header and the lines whose PID column is one of `pids`.
pub fn filter(table: &str, pids: &[i32]) -> Result<String> {
    let mut lines = table.lines();
    let header = lines.next().unwrap_or_default();
    let col = header
        .split_whitespace()
        .position(|c| c == "PID")
        .ok_or_else(|| Error::msg("couldn't find PID field in ps output"))?;
    let mut out = format!("{header}\n");
    for l in lines {
        let pid = l
            .split_whitespace()
            .nth(col)
            .and_then(|p| p.parse::<i32>().ok());
        if pid.is_some_and(|p| pids.contains(&p)) {
            out.push_str(l);
            out.push('\n');
        }
    }
    Ok(out)
}

pub fn run(a: Args, g: &super::Global) -> Result<i32> {
    let pids = container::pids(&g.root, &a.id)?;
    match a.format.as_str() {
        "json" => {
            let text = serde_json::to_string(&pids).map_err(|e| Error::msg(e.to_string()))?;
            super::output::println(&text);
        }
        "table" => {
            let args = if a.ps_args.is_empty() {
                vec!["-ef".to_string()]
            } else {
                a.ps_args
            };
            let out = Command::new("ps")
                .args(&args)
                .output()
                .ctx(|| "run ps".into())?;
            if !out.status.success() {
                return Err(Error::msg(format!(
                    "ps {}: {}",
                    args.join(" "),
                    String::from_utf8_lossy(&out.stderr).trim()
                )));
            }
            super::output::print(&filter(&String::from_utf8_lossy(&out.stdout), &pids)?);
        }
        other => return Err(Error::msg(format!("invalid format option: {other}"))),
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn filters_by_pid_column() {
        let t =
            "UID        PID  PPID CMD\nroot        1     0 init\nroot     9083     1 sleep 100\n";
        assert_eq!(
            super::filter(t, &[9083]).unwrap(),
            "UID        PID  PPID CMD\nroot     9083     1 sleep 100\n"
        );
        assert!(super::filter("A B\n1 2\n", &[1]).is_err());
    }
}
