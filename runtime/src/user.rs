//! The process user: uid, gid, supplementary groups and umask. Names come
//! from parsing /etc/passwd and /etc/group files directly; berth never calls
//! NSS (it is statically linked, and the container's files are what count).

use std::fs;
use std::path::Path;

use nix::unistd::{setgroups, setresgid, setresuid, Gid, Uid};

use crate::error::{Context, Result};

/// One /etc/passwd entry's fields that we use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswdEntry {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: String,
}

fn parse_passwd(text: &str) -> impl Iterator<Item = PasswdEntry> + '_ {
    text.lines().filter_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() < 6 || line.starts_with('#') {
            return None;
        }
        Some(PasswdEntry {
            name: f[0].to_string(),
            uid: f[2].parse().ok()?,
            gid: f[3].parse().ok()?,
            home: f[5].to_string(),
        })
    })
}

/// The entry for `uid` in the passwd file at `path`, if any.
pub fn passwd_lookup(path: &Path, uid: u32) -> Option<PasswdEntry> {
    let text = fs::read_to_string(path).ok()?;
    let found = parse_passwd(&text).find(|e| e.uid == uid);
    found
}

pub fn passwd_name(path: &Path, uid: u32) -> Option<String> {
    passwd_lookup(path, uid).map(|e| e.name)
}

/// Gids of the groups in `path` that list `user` as a member.
pub fn member_gids(path: &Path, user: &str) -> Vec<u32> {
    let Ok(text) = fs::read_to_string(path) else {
        return Vec::new();
    };
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            if f.len() < 4 || !f[3].split(',').any(|m| m.trim() == user) {
                return None;
            }
            f[2].parse().ok()
        })
        .collect()
}

/// What the container's own /etc files add for `uid`: supplementary groups
/// (runc adds the user's /etc/group memberships) and HOME.
pub struct UserInfo {
    pub groups: Vec<u32>,
    pub home: String,
}

/// Reads the (already pivoted-into) container's /etc/passwd and /etc/group.
pub fn container_user_info(uid: u32) -> UserInfo {
    match passwd_lookup(Path::new("/etc/passwd"), uid) {
        Some(e) => UserInfo {
            groups: member_gids(Path::new("/etc/group"), &e.name),
            home: e.home,
        },
        None => UserInfo {
            groups: Vec::new(),
            home: "/".to_string(),
        },
    }
}

/// Switches to uid/gid with the given supplementary groups. Call with
/// PR_SET_KEEPCAPS set if capabilities must survive the switch.
pub fn switch(uid: u32, gid: u32, groups: &[u32]) -> Result<()> {
    let gids: Vec<Gid> = groups.iter().map(|g| Gid::from_raw(*g)).collect();
    match setgroups(&gids) {
        Ok(()) => {}
        // A user namespace whose setgroups is "deny" (rootless, a single
        // self-map): no supplementary groups at all, as runc's
        // allowSupGroups (rootless configs with additionalGids are refused
        // before).
        Err(nix::errno::Errno::EPERM) if setgroups_denied() => {
            tracing::debug!(
                "setgroups is denied in this user namespace; groups {groups:?} not set"
            );
        }
        Err(e) => return Err(e).ctx(|| format!("setgroups {groups:?}")),
    }
    let g = Gid::from_raw(gid);
    setresgid(g, g, g).ctx(|| format!("setresgid {gid}"))?;
    let u = Uid::from_raw(uid);
    setresuid(u, u, u).ctx(|| format!("setresuid {uid}"))
}

/// Becomes root of the user namespace the caller has just entered (its ids
/// are still the parent namespace's, unmapped there), with no groups:
/// the init and exec'd processes, before they build or join the container.
pub fn become_userns_root() -> Result<()> {
    switch(0, 0, &[]).map_err(|e| {
        crate::error::Error::msg(format!("failed to become root in user namespace: {e}"))
    })
}

/// /proc/self/setgroups reads "deny".
fn setgroups_denied() -> bool {
    fs::read_to_string("/proc/self/setgroups").is_ok_and(|s| s.trim() == "deny")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_passwd_and_groups() {
        let dir = std::env::temp_dir().join(format!("berth-user-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        fs::write(
            dir.join("passwd"),
            "root:x:0:0:root:/root:/bin/sh\n#c\nbob:x:1000:100::/home/bob:/bin/sh\nbad\n",
        )
        .unwrap();
        fs::write(
            dir.join("group"),
            "root:x:0:\nwheel:x:10:bob,al\nusers:x:100:\naudio:x:29:al, bob\n",
        )
        .unwrap();
        let e = passwd_lookup(&dir.join("passwd"), 1000).unwrap();
        assert_eq!(
            (e.name.as_str(), e.gid, e.home.as_str()),
            ("bob", 100, "/home/bob")
        );
        assert_eq!(passwd_name(&dir.join("passwd"), 0).as_deref(), Some("root"));
        assert!(passwd_lookup(&dir.join("passwd"), 5).is_none());
        assert_eq!(member_gids(&dir.join("group"), "bob"), vec![10, 29]);
        fs::remove_dir_all(&dir).unwrap();
    }
}
