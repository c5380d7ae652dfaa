//! Classic BPF for seccomp: the instruction type, the few opcodes seccomp
//! filters need, and an emitter with symbolic labels.
//!
//! cBPF conditional jumps are forward-only with 8-bit offsets. The emitter
//! lets callers jump to any later label; [`Emitter::assemble`] lays the
//! program out and, where a conditional jump would reach further than 255
//! instructions, routes it through a `ja` trampoline placed right after the
//! jump (`ja` has a 32-bit offset).

use super::SeccompError;

/// The kernel's limit on filter length (BPF_MAXINSNS).
pub const MAX_INSNS: usize = 4096;

/// `ld [k]`: load the 32-bit word at offset k of `struct seccomp_data`.
pub const LD_W_ABS: u16 = 0x20;
/// `and #k`
pub const ALU_AND_K: u16 = 0x54;
/// `ja k`
pub const JMP_JA: u16 = 0x05;
/// `jeq #k, jt, jf`
pub const JMP_JEQ_K: u16 = 0x15;
/// `jgt #k, jt, jf` (unsigned)
pub const JMP_JGT_K: u16 = 0x25;
/// `jge #k, jt, jf` (unsigned)
pub const JMP_JGE_K: u16 = 0x35;
/// `jset #k, jt, jf` (A & k != 0)
pub const JMP_JSET_K: u16 = 0x45;
/// `ret #k`
pub const RET_K: u16 = 0x06;

/// Offsets into `struct seccomp_data { int nr; u32 arch; u64 ip; u64 args[6]; }`.
pub const OFF_NR: u32 = 0;
pub const OFF_ARCH: u32 = 4;
const OFF_ARGS: u32 = 16;

/// Offset of the low (`hi == false`) or high 32-bit half of argument `index`.
pub fn arg_offset(index: u8, hi: bool) -> u32 {
    let base = OFF_ARGS + 8 * u32::from(index);
    // The filter runs on the native (host) CPU, so the halves follow its endianness.
    let hi_first = cfg!(target_endian = "big");
    if hi == hi_first {
        base
    } else {
        base + 4
    }
}

/// One cBPF instruction, laid out exactly like the kernel's `struct
/// sock_filter` (defined next to the syscall that loads it).
pub use crate::sys::seccomp::Insn;

/// A jump target inside an [`Emitter`]; bind it with [`Emitter::bind`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Label(usize);

/// Where a conditional branch goes: the next instruction or a label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    Next,
    To(Label),
}

/// Conditions of conditional jumps (all compare A with the constant k).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cond {
    Eq,
    Gt,
    Ge,
    Set,
}

