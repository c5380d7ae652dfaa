//! The cgroup v2 device controller: an eBPF `BPF_PROG_TYPE_CGROUP_DEVICE`
//! program compiled from a `DeviceState`, attached to the leaf with
//! `BPF_F_ALLOW_MULTI`.
//!
//! The program reads `struct bpf_cgroup_dev_ctx { u32 access_type; u32 major;
//! u32 minor; }` (access_type = access << 16 | type), tests the exceptions
//! from the last to the first (the last matching rule wins) and falls
//! through to the default. A request matches an allow exception when all of
//! its access bits are allowed, and a deny exception when any of them is
//! denied — the kernel's v1 semantics (runc tests the subset for both).

use std::os::fd::AsFd;
use std::path::Path;

use super::devices::{DevType, DeviceState, ACC_ALL};
use super::error::{Context, Result};
use crate::sys::bpf::{self, BpfInsn};

// Instruction classes and fields (linux/bpf_common.h, linux/bpf.h).
const LDX_MEM_W: u8 = 0x61; // BPF_LDX | BPF_MEM | BPF_W
const ALU32_AND_K: u8 = 0x54; // BPF_ALU | BPF_AND | BPF_K
const ALU32_RSH_K: u8 = 0x74; // BPF_ALU | BPF_RSH | BPF_K
const ALU32_MOV_X: u8 = 0xbc; // BPF_ALU | BPF_MOV | BPF_X
const ALU64_MOV_K: u8 = 0xb7; // BPF_ALU64 | BPF_MOV | BPF_K
const JMP32_JNE_K: u8 = 0x56; // BPF_JMP32 | BPF_JNE | BPF_K
const JMP32_JEQ_K: u8 = 0x16; // BPF_JMP32 | BPF_JEQ | BPF_K
const JMP32_JNE_X: u8 = 0x5e; // BPF_JMP32 | BPF_JNE | BPF_X
const EXIT: u8 = 0x95; // BPF_JMP | BPF_EXIT

/// `BPF_DEVCG_DEV_BLOCK`, `BPF_DEVCG_DEV_CHAR`.
const DEV_BLOCK: i32 = 1;
const DEV_CHAR: i32 = 2;

// Registers: r1 ctx (then scratch), r2 type, r3 access, r4 major, r5 minor.
const R0: u8 = 0;
const R1: u8 = 1;
const R2: u8 = 2;
const R3: u8 = 3;
const R4: u8 = 4;
const R5: u8 = 5;

/// The program's license (no GPL-only helper is called).
pub const LICENSE: &str = "Apache-2.0";

fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> BpfInsn {
    BpfInsn {
        code,
        regs: (src << 4) | dst,
        off,
        imm,
    }
}

/// Compiles `state` into an instruction stream.
pub fn compile(state: &DeviceState) -> Vec<BpfInsn> {
    let mut p = vec![
        insn(LDX_MEM_W, R2, R1, 0, 0),
        insn(ALU32_AND_K, R2, 0, 0, 0xffff),
        insn(LDX_MEM_W, R3, R1, 0, 0),
        insn(ALU32_RSH_K, R3, 0, 0, 16),
        insn(LDX_MEM_W, R4, R1, 4, 0),
        insn(LDX_MEM_W, R5, R1, 8, 0),
    ];
    for e in state.exceptions.iter().rev() {
        // Tests that jump to the next block; `skip` is patched below.
        let mut tests: Vec<BpfInsn> = Vec::new();
        match e.typ {
            DevType::Char => tests.push(insn(JMP32_JNE_K, R2, 0, 0, DEV_CHAR)),
            DevType::Block => tests.push(insn(JMP32_JNE_K, R2, 0, 0, DEV_BLOCK)),
            DevType::All => {}
        }
        if e.access != ACC_ALL {
            tests.push(insn(ALU32_MOV_X, R1, R3, 0, 0));
            tests.push(insn(ALU32_AND_K, R1, 0, 0, i32::from(e.access)));
            tests.push(if e.allow {
                // Every requested bit must be allowed.
                insn(JMP32_JNE_X, R1, R3, 0, 0)
            } else {
                // Any requested bit denied is enough.
                insn(JMP32_JEQ_K, R1, 0, 0, 0)
            });
        }
        if let Some(major) = e.major {
            tests.push(insn(JMP32_JNE_K, R4, 0, 0, major as i32));
        }
        if let Some(minor) = e.minor {
            tests.push(insn(JMP32_JNE_K, R5, 0, 0, minor as i32));
        }
        let n = tests.len();
        for (i, mut t) in tests.into_iter().enumerate() {
            if t.code != ALU32_MOV_X && t.code != ALU32_AND_K {
                // Past the remaining tests and the two-instruction return.
                t.off = (n - i - 1 + 2) as i16;
            }
            p.push(t);
        }
        p.push(insn(ALU64_MOV_K, R0, 0, 0, i32::from(e.allow)));
        p.push(insn(EXIT, 0, 0, 0, 0));
    }
    p.push(insn(ALU64_MOV_K, R0, 0, 0, i32::from(state.default_allow)));
    p.push(insn(EXIT, 0, 0, 0, 0));
    p
}

