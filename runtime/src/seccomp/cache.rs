//! The compiled-program cache (docs/architecture.md §8): programs are keyed by a hash of
//! (profile, arch, compiler version) under `<root>/.cache:seccomp/` (a name
//! no container id can take), written atomically, and validated on load. A
//! bad, missing or unreadable entry is simply recompiled, and a cache that
//! cannot be written is left alone: the cache's own I/O failures are never
//! errors (they are logged at debug level); only the profile's are.

use std::fs;
use std::io::Write;
use std::os::unix::fs::DirBuilderExt;
use std::path::Path;

use oci_spec::runtime::LinuxSeccomp;

use super::{cache_key, compile, listener, Program, SeccompError};

pub const CACHE_DIR: &str = ".cache:seccomp";

/// The program for `profile`: from the cache when a valid entry exists,
/// otherwise compiled and stored.
pub fn load_or_compile(root: &Path, profile: &LinuxSeccomp) -> Result<Program, SeccompError> {
    listener::check(profile)?;
    let key = cache_key(profile)?;
    let dir = root.join(CACHE_DIR);
    let path = dir.join(format!("{key}.bpf"));
    match fs::read(&path) {
        Ok(bytes) => match Program::from_bytes(&bytes) {
            Ok(p) => return Ok(p),
            Err(e) => tracing::debug!("seccomp cache entry {} rejected: {e}", path.display()),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => tracing::debug!("seccomp cache entry {} not read: {e}", path.display()),
    }
    let program = compile(profile)?;
    if let Err(e) = store(&dir, &key, &program) {
        tracing::debug!("seccomp cache not written: {e}");
    }
    Ok(program)
}

fn store(dir: &Path, key: &str, program: &Program) -> std::io::Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let tmp = dir.join(format!(".{key}.{}", std::process::id()));
    let mut f = fs::File::create(&tmp)?;
    f.write_all(&program.to_bytes())?;
    fs::rename(&tmp, dir.join(format!("{key}.bpf")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile() -> LinuxSeccomp {
        serde_json::from_value(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]
        }))
        .unwrap()
    }

    /// The cache is an optimisation: a root it cannot write, or a bad
    /// entry, never fails a create.
    #[test]
    fn cache_failures_are_not_errors() {
        let want = compile(&profile()).unwrap().to_bytes();
        let unwritable = Path::new("/dev/null/berth-cache-test");
        let p = load_or_compile(unwritable, &profile()).unwrap();
        assert_eq!(p.to_bytes(), want);

        let root = std::env::temp_dir().join(format!("berth-cache-test-{}", std::process::id()));
        let entry = root
            .join(CACHE_DIR)
            .join(format!("{}.bpf", cache_key(&profile()).unwrap()));
        assert_eq!(load_or_compile(&root, &profile()).unwrap().to_bytes(), want);
        assert_eq!(fs::read(&entry).unwrap(), want);
        fs::write(&entry, b"garbage").unwrap();
        assert_eq!(load_or_compile(&root, &profile()).unwrap().to_bytes(), want);
        assert_eq!(fs::read(&entry).unwrap(), want);
        fs::remove_dir_all(&root).unwrap();
    }

    /// A profile error is the profile's (a config error), whatever the cache.
    #[test]
    fn profile_errors_keep_their_type() {
        let mut bad = profile();
        bad.set_listener_metadata(Some("meta".into()));
        let e = load_or_compile(Path::new("/dev/null"), &bad).unwrap_err();
        assert!(matches!(e, SeccompError::Invalid { .. }), "{e:?}");
        let top: crate::error::Error = e.into();
        assert!(matches!(top, crate::error::Error::Seccomp(_)));
    }
}
