//! The device allow-list (`linux.resources.devices`).
//!
//! Rules are applied in order to an emulation of the kernel's v1 device
//! cgroup, starting from deny-all (runc's semantics): a type-`a` rule resets
//! the default (allow or deny) and clears the exceptions; any other rule
//! either adds an exception to the default or, when it agrees with the
//! default, takes its access bits away from the exception with the same
//! type, major and minor. The result — a default plus exceptions — is what
//! we write to devices.allow/devices.deny on v1 and compile into an eBPF
//! program on v2 (see `ebpf`), so both behave the same.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use oci_spec::runtime::{LinuxDevice, LinuxDeviceCgroup, LinuxDeviceType};

use super::error::{CgroupError, Result};
use super::fs;

/// Access bits, with the values `BPF_DEVCG_ACC_*` uses.
pub const ACC_MKNOD: u8 = 1;
pub const ACC_READ: u8 = 2;
pub const ACC_WRITE: u8 = 4;
pub const ACC_ALL: u8 = 7;

const FIELD: &str = "linux.resources.devices";

/// A device type in a rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DevType {
    All,
    Char,
    Block,
}

impl DevType {
    fn as_char(self) -> char {
        match self {
            DevType::All => 'a',
            DevType::Char => 'c',
            DevType::Block => 'b',
        }
    }
}

/// One rule; `None` major/minor is the wildcard `*`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rule {
    pub allow: bool,
    pub typ: DevType,
    pub major: Option<u32>,
    pub minor: Option<u32>,
    pub access: u8,
}

impl Rule {
    pub const fn new(
        allow: bool,
        typ: DevType,
        major: Option<u32>,
        minor: Option<u32>,
        access: u8,
    ) -> Rule {
        Rule {
            allow,
            typ,
            major,
            minor,
            access,
        }
    }

    /// The kernel's v1 syntax: `c 1:3 rwm`.
    pub fn cgroup_string(&self) -> String {
        let num = |n: Option<u32>| n.map_or_else(|| "*".to_string(), |v| v.to_string());
        format!(
            "{} {}:{} {}",
            self.typ.as_char(),
            num(self.major),
            num(self.minor),
            access_string(self.access)
        )
    }

    fn same_device(&self, o: &Rule) -> bool {
        self.typ == o.typ && self.major == o.major && self.minor == o.minor
    }
}

pub fn access_string(a: u8) -> String {
    let mut s = String::new();
    for (bit, c) in [(ACC_READ, 'r'), (ACC_WRITE, 'w'), (ACC_MKNOD, 'm')] {
        if a & bit != 0 {
            s.push(c);
        }
    }
    s
}

fn parse_access(s: &str) -> Option<u8> {
    let mut a = 0;
    for c in s.chars() {
        a |= match c {
            'r' => ACC_READ,
            'w' => ACC_WRITE,
            'm' => ACC_MKNOD,
            _ => return None,
        };
    }
    (a != 0).then_some(a)
}

/// runc's reading of a config's access string: `r`, `w` and `m` in any
/// order, repeated or not; any other character is dropped (runc turns the
/// string into a set of those three and ignores the rest). Returns the bits
/// and whether something was dropped.
fn spec_access(s: &str) -> (u8, bool) {
    let mut a = 0;
    let mut dropped = false;
    for c in s.chars() {
        match c {
            'r' => a |= ACC_READ,
            'w' => a |= ACC_WRITE,
            'm' => a |= ACC_MKNOD,
            _ => dropped = true,
        }
    }
    (a, dropped)
}

fn parse_num(v: Option<i64>, i: usize, what: &str) -> Result<Option<u32>> {
    match v {
        None => Ok(None),
        Some(n) if n < 0 => Ok(None),
        Some(n) => u32::try_from(n).map(Some).map_err(|_| {
            CgroupError::invalid(
                format!("{FIELD}[{i}].{what}"),
                format!("{n} is out of range"),
            )
        }),
    }
}

