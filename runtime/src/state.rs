//! Container state on disk (docs/architecture.md §3): `<root>/<id>/` made by an exclusive
//! mkdir, `state.json` written atomically, a private copy of config.json, the
//! exec fifo, and a per-container `flock` held by every mutating command.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::sys::proc;

pub const STATE_FILE: &str = "state.json";
pub const CONFIG_FILE: &str = "config.json";
pub const FIFO_FILE: &str = "exec.fifo";
/// The cgroup a create is about to make, written before it makes it: what
/// `delete` removes when the create died before `state.json` existed.
pub const CREATING_FILE: &str = "creating.json";

/// The runtime-spec version our state documents comply with.
pub const OCI_VERSION: &str = "1.2.1";

/// The errors of the state directory. The first three are runc's, whose
/// wording clients match (containerd maps "does not exist" to not-found).
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("container does not exist")]
    NotExist,
    #[error("container with given ID already exists")]
    Exists,
    #[error("invalid id format: {0}")]
    InvalidId(String),
    /// A state file berth cannot parse.
    #[error("corrupt {}: {source}", path.display())]
    Corrupt {
        path: PathBuf,
        source: serde_json::Error,
    },
    /// A state document that does not serialise.
    #[error("encode {name}: {source}")]
    Encode {
        name: &'static str,
        source: serde_json::Error,
    },
    /// A failed file operation, with what we were doing.
    #[error("{context}: {source}")]
    Io { context: String, source: io::Error },
}

pub type Result<T, E = StateError> = std::result::Result<T, E>;

crate::error::io_context! {
    /// Adds context to I/O errors: `.ctx(|| format!("open {path}"))`.
    trait Context for StateError
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Creating,
    Created,
    Running,
    Paused,
    Stopped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        }
    }
}

/// What we persist about a container.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Saved {
    pub id: String,
    pub pid: i32,
    /// Start time of `pid` (from /proc/PID/stat) so a reused pid is never ours.
    pub pid_start_time: u64,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    #[serde(default)]
    pub annotations: HashMap<String, String>,
    /// The container's cgroup directories (every container has a cgroup).
    pub cgroup: crate::cgroups::CgroupRecord,
    /// The init's own pid namespace (`pid:[inode]`) when the container has
    /// a new one: its processes are then exactly that namespace's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid_ns: Option<String>,
}

impl Saved {
    /// Which processes of the cgroup are the container's (`cgroups::Scope`).
    pub fn scope(&self) -> crate::cgroups::Scope {
        match &self.pid_ns {
            Some(ns) => crate::cgroups::Scope::PidNs(ns.clone()),
            None => crate::cgroups::Scope::Cgroup,
        }
    }
}

/// The OCI state document (`berth state`), in runc's field order.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OciState<'a> {
    pub oci_version: &'static str,
    pub id: &'a str,
    pub pid: i32,
    pub status: &'static str,
    pub bundle: &'a Path,
    pub rootfs: &'a Path,
    pub created: &'a str,
    pub owner: &'a str,
    #[serde(skip_serializing_if = "HashMap::is_empty")]
    pub annotations: &'a HashMap<String, String>,
}

/// The root directory holding every container's state.
#[derive(Clone, Debug)]
pub struct Root {
    pub path: PathBuf,
}

/// The longest id: it names a directory (the state dir, the default cgroup),
/// and a file name has at most NAME_MAX (255) bytes.
const MAX_ID_LEN: usize = 255;

/// runc's rule: letters, digits, `_ + - .`, and not `.` or `..`; at most
/// `MAX_ID_LEN` bytes.
pub fn validate_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= MAX_ID_LEN
        && id != "."
        && id != ".."
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_+-.".contains(c));
    if ok {
        Ok(())
    } else {
        Err(StateError::InvalidId(id.to_string()))
    }
}

impl Root {
    pub fn new(path: PathBuf) -> Root {
        Root { path }
    }

