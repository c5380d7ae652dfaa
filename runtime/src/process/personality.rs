//! `linux.personality`: the execution domain of the container's processes,
//! set with `personality(2)` in the init and in every exec'd process.
//! Current runc (1.2+) implements the domain and warns that it ignores
//! `flags` (the runtime-spec defines no flag values yet); berth does the
//! same. runc 1.1 ignores the whole field.

use oci_spec::runtime::{LinuxPersonality, LinuxPersonalityDomain as Domain};

use crate::error::{Error, Result};

/// `PER_LINUX` and `PER_LINUX32` of `<linux/personality.h>`.
fn persona(d: Domain) -> u32 {
    match d {
        Domain::PerLinux => 0x0000,
        Domain::PerLinux32 => 0x0008,
    }
}

/// Warns about flags, which nothing defines yet (runc: a warning too).
pub fn validate(p: &LinuxPersonality) -> Result<()> {
    if let Some(f) = p.flags().as_ref().filter(|f| !f.is_empty()) {
        tracing::warn!("linux.personality.flags {f:?} ignored: no personality flag is supported");
    }
    Ok(())
}

/// Sets the calling process's execution domain, if the config has one.
pub fn apply(p: Option<&LinuxPersonality>) -> Result<()> {
    let Some(p) = p else { return Ok(()) };
    crate::sys::sched::personality(persona(p.domain()))
        .map(drop)
        .map_err(|e| {
            Error::msg(format!(
                "linux.personality: set personality {}: {e}",
                p.domain()
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains() {
        let p: LinuxPersonality = serde_json::from_str(r#"{"domain":"LINUX32"}"#).unwrap();
        assert_eq!(persona(p.domain()), 8);
        assert_eq!(p.domain().to_string(), "LINUX32");
        assert!(serde_json::from_str::<LinuxPersonality>(r#"{"domain":"LINUX64"}"#).is_err());
    }
}