/// Converts the spec's rules, validating them as runc does.
pub fn from_spec(rules: &[LinuxDeviceCgroup]) -> Result<Vec<Rule>> {
    let mut out = Vec::with_capacity(rules.len());
    for (i, d) in rules.iter().enumerate() {
        let typ = match d.typ() {
            None | Some(LinuxDeviceType::A) => DevType::All,
            Some(LinuxDeviceType::C) | Some(LinuxDeviceType::U) => DevType::Char,
            Some(LinuxDeviceType::B) => DevType::Block,
            Some(LinuxDeviceType::P) => {
                return Err(CgroupError::invalid(
                    format!("{FIELD}[{i}].type"),
                    "invalid cgroup device type \"p\"",
                ))
            }
        };
        let acc = d.access().as_deref().unwrap_or("");
        if acc.is_empty() {
            return Err(CgroupError::invalid(
                format!("{FIELD}[{i}].access"),
                format!("device access at {i} field cannot be empty"),
            ));
        }
        let (access, dropped) = spec_access(acc);
        if dropped {
            tracing::warn!(
                "{FIELD}[{i}].access: {acc:?}: characters other than r, w and m ignored (as runc)"
            );
        }
        out.push(Rule {
            allow: d.allow(),
            typ,
            major: parse_num(d.major(), i, "major")?,
            minor: parse_num(d.minor(), i, "minor")?,
            access,
        });
    }
    Ok(out)
}

/// The rules runc appends to every container's list (its `AllowedDevices`):
/// mknod of any device, the standard character devices, /dev/pts/*, ptmx and
/// tun. A default device that `linux.devices` redefines by path is left out,
/// as runc does. `with_defaults` merges them into the config's rules.
pub fn runc_default_rules(linux_devices: &[LinuxDevice]) -> Vec<Rule> {
    use DevType::{Block, Char};
    const DEFAULTS: &[(Option<&str>, Rule)] = &[
        (None, Rule::new(true, Char, None, None, ACC_MKNOD)),
        (None, Rule::new(true, Block, None, None, ACC_MKNOD)),
        (
            Some("/dev/null"),
            Rule::new(true, Char, Some(1), Some(3), ACC_ALL),
        ),
        (
            Some("/dev/random"),
            Rule::new(true, Char, Some(1), Some(8), ACC_ALL),
        ),
        (
            Some("/dev/full"),
            Rule::new(true, Char, Some(1), Some(7), ACC_ALL),
        ),
        (
            Some("/dev/tty"),
            Rule::new(true, Char, Some(5), Some(0), ACC_ALL),
        ),
        (
            Some("/dev/zero"),
            Rule::new(true, Char, Some(1), Some(5), ACC_ALL),
        ),
        (
            Some("/dev/urandom"),
            Rule::new(true, Char, Some(1), Some(9), ACC_ALL),
        ),
        (None, Rule::new(true, Char, Some(136), None, ACC_ALL)),
        (None, Rule::new(true, Char, Some(5), Some(2), ACC_ALL)),
        (None, Rule::new(true, Char, Some(10), Some(200), ACC_ALL)),
    ];
    DEFAULTS
        .iter()
        .filter(|(path, _)| {
            path.is_none_or(|p| !linux_devices.iter().any(|d| d.path() == Path::new(p)))
        })
        .map(|(_, r)| *r)
        .collect()
}

/// The config's rules with the runtime's default devices merged in.
///
/// runc appends its defaults after the config's rules, so a config that
/// denies one of them (say /dev/null) has that rule silently overridden.
/// berth puts them right after the config's last type-`a` rule instead (the
/// point where the config resets the list), or first when there is none: a
/// config that starts with deny-all and allows a list (what Docker,
/// containerd and podman send) gets the same result as with runc, and an
/// explicit rule about a default device is honoured.
pub fn with_defaults(spec: &[Rule], defaults: &[Rule]) -> Vec<Rule> {
    let at = spec
        .iter()
        .rposition(|r| r.typ == DevType::All)
        .map_or(0, |i| i + 1);
    let mut out = Vec::with_capacity(spec.len() + defaults.len());
    out.extend_from_slice(&spec[..at]);
    out.extend_from_slice(defaults);
    out.extend_from_slice(&spec[at..]);
    out
}

/// The effect of a rule list: a default and exceptions to it (each
/// exception's `allow` is the opposite of the default).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceState {
    pub default_allow: bool,
    pub exceptions: Vec<Rule>,
}

impl DeviceState {
    /// Deny-all, as a container's list starts.
    pub fn deny_all() -> DeviceState {
        DeviceState {
            default_allow: false,
            exceptions: Vec::new(),
        }
    }

