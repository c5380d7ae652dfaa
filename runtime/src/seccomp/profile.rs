//! Validation of an OCI `linux.seccomp` object into berth's internal model.
//!
//! Works on JSON so that every error can name the offending field, e.g.
//! `linux.seccomp.syscalls[3].args[0].index: 7 is out of range (0-5)`, and so
//! that a raw config section can be checked before typed parsing.

use serde_json::{Map, Value};

use super::arch::{Arch, ArchName};
use super::SeccompError;

const ROOT: &str = "linux.seccomp";

/// What the filter does when it decides.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    KillThread,
    KillProcess,
    Trap,
    Errno(u16),
    Trace(u16),
    Allow,
    Log,
    Notify,
}

impl Action {
    /// The `SECCOMP_RET_*` value the filter returns.
    pub fn ret(self) -> u32 {
        match self {
            Action::KillThread => libc::SECCOMP_RET_KILL_THREAD,
            Action::KillProcess => libc::SECCOMP_RET_KILL_PROCESS,
            Action::Trap => libc::SECCOMP_RET_TRAP,
            Action::Errno(e) => libc::SECCOMP_RET_ERRNO | u32::from(e),
            Action::Trace(d) => libc::SECCOMP_RET_TRACE | u32::from(d),
            Action::Allow => libc::SECCOMP_RET_ALLOW,
            Action::Log => libc::SECCOMP_RET_LOG,
            Action::Notify => libc::SECCOMP_RET_USER_NOTIF,
        }
    }
}

/// Comparison operators, with libseccomp's meaning on unsigned 64-bit values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    Ne,
    Lt,
    Le,
    Eq,
    Ge,
    Gt,
    /// `(arg & value) == value_two`
    MaskedEq,
}

/// One argument condition.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Cond {
    pub index: u8,
    pub op: Op,
    pub value: u64,
    pub value_two: u64,
}

/// One `syscalls[]` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    pub names: Vec<String>,
    pub action: Action,
    /// The rule matches if ANY alternative matches, and an alternative if ALL
    /// its conditions hold. Empty: the rule is unconditional.
    ///
    /// As runc and crun do: without a repeated index, all conditions form one
    /// alternative (AND); if any index repeats, each condition is its own
    /// alternative (OR of all conditions), because libseccomp rejects a
    /// repeated index and runc/crun then add one rule per condition.
    pub alternatives: Vec<Vec<Cond>>,
}

/// A validated profile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Profile {
    pub default: Action,
    /// Architectures named by the profile that berth supports, in order, no
    /// duplicates (the native architecture is added by the compiler).
    pub arches: Vec<Arch>,
    /// `SECCOMP_FILTER_FLAG_*` bits requested by `flags`.
    pub flags: u32,
    pub rules: Vec<Rule>,
}

fn invalid(field: impl Into<String>, msg: impl Into<String>) -> SeccompError {
    SeccompError::Invalid {
        field: field.into(),
        msg: msg.into(),
    }
}

fn object<'a>(v: &'a Value, field: &str) -> Result<&'a Map<String, Value>, SeccompError> {
    v.as_object()
        .ok_or_else(|| invalid(field, format!("expected an object, got {v}")))
}

fn string<'a>(v: &'a Value, field: &str) -> Result<&'a str, SeccompError> {
    v.as_str()
        .ok_or_else(|| invalid(field, format!("expected a string, got {v}")))
}

fn uint(v: &Value, field: &str) -> Result<u64, SeccompError> {
    v.as_u64()
        .ok_or_else(|| invalid(field, format!("expected an unsigned integer, got {v}")))
}

/// An optional array: absent and `null` both mean empty.
fn array<'a>(
    obj: &'a Map<String, Value>,
    key: &str,
    field: &str,
) -> Result<&'a [Value], SeccompError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(items)) => Ok(items),
        Some(v) => Err(invalid(field, format!("expected an array, got {v}"))),
    }
}

fn present<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    obj.get(key).filter(|v| !v.is_null())
}

