//! `process.ioPriority`: the process's I/O scheduling class and level, set
//! with `ioprio_set(2)`. Current runc (1.2+) implements it (runc 1.1
//! ignores the field). runc sets it for its process group
//! (`IOPRIO_WHO_PGRP`); berth sets it for the process itself
//! (`IOPRIO_WHO_PROCESS`): the init may share the caller's process group,
//! whose other members are not the container's, and the payload inherits
//! the priority through execve and fork either way.

use oci_spec::runtime::{IOPriorityClass as Class, LinuxIOPriority};

use crate::error::{Error, Result};

fn class_name(c: Class) -> &'static str {
    match c {
        Class::IoprioClassRt => "IOPRIO_CLASS_RT",
        Class::IoprioClassBe => "IOPRIO_CLASS_BE",
        Class::IoprioClassIdle => "IOPRIO_CLASS_IDLE",
    }
}

/// runc's rule: the level is 0 (highest) to 7 (lowest).
pub fn validate(p: &LinuxIOPriority, field: &str) -> Result<()> {
    let level = p.priority();
    if !(0..=7).contains(&level) {
        return Err(Error::config(format!(
            "{field}: invalid ioPriority.Priority: {level} (must be 0-7)"
        )));
    }
    Ok(())
}

/// The `ioprio` value: class in the top 3 of 16 bits, level below.
pub fn value(p: &LinuxIOPriority) -> u16 {
    let class: u16 = match p.class() {
        Class::IoprioClassRt => 1,
        Class::IoprioClassBe => 2,
        Class::IoprioClassIdle => 3,
    };
    // validate() keeps the level in 0..=7.
    class << 13 | (p.priority().clamp(0, 7) as u16)
}

/// Sets the calling process's I/O priority, if the config has one; before
/// the capability drop (the realtime class needs CAP_SYS_ADMIN or
/// CAP_SYS_NICE).
pub fn apply(p: Option<&LinuxIOPriority>) -> Result<()> {
    let Some(p) = p else { return Ok(()) };
    crate::sys::sched::ioprio_set(value(p)).map_err(|e| {
        Error::msg(format!(
            "process.ioPriority: failed to set io priority ({} {}): ioprio_set: {e}",
            class_name(p.class()),
            p.priority()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prio(json: &str) -> LinuxIOPriority {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn values_and_range() {
        let p = prio(r#"{"class":"IOPRIO_CLASS_RT","priority":3}"#);
        assert_eq!(value(&p), 1 << 13 | 3);
        assert_eq!(
            value(&prio(r#"{"class":"IOPRIO_CLASS_IDLE","priority":0}"#)),
            3 << 13
        );
        validate(&p, "process.ioPriority").unwrap();
        let e = validate(
            &prio(r#"{"class":"IOPRIO_CLASS_BE","priority":8}"#),
            "process.ioPriority",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with("process.ioPriority: invalid ioPriority.Priority: 8"),
            "{e}"
        );
        assert!(serde_json::from_str::<LinuxIOPriority>(r#"{"class":"IOPRIO_CLASS_XX"}"#).is_err());
    }
}