    /// Applies `rules` in order, from deny-all.
    pub fn from_rules(rules: &[Rule]) -> DeviceState {
        let mut s = DeviceState::deny_all();
        for r in rules {
            s.apply(r);
        }
        s
    }

    /// One rule, with the kernel's v1 semantics.
    pub fn apply(&mut self, r: &Rule) {
        if r.typ == DevType::All {
            if r.major.is_some() || r.minor.is_some() || r.access != ACC_ALL {
                tracing::debug!(rule = %r.cgroup_string(), "type-a device rule applies to all devices");
            }
            self.default_allow = r.allow;
            self.exceptions.clear();
            return;
        }
        if r.access == 0 {
            // An access string of only unknown characters (runc: a no-op).
            return;
        }
        if r.allow == self.default_allow {
            for e in self.exceptions.iter_mut().filter(|e| e.same_device(r)) {
                e.access &= !r.access;
            }
            self.exceptions.retain(|e| e.access != 0);
        } else if let Some(e) = self.exceptions.iter_mut().find(|e| e.same_device(r)) {
            e.access |= r.access;
        } else {
            self.exceptions.push(Rule {
                allow: r.allow,
                ..*r
            });
        }
    }

    /// Parses a v1 devices.list (in allow-all mode the kernel lists only
    /// `a *:* rwm`, hiding the deny exceptions: `None` then).
    pub fn from_v1_list(text: &str) -> Option<DeviceState> {
        let mut s = DeviceState::deny_all();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let mut f = line.split_whitespace();
            let (t, nums, acc) = (f.next()?, f.next()?, f.next()?);
            let (ma, mi) = nums.split_once(':')?;
            let num = |s: &str| {
                if s == "*" {
                    Some(None)
                } else {
                    s.parse().ok().map(Some)
                }
            };
            let typ = match t {
                "a" => return None,
                "c" => DevType::Char,
                "b" => DevType::Block,
                _ => return None,
            };
            s.exceptions
                .push(Rule::new(true, typ, num(ma)?, num(mi)?, parse_access(acc)?));
        }
        Some(s)
    }
}

/// `rules` in runc's write order: by major, minor, then type, a wildcard
/// before any number. Exceptions never overlap in type, major and minor, so
/// the order changes nothing the kernel enforces; but v1 lists exceptions in
/// the order they were added, and this way `devices.list` reads as runc's.
fn runc_order(rules: &[Rule]) -> Vec<Rule> {
    let key = |r: &Rule| {
        let n = |v: Option<u32>| v.map_or(-1, i64::from);
        (n(r.major), n(r.minor), r.typ.as_char())
    };
    let mut v = rules.to_vec();
    v.sort_by_key(key);
    v
}

/// devices.allow and devices.deny of one v1 cgroup, each opened on its
/// first rule and kept open for the rest (the kernel takes one rule per
/// write(2)): a container's dozen rules cost a write each, not an open, a
/// write and a close.
struct RuleFiles<'a> {
    dir: &'a Path,
    allow: Option<File>,
    deny: Option<File>,
}