impl Cond {
    fn code(self) -> u16 {
        match self {
            Cond::Eq => JMP_JEQ_K,
            Cond::Gt => JMP_JGT_K,
            Cond::Ge => JMP_JGE_K,
            Cond::Set => JMP_JSET_K,
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Op {
    Plain(Insn),
    Jcc {
        cond: Cond,
        k: u32,
        jt: Target,
        jf: Target,
    },
}

/// Collects instructions with symbolic forward jumps.
#[derive(Default)]
pub struct Emitter {
    ops: Vec<Op>,
    /// For each label, the index of the op it is bound before.
    labels: Vec<Option<usize>>,
}

impl Emitter {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn label(&mut self) -> Label {
        self.labels.push(None);
        Label(self.labels.len() - 1)
    }

    /// Binds `label` to the next instruction emitted.
    pub fn bind(&mut self, label: Label) {
        self.labels[label.0] = Some(self.ops.len());
    }

    pub fn load(&mut self, offset: u32) {
        self.ops.push(Op::Plain(Insn::new(LD_W_ABS, 0, 0, offset)));
    }

    pub fn and(&mut self, mask: u32) {
        self.ops.push(Op::Plain(Insn::new(ALU_AND_K, 0, 0, mask)));
    }

    pub fn ret(&mut self, value: u32) {
        self.ops.push(Op::Plain(Insn::new(RET_K, 0, 0, value)));
    }

    pub fn jump(&mut self, cond: Cond, k: u32, jt: Target, jf: Target) {
        self.ops.push(Op::Jcc { cond, k, jt, jf });
    }

    /// Lays out the program, adding trampolines for far conditional jumps.
    pub fn assemble(&self) -> Result<Vec<Insn>, SeccompError> {
        // far[i] = (jt needs a trampoline, jf needs a trampoline). Marking a
        // jump far only ever grows the program, so this loop terminates.
        let mut far = vec![(false, false); self.ops.len()];
        loop {
            let pos = self.positions(&far);
            let mut changed = false;
            for (i, op) in self.ops.iter().enumerate() {
                if let Op::Jcc { jt, jf, .. } = *op {
                    let from = pos[i] + 1;
                    for (slot, target) in [(0, jt), (1, jf)] {
                        let dist = self.target_pos(target, i, &pos)? - from;
                        let is_far = if slot == 0 {
                            &mut far[i].0
                        } else {
                            &mut far[i].1
                        };
                        if dist > 255 && !*is_far {
                            *is_far = true;
                            changed = true;
                        }
                    }
                }
            }
            if !changed {
                return self.emit(&far, &pos);
            }
        }
    }

    /// Position of every op once trampolines are inserted; `pos[len]` is the end.
    fn positions(&self, far: &[(bool, bool)]) -> Vec<usize> {
        let mut pos = Vec::with_capacity(self.ops.len() + 1);
        let mut at = 0;
        for f in far {
            pos.push(at);
            at += 1 + usize::from(f.0) + usize::from(f.1);
        }
        pos.push(at);
        pos
    }

    fn label_pos(&self, label: Label, pos: &[usize]) -> Result<usize, SeccompError> {
        match self.labels.get(label.0).copied().flatten() {
            Some(op) => Ok(pos[op]),
            None => Err(SeccompError::Internal(format!(
                "label {} never bound",
                label.0
            ))),
        }
    }

    /// Absolute position a branch of op `i` lands on (trampolines excluded).
    fn target_pos(&self, target: Target, i: usize, pos: &[usize]) -> Result<usize, SeccompError> {
        let to = match target {
            Target::Next => pos[i + 1],
            Target::To(label) => self.label_pos(label, pos)?,
        };
        if to <= pos[i] {
            return Err(SeccompError::Internal(format!("backward jump at op {i}")));
        }
        Ok(to)
    }

    fn emit(&self, far: &[(bool, bool)], pos: &[usize]) -> Result<Vec<Insn>, SeccompError> {
        let total = pos[self.ops.len()];
        let mut out = Vec::with_capacity(total);
        for (i, op) in self.ops.iter().enumerate() {
            match *op {
                Op::Plain(insn) => out.push(insn),
                Op::Jcc { cond, k, jt, jf } => {
                    self.emit_jcc(&mut out, (cond, k, jt, jf), i, far[i], pos)?;
                }
            }
        }
        Ok(out)
    }

    fn emit_jcc(
        &self,
        out: &mut Vec<Insn>,
        (cond, k, jt, jf): (Cond, u32, Target, Target),
        i: usize,
        far: (bool, bool),
        pos: &[usize],
    ) -> Result<(), SeccompError> {
        let from = pos[i] + 1;
        let t_to = self.target_pos(jt, i, pos)?;
        let f_to = self.target_pos(jf, i, pos)?;
        // Trampolines sit at `from` (for jt) and after it (for jf).
        let t_off = if far.0 { 0 } else { t_to - from };
        let f_off = if far.1 {
            usize::from(far.0)
        } else {
            f_to - from
        };
        let (Ok(jt8), Ok(jf8)) = (u8::try_from(t_off), u8::try_from(f_off)) else {
            return Err(SeccompError::Internal(format!(
                "jump out of range at op {i}"
            )));
        };
        out.push(Insn::new(cond.code(), jt8, jf8, k));
        let mut at = from;
        for (is_far, to) in [(far.0, t_to), (far.1, f_to)] {
            if is_far {
                out.push(Insn::new(JMP_JA, 0, 0, checked_offset(to, at + 1)?));
                at += 1;
            }
        }
        Ok(())
    }
}

fn checked_offset(to: usize, from: usize) -> Result<u32, SeccompError> {
    to.checked_sub(from)
        .and_then(|d| u32::try_from(d).ok())
        .ok_or_else(|| SeccompError::Internal("bad ja offset".into()))
}

/// Checks what the kernel's `sk_chk_filter` + `seccomp_check_filter` would
/// check for the opcodes this module emits: length, known opcodes, aligned
/// in-bounds loads, jumps inside the program, and a final return.
pub fn validate(prog: &[Insn]) -> Result<(), String> {
    if prog.is_empty() || prog.len() > MAX_INSNS {
        return Err(format!(
            "{} instructions (must be 1-{MAX_INSNS})",
            prog.len()
        ));
    }
    for (i, insn) in prog.iter().enumerate() {
        let rest = prog.len() - i - 1;
        let ok = match insn.code {
            LD_W_ABS => insn.k % 4 == 0 && insn.k < 64,
            ALU_AND_K | RET_K => true,
            JMP_JA => (insn.k as usize) < rest,
            JMP_JEQ_K | JMP_JGT_K | JMP_JGE_K | JMP_JSET_K => {
                usize::from(insn.jt) < rest && usize::from(insn.jf) < rest
            }
            _ => false,
        };
        if !ok {
            return Err(format!("instruction {i} ({insn:?}) is invalid"));
        }
    }
    match prog.last() {
        Some(last) if last.code == RET_K => Ok(()),
        _ => Err("program does not end in a return".into()),
    }
}
