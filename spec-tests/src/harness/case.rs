//! A case (name, function, tags) and the choice of cases to run: by name
//! (`--filter SUBSTR`) and by tag (`--tag T`). A filter or a tag that selects
//! nothing fails the run, so a renamed case or a misspelt tag cannot quietly
//! shrink what a script runs.

use super::{Ctx, TestResult};

pub type CaseFn = fn(&Ctx) -> TestResult;

/// Drives the runtime's cgroup code: limits, `update`, stats and events,
/// freeze (pause), `kill --all`, removal on delete, sub-cgroups, the cgroup
/// mount, device rules (an eBPF program on v2) and the ownership checks.
/// `make test-cgroupv2` runs these on a pure cgroup v2 kernel.
pub const CGROUP: &str = "cgroup";

/// Not about cgroups itself, but run on the pure cgroup v2 kernel as well
/// (`make test-cgroupv2`): the lifecycle that creates and removes the
/// container's cgroup, exec's placement into it, and seccomp on the VM's
/// kernel.
pub const CGROUPV2: &str = "cgroupv2";

/// The systemd cgroup driver as systemd sees it (cases/systemd.rs): run in
/// the suite's systemd mode under a systemd PID 1 (`make test-systemd`),
/// skipped elsewhere.
pub const SYSTEMD: &str = "systemd";

/// Every tag a case may carry.
pub const TAGS: &[&str] = &[CGROUP, CGROUPV2, SYSTEMD];

#[derive(Clone, Copy)]
pub struct Case {
    pub name: &'static str,
    pub run: CaseFn,
    pub tags: &'static [&'static str],
}

/// An untagged case.
pub const fn case(name: &'static str, run: CaseFn) -> Case {
    Case {
        name,
        run,
        tags: &[],
    }
}

impl Case {
    pub const fn tagged(self, tags: &'static [&'static str]) -> Case {
        Case { tags, ..self }
    }
}

/// The cases whose name contains one of `filters` (all when there are none)
/// and that carry one of `tags` (all when there are none), in run order.
/// Fails when a filter or a tag selects none of them.
pub fn select(all: &[Case], filters: &[String], tags: &[String]) -> Result<Vec<Case>, String> {
    for t in tags {
        if !TAGS.contains(&t.as_str()) {
            return Err(format!("unknown tag {t:?} (tags: {})", TAGS.join(", ")));
        }
    }
    let by_name = |c: &Case, f: &str| c.name.contains(f);
    let by_tag = |c: &Case, t: &str| c.tags.contains(&t);
    let chosen: Vec<Case> = all
        .iter()
        .filter(|c| filters.is_empty() || filters.iter().any(|f| by_name(c, f)))
        .filter(|c| tags.is_empty() || tags.iter().any(|t| by_tag(c, t)))
        .copied()
        .collect();
    let among = |what: &str, others: &[String]| match others {
        [] => String::new(),
        _ => format!(" among the cases with {what} {}", others.join(", ")),
    };
    if let Some(f) = filters
        .iter()
        .find(|f| !chosen.iter().any(|c| by_name(c, f)))
    {
        return Err(format!(
            "--filter {f:?} matches no case{} (see --list)",
            among("tag", tags)
        ));
    }
    if let Some(t) = tags.iter().find(|t| !chosen.iter().any(|c| by_tag(c, t))) {
        return Err(format!(
            "--tag {t:?} matches no case{}",
            among("a name containing", filters)
        ));
    }
    Ok(chosen)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pass(_: &Ctx) -> TestResult {
        Ok(())
    }

    const ALL: &[Case] = &[
        case("run_a", pass).tagged(&[CGROUP]),
        case("run_b", pass).tagged(&[CGROUPV2]),
        case("hook_c", pass),
    ];

    fn names(f: &[&str], t: &[&str]) -> Result<Vec<&'static str>, String> {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        select(ALL, &s(f), &s(t)).map(|v| v.iter().map(|c| c.name).collect())
    }

    #[test]
    fn filters_and_tags_select() {
        assert_eq!(names(&[], &[]).unwrap(), ["run_a", "run_b", "hook_c"]);
        assert_eq!(names(&["hook", "run_b"], &[]).unwrap(), ["run_b", "hook_c"]);
        assert_eq!(names(&[], &[CGROUP, CGROUPV2]).unwrap(), ["run_a", "run_b"]);
        assert_eq!(names(&["run"], &[CGROUPV2]).unwrap(), ["run_b"]);
        assert_eq!(names(&[""], &[]).unwrap().len(), 3);
    }

    #[test]
    fn a_filter_or_tag_that_selects_nothing_fails() {
        let e = names(&["run", "nosuch"], &[]).unwrap_err();
        assert!(e.contains("--filter \"nosuch\" matches no case"), "{e}");
        let e = names(&["hook"], &[CGROUP]).unwrap_err();
        assert!(e.contains("among the cases with tag cgroup"), "{e}");
        let e = names(&[], &["cgroups"]).unwrap_err();
        assert!(e.contains("unknown tag \"cgroups\""), "{e}");
        let e = names(&["run_a"], &[CGROUP, CGROUPV2]).unwrap_err();
        assert!(e.contains("--tag \"cgroupv2\" matches no case"), "{e}");
    }
}
