//! Profile → cBPF program.
//!
//! Layout:
//! ```text
//!   ld arch
//!   jeq AUDIT_ARCH_<A>, secA      one test per architecture
//!   ...
//!   ret KILL_PROCESS              architecture not in the profile
//! secA:
//!   ld nr
//!   [x86_64: jset X32_BIT, x32]   x32 numbers never reach the x86_64 rules
//!                                 (and get KILL_PROCESS without SCMP_ARCH_X32)
//!   binary search over intervals of syscall numbers; each leaf is either
//!   `ret <action>` or the syscall's argument checks, inline
//! ```
//! Semantics where the runtime-spec is silent (see `mod.rs` for the list):
//! a rule whose action equals the default action is dropped (runc, crun); if a
//! syscall has an unconditional rule the first one decides (libseccomp); else
//! its conditional rules are tried in profile order, the first match wins.

use super::arch::{Arch, X32_SYSCALL_BIT};
use super::bpf::{arg_offset, Cond as J, Emitter, Insn, Label, Target, OFF_ARCH, OFF_NR};
use super::profile::{Action, Cond, Op, Profile, Rule};
use super::SeccompError;

/// Returned for an architecture the profile does not list (libseccomp's "bad
/// arch action" is KILL_THREAD; killing the whole process is the safer choice).
pub const BAD_ARCH: Action = Action::KillProcess;

/// What happens to a range of syscall numbers.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Outcome {
    Ret(u32),
    /// Conditional rules in profile order: (return value, alternatives).
    Rules(Vec<(u32, Vec<Vec<Cond>>)>),
}

/// Compiles `p` for a machine whose native architecture is `native`.
pub fn compile(p: &Profile, native: Arch) -> Result<Vec<Insn>, SeccompError> {
    let mut arches = vec![native];
    for a in &p.arches {
        if !arches.contains(a) {
            arches.push(*a);
        }
    }
    // Group by seccomp_data.arch: x86_64 and x32 share one value.
    let mut groups: Vec<(u32, Vec<Arch>)> = Vec::new();
    for a in arches {
        match groups.iter_mut().find(|(audit, _)| *audit == a.audit()) {
            Some((_, members)) => members.push(a),
            None => groups.push((a.audit(), vec![a])),
        }
    }
    let mut e = Emitter::new();
    e.load(OFF_ARCH);
    let labels: Vec<Label> = groups.iter().map(|_| e.label()).collect();
    for ((audit, _), label) in groups.iter().zip(&labels) {
        e.jump(J::Eq, *audit, Target::To(*label), Target::Next);
    }
    e.ret(BAD_ARCH.ret());
    for ((_, members), label) in groups.iter().zip(&labels) {
        e.bind(*label);
        e.load(OFF_NR);
        if members
            .iter()
            .any(|a| matches!(a, Arch::X86_64 | Arch::X32))
        {
            emit_x86_64_group(&mut e, p, members);
        } else {
            for a in members {
                emit_tree(&mut e, &intervals(p, *a), p.default.ret());
            }
        }
    }
    let prog = e.assemble()?;
    if prog.len() > super::bpf::MAX_INSNS {
        return Err(SeccompError::TooLong { len: prog.len() });
    }
    Ok(prog)
}

/// x86_64 and x32 share AUDIT_ARCH_X86_64; x32 numbers carry X32_SYSCALL_BIT.
fn emit_x86_64_group(e: &mut Emitter, p: &Profile, members: &[Arch]) {
    let x32 = e.label();
    e.jump(J::Set, X32_SYSCALL_BIT, Target::To(x32), Target::Next);
    if members.contains(&Arch::X86_64) {
        emit_tree(e, &intervals(p, Arch::X86_64), p.default.ret());
    } else {
        e.ret(BAD_ARCH.ret());
    }
    e.bind(x32);
    if members.contains(&Arch::X32) {
        emit_tree(e, &intervals(p, Arch::X32), p.default.ret());
    } else {
        // A profile without SCMP_ARCH_X32: x32 syscalls must not bypass the
        // x86_64 rules. The default action would let them bypass a deny-list
        // profile (default ALLOW), so they get the bad-arch action, as with
        // libseccomp.
        e.ret(BAD_ARCH.ret());
    }
}

/// Whether syscalls numbered above the profile's newest get ENOSYS (as runc:
/// not when the default action lets syscalls run anyway).
fn enosys_for_newer(default: Action) -> bool {
    let permissive = matches!(default, Action::Allow | Action::Log | Action::Trace(_));
    !permissive && default != ENOSYS
}

const ENOSYS: Action = Action::Errno(libc::ENOSYS as u16);

/// The decision for one syscall given the rules naming it, in profile order.
fn resolve<'a>(rules: impl Iterator<Item = &'a Rule> + Clone, default: Action) -> Option<Outcome> {
    let mut live = rules.filter(|r| r.action.ret() != default.ret());
    if let Some(r) = live.clone().find(|r| r.alternatives.is_empty()) {
        return Some(Outcome::Ret(r.action.ret()));
    }
    let conditional: Vec<_> = live
        .by_ref()
        .map(|r| (r.action.ret(), r.alternatives.clone()))
        .collect();
    (!conditional.is_empty()).then_some(Outcome::Rules(conditional))
}

