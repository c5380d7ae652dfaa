//! `exec --cgroup` (runc 1.1): run the new process in existing sub-cgroups
//! of the container's cgroup. `--cgroup PATH` (given once) names the same
//! sub-path in every hierarchy — the only form cgroup v2 has;
//! `--cgroup CTRL[,CTRL]:PATH` (repeatable) moves only the v1 hierarchies
//! of those controllers (an empty CTRL names the cgroup2 one), the others
//! keep the container's cgroup. A sub-path never leaves the container's
//! cgroup, and the directories must exist: berth creates none.

use std::path::{Component, Path, PathBuf};

use super::error::{CgroupError, Result};
use super::manager::Manager;

/// One parsed `--cgroup` argument: controllers (None: every hierarchy) and
/// the sub-path.
#[derive(Debug, PartialEq, Eq)]
struct Sub<'a> {
    controllers: Option<Vec<&'a str>>,
    path: &'a str,
}

fn parse(args: &[String]) -> Result<Vec<Sub<'_>>> {
    args.iter()
        .map(|a| {
            let parts: Vec<&str> = a.splitn(3, ':').collect();
            match parts.as_slice() {
                [path] if args.len() == 1 => Ok(Sub {
                    controllers: None,
                    path,
                }),
                [_] => Err(CgroupError::SubArg {
                    arg: a.clone(),
                    missing_prefix: true,
                }),
                [ctrls, path] => Ok(Sub {
                    controllers: Some(ctrls.split(',').collect()),
                    path,
                }),
                _ => Err(CgroupError::SubArg {
                    arg: a.clone(),
                    missing_prefix: false,
                }),
            }
        })
        .collect()
}

/// `base` joined with `sub`, which must stay inside `base` (`..` may not
/// climb out of it; a leading `/` is relative to `base`, as runc joins).
fn join_sub(base: &Path, sub: &str) -> Result<PathBuf> {
    let mut parts: Vec<&std::ffi::OsStr> = Vec::new();
    for c in Path::new(sub).components() {
        match c {
            Component::Normal(n) => parts.push(n),
            Component::ParentDir => {
                if parts.pop().is_none() {
                    return Err(CgroupError::SubEscapes(sub.to_string()));
                }
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    Ok(parts.iter().fold(base.to_path_buf(), |p, n| p.join(n)))
}

impl Manager {
    /// The container's cgroup with the leaves moved to the sub-cgroups of
    /// `args` (runc's `--cgroup` syntax); every chosen directory must exist.
    pub fn sub_cgroups(&self, args: &[String]) -> Result<Manager> {
        let mut m = Manager {
            mode: self.mode,
            v1: self.v1.clone(),
            v2: self.v2.clone(),
            // Nothing here is berth's to remove.
            created: Vec::new(),
            fresh: false,
            // Placement only: the unit stays the container's.
            unit: None,
            owns_unit: std::cell::Cell::new(false),
        };
        for sub in parse(args)? {
            match &sub.controllers {
                None => {
                    for l in m.v1.iter_mut().chain(m.v2.iter_mut()) {
                        l.dir = join_sub(&l.dir, sub.path)?;
                    }
                }
                Some(ctrls) => {
                    for c in ctrls {
                        let leaf = if c.is_empty() {
                            m.v2.as_mut()
                        } else {
                            m.v1.iter_mut().find(|l| l.has(c))
                        };
                        let Some(l) = leaf else {
                            return Err(CgroupError::SubController(c.to_string()));
                        };
                        l.dir = join_sub(&l.dir, sub.path)?;
                    }
                }
            }
        }
        for d in m.dirs() {
            if !d.is_dir() {
                return Err(CgroupError::SubMissing(d));
            }
        }
        Ok(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_runc_forms() {
        let one = args(&["sub"]);
        assert_eq!(
            parse(&one).unwrap(),
            vec![Sub {
                controllers: None,
                path: "sub"
            }]
        );
        let two = args(&["memory,pids:a", "cpu:b"]);
        let p = parse(&two).unwrap();
        assert_eq!(p[0].controllers, Some(vec!["memory", "pids"]));
        assert_eq!(p[1].path, "b");
        assert!(parse(&args(&["a", "b"])).is_err());
        assert!(parse(&args(&["a:b:c"])).is_err());
    }

    #[test]
    fn sub_paths_stay_inside() {
        let base = Path::new("/sys/fs/cgroup/memory/c1");
        assert_eq!(join_sub(base, "x/y").unwrap(), base.join("x/y"));
        assert_eq!(join_sub(base, "/x").unwrap(), base.join("x"));
        assert_eq!(join_sub(base, "x/../y").unwrap(), base.join("y"));
        assert_eq!(join_sub(base, "").unwrap(), base);
        assert!(join_sub(base, "../c2").is_err());
        assert!(join_sub(base, "x/../../c2").is_err());
    }
}