/// Parses `action` with its optional errno (field names for errors given).
fn action(
    name: &Value,
    errno: Option<&Value>,
    name_field: &str,
    errno_field: &str,
) -> Result<Action, SeccompError> {
    let s = string(name, name_field)?;
    let errno = match errno {
        None => None,
        Some(v) => {
            let e = uint(v, errno_field)?;
            Some(
                u16::try_from(e)
                    .map_err(|_| invalid(errno_field, format!("{e} is out of range (0-65535)")))?,
            )
        }
    };
    let eperm = libc::EPERM as u16;
    let act = match s {
        "SCMP_ACT_KILL" | "SCMP_ACT_KILL_THREAD" => Action::KillThread,
        "SCMP_ACT_KILL_PROCESS" => Action::KillProcess,
        "SCMP_ACT_TRAP" => Action::Trap,
        "SCMP_ACT_ERRNO" => return Ok(Action::Errno(errno.unwrap_or(eperm))),
        "SCMP_ACT_TRACE" => return Ok(Action::Trace(errno.unwrap_or(eperm))),
        "SCMP_ACT_ALLOW" => Action::Allow,
        "SCMP_ACT_LOG" => Action::Log,
        "SCMP_ACT_NOTIFY" => Action::Notify,
        other => return Err(invalid(name_field, format!("unknown action {other:?}"))),
    };
    if errno.is_some() {
        return Err(invalid(
            errno_field,
            format!("{s} does not take an errno (only SCMP_ACT_ERRNO and SCMP_ACT_TRACE do)"),
        ));
    }
    Ok(act)
}

fn operator(v: &Value, field: &str) -> Result<Op, SeccompError> {
    Ok(match string(v, field)? {
        "SCMP_CMP_NE" => Op::Ne,
        "SCMP_CMP_LT" => Op::Lt,
        "SCMP_CMP_LE" => Op::Le,
        "SCMP_CMP_EQ" => Op::Eq,
        "SCMP_CMP_GE" => Op::Ge,
        "SCMP_CMP_GT" => Op::Gt,
        "SCMP_CMP_MASKED_EQ" => Op::MaskedEq,
        other => return Err(invalid(field, format!("unknown operator {other:?}"))),
    })
}

fn required<'a>(
    obj: &'a Map<String, Value>,
    key: &str,
    field: &str,
) -> Result<&'a Value, SeccompError> {
    present(obj, key).ok_or_else(|| invalid(format!("{field}.{key}"), "is required"))
}

fn condition(v: &Value, field: &str) -> Result<Cond, SeccompError> {
    let obj = object(v, field)?;
    let index_field = format!("{field}.index");
    let index = uint(required(obj, "index", field)?, &index_field)?;
    let index = u8::try_from(index)
        .ok()
        .filter(|i| *i <= 5)
        .ok_or_else(|| invalid(&index_field, format!("{index} is out of range (0-5)")))?;
    let value = uint(required(obj, "value", field)?, &format!("{field}.value"))?;
    let value_two = match present(obj, "valueTwo") {
        Some(v) => uint(v, &format!("{field}.valueTwo"))?,
        None => 0,
    };
    let op = operator(required(obj, "op", field)?, &format!("{field}.op"))?;
    Ok(Cond {
        index,
        op,
        value,
        value_two,
    })
}

fn rule(v: &Value, field: &str) -> Result<Rule, SeccompError> {
    let obj = object(v, field)?;
    let names_field = format!("{field}.names");
    let names = array(obj, "names", &names_field)?;
    if names.is_empty() {
        return Err(invalid(
            names_field,
            "must contain at least one syscall name",
        ));
    }
    let mut out_names = Vec::with_capacity(names.len());
    for (i, n) in names.iter().enumerate() {
        let name = string(n, &format!("{names_field}[{i}]"))?;
        if name.is_empty() {
            return Err(invalid(format!("{names_field}[{i}]"), "empty syscall name"));
        }
        out_names.push(name.to_owned());
    }
    let act = action(
        required(obj, "action", field)?,
        present(obj, "errnoRet"),
        &format!("{field}.action"),
        &format!("{field}.errnoRet"),
    )?;
    let args_field = format!("{field}.args");
    let mut conds = Vec::new();
    for (i, a) in array(obj, "args", &args_field)?.iter().enumerate() {
        conds.push(condition(a, &format!("{args_field}[{i}]"))?);
    }
    Ok(Rule {
        names: out_names,
        action: act,
        alternatives: alternatives(conds),
    })
}