/// Sorted, contiguous intervals `(first nr, outcome)` covering all of u32.
fn intervals(p: &Profile, arch: Arch) -> Vec<(u32, Outcome)> {
    // (nr, rule index): sorting keeps the rules of one syscall in profile order.
    let mut hits: Vec<(u32, usize)> = Vec::with_capacity(512);
    for (i, rule) in p.rules.iter().enumerate() {
        for name in &rule.names {
            match arch.syscall(name) {
                Some(nr) => hits.push((nr, i)),
                None => tracing::debug!(
                    "seccomp: syscall {name} unknown on {}, skipped",
                    arch.name()
                ),
            }
        }
    }
    hits.sort_unstable();
    let default = Outcome::Ret(p.default.ret());
    let mut out = vec![(0, default.clone())];
    for group in hits.chunk_by(|a, b| a.0 == b.0) {
        let nr = group[0].0;
        let rules = group.iter().map(|&(_, i)| &p.rules[i]);
        if let Some(outcome) = resolve(rules, p.default) {
            set_from(&mut out, nr, outcome);
            if let Some(next) = nr.checked_add(1) {
                set_from(&mut out, next, default.clone());
            }
        }
    }
    let newest = hits.last().map(|&(nr, _)| nr);
    if let Some(next) = newest.and_then(|n| n.checked_add(1)) {
        if enosys_for_newer(p.default) {
            set_from(&mut out, next, Outcome::Ret(ENOSYS.ret()));
        }
    }
    out
}

/// Makes numbers from `start` on (up to the next boundary pushed) get `outcome`.
/// `start` must not be below the last interval's start.
fn set_from(out: &mut Vec<(u32, Outcome)>, start: u32, outcome: Outcome) {
    if let Some(last) = out.last_mut() {
        if last.0 == start {
            last.1 = outcome;
            let n = out.len();
            if n >= 2 && out[n - 2].1 == out[n - 1].1 {
                out.pop();
            }
            return;
        }
        if last.1 == outcome {
            return;
        }
    }
    out.push((start, outcome));
}

/// Binary search over interval starts; A holds the syscall number.
fn emit_tree(e: &mut Emitter, iv: &[(u32, Outcome)], default: u32) {
    match iv {
        [] => {}
        [(_, outcome)] => emit_outcome(e, outcome, default),
        _ => {
            let mid = iv.len() / 2;
            let right = e.label();
            e.jump(J::Ge, iv[mid].0, Target::To(right), Target::Next);
            emit_tree(e, &iv[..mid], default);
            e.bind(right);
            emit_tree(e, &iv[mid..], default);
        }
    }
}

fn emit_outcome(e: &mut Emitter, outcome: &Outcome, default: u32) {
    let rules = match outcome {
        Outcome::Ret(v) => return e.ret(*v),
        Outcome::Rules(rules) => rules,
    };
    for (ret, alts) in rules {
        let matched = e.label();
        let next_rule = e.label();
        for (ai, alt) in alts.iter().enumerate() {
            let fail = if ai + 1 == alts.len() {
                next_rule
            } else {
                e.label()
            };
            for (ci, cond) in alt.iter().enumerate() {
                let ok = if ci + 1 == alt.len() {
                    matched
                } else {
                    e.label()
                };
                emit_cond(e, cond, ok, fail);
                if ok != matched {
                    e.bind(ok);
                }
            }
            if fail != next_rule {
                e.bind(fail);
            }
        }
        e.bind(matched);
        e.ret(*ret);
        e.bind(next_rule);
    }
    // No conditional rule matched.
    e.ret(default);
}

/// Emits a 64-bit unsigned comparison of argument `c.index` that jumps to `t`
/// if the condition holds and to `f` otherwise.
fn emit_cond(e: &mut Emitter, c: &Cond, t: Label, f: Label) {
    let (vh, vl) = ((c.value >> 32) as u32, c.value as u32);
    let (to_t, to_f, next) = (Target::To(t), Target::To(f), Target::Next);
    let (hi, lo) = (arg_offset(c.index, true), arg_offset(c.index, false));
    match c.op {
        Op::Eq | Op::Ne => {
            let (yes, no) = if c.op == Op::Eq {
                (to_t, to_f)
            } else {
                (to_f, to_t)
            };
            e.load(hi);
            e.jump(J::Eq, vh, next, no);
            e.load(lo);
            e.jump(J::Eq, vl, yes, no);
        }
        Op::Gt | Op::Le | Op::Ge | Op::Lt => {
            // a > v  ⇔  a.hi > v.hi, or a.hi == v.hi and a.lo > v.lo (≥ for GE).
            let (yes, no) = if matches!(c.op, Op::Gt | Op::Ge) {
                (to_t, to_f)
            } else {
                (to_f, to_t)
            };
            let low = if matches!(c.op, Op::Gt | Op::Le) {
                J::Gt
            } else {
                J::Ge
            };
            e.load(hi);
            e.jump(J::Gt, vh, yes, next);
            e.jump(J::Eq, vh, next, no);
            e.load(lo);
            e.jump(low, vl, yes, no);
        }
        Op::MaskedEq => {
            let (mh, ml) = ((c.value >> 32) as u32, c.value as u32);
            let (dh, dl) = ((c.value_two >> 32) as u32, c.value_two as u32);
            if mh != 0 || dh != 0 {
                e.load(hi);
                if mh != u32::MAX {
                    e.and(mh);
                }
                e.jump(J::Eq, dh, next, to_f);
            }
            e.load(lo);
            if ml != u32::MAX {
                e.and(ml);
            }
            e.jump(J::Eq, dl, to_t, to_f);
        }
    }
}