    fn ensure(&self) -> Result<()> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.path)
            .ctx(|| format!("create root directory {}", self.path.display()))
    }

    /// Reserves `id` with an exclusive mkdir; exactly one of two racing
    /// creates wins. The directory is locked and removed again on drop unless
    /// `ContainerDir::keep` is called.
    pub fn reserve(&self, id: &str) -> Result<ContainerDir> {
        validate_id(id)?;
        self.ensure()?;
        let path = self.path.join(id);
        match fs::DirBuilder::new().mode(0o711).create(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Err(StateError::Exists),
            Err(e) => return Err(e).ctx(|| format!("create state directory {}", path.display())),
        }
        let dir = ContainerDir::lock(path, true)?;
        Ok(dir)
    }

    /// Opens and locks a container's directory, whether or not its create
    /// finished (`ContainerDir::load` then says `NotExist` for a create that
    /// died half-way). The lock waits for a create still under way.
    pub fn open_any(&self, id: &str) -> Result<ContainerDir> {
        validate_id(id).map_err(|_| StateError::NotExist)?;
        let path = self.path.join(id);
        match ContainerDir::lock(path, false) {
            // A failed create removes its directory while holding the lock.
            Ok(d) if d.path.exists() => Ok(d),
            Ok(_) => Err(StateError::NotExist),
            Err(StateError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
                Err(StateError::NotExist)
            }
            Err(e) => Err(e),
        }
    }

    /// Opens and locks an existing container's directory.
    pub fn open(&self, id: &str) -> Result<ContainerDir> {
        validate_id(id).map_err(|_| StateError::NotExist)?;
        let path = self.path.join(id);
        if !path.join(STATE_FILE).exists() {
            return Err(StateError::NotExist);
        }
        ContainerDir::lock(path, false)
    }

    /// The ids of every container, sorted.
    pub fn list(&self) -> Result<Vec<String>> {
        let rd = match fs::read_dir(&self.path) {
            Ok(rd) => rd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e).ctx(|| format!("read {}", self.path.display())),
        };
        let mut ids: Vec<String> = rd
            .filter_map(|e| e.ok())
            .filter(|e| e.path().join(STATE_FILE).exists())
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        ids.sort();
        Ok(ids)
    }
}

/// A locked container state directory.
#[derive(Debug)]
pub struct ContainerDir {
    pub path: PathBuf,
    lock: File,
    remove_on_drop: bool,
}

impl ContainerDir {
    fn lock(path: PathBuf, remove_on_drop: bool) -> Result<ContainerDir> {
        let lock = File::open(&path).ctx(|| format!("open {}", path.display()))?;
        // Blocks until the lock is ours.
        crate::sys::fd::lock_exclusive(std::os::fd::AsFd::as_fd(&lock))
            .ctx(|| format!("lock {}", path.display()))?;
        Ok(ContainerDir {
            path,
            lock,
            remove_on_drop,
        })
    }

    /// The container now exists: stop removing the directory on drop.
    pub fn keep(&mut self) {
        self.remove_on_drop = false;
    }

    pub fn fifo_path(&self) -> PathBuf {
        self.path.join(FIFO_FILE)
    }

    /// The fd holding the lock: the init closes its inherited copy, or it
    /// would hold the lock for the container's whole life.
    pub fn lock_fd(&self) -> i32 {
        self.lock.as_raw_fd()
    }

    pub fn config_path(&self) -> PathBuf {
        self.path.join(CONFIG_FILE)
    }

    /// Writes `state.json` atomically: temp file, rename. A reader sees the
    /// old state or the new one, never a torn file, even if we die midway.
    /// No fsync: the state describes live processes, which do not survive
    /// the power loss fsync would guard against, and the root is a tmpfs
    /// (/run) in practice; on a disk-backed root it cost 4.7 ms a create
    /// (runc does not fsync either).
    pub fn save(&self, saved: &Saved) -> Result<()> {
        self.write_atomic(STATE_FILE, saved)
    }

    /// `name` replaced atomically by the JSON of `value` (temp file, rename).
    fn write_atomic<T: Serialize>(&self, name: &'static str, value: &T) -> Result<()> {
        let tmp = self.path.join(format!(".{name}.tmp"));
        let data =
            serde_json::to_vec(value).map_err(|source| StateError::Encode { name, source })?;
        let mut f = File::create(&tmp).ctx(|| format!("create {}", tmp.display()))?;
        f.write_all(&data)
            .ctx(|| format!("write {}", tmp.display()))?;
        fs::rename(&tmp, self.path.join(name)).ctx(|| format!("rename {}", tmp.display()))
    }

    pub fn load(&self) -> Result<Saved> {
        load_saved(&self.path)
    }

    /// Records the cgroup a create is about to make (`CREATING_FILE`).
    /// Atomic (temp file, rename): a create killed while writing it leaves
    /// no record or a whole one, and it made no cgroup before it is there.
    pub fn save_creating(&self, cgroup: &crate::cgroups::CgroupRecord) -> Result<()> {
        self.write_atomic(CREATING_FILE, cgroup)
    }

    /// The cgroup record of a create that died half-way, if it got that far.
    pub fn load_creating(&self) -> Result<Option<crate::cgroups::CgroupRecord>> {
        let p = self.path.join(CREATING_FILE);
        match fs::read(&p) {
            Ok(d) => serde_json::from_slice(&d)
                .map(Some)
                .map_err(|source| StateError::Corrupt { path: p, source }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).ctx(|| format!("read {}", p.display())),
        }
    }

    /// Writes the private copy of config.json that later commands read.
    pub fn save_config(&self, raw: &[u8]) -> Result<()> {
        let p = self.config_path();
        fs::write(&p, raw).ctx(|| format!("write {}", p.display()))
    }

