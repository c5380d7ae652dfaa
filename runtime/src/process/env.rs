//! The environment a container process is exec'd with, as current runc
//! (1.2+) builds it from `process.env`: one entry per name, the last one
//! given winning (in the place of that last one), and `HOME` from the
//! container's /etc/passwd when the entries leave it unset or empty
//! (runc 1.1.5 shows the same result for these cases).
//!
//! Entries without `=` are refused when the config is loaded, so every
//! entry here has a name.

/// `env` with duplicates removed (last wins) and an empty `HOME` dropped;
/// then `HOME=<home()>` appended when no non-empty `HOME` is left. `home`
/// is only called in that case (it reads the container's /etc/passwd).
pub fn prepare(env: &[String], home: impl FnOnce() -> String) -> Vec<String> {
    let name = |e: &str| e.split_once('=').map_or(e, |(n, _)| n).to_string();
    let mut seen = std::collections::HashSet::with_capacity(env.len());
    let mut out: Vec<String> = Vec::with_capacity(env.len() + 1);
    for e in env.iter().rev() {
        if !seen.insert(name(e)) || e == "HOME=" {
            continue;
        }
        out.push(e.clone());
    }
    out.reverse();
    if !out.iter().any(|e| e.starts_with("HOME=")) {
        out.push(format!("HOME={}", home()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::prepare;

    fn run(env: &[&str]) -> Vec<String> {
        let env: Vec<String> = env.iter().map(|s| s.to_string()).collect();
        prepare(&env, || "/home/u".into())
    }

    #[test]
    fn home_from_passwd_when_unset_or_empty() {
        assert_eq!(run(&[]), ["HOME=/home/u"]);
        assert_eq!(run(&["A=1"]), ["A=1", "HOME=/home/u"]);
        assert_eq!(run(&["HOME=", "A=1"]), ["A=1", "HOME=/home/u"]);
        assert_eq!(run(&["HOME=/x", "HOME="]), ["HOME=/home/u"]);
        assert_eq!(run(&["HOME=", "HOME=/x"]), ["HOME=/x"]);
        assert_eq!(run(&["B=2", "HOME=/x"]), ["B=2", "HOME=/x"]);
    }

    #[test]
    fn last_duplicate_wins_in_its_place() {
        assert_eq!(
            run(&["T=a", "HOME=/1", "P=x", "T=b", "HOME=/2", "Z="]),
            ["P=x", "T=b", "HOME=/2", "Z="]
        );
        assert_eq!(run(&["A=a=b", "A=c"]), ["A=c", "HOME=/home/u"]);
    }

    #[test]
    fn home_is_not_looked_up_when_set() {
        let env = vec!["HOME=/x".to_string()];
        assert_eq!(prepare(&env, || panic!("looked up")), ["HOME=/x"]);
    }
}
