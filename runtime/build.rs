//! Records the git commit berth is built from, for `berth --version`'s
//! `commit:` line (Docker's `info` reads it). A build outside a git checkout
//! (a source tarball) says `unknown`.

use std::path::PathBuf;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_string())
}

fn main() {
    let commit = git(&["rev-parse", "--short=12", "HEAD"]);
    println!(
        "cargo:rustc-env=BERTH_COMMIT={}",
        commit.as_deref().unwrap_or("unknown")
    );
    // Rebuild when HEAD moves: HEAD itself (a branch switch), the branch's
    // ref (a commit) and packed-refs. In a worktree these live in the
    // worktree's own git dir and the common dir.
    let mut watch = Vec::new();
    if let Some(dir) = git(&["rev-parse", "--absolute-git-dir"]) {
        watch.push(PathBuf::from(&dir).join("HEAD"));
    }
    if let Some(common) = git(&["rev-parse", "--path-format=absolute", "--git-common-dir"]) {
        watch.push(PathBuf::from(&common).join("packed-refs"));
        if let Some(head) = git(&["symbolic-ref", "-q", "HEAD"]) {
            watch.push(PathBuf::from(&common).join(head));
        }
    }
    for path in watch.iter().filter(|p| p.exists()) {
        println!("cargo:rerun-if-changed={}", path.display());
    }
    // The berth binary starts at sys::entry's stub (binary protection before
    // the C library's start-up); `-u` makes the linker pull it in.
    // The stub is x86-64 assembly; other architectures start at glibc's
    // `_start` and binary::ensure_protected does the re-exec.
    if std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("x86_64") {
        println!("cargo:rustc-link-arg-bin=berth=-Wl,-u,berth_entry,-e,berth_entry");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