    /// Removes the whole directory (the container no longer exists).
    pub fn remove(mut self) -> Result<()> {
        self.remove_on_drop = false;
        fs::remove_dir_all(&self.path).ctx(|| format!("remove {}", self.path.display()))
    }
}

impl Drop for ContainerDir {
    fn drop(&mut self) {
        if self.remove_on_drop {
            let _ = fs::remove_dir_all(&self.path);
        }
        let _ = &self.lock;
    }
}

/// Reads a container's saved state without locking (for `state` and `list`).
pub fn load_saved(dir: &Path) -> Result<Saved> {
    let p = dir.join(STATE_FILE);
    let data = match fs::read(&p) {
        Ok(d) => d,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(StateError::NotExist),
        Err(e) => return Err(e).ctx(|| format!("read {}", p.display())),
    };
    parse_saved(&data, &p)
}

/// Parses the bytes of a state.json read from `path` (named in the error).
pub fn parse_saved(data: &[u8], path: &Path) -> Result<Saved> {
    serde_json::from_slice(data).map_err(|source| StateError::Corrupt {
        path: path.to_path_buf(),
        source,
    })
}

/// Whether the saved init process is still the one we started and alive.
pub fn init_alive(saved: &Saved) -> bool {
    if saved.pid <= 0 {
        return false;
    }
    match proc::stat(saved.pid) {
        Some(st) => st.start_time == saved.pid_start_time && !st.exited(),
        None => false,
    }
}

/// Derives the status: stopped when the init is gone; created while the exec
/// fifo still exists (start deletes it); paused while its cgroup is frozen;
/// running otherwise.
pub fn status(dir: &Path, saved: &Saved) -> Status {
    if !init_alive(saved) {
        return Status::Stopped;
    }
    if dir.join(FIFO_FILE).exists() {
        Status::Created
    } else if crate::cgroups::is_frozen(&saved.cgroup.dirs) {
        Status::Paused
    } else {
        Status::Running
    }
}

/// The uid owning a state directory (None if it cannot be read).
pub fn owner_uid(dir: &Path) -> Option<u32> {
    fs::metadata(dir).ok().map(|m| m.uid())
}

/// A state directory's owner as `list` shows it: a user name from the
/// host's /etc/passwd (no NSS: docs/architecture.md §2), else the numeric
/// uid ("" for None).
pub fn owner_name(uid: Option<u32>) -> String {
    let Some(uid) = uid else {
        return String::new();
    };
    crate::user::passwd_name(Path::new("/etc/passwd"), uid).unwrap_or_else(|| uid.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_runc_rules() {
        for ok in ["a", "abc-1_2.3+x", "A"] {
            assert!(validate_id(ok).is_ok(), "{ok}");
        }
        for bad in ["", ".", "..", "a/b", "a b", "a\0", "é"] {
            assert!(validate_id(bad).is_err(), "{bad:?}");
        }
        assert!(validate_id(&"a".repeat(255)).is_ok());
        let long = "a".repeat(5000);
        assert_eq!(
            validate_id(&long).unwrap_err().to_string(),
            format!("invalid id format: {long}")
        );
    }

    #[test]
    fn errors_are_typed() {
        let e = parse_saved(b"{", Path::new("/run/berth/c1/state.json")).unwrap_err();
        assert!(matches!(&e, StateError::Corrupt { path, .. } if path.ends_with("state.json")));
        assert!(e
            .to_string()
            .starts_with("corrupt /run/berth/c1/state.json: "));
        let root = Root::new(PathBuf::from("/nonexistent/berth-state-test"));
        assert!(matches!(root.open("c1"), Err(StateError::NotExist)));
        assert!(matches!(root.open_any("c1"), Err(StateError::NotExist)));
        assert!(matches!(root.open("../x"), Err(StateError::NotExist)));
        assert_eq!(StateError::NotExist.to_string(), "container does not exist");
        assert_eq!(
            StateError::Exists.to_string(),
            "container with given ID already exists"
        );
        assert!(matches!(root.reserve("a b"), Err(StateError::InvalidId(id)) if id == "a b"));
    }

    #[test]
    fn reserve_is_exclusive_and_cleans_up() {
        let tmp = std::env::temp_dir().join(format!("berth-state-test-{}", std::process::id()));
        let root = Root::new(tmp.clone());
        let first = root.reserve("c1").unwrap();
        assert!(matches!(root.reserve("c1"), Err(StateError::Exists)));
        drop(first);
        assert!(!tmp.join("c1").exists());
        let mut kept = root.reserve("c1").unwrap();
        kept.keep();
        drop(kept);
        assert!(tmp.join("c1").exists());
        fs::remove_dir_all(&tmp).unwrap();
    }
}
