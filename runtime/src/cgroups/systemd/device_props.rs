//! The device rules as unit properties, on cgroup v1: `DevicePolicy=strict`
//! and one `DeviceAllow=` entry per allowed device, as runc maps them.
//!
//! On v1 systemd owns the devices hierarchy of the units it manages: a unit
//! left at `DevicePolicy=auto` with no `DeviceAllow=` gets `a *:* rwm`
//! written back on the next `systemctl daemon-reload`, which would undo the
//! container's device filter. With the rules as properties systemd itself
//! writes the same filter on every reload. (On v2 berth's eBPF program is
//! the filter and systemd installs none of its own: no property is sent.)
//!
//! systemd's syntax (v240+): `/dev/char/M:m` for one device, `char-M` for
//! every minor of a major, `char-*` for all of a type (`block-` likewise).
//! A rule for one minor of every major (`c *:3`) has no form: it is left out
//! with a warning, so after a reload the container loses it (never gains).
//! A deny-list (everything allowed but some) has no form either: allow-all
//! is `DevicePolicy=auto` with no entries; anything else is strict with no
//! entries, with a warning. berth writes the exact filter to the
//! files after the unit starts in every case.

use super::props::{Prop, Value};
use crate::cgroups::devices::{access_string, DevType, DeviceState};

/// The properties for the device filter `state`.
pub fn device_props(state: &DeviceState) -> Vec<Prop> {
    let clear = Prop {
        name: "DeviceAllow",
        value: Value::PathPerms(Vec::new()),
    };
    let policy = |p: &str| Prop {
        name: "DevicePolicy",
        value: Value::Str(p.to_string()),
    };
    if state.default_allow {
        if state.exceptions.is_empty() {
            return vec![clear, policy("auto")];
        }
        tracing::warn!(
            "device rules deny some devices of an allow-all filter: systemd has no form for that, so its DevicePolicy is strict until berth writes the exact filter"
        );
        return vec![clear, policy("strict")];
    }
    let entries = state
        .exceptions
        .iter()
        .filter(|r| r.allow)
        .filter_map(|r| {
            let group = match r.typ {
                DevType::Char => "char",
                DevType::Block => "block",
                DevType::All => return None,
            };
            let path = match (r.major, r.minor) {
                (None, None) => format!("{group}-*"),
                (Some(ma), None) => format!("{group}-{ma}"),
                (Some(ma), Some(mi)) => format!("/dev/{group}/{ma}:{mi}"),
                (None, Some(_)) => {
                    tracing::warn!(rule = %r.cgroup_string(), "a device rule for one minor of every major has no systemd form: left out of DeviceAllow");
                    return None;
                }
            };
            Some((path, access_string(r.access)))
        })
        .collect();
    vec![
        clear,
        policy("strict"),
        Prop {
            name: "DeviceAllow",
            value: Value::PathPerms(entries),
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cgroups::devices::{Rule, ACC_ALL, ACC_READ, ACC_WRITE};
    use DevType::{All, Block, Char};

    fn entries(p: &[Prop]) -> Vec<(String, String)> {
        match &p.last().map(|p| &p.value) {
            Some(Value::PathPerms(v)) => v.clone(),
            other => panic!("last property: {other:?}"),
        }
    }

    #[test]
    fn allow_list_maps_as_runc() {
        let s = DeviceState::from_rules(&[
            Rule::new(true, Char, Some(1), Some(3), ACC_ALL),
            Rule::new(true, Char, Some(136), None, ACC_READ | ACC_WRITE),
            Rule::new(true, Block, None, None, ACC_READ),
            Rule::new(true, Char, None, Some(7), ACC_ALL),
        ]);
        let p = device_props(&s);
        assert_eq!(p[0].value, Value::PathPerms(Vec::new()));
        assert_eq!(p[1].value, Value::Str("strict".into()));
        let want = [
            ("/dev/char/1:3", "rwm"),
            ("char-136", "rw"),
            ("block-*", "r"),
        ];
        let got = entries(&p);
        assert_eq!(got.len(), 3, "{got:?}");
        for (path, perms) in want {
            assert!(
                got.contains(&(path.to_string(), perms.to_string())),
                "{path} {perms} missing in {got:?}"
            );
        }
    }

    #[test]
    fn allow_all_is_policy_auto_and_deny_list_is_strict() {
        let all = DeviceState::from_rules(&[Rule::new(true, All, None, None, ACC_ALL)]);
        let p = device_props(&all);
        assert_eq!(p.len(), 2);
        assert_eq!(p[1].value, Value::Str("auto".into()));
        let deny = DeviceState::from_rules(&[
            Rule::new(true, All, None, None, ACC_ALL),
            Rule::new(false, Char, Some(1), Some(3), ACC_ALL),
        ]);
        let p = device_props(&deny);
        assert_eq!(p.len(), 2);
        assert_eq!(p[1].value, Value::Str("strict".into()));
    }
}
