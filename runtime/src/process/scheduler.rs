//! `process.scheduler`: the process's CPU scheduling policy and parameters,
//! set with `sched_setattr(2)` on the process itself. Current runc (1.2+)
//! implements it; runc 1.1 ignores the field. Validation follows current
//! runc's rules, plus the kernel's ranges checked up front (runc leaves
//! those to the syscall), so a bad value fails `create` before any process
//! exists.

use oci_spec::runtime::{LinuxSchedulerFlag as Flag, LinuxSchedulerPolicy as Policy, Scheduler};

use crate::error::{Error, Result};
use crate::sys::sched::{self, SchedAttr};

/// The spec's flag names that oci-spec spells differently (its serde
/// derivation splits "DL" and drops "FLAG" from reset-on-fork).
const RENAMED_FLAGS: [(&str, &str); 2] = [
    ("SCHED_FLAG_RESET_ON_FORK", "SCHED_RESET_ON_FORK"),
    ("SCHED_FLAG_DL_OVERRUN", "SCHED_FLAG_D_L_OVERRUN"),
];

/// Rewrites the runtime-spec's flag names under `scheduler.flags` of a
/// process object into the names oci-spec parses; true if any changed.
pub fn rename_spec_flags(process: &mut serde_json::Value) -> bool {
    let Some(flags) = process
        .pointer_mut("/scheduler/flags")
        .and_then(|f| f.as_array_mut())
    else {
        return false;
    };
    let mut changed = false;
    for f in flags {
        if let Some((_, ours)) = RENAMED_FLAGS.iter().find(|(s, _)| f == *s) {
            *f = serde_json::Value::from(*ours);
            changed = true;
        }
    }
    changed
}

/// `msg` with oci-spec's spelling of the renamed flags put back to the
/// runtime-spec's (for parse errors that list the expected names).
pub fn spec_flag_spelling(msg: &str) -> String {
    RENAMED_FLAGS
        .iter()
        .fold(msg.to_string(), |m, (spec, ours)| m.replace(ours, spec))
}

fn policy_name(p: Policy) -> &'static str {
    match p {
        Policy::SchedOther => "SCHED_OTHER",
        Policy::SchedFifo => "SCHED_FIFO",
        Policy::SchedRr => "SCHED_RR",
        Policy::SchedBatch => "SCHED_BATCH",
        Policy::SchedIso => "SCHED_ISO",
        Policy::SchedIdle => "SCHED_IDLE",
        Policy::SchedDeadline => "SCHED_DEADLINE",
    }
}

/// The checks that need no system access; `field` is where the scheduler
/// sits (`process.scheduler`).
pub fn validate(s: &Scheduler, field: &str) -> Result<()> {
    let p = *s.policy();
    let name = policy_name(p);
    let bad = |what: String| Err(Error::config(format!("{field}: {what}")));
    if p == Policy::SchedIso {
        return bad("policy SCHED_ISO is not implemented by Linux".into());
    }
    let nice = s.nice().unwrap_or(0);
    if matches!(p, Policy::SchedOther | Policy::SchedBatch) && !(-20..=19).contains(&nice) {
        return bad(format!(
            "invalid scheduler.nice: {nice} when scheduler.policy is {name}"
        ));
    }
    let prio = s.priority().unwrap_or(0);
    let realtime = matches!(p, Policy::SchedFifo | Policy::SchedRr);
    if prio != 0 && !realtime {
        return bad(
            "scheduler.priority can only be specified for SchedFIFO or SchedRR policy".into(),
        );
    }
    if realtime && !(1..=99).contains(&prio) {
        return bad(format!(
            "invalid scheduler.priority: {prio} (must be 1-99 for {name})"
        ));
    }
    let dl = [s.runtime(), s.deadline(), s.period()];
    if p != Policy::SchedDeadline && dl.iter().any(|v| v.is_some_and(|v| v != 0)) {
        return bad(
            "scheduler runtime/deadline/period can only be specified for SchedDeadline policy"
                .into(),
        );
    }
    Ok(())
}

