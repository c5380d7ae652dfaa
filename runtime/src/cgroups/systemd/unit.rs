//! The container's systemd unit, from `linux.cgroupsPath` in runc's
//! `slice:prefix:name` form: the unit's name (`<prefix>-<name>.scope`), its
//! parent slice, and where systemd puts its cgroup (the parent slice
//! expanded the systemd way: `a-b-c.slice` lives at
//! `/a.slice/a-b.slice/a-b-c.slice`).

use std::path::PathBuf;

use crate::cgroups::error::{CgroupError, Result};

/// The slice a container goes in when the path names none (runc's default
/// for a root runtime).
pub const DEFAULT_SLICE: &str = "system.slice";
/// The unit prefix when config.json has no cgroupsPath: `berth-<id>.scope`
/// (runc uses `runc-<id>.scope`).
pub const DEFAULT_PREFIX: &str = "berth";

const SLICE_SUFFIX: &str = ".slice";

/// A container's transient scope unit.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Unit {
    /// e.g. `cri-containerd-abc.scope`.
    pub name: String,
    /// The parent slice as given (the `Slice=` property), e.g.
    /// `kubepods-burstable-pod1.slice`.
    pub slice: String,
    /// The unit's cgroup relative to a hierarchy's root, e.g.
    /// `/kubepods.slice/kubepods-burstable.slice/.../cri-containerd-abc.scope`.
    pub cgroup: PathBuf,
}

impl Unit {
    /// Interprets `linux.cgroupsPath` (`None` when absent or empty) for
    /// `--systemd-cgroup`. A malformed path fails here, before anything
    /// exists, with runc's messages.
    pub fn parse(path: Option<&str>, id: &str) -> Result<Unit> {
        let (slice, prefix, name) = match path {
            None => ("", DEFAULT_PREFIX, id),
            Some(p) => {
                let parts: Vec<&str> = p.split(':').collect();
                let [slice, prefix, name] = parts[..] else {
                    return Err(CgroupError::SystemdPath(p.to_string()));
                };
                (slice, prefix, name)
            }
        };
        let slice = if slice.is_empty() {
            DEFAULT_SLICE
        } else {
            slice
        };
        if name.ends_with(SLICE_SUFFIX) {
            // runc would ask systemd for a slice holding the init, which
            // systemd refuses (a slice has no processes of its own).
            return Err(CgroupError::invalid(
                "linux.cgroupsPath",
                format!("{name:?} is a slice; a container's unit must be a scope (slice:prefix:name with a name not ending in .slice)"),
            ));
        }
        let unit = format!("{prefix}-{name}.scope");
        check_unit_name(&unit)?;
        let mut cgroup = expand_slice(slice)?;
        cgroup.push(&unit);
        Ok(Unit {
            name: unit,
            slice: slice.to_string(),
            cgroup,
        })
    }
}

/// systemd's hierarchy of a slice name: each `-` separated prefix is a
/// parent slice (`a-b.slice` → `/a.slice/a-b.slice`); `-.slice` is the root.
/// runc's message for a name that is not one.
pub fn expand_slice(slice: &str) -> Result<PathBuf> {
    let invalid = || CgroupError::SystemdSlice(slice.to_string());
    let base = slice.strip_suffix(SLICE_SUFFIX).ok_or_else(invalid)?;
    if base.is_empty() || slice.contains('/') {
        return Err(invalid());
    }
    let mut path = PathBuf::from("/");
    if base == "-" {
        return Ok(path);
    }
    let mut end = 0;
    for part in base.split('-') {
        if part.is_empty() {
            // `a--b.slice`, `-a.slice`, `a-.slice`
            return Err(invalid());
        }
        end += part.len();
        path.push(format!("{}{SLICE_SUFFIX}", &base[..end]));
        end += 1;
    }
    Ok(path)
}

/// systemd accepts unit names of at most 255 bytes of ASCII letters,
/// digits and `:-_.\@`; checked here so that a bad name fails before
/// anything is started, naming the field.
fn check_unit_name(unit: &str) -> Result<()> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || ":-_.\\@".contains(c);
    if unit.len() > 255 || !unit.chars().all(ok_char) {
        return Err(CgroupError::invalid(
            "linux.cgroupsPath",
            format!("{unit:?} is not a valid systemd unit name (ASCII letters, digits and \":-_.\\@\", at most 255 bytes)"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn slices_expand_into_their_parents() {
        let cases = [
            ("system.slice", "/system.slice"),
            ("-.slice", "/"),
            ("a-b-c.slice", "/a.slice/a-b.slice/a-b-c.slice"),
            (
                "kubepods-burstable-pod1234.slice",
                "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1234.slice",
            ),
        ];
        for (slice, want) in cases {
            assert_eq!(expand_slice(slice).unwrap(), Path::new(want), "{slice}");
        }
    }

    #[test]
    fn malformed_slices_get_runcs_message() {
        for bad in [
            "system",
            ".slice",
            "a--b.slice",
            "-a.slice",
            "a-.slice",
            "a/b.slice",
            "",
        ] {
            let e = expand_slice(bad).unwrap_err();
            assert_eq!(e.to_string(), format!("invalid slice name: {bad}"), "{bad}");
        }
    }

    #[test]
    fn scope_name_slice_and_cgroup() {
        let u = Unit::parse(
            Some("kubepods-besteffort-podx.slice:cri-containerd:abc"),
            "c1",
        )
        .unwrap();
        assert_eq!(u.name, "cri-containerd-abc.scope");
        assert_eq!(u.slice, "kubepods-besteffort-podx.slice");
        assert_eq!(
            u.cgroup,
            Path::new("/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-podx.slice/cri-containerd-abc.scope")
        );
    }

    #[test]
    fn defaults_follow_runc_with_berths_prefix() {
        let u = Unit::parse(None, "c1").unwrap();
        assert_eq!(u.name, "berth-c1.scope");
        assert_eq!(u.slice, "system.slice");
        assert_eq!(u.cgroup, Path::new("/system.slice/berth-c1.scope"));
        // An empty slice is the default one, as runc.
        let u = Unit::parse(Some(":docker:x"), "c1").unwrap();
        assert_eq!(u.cgroup, Path::new("/system.slice/docker-x.scope"));
        let root = Unit::parse(Some("-.slice:p:n"), "c1").unwrap();
        assert_eq!(root.cgroup, Path::new("/p-n.scope"));
    }

    #[test]
    fn malformed_paths_fail_with_runcs_or_a_named_message() {
        let e = Unit::parse(Some("a:b"), "c1").unwrap_err();
        assert_eq!(
            e.to_string(),
            "expected cgroupsPath to be of format \"slice:prefix:name\" for systemd cgroups, got \"a:b\" instead"
        );
        assert!(Unit::parse(Some("a:b:c:d"), "c1").is_err());
        let e = Unit::parse(Some("bad:p:n"), "c1").unwrap_err();
        assert_eq!(e.to_string(), "invalid slice name: bad");
        let e = Unit::parse(Some("system.slice:p:n/../x"), "c1").unwrap_err();
        assert!(
            e.to_string().starts_with(
                "linux.cgroupsPath: \"p-n/../x.scope\" is not a valid systemd unit name"
            ),
            "{e}"
        );
        let e = Unit::parse(Some("system.slice:p:sub.slice"), "c1").unwrap_err();
        assert!(e.to_string().contains("must be a scope"), "{e}");
        let long = "x".repeat(250);
        assert!(Unit::parse(Some(&format!("system.slice:p:{long}")), "c1").is_err());
    }
}