impl<'a> RuleFiles<'a> {
    fn new(dir: &'a Path) -> RuleFiles<'a> {
        RuleFiles {
            dir,
            allow: None,
            deny: None,
        }
    }

    /// Writes `rule` to devices.allow when `allow`, else to devices.deny.
    fn write(&mut self, allow: bool, rule: &str) -> Result<()> {
        let (name, slot) = match allow {
            true => ("devices.allow", &mut self.allow),
            false => ("devices.deny", &mut self.deny),
        };
        let wrote = match slot {
            Some(f) => f.write_all(rule.as_bytes()),
            None => OpenOptions::new()
                .write(true)
                .custom_flags(libc::O_CLOEXEC)
                .open(self.dir.join(name))
                .and_then(|f| slot.insert(f).write_all(rule.as_bytes())),
        };
        wrote.map_err(|source| fs::write_error(FIELD, self.dir, name, rule, source))
    }
}

/// Writes `target` to the v1 devices cgroup `dir`. A `fresh` cgroup (no
/// process yet) is reset and rebuilt; a live one (update) is moved by the
/// smallest set of writes when both states are deny-by-default, so running
/// processes never see a transient deny-all.
pub fn apply_v1(dir: &Path, target: &DeviceState, fresh: bool) -> Result<()> {
    let current = if fresh {
        None
    } else {
        DeviceState::from_v1_list(&fs::read_ctx(dir, "devices.list")?)
    };
    let mut files = RuleFiles::new(dir);
    match current {
        Some(cur) if !target.default_allow => {
            // Both deny-by-default: take away what is extra, add what is missing.
            for c in &runc_order(&cur.exceptions) {
                let keep = target
                    .exceptions
                    .iter()
                    .find(|t| t.same_device(c))
                    .map_or(0, |t| t.access);
                let drop = c.access & !keep;
                if drop != 0 {
                    let r = Rule { access: drop, ..*c };
                    files.write(false, &r.cgroup_string())?;
                }
            }
            for t in &runc_order(&target.exceptions) {
                let have = cur
                    .exceptions
                    .iter()
                    .find(|c| c.same_device(t))
                    .map_or(0, |c| c.access);
                let add = t.access & !have;
                if add != 0 {
                    let r = Rule { access: add, ..*t };
                    files.write(true, &r.cgroup_string())?;
                }
            }
        }
        _ => {
            files.write(target.default_allow, "a")?;
            for e in &runc_order(&target.exceptions) {
                files.write(e.allow, &e.cgroup_string())?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use DevType::{All, Block, Char};

    fn r(allow: bool, typ: DevType, major: Option<u32>, minor: Option<u32>, acc: &str) -> Rule {
        Rule::new(allow, typ, major, minor, parse_access(acc).unwrap())
    }

    #[test]
    fn emulates_v1_semantics() {
        let rules = [
            r(false, All, None, None, "rwm"),
            r(true, Char, None, None, "m"),
            r(true, Char, Some(1), Some(5), "rwm"),
            r(true, Char, Some(1), Some(3), "rw"),
            r(true, Char, Some(1), Some(3), "m"),
            r(false, Char, Some(1), Some(3), "rwm"),
            r(true, Block, Some(8), Some(0), "r"),
            r(false, Block, Some(8), Some(0), "w"),
        ];
        let s = DeviceState::from_rules(&rules);
        assert!(!s.default_allow);
        let got: Vec<String> = s.exceptions.iter().map(Rule::cgroup_string).collect();
        assert_eq!(got, ["c *:* m", "c 1:5 rwm", "b 8:0 r"]);
        // A type-a allow resets to allow-all; denies become exceptions.
        let s = DeviceState::from_rules(&[
            r(true, All, None, None, "rwm"),
            r(false, Char, Some(1), Some(3), "rwm"),
        ]);
        assert!(s.default_allow);
        assert_eq!(s.exceptions, vec![r(false, Char, Some(1), Some(3), "rwm")]);
        // No rules at all: deny everything.
        assert_eq!(DeviceState::from_rules(&[]), DeviceState::deny_all());
    }

    #[test]
    fn access_strings_as_runc_reads_them() {
        let spec: Vec<LinuxDeviceCgroup> = serde_json::from_str(
            r#"[{"allow":false,"access":"rwm"},
                {"allow":true,"type":"c","major":1,"minor":3,"access":"mrw"},
                {"allow":true,"type":"c","major":1,"minor":5,"access":"rrw"},
                {"allow":true,"type":"c","major":1,"minor":7,"access":"rwx"},
                {"allow":true,"type":"c","major":1,"minor":9,"access":"x"}]"#,
        )
        .unwrap();
        let rules = from_spec(&spec).unwrap();
        let acc: Vec<String> = rules.iter().map(|r| access_string(r.access)).collect();
        assert_eq!(acc, ["rwm", "rwm", "rw", "rw", ""]);
        // A rule granting nothing is a no-op.
        let s = DeviceState::from_rules(&rules);
        let got: Vec<String> = s.exceptions.iter().map(Rule::cgroup_string).collect();
        assert_eq!(got, ["c 1:3 rwm", "c 1:5 rw", "c 1:7 rw"]);
    }

    #[test]
    fn writes_in_runcs_order() {
        let rules = [
            r(true, Char, Some(10), Some(200), "rwm"),
            r(true, Char, Some(1), Some(3), "rwm"),
            r(true, Block, None, None, "m"),
            r(true, Char, None, None, "m"),
            r(true, Char, Some(136), None, "rwm"),
            r(true, Block, Some(1), Some(3), "r"),
        ];
        let got: Vec<String> = runc_order(&rules).iter().map(Rule::cgroup_string).collect();
        assert_eq!(
            got,
            [
                "b *:* m",
                "c *:* m",
                "b 1:3 r",
                "c 1:3 rwm",
                "c 10:200 rwm",
                "c 136:* rwm"
            ]
        );
    }

    #[test]
    fn parses_devices_list() {
        assert_eq!(DeviceState::from_v1_list("a *:* rwm\n"), None);
        let s = DeviceState::from_v1_list("c *:* m\nc 1:5 rwm\nb 8:* r\n").unwrap();
        assert!(!s.default_allow);
        let got: Vec<String> = s.exceptions.iter().map(Rule::cgroup_string).collect();
        assert_eq!(got, ["c *:* m", "c 1:5 rwm", "b 8:* r"]);
        assert_eq!(
            DeviceState::from_v1_list("").unwrap(),
            DeviceState::deny_all()
        );
    }

    #[test]
    fn converts_spec_rules() {
        let spec: Vec<LinuxDeviceCgroup> = serde_json::from_str(
            r#"[{"allow":false,"access":"rwm"},
                {"allow":true,"type":"c","major":1,"minor":3,"access":"rw"},
                {"allow":true,"type":"b","major":8,"minor":-1,"access":"m"}]"#,
        )
        .unwrap();
        let rules = from_spec(&spec).unwrap();
        assert_eq!(rules[0], r(false, All, None, None, "rwm"));
        assert_eq!(rules[1], r(true, Char, Some(1), Some(3), "rw"));
        assert_eq!(rules[2], r(true, Block, Some(8), None, "m"));
        let empty: Vec<LinuxDeviceCgroup> =
            serde_json::from_str(r#"[{"allow":true,"type":"c"}]"#).unwrap();
        let e = from_spec(&empty).unwrap_err().to_string();
        assert!(e.contains("cannot be empty"), "{e}");
        // As runc: characters other than r, w, m are dropped, not refused.
        let odd: Vec<LinuxDeviceCgroup> =
            serde_json::from_str(r#"[{"allow":true,"access":"rx"}]"#).unwrap();
        assert_eq!(from_spec(&odd).unwrap()[0].access, ACC_READ);
    }

    #[test]
    fn defaults_go_after_the_last_reset() {
        use DevType::{All, Char};
        let null = r(true, Char, Some(1), Some(3), "rwm");
        let deny_all = r(false, All, None, None, "rwm");
        let deny_null = r(false, Char, Some(1), Some(3), "rwm");
        let fuse = r(true, Char, Some(10), Some(229), "rwm");
        // A deny of a default device after the reset wins over the default.
        let rules = with_defaults(&[deny_all, deny_null], &[null]);
        assert_eq!(rules, vec![deny_all, null, deny_null]);
        assert!(DeviceState::from_rules(&rules).exceptions.is_empty());
        // Deny-all then allows (Docker's shape): same effect as appending.
        let ours = DeviceState::from_rules(&with_defaults(&[deny_all, fuse], &[null]));
        let runcs = DeviceState::from_rules(&[deny_all, fuse, null]);
        assert_eq!(ours.default_allow, runcs.default_allow);
        assert_eq!(ours.exceptions.len(), 2);
        assert!(ours.exceptions.iter().all(|e| runcs.exceptions.contains(e)));
        // No reset in the config: defaults first.
        assert_eq!(with_defaults(&[fuse], &[null]), vec![null, fuse]);
    }

    #[test]
    fn runc_defaults_skip_redefined_paths() {
        let all = runc_default_rules(&[]);
        assert_eq!(all.len(), 11);
        assert!(all.contains(&r(true, Char, Some(1), Some(3), "rwm")));
        let devs: Vec<LinuxDevice> =
            serde_json::from_str(r#"[{"path":"/dev/null","type":"c","major":1,"minor":3}]"#)
                .unwrap();
        let some = runc_default_rules(&devs);
        assert_eq!(some.len(), 10);
        assert!(!some.contains(&r(true, Char, Some(1), Some(3), "rwm")));
    }
}