/// Groups conditions the way runc and crun hand them to libseccomp.
fn alternatives(conds: Vec<Cond>) -> Vec<Vec<Cond>> {
    if conds.is_empty() {
        return Vec::new();
    }
    let mut seen = [false; 6];
    let repeated = conds
        .iter()
        .any(|c| std::mem::replace(&mut seen[usize::from(c.index)], true));
    if repeated {
        conds.into_iter().map(|c| vec![c]).collect()
    } else {
        vec![conds]
    }
}

fn arches(obj: &Map<String, Value>) -> Result<Vec<Arch>, SeccompError> {
    let field = format!("{ROOT}.architectures");
    let mut out = Vec::new();
    for (i, v) in array(obj, "architectures", &field)?.iter().enumerate() {
        let f = format!("{field}[{i}]");
        let name = string(v, &f)?;
        match Arch::from_scmp(name) {
            ArchName::Supported(a) if !out.contains(&a) => out.push(a),
            ArchName::Supported(_) => {}
            ArchName::Unsupported => {
                tracing::debug!("seccomp: {f}: {name} has no syscall table in berth, skipped");
            }
            ArchName::Unknown => return Err(invalid(f, format!("unknown architecture {name:?}"))),
        }
    }
    Ok(out)
}

fn flags(obj: &Map<String, Value>) -> Result<u32, SeccompError> {
    let field = format!("{ROOT}.flags");
    let mut out = 0;
    for (i, v) in array(obj, "flags", &field)?.iter().enumerate() {
        let f = format!("{field}[{i}]");
        let bit = match string(v, &f)? {
            "SECCOMP_FILTER_FLAG_TSYNC" => libc::SECCOMP_FILTER_FLAG_TSYNC,
            "SECCOMP_FILTER_FLAG_LOG" => libc::SECCOMP_FILTER_FLAG_LOG,
            "SECCOMP_FILTER_FLAG_SPEC_ALLOW" => libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW,
            "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV" => {
                libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
            }
            other => return Err(invalid(f, format!("unknown flag {other:?}"))),
        };
        out |= bit as u32;
    }
    Ok(out)
}

/// Validates a `linux.seccomp` JSON object.
pub fn from_json(v: &Value) -> Result<Profile, SeccompError> {
    let obj = object(v, ROOT)?;
    let default = action(
        required(obj, "defaultAction", ROOT)?,
        present(obj, "defaultErrnoRet"),
        &format!("{ROOT}.defaultAction"),
        &format!("{ROOT}.defaultErrnoRet"),
    )?;
    if default == Action::Notify {
        // As runc: the runtime's own syscalls between loading the filter and
        // execve (including handing over the listener fd) would block forever.
        return Err(invalid(
            format!("{ROOT}.defaultAction"),
            "SCMP_ACT_NOTIFY cannot be the default action",
        ));
    }
    let field = format!("{ROOT}.syscalls");
    let mut rules = Vec::new();
    for (i, r) in array(obj, "syscalls", &field)?.iter().enumerate() {
        let f = format!("{field}[{i}]");
        let rule = rule(r, &f)?;
        // Between loading the filter and handing its listener fd over, the
        // process must not block on a notification nobody can answer yet:
        // runc refuses write (its hand-over), berth needs sendmsg.
        if rule.action == Action::Notify {
            if let Some(n) = rule.names.iter().find(|n| *n == "write" || *n == "sendmsg") {
                return Err(invalid(
                    format!("{f}.action"),
                    format!("SCMP_ACT_NOTIFY cannot be used for the {n} syscall"),
                ));
            }
        }
        rules.push(rule);
    }
    Ok(Profile {
        default,
        arches: arches(obj)?,
        flags: flags(obj)?,
        rules,
    })
}
