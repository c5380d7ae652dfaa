//! OCI seccomp profiles → classic BPF filters, and loading them.
//!
//! ```ignore
//! let program = seccomp::compile(spec_seccomp)?;          // in the parent, or from the cache
//! let listener = seccomp::install(&program)?;             // in the container, last
//! ```
//!
//! Semantics (runtime-spec config-linux.md, plus where the spec is silent):
//! - `defaultErrnoRet` / `errnoRet` default to EPERM; on an action other than
//!   ERRNO or TRACE they are an error (the spec's MUST). TRACE uses it as data.
//! - Several conditions on different argument indexes AND. If an index
//!   repeats, every condition of that rule is ORed — exactly what runc and
//!   crun do (they add one libseccomp rule per condition in that case).
//! - A rule whose action equals the default action is dropped (runc, crun).
//!   If a syscall has an unconditional rule, the first one decides
//!   (libseccomp ignores later rules and conditional ones); otherwise its
//!   conditional rules are tried in profile order and the first match wins.
//! - The native architecture is always filtered; `SCMP_ARCH_X86_64`,
//!   `X86`, `X32`, `AARCH64` and `NATIVE` are supported; the spec's other
//!   architectures are skipped with a debug log (their syscalls then get the
//!   bad-architecture action); anything else is an error. Syscalls of an
//!   architecture not in the filter: KILL_PROCESS.
//! - x32 numbers (`__X32_SYSCALL_BIT`) never reach the x86_64 rules; under a
//!   profile without X32 they get the bad-architecture action too (the
//!   default action would let them bypass a deny-list profile).
//! - Unknown syscall names are skipped with a debug log. Numbers above the
//!   highest syscall the profile names (per architecture) return ENOSYS,
//!   unless the default action already lets syscalls run (ALLOW, LOG, TRACE).
//! - NOTIFY as default action, or on `write`, is an error (as runc); so is
//!   NOTIFY on `sendmsg`, which hands the listener fd to the runtime. A
//!   NOTIFY rule needs `listenerPath` (listener.rs hands the fd to the agent).
//! - `flags` map to `SECCOMP_FILTER_FLAG_*`. With a NOTIFY rule the program
//!   also carries NEW_LISTENER (and TSYNC_ESRCH if TSYNC was asked for, which
//!   the kernel requires); WAIT_KILLABLE_RECV without NOTIFY is dropped.

mod arch;
mod bpf;
pub(crate) mod cache;
mod compile;
mod hash;
mod install;
pub(crate) mod listener;
mod profile;
mod program;
mod tables;
#[cfg(test)]
mod tests;

pub use arch::Arch;
pub use cache::load_or_compile;
pub use install::install;
pub use listener::Agent;
pub use program::Program;

use oci_spec::runtime::LinuxSeccomp;

/// Bump when the compiler's output for a given profile changes.
const FORMAT_VERSION: u32 = 2;

#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    #[error("{field}: {msg}")]
    Invalid { field: String, msg: String },
    #[error("seccomp filter needs {len} instructions, more than the kernel's limit of 4096")]
    TooLong { len: usize },
    #[error("invalid cached seccomp program: {0}")]
    BadProgram(String),
    #[error("loading seccomp filter (seccomp(SECCOMP_SET_MODE_FILTER, {flags:#x})): {source}")]
    Install { flags: u32, source: std::io::Error },
    /// runc's wording (clients match it), Go's `net.Dial` detail after it.
    #[error("linux.seccomp.listenerPath: failed to connect with seccomp agent specified in the seccomp profile: dial unix {}: connect: {}", path.display(), crate::go_text::io(source))]
    AgentConnect {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("linux.seccomp.listenerPath: cannot {what} the seccomp agent at {}: {source}", path.display())]
    Agent {
        path: std::path::PathBuf,
        what: String,
        source: std::io::Error,
    },
    #[error("internal seccomp compiler error: {0}")]
    Internal(String),
}

/// Compiles a typed OCI profile for the native architecture.
pub fn compile(seccomp: &LinuxSeccomp) -> Result<Program, SeccompError> {
    compile_json(&to_json(seccomp)?)
}

/// Compiles a raw `linux.seccomp` JSON object (errors name the JSON field).
pub fn compile_json(seccomp: &serde_json::Value) -> Result<Program, SeccompError> {
    compile_for(seccomp, Arch::native())
}

/// Compiles for a given native architecture (tests use aarch64 on x86_64).
pub(crate) fn compile_for(
    seccomp: &serde_json::Value,
    native: Arch,
) -> Result<Program, SeccompError> {
    let p = profile::from_json(seccomp)?;
    let filter = compile::compile(&p, native)?;
    let notify = p.rules.iter().any(|r| r.action == profile::Action::Notify);
    let mut flags = p.flags;
    let killable = libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV as u32;
    if notify {
        flags |= libc::SECCOMP_FILTER_FLAG_NEW_LISTENER as u32;
        if flags & libc::SECCOMP_FILTER_FLAG_TSYNC as u32 != 0 {
            flags |= libc::SECCOMP_FILTER_FLAG_TSYNC_ESRCH as u32;
        }
    } else if flags & killable != 0 {
        tracing::debug!(
            "seccomp: SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV without SCMP_ACT_NOTIFY, dropped"
        );
        flags &= !killable;
    }
    Ok(Program {
        filter,
        flags,
        notify,
    })
}

fn to_json(seccomp: &LinuxSeccomp) -> Result<serde_json::Value, SeccompError> {
    serde_json::to_value(seccomp)
        .map_err(|e| SeccompError::Internal(format!("serialising profile: {e}")))
}

/// A stable cache key for the program `compile(seccomp)` produces here:
/// SHA-256 (hex) over a format version, berth's version, the native
/// architecture and the profile's canonical JSON (listener settings, which do
/// not change the filter, left out).
pub fn cache_key(seccomp: &LinuxSeccomp) -> Result<String, SeccompError> {
    let mut normalised = seccomp.clone();
    normalised.set_listener_path(None);
    normalised.set_listener_metadata(None);
    let json = serde_json::to_vec(&normalised)
        .map_err(|e| SeccompError::Internal(format!("serialising profile: {e}")))?;
    let mut input = format!(
        "berth-seccomp\0{FORMAT_VERSION}\0{}\0{}\0",
        env!("CARGO_PKG_VERSION"),
        Arch::native().name()
    )
    .into_bytes();
    input.extend_from_slice(&json);
    Ok(hash::sha256_hex(&input))
}
