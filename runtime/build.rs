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
    link_order();
    println!("cargo:rerun-if-changed=build.rs");
}

/// Function layout (docs/architecture.md §5.1): the linker puts the
/// functions that the runtime's hot commands run first and side by side, in
/// the order of runtime/link-order.txt (made by `make link-order`), so that
/// a start touches few, contiguous pages of the binary. The option is lld's,
/// the default linker of Rust 1.90+ on x86_64-unknown-linux-gnu; other
/// set-ups (or BERTH_LINK_ORDER=0) link without it. A name the file lists
/// that the binary lacks (renamed by a later change) is skipped silently.
fn link_order() {
    println!("cargo:rerun-if-env-changed=BERTH_LINK_ORDER");
    let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default();
    let order = PathBuf::from(dir).join("link-order.txt");
    println!("cargo:rerun-if-changed={}", order.display());
    let wanted = std::env::var("BERTH_LINK_ORDER").as_deref() != Ok("0");
    if wanted && order.exists() && rust_lld_is_default() {
        println!(
            "cargo:rustc-link-arg-bin=berth=-Wl,--symbol-ordering-file={}",
            order.display()
        );
        println!("cargo:rustc-link-arg-bin=berth=-Wl,--no-warn-symbol-ordering");
    }
    // `make link-order` asks for the linker's map: the release binary is
    // stripped, and only this build's own symbol names match its layout.
    println!("cargo:rerun-if-env-changed=BERTH_LINK_MAP");
    if let Ok(map) = std::env::var("BERTH_LINK_MAP") {
        println!("cargo:rustc-link-arg-bin=berth=-Wl,-Map={map}");
    }
}

/// True for x86_64-unknown-linux-gnu with rustc 1.90 or later (which link
/// with the bundled rust-lld unless configured otherwise).
fn rust_lld_is_default() -> bool {
    if std::env::var("TARGET").as_deref() != Ok("x86_64-unknown-linux-gnu") {
        return false;
    }
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let Ok(out) = Command::new(rustc).arg("-vV").output() else {
        return false;
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let release = text.lines().find_map(|l| l.strip_prefix("release: "));
    let mut parts = release.unwrap_or("").split('.');
    let major: u32 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    let minor: u32 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    (major, minor) >= (1, 90)
}
