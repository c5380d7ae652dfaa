//! Rootless with a real user and subordinate ids (issue 13 §4): the case
//! adds a user with /etc/subuid and /etc/subgid ranges, and as that user
//! runs `spec --rootless` output with a two-range map (its own id as the
//! container's root, its subordinate range for 1-65536) — a map only
//! newuidmap/newgidmap may write for it. The user and the ranges are
//! removed afterwards, and the two files restored byte for byte.

use std::path::Path;
use std::process::Command;

use super::rootless::{run_rootless_as, Ids};
use crate::harness::case::{case, Case};
use crate::harness::{Ctx, Fail, TestResult};
use crate::{ensure, ensure_eq};

pub const CASES: &[Case] = &[case("rootless_user_subordinate_ids", subordinate_ids)];

const USER: &str = "berthspec";
/// The first subordinate id: far above Debian's default ranges (100000+).
const SUB: u32 = 3_000_000;
const SUB_FILES: [&str; 2] = ["/etc/subuid", "/etc/subgid"];

/// The test user, removed (and /etc/subuid, /etc/subgid restored) on drop.
struct TestUser {
    uid: u32,
    gid: u32,
    /// The files' contents before (None: the file did not exist).
    saved: Vec<(&'static str, Option<Vec<u8>>)>,
}

impl TestUser {
    fn add() -> Result<TestUser, Fail> {
        let out = |c: &mut Command| c.output().map_err(|e| Fail::Fail(format!("{c:?}: {e}")));
        if out(Command::new("id").arg(USER))?.status.success() {
            return Err(Fail::Fail(format!(
                "user {USER} exists already (left by a run?)"
            )));
        }
        // Saved before useradd (which may allocate ranges of its own), and
        // restored after userdel.
        let mut u = TestUser {
            uid: 0,
            gid: 0,
            saved: SUB_FILES
                .iter()
                .map(|f| (*f, std::fs::read(f).ok()))
                .collect(),
        };
        let add = out(Command::new("useradd").args(["-M", "-U", "-s", "/usr/sbin/nologin", USER]))?;
        ensure!(
            add.status.success(),
            "useradd: {}",
            String::from_utf8_lossy(&add.stderr)
        );
        for f in SUB_FILES {
            let mut text = std::fs::read(f).unwrap_or_default();
            if !text.is_empty() && !text.ends_with(b"\n") {
                text.push(b'\n');
            }
            text.extend_from_slice(format!("{USER}:{SUB}:65536\n").as_bytes());
            std::fs::write(f, text).map_err(|e| format!("write {f}: {e}"))?;
        }
        let id = |flag: &str| -> Result<u32, Fail> {
            let o = out(Command::new("id").args([flag, USER]))?;
            let t = String::from_utf8_lossy(&o.stdout);
            t.trim()
                .parse()
                .map_err(|_| Fail::Fail(format!("id {flag} {USER}: {t:?}")))
        };
        u.uid = id("-u")?;
        u.gid = id("-g")?;
        Ok(u)
    }
}

impl Drop for TestUser {
    fn drop(&mut self) {
        let _ = Command::new("userdel").arg(USER).output();
        for (f, before) in &self.saved {
            let _ = match before {
                Some(b) => std::fs::write(f, b),
                None => std::fs::remove_file(f),
            };
        }
    }
}

fn subordinate_ids(ctx: &Ctx) -> TestResult {
    if !Path::new("/usr/bin/newuidmap").exists() {
        return Err(Fail::Skip(
            "newuidmap is not installed (Debian's uidmap)".into(),
        ));
    }
    let user = TestUser::add()?;
    let root = std::env::temp_dir().join(format!("spec-rootless-user-{}", std::process::id()));
    std::fs::create_dir(&root).map_err(|e| format!("mkdir {root:?}: {e}"))?;
    let res = run_as(ctx, &user, &root);
    let _ = std::fs::remove_dir_all(&root);
    drop(user);
    res
}

fn run_as(ctx: &Ctx, u: &TestUser, root: &Path) -> TestResult {
    let map = |own: u32| {
        serde_json::json!([{"containerID": 0, "hostID": own, "size": 1},
            {"containerID": 1, "hostID": SUB, "size": 65536}])
    };
    let ids = Ids {
        uid: u.uid,
        gid: u.gid,
        uid_maps: map(u.uid),
        gid_maps: map(u.gid),
    };
    let script = "echo $(id -u) $(cat /proc/self/uid_map) / $(cat /proc/self/gid_map) \
                  $(cat /proc/self/setgroups)";
    let out = run_rootless_as(ctx, root, &ids, script)?;
    let words: Vec<String> = out.split_whitespace().map(String::from).collect();
    let want: Vec<String> = format!(
        "0 0 {} 1 1 {SUB} 65536 / 0 {} 1 1 {SUB} 65536 allow",
        u.uid, u.gid
    )
    .split_whitespace()
    .map(String::from)
    .collect();
    // newgidmap may set any gid map the ranges allow: setgroups stays
    // "allow" (runc denies it only for a single self-map, no helper).
    ensure_eq!(words, want, "id -u, uid_map / gid_map, setgroups inside");
    Ok(())
}
