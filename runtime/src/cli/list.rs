//! `berth list`: runc's table (tabwriter: min width 12, padding 3), JSON, or ids.

use crate::container;
use crate::error::{Error, Result};
use crate::state;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// select one of: table or json (default: "table")
    #[arg(short = 'f', long, default_value = "table")]
    pub format: String,
    /// display only container IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

/// Lays out rows like Go's tabwriter(minwidth 12, padding 3); the last
/// column is not padded.
pub fn table(rows: &[Vec<String>]) -> String {
    let cols = rows.first().map_or(0, Vec::len);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .map(|r| r[c].chars().count())
                .max()
                .unwrap_or(0)
                .max(9)
                + 3
        })
        .collect();
    let mut out = String::new();
    for r in rows {
        for (c, cell) in r.iter().enumerate() {
            if c + 1 == cols {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<w$}", w = widths[c]));
            }
        }
        out.push('\n');
    }
    out
}

pub fn run(a: Args, g: &super::Global) -> Result<i32> {
    let views = container::list(&g.root)?;
    if a.quiet {
        for v in &views {
            super::output::println(&v.saved.id);
        }
        return Ok(0);
    }
    // /etc/passwd is read once per owner, not once per container.
    let mut names = std::collections::HashMap::new();
    let owners: Vec<String> = views
        .iter()
        .map(|v| {
            let uid = state::owner_uid(&v.dir);
            names
                .entry(uid)
                .or_insert_with(|| state::owner_name(uid))
                .clone()
        })
        .collect();
    match a.format.as_str() {
        "json" => {
            let docs: Vec<_> = views
                .iter()
                .zip(&owners)
                .map(|(v, o)| v.oci_state(o))
                .collect();
            let text = if docs.is_empty() {
                "null".to_string()
            } else {
                serde_json::to_string(&docs).map_err(|e| Error::msg(e.to_string()))?
            };
            super::output::println(&text);
        }
        "table" => {
            let mut rows = vec![["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]
                .map(String::from)
                .to_vec()];
            for (v, o) in views.iter().zip(&owners) {
                let s = v.oci_state(o);
                rows.push(vec![
                    s.id.to_string(),
                    s.pid.to_string(),
                    s.status.to_string(),
                    s.bundle.display().to_string(),
                    s.created.to_string(),
                    o.clone(),
                ]);
            }
            super::output::print(&table(&rows));
        }
        other => return Err(Error::msg(format!("invalid format option: {other}"))),
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_matches_runc_layout() {
        let rows = vec![
            ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]
                .map(String::from)
                .to_vec(),
            [
                "c1",
                "3398",
                "created",
                "/tmp/rt",
                "2026-11-23T11:55:46.030870333Z",
                "root",
            ]
            .map(String::from)
            .to_vec(),
        ];
        let t = table(&rows);
        let expected = "ID          PID         STATUS      BUNDLE      CREATED                          OWNER\n\
                        c1          3398        created     /tmp/rt     2026-11-23T11:55:46.030870333Z   root\n";
        assert_eq!(t, expected);
    }
}