/// The `sched_attr` for `s`.
pub fn attr(s: &Scheduler) -> SchedAttr {
    let policy = match s.policy() {
        Policy::SchedOther => 0,
        Policy::SchedFifo => 1,
        Policy::SchedRr => 2,
        Policy::SchedBatch => 3,
        Policy::SchedIso => 4,
        Policy::SchedIdle => 5,
        Policy::SchedDeadline => 6,
    };
    let flags = s.flags().iter().flatten().fold(0u64, |acc, f| {
        acc | match f {
            Flag::SchedResetOnFork => 0x01,
            Flag::SchedFlagReclaim => 0x02,
            Flag::SchedFlagDLOverrun => 0x04,
            Flag::SchedFlagKeepPolicy => 0x08,
            Flag::SchedFlagKeepParams => 0x10,
            Flag::SchedFlagUtilClampMin => 0x20,
            Flag::SchedFlagUtilClampMax => 0x40,
        }
    });
    SchedAttr {
        policy,
        flags,
        nice: s.nice().unwrap_or(0),
        // validate() keeps it in 0..=99.
        priority: s.priority().unwrap_or(0).max(0) as u32,
        runtime: s.runtime().unwrap_or(0),
        deadline: s.deadline().unwrap_or(0),
        period: s.period().unwrap_or(0),
        ..SchedAttr::default()
    }
}

/// Sets the calling process's scheduler, if the config has one. Runs while
/// the process still has CAP_SYS_NICE (before the capability drop), as
/// realtime policies and negative nice values need it.
pub fn apply(s: Option<&Scheduler>) -> Result<()> {
    let Some(s) = s else { return Ok(()) };
    sched::sched_setattr(&attr(s)).map_err(|e| Error::msg(failure_text(*s.policy(), &e)))
}

/// Why the kernel refuses a realtime policy to a privileged process: where
/// it schedules realtime tasks per cpu cgroup (CONFIG_RT_GROUP_SCHED, the
/// cgroup v1 `cpu.rt_runtime_us`), a new cgroup has no realtime runtime.
const RT_GROUP_HINT: &str = "; a realtime policy needs realtime runtime in the \
    container's cpu cgroup where the kernel schedules realtime tasks per group \
    (CONFIG_RT_GROUP_SCHED): set linux.resources.cpu.realtimeRuntime";

