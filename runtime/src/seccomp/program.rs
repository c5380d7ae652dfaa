//! A compiled filter and its on-disk cache format.
//!
//! Cache format: an 8-byte header (`b"BSC1"`, then the seccomp(2) flags as a
//! little-endian u32) followed by the instructions, 8 bytes each in the
//! kernel's native `struct sock_filter` layout. Loading checks the length is
//! a multiple of 8, the magic, known flag bits, at most 4096 instructions,
//! opcodes, in-range jumps and a final return.

use super::bpf::{self, Insn};
use super::SeccompError;

const MAGIC: &[u8; 4] = b"BSC1";

/// Flag bits a program may carry.
const KNOWN_FLAGS: u32 = (libc::SECCOMP_FILTER_FLAG_TSYNC
    | libc::SECCOMP_FILTER_FLAG_LOG
    | libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW
    | libc::SECCOMP_FILTER_FLAG_NEW_LISTENER
    | libc::SECCOMP_FILTER_FLAG_TSYNC_ESRCH
    | libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV) as u32;

/// A filter ready for `seccomp(SECCOMP_SET_MODE_FILTER, flags, ...)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Program {
    /// The instructions, in `struct sock_filter` layout.
    pub filter: Vec<Insn>,
    /// `SECCOMP_FILTER_FLAG_*` for seccomp(2), NEW_LISTENER included if `notify`.
    pub flags: u32,
    /// The filter has SCMP_ACT_NOTIFY rules: installing it yields a listener fd.
    pub notify: bool,
}

impl Program {
    /// Serialises for the cache.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 + 8 * self.filter.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&self.flags.to_le_bytes());
        for insn in &self.filter {
            out.extend_from_slice(&insn.code.to_ne_bytes());
            out.push(insn.jt);
            out.push(insn.jf);
            out.extend_from_slice(&insn.k.to_ne_bytes());
        }
        out
    }

    /// Parses and validates a cached program.
    pub fn from_bytes(bytes: &[u8]) -> Result<Program, SeccompError> {
        let bad = |m: String| SeccompError::BadProgram(m);
        if !bytes.len().is_multiple_of(8) || bytes.len() < 16 {
            return Err(bad(format!(
                "{} bytes is not a header plus whole instructions",
                bytes.len()
            )));
        }
        let (header, body) = bytes.split_at(8);
        if &header[..4] != MAGIC {
            return Err(bad("wrong magic".into()));
        }
        let flags = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
        if flags & !KNOWN_FLAGS != 0 {
            return Err(bad(format!("unknown flags {flags:#x}")));
        }
        let filter: Vec<Insn> = body
            .chunks_exact(8)
            .map(|c| {
                Insn::new(
                    u16::from_ne_bytes([c[0], c[1]]),
                    c[2],
                    c[3],
                    u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
                )
            })
            .collect();
        bpf::validate(&filter).map_err(bad)?;
        let notify = flags & libc::SECCOMP_FILTER_FLAG_NEW_LISTENER as u32 != 0;
        Ok(Program {
            filter,
            flags,
            notify,
        })
    }
}