/// Loads the program for `state` and attaches it to the cgroup v2 directory
/// `dir`, then detaches the programs that were attached before (an update
/// replaces the filter without a moment of having none).
pub fn apply(dir: &Path, state: &DeviceState) -> Result<()> {
    let what = || {
        format!(
            "linux.resources.devices: eBPF device filter on {}",
            dir.display()
        )
    };
    let insns = compile(state);
    let prog = bpf::prog_load_cgroup_device(&insns, LICENSE)
        .ctx(|| format!("{}: BPF_PROG_LOAD", what()))?;
    let cg = crate::sys::open_host(dir, libc::O_DIRECTORY | libc::O_RDONLY).ctx(what)?;
    let old = bpf::prog_query(cg.as_fd(), bpf::ATTACH_CGROUP_DEVICE)
        .ctx(|| format!("{}: BPF_PROG_QUERY", what()))?;
    bpf::prog_attach(
        cg.as_fd(),
        prog.as_fd(),
        bpf::ATTACH_CGROUP_DEVICE,
        bpf::F_ALLOW_MULTI,
    )
    .ctx(|| format!("{}: BPF_PROG_ATTACH", what()))?;
    for id in old {
        let fd =
            bpf::prog_get_fd_by_id(id).ctx(|| format!("{}: BPF_PROG_GET_FD_BY_ID {id}", what()))?;
        bpf::prog_detach(cg.as_fd(), fd.as_fd(), bpf::ATTACH_CGROUP_DEVICE)
            .ctx(|| format!("{}: BPF_PROG_DETACH {id}", what()))?;
    }
    tracing::debug!(dir = %dir.display(), insns = insns.len(), "attached device filter");
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::cgroups::devices::{Rule, ACC_MKNOD, ACC_READ, ACC_WRITE};

    /// Runs the program on one request: a tiny interpreter of exactly the
    /// instructions `compile` emits.
    pub fn run(prog: &[BpfInsn], typ: u32, access: u32, major: u32, minor: u32) -> u64 {
        let ctx = [(access << 16) | typ, major, minor];
        let mut r = [0u64; 11];
        let mut pc = 0usize;
        loop {
            let i = prog[pc];
            let (dst, src) = ((i.regs & 0xf) as usize, (i.regs >> 4) as usize);
            let mut next = pc + 1;
            let jump = |cond: bool| {
                if cond {
                    pc + 1 + i.off as usize
                } else {
                    pc + 1
                }
            };
            match i.code {
                LDX_MEM_W => r[dst] = u64::from(ctx[(i.off / 4) as usize]),
                ALU32_AND_K => r[dst] = (r[dst] as u32 & i.imm as u32) as u64,
                ALU32_RSH_K => r[dst] = (r[dst] as u32 >> i.imm) as u64,
                ALU32_MOV_X => r[dst] = r[src] as u32 as u64,
                ALU64_MOV_K => r[dst] = i.imm as i64 as u64,
                JMP32_JNE_K => next = jump(r[dst] as u32 != i.imm as u32),
                JMP32_JEQ_K => next = jump(r[dst] as u32 == i.imm as u32),
                JMP32_JNE_X => next = jump(r[dst] as u32 != r[src] as u32),
                EXIT => return r[0],
                c => panic!("unexpected opcode {c:#x}"),
            }
            pc = next;
        }
    }

    #[test]
    fn emits_the_expected_stream() {
        let s = DeviceState {
            default_allow: false,
            exceptions: vec![Rule::new(
                true,
                DevType::Char,
                Some(1),
                Some(3),
                ACC_READ | ACC_WRITE,
            )],
        };
        let p = compile(&s);
        let expect = vec![
            insn(LDX_MEM_W, R2, R1, 0, 0),
            insn(ALU32_AND_K, R2, 0, 0, 0xffff),
            insn(LDX_MEM_W, R3, R1, 0, 0),
            insn(ALU32_RSH_K, R3, 0, 0, 16),
            insn(LDX_MEM_W, R4, R1, 4, 0),
            insn(LDX_MEM_W, R5, R1, 8, 0),
            insn(JMP32_JNE_K, R2, 0, 7, DEV_CHAR),
            insn(ALU32_MOV_X, R1, R3, 0, 0),
            insn(ALU32_AND_K, R1, 0, 0, 6),
            insn(JMP32_JNE_X, R1, R3, 4, 0),
            insn(JMP32_JNE_K, R4, 0, 3, 1),
            insn(JMP32_JNE_K, R5, 0, 2, 3),
            insn(ALU64_MOV_K, R0, 0, 0, 1),
            insn(EXIT, 0, 0, 0, 0),
            insn(ALU64_MOV_K, R0, 0, 0, 0),
            insn(EXIT, 0, 0, 0, 0),
        ];
        assert_eq!(p, expect);
        assert_eq!(expect[9].regs, 0x31);
    }

    #[test]
    fn program_matches_the_emulator() {
        let c = 2;
        let b = 1;
        let rw = (ACC_READ | ACC_WRITE) as u32;
        let deny_default = DeviceState {
            default_allow: false,
            exceptions: vec![
                Rule::new(true, DevType::Char, None, None, ACC_MKNOD),
                Rule::new(true, DevType::Char, Some(1), Some(5), ACC_ALL),
                Rule::new(true, DevType::Char, Some(136), None, ACC_READ | ACC_WRITE),
            ],
        };
        let p = compile(&deny_default);
        assert_eq!(run(&p, c, rw, 1, 5), 1); // /dev/zero
        assert_eq!(run(&p, c, rw, 1, 3), 0); // /dev/null
        assert_eq!(run(&p, c, ACC_MKNOD as u32, 1, 3), 1); // mknod any char
        assert_eq!(run(&p, b, ACC_MKNOD as u32, 8, 0), 0); // not block
        assert_eq!(run(&p, c, rw, 136, 7), 1); // pts
        assert_eq!(run(&p, c, rw | ACC_MKNOD as u32, 136, 7), 0); // rwm > rw
        let allow_default = DeviceState {
            default_allow: true,
            exceptions: vec![Rule::new(false, DevType::Char, Some(1), Some(3), ACC_WRITE)],
        };
        let p = compile(&allow_default);
        assert_eq!(run(&p, c, ACC_READ as u32, 1, 3), 1);
        assert_eq!(run(&p, c, rw, 1, 3), 0); // any denied bit denies
        assert_eq!(run(&p, b, rw, 1, 3), 1);
        assert_eq!(run(&p, c, rw, 1, 5), 1);
        assert_eq!(compile(&DeviceState::deny_all()).len(), 8);
    }
}