/// The error for a failed sched_setattr of `policy`; an EPERM for SCHED_FIFO
/// or SCHED_RR says what usually causes it (runc says only "error setting
/// scheduler: operation not permitted").
fn failure_text(policy: Policy, e: &std::io::Error) -> String {
    let hint = match policy {
        Policy::SchedFifo | Policy::SchedRr if e.raw_os_error() == Some(libc::EPERM) => {
            RT_GROUP_HINT
        }
        _ => "",
    };
    format!(
        "process.scheduler: error setting scheduler ({}): sched_setattr: {e}{hint}",
        policy_name(policy)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::SchedulerBuilder;

    fn sched(json: &str) -> Scheduler {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn runc_rules() {
        let ok = [
            r#"{"policy":"SCHED_OTHER","nice":-20}"#,
            r#"{"policy":"SCHED_BATCH","nice":19}"#,
            r#"{"policy":"SCHED_FIFO","priority":1}"#,
            r#"{"policy":"SCHED_RR","priority":99}"#,
            r#"{"policy":"SCHED_IDLE"}"#,
            r#"{"policy":"SCHED_DEADLINE","runtime":1000000,"deadline":2000000,"period":3000000}"#,
        ];
        for j in ok {
            validate(&sched(j), "process.scheduler").unwrap();
        }
        let bad = [
            (
                r#"{"policy":"SCHED_OTHER","nice":20}"#,
                "scheduler.nice: 20",
            ),
            (
                r#"{"policy":"SCHED_OTHER","priority":3}"#,
                "priority can only",
            ),
            (r#"{"policy":"SCHED_FIFO"}"#, "priority: 0"),
            (r#"{"policy":"SCHED_RR","priority":100}"#, "priority: 100"),
            (
                r#"{"policy":"SCHED_BATCH","runtime":5}"#,
                "runtime/deadline/period",
            ),
            (r#"{"policy":"SCHED_ISO"}"#, "SCHED_ISO"),
        ];
        for (j, want) in bad {
            let e = validate(&sched(j), "process.scheduler")
                .unwrap_err()
                .to_string();
            assert!(
                e.starts_with("process.scheduler: ") && e.contains(want),
                "{j}: {e}"
            );
        }
    }

    #[test]
    fn config_parse_names_the_field() {
        let cfg = |s: &str| {
            format!(
                r#"{{"ociVersion":"1.2.0","process":{{"cwd":"/","args":["a"],"user":{{"uid":0,"gid":0}},"scheduler":{s}}}}}"#
            )
        };
        let spec = crate::spec::parse(
            cfg(r#"{"policy":"SCHED_RR","priority":3,"flags":["SCHED_FLAG_DL_OVERRUN"]}"#)
                .as_bytes(),
        )
        .unwrap();
        let s = spec
            .process()
            .as_ref()
            .unwrap()
            .scheduler()
            .clone()
            .unwrap();
        assert_eq!(attr(&s).flags, 0x04);
        for bad in [
            r#"{"policy":"SCHED_FOO"}"#,
            r#"{"policy":"SCHED_RR","flags":["X"]}"#,
        ] {
            let e = crate::spec::parse(cfg(bad).as_bytes())
                .unwrap_err()
                .to_string();
            assert!(e.contains("process.scheduler: unknown variant"), "{e}");
        }
        let e = crate::spec::parse(cfg(r#"{"policy":"SCHED_RR","flags":["X"]}"#).as_bytes())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("`SCHED_FLAG_RESET_ON_FORK`") && e.contains("`SCHED_FLAG_DL_OVERRUN`"),
            "{e}"
        );
    }

    #[test]
    fn realtime_eperm_names_realtime_runtime() {
        let eperm = std::io::Error::from_raw_os_error(libc::EPERM);
        for p in [Policy::SchedFifo, Policy::SchedRr] {
            let t = failure_text(p, &eperm);
            assert!(
                t.starts_with("process.scheduler: error setting scheduler (SCHED_")
                    && t.contains("linux.resources.cpu.realtimeRuntime"),
                "{t}"
            );
        }
        let t = failure_text(Policy::SchedBatch, &eperm);
        assert!(!t.contains("realtimeRuntime"), "{t}");
        let einval = std::io::Error::from_raw_os_error(libc::EINVAL);
        assert!(!failure_text(Policy::SchedFifo, &einval).contains("realtimeRuntime"));
    }

    #[test]
    fn attr_values_and_flags() {
        let mut v = serde_json::json!({"scheduler": {"policy": "SCHED_DEADLINE",
            "flags": ["SCHED_FLAG_RESET_ON_FORK", "SCHED_FLAG_DL_OVERRUN", "SCHED_FLAG_RECLAIM"],
            "runtime": 10, "deadline": 20, "period": 30}});
        assert!(rename_spec_flags(&mut v));
        let s: Scheduler = serde_json::from_value(v["scheduler"].take()).unwrap();
        let a = attr(&s);
        assert_eq!((a.policy, a.flags), (6, 0x07));
        assert_eq!((a.runtime, a.deadline, a.period), (10, 20, 30));
        let s = SchedulerBuilder::default()
            .policy(Policy::SchedBatch)
            .nice(7)
            .build()
            .unwrap();
        assert_eq!((attr(&s).policy, attr(&s).nice), (3, 7));
    }
}
