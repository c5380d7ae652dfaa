//! A tiny cBPF interpreter for the opcodes seccomp filters use.

use crate::seccomp::bpf::{self, Insn};

/// `struct seccomp_data`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Data {
    pub nr: u32,
    pub arch: u32,
    pub ip: u64,
    pub args: [u64; 6],
}

impl Data {
    pub fn new(arch: u32, nr: u32, args: [u64; 6]) -> Self {
        Data {
            nr,
            arch,
            ip: 0x7fff_0000_1234,
            args,
        }
    }

    fn bytes(&self) -> [u8; 64] {
        let mut m = [0u8; 64];
        m[0..4].copy_from_slice(&self.nr.to_ne_bytes());
        m[4..8].copy_from_slice(&self.arch.to_ne_bytes());
        m[8..16].copy_from_slice(&self.ip.to_ne_bytes());
        for (i, a) in self.args.iter().enumerate() {
            m[16 + 8 * i..24 + 8 * i].copy_from_slice(&a.to_ne_bytes());
        }
        m
    }
}

/// Runs `prog` on `data` and returns the filter's return value.
pub fn run(prog: &[Insn], data: &Data) -> u32 {
    let mem = data.bytes();
    let mut a: u32 = 0;
    let mut pc = 0usize;
    loop {
        let i = prog[pc];
        pc += 1;
        let k = i.k;
        let skip = |cond: bool| usize::from(if cond { i.jt } else { i.jf });
        match i.code {
            bpf::LD_W_ABS => {
                let o = k as usize;
                a = u32::from_ne_bytes([mem[o], mem[o + 1], mem[o + 2], mem[o + 3]]);
            }
            bpf::ALU_AND_K => a &= k,
            bpf::JMP_JA => pc += k as usize,
            bpf::JMP_JEQ_K => pc += skip(a == k),
            bpf::JMP_JGT_K => pc += skip(a > k),
            bpf::JMP_JGE_K => pc += skip(a >= k),
            bpf::JMP_JSET_K => pc += skip(a & k != 0),
            bpf::RET_K => return k,
            other => panic!("opcode {other:#x} at {} not supported", pc - 1),
        }
    }
}
