//! The compiled-program cache (docs/architecture.md §8): programs are keyed by a hash of
//! (profile, arch, compiler version) under `<root>/.cache:seccomp/` (a name
//! no container id can take), written atomically, and validated on load. A
//! bad or missing entry is simply recompiled.

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
    if let Ok(bytes) = fs::read(&path) {
        match Program::from_bytes(&bytes) {
            Ok(p) => return Ok(p),
            Err(e) => tracing::debug!("seccomp cache entry {} rejected: {e}", path.display()),
        }
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
