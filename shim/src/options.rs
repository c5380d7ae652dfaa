//! Runtime options containerd passes with Create (and to `start` on stdin).
//!
//! Two encodings arrive in practice:
//! - `containerd.runc.v1.Options`, the runc shim's options (CRI with a
//!   runc-style `options` table; clients that know the runc options);
//! - `runtimeoptions.v1.Options` {type_url, config_path}, what `ctr
//!   --runtime-config-path FILE` and CRI send for non-runc runtime types: the
//!   options then live in FILE, a TOML table with the runc option names
//!   (`BinaryName = "/usr/sbin/runc"`, `Root = "…"`, `SystemdCgroup = true`, …).

use std::path::Path;

use containerd_shim::api::Options as RuncOptions;
use containerd_shim::protos::protobuf::well_known_types::any::Any;
use containerd_shim::protos::protobuf::Message;
use serde::{Deserialize, Serialize};

use crate::error::{Error, IoContext, Result};

/// containerd's runc shim default root.
pub const DEFAULT_ROOT: &str = "/run/containerd/runc";
pub const DEFAULT_BINARY: &str = "berth";

/// The options the shim honours.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Options {
    pub binary_name: String,
    pub root: String,
    pub systemd_cgroup: bool,
    pub no_pivot_root: bool,
    pub no_new_keyring: bool,
    pub shim_cgroup: String,
    pub io_uid: u32,
    pub io_gid: u32,
}

impl Options {
    pub fn binary_or_default(&self) -> &str {
        if self.binary_name.is_empty() {
            DEFAULT_BINARY
        } else {
            &self.binary_name
        }
    }

    pub fn root_or_default(&self) -> &str {
        if self.root.is_empty() {
            DEFAULT_ROOT
        } else {
            &self.root
        }
    }
}

impl From<RuncOptions> for Options {
    fn from(o: RuncOptions) -> Options {
        Options {
            binary_name: o.binary_name,
            root: o.root,
            systemd_cgroup: o.systemd_cgroup,
            no_pivot_root: o.no_pivot_root,
            no_new_keyring: o.no_new_keyring,
            shim_cgroup: o.shim_cgroup,
            io_uid: o.io_uid,
            io_gid: o.io_gid,
        }
    }
}

/// Decodes the options `Any` (absent or empty: defaults).
pub fn from_any(any: Option<&Any>) -> Result<Options> {
    let Some(any) = any.filter(|a| !a.type_url.is_empty() || !a.value.is_empty()) else {
        return Ok(Options::default());
    };
    let name = any.type_url.rsplit('/').next().unwrap_or_default();
    match name {
        "containerd.runc.v1.Options" => RuncOptions::parse_from_bytes(&any.value)
            .map(Options::from)
            .map_err(|e| Error::InvalidArgument(format!("runc options: {e}"))),
        "runtimeoptions.v1.Options" => {
            let fields = string_fields(&any.value)?;
            match fields.iter().find(|(n, _)| *n == 2) {
                Some((_, path)) if !path.is_empty() => from_config_file(Path::new(path)),
                _ => Ok(Options::default()),
            }
        }
        other => Err(Error::InvalidArgument(format!(
            "unsupported runtime options type {other:?}"
        ))),
    }
}

/// The string (length-delimited) fields of a protobuf message, by number;
/// varint fields are skipped. Enough for runtimeoptions.v1.Options.
pub fn string_fields(mut b: &[u8]) -> Result<Vec<(u64, String)>> {
    let bad = || Error::InvalidArgument("malformed runtimeoptions.v1.Options".into());
    let mut out = Vec::new();
    while !b.is_empty() {
        let tag = varint(&mut b).ok_or_else(bad)?;
        match tag & 7 {
            0 => {
                varint(&mut b).ok_or_else(bad)?;
            }
            2 => {
                let len = usize::try_from(varint(&mut b).ok_or_else(bad)?).map_err(|_| bad())?;
                if len > b.len() {
                    return Err(bad());
                }
                let (s, rest) = b.split_at(len);
                out.push((tag >> 3, String::from_utf8_lossy(s).into_owned()));
                b = rest;
            }
            _ => return Err(bad()),
        }
    }
    Ok(out)
}

fn varint(b: &mut &[u8]) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = b.split_first()?;
        *b = rest;
        v |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// Reads the TOML options file (see the module doc).
pub fn from_config_file(path: &Path) -> Result<Options> {
    let text = std::fs::read_to_string(path).ctx(|| format!("read {}", path.display()))?;
    parse_toml(&text).map_err(|e| Error::InvalidArgument(format!("{}: {e}", path.display())))
}

/// The flat `Key = value` subset of TOML the options need: strings, bools,
/// integers; comments and table headers are ignored.
pub fn parse_toml(text: &str) -> std::result::Result<Options, String> {
    let mut o = Options::default();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with('[') {
            continue;
        }
        let (k, v) = line
            .split_once('=')
            .ok_or_else(|| format!("line {}: expected key = value", n + 1))?;
        let (k, v) = (k.trim().trim_matches('"'), strip_comment(v.trim()));
        let s = || -> std::result::Result<String, String> {
            v.strip_prefix('"')
                .and_then(|x| x.strip_suffix('"'))
                .or_else(|| v.strip_prefix('\'').and_then(|x| x.strip_suffix('\'')))
                .map(str::to_string)
                .ok_or_else(|| format!("line {}: {k} wants a string", n + 1))
        };
        let b = || {
            v.parse::<bool>()
                .map_err(|_| format!("line {}: {k} wants true or false", n + 1))
        };
        let u = || {
            v.parse::<u32>()
                .map_err(|_| format!("line {}: {k} wants a number", n + 1))
        };
        match k {
            "BinaryName" => o.binary_name = s()?,
            "Root" => o.root = s()?,
            "ShimCgroup" => o.shim_cgroup = s()?,
            "SystemdCgroup" => o.systemd_cgroup = b()?,
            "NoPivotRoot" => o.no_pivot_root = b()?,
            "NoNewKeyring" => o.no_new_keyring = b()?,
            "IoUid" => o.io_uid = u()?,
            "IoGid" => o.io_gid = u()?,
            _ => tracing::debug!("runtime options: ignoring {k}"),
        }
    }
    Ok(o)
}

fn strip_comment(v: &str) -> &str {
    if v.starts_with('"') || v.starts_with('\'') {
        return v;
    }
    v.split('#').next().unwrap_or(v).trim()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_subset() {
        let o = parse_toml(
            "# berth shim\n[options]\nBinaryName = \"/usr/sbin/runc\"\nRoot='/run/x'\n\
             SystemdCgroup = false # no systemd\nNoPivotRoot = true\nIoUid = 1000\nOther = 3\n",
        )
        .unwrap();
        assert_eq!(o.binary_name, "/usr/sbin/runc");
        assert_eq!(o.root, "/run/x");
        assert!(o.no_pivot_root && !o.systemd_cgroup);
        assert_eq!(o.io_uid, 1000);
        assert!(parse_toml("BinaryName = runc").is_err());
        assert!(parse_toml("NoPivotRoot = yes").is_err());
    }

    #[test]
    fn runtimeoptions_wire_format() {
        // field 1 "t", field 2 "/etc/x.toml"
        let mut b = vec![0x0a, 1, b't', 0x12, 11];
        b.extend_from_slice(b"/etc/x.toml");
        let f = string_fields(&b).unwrap();
        assert_eq!(f, vec![(1, "t".into()), (2, "/etc/x.toml".into())]);
        assert!(string_fields(&[0x12, 5, b'a']).is_err());
    }

    #[test]
    fn runc_options_any() {
        let mut r = RuncOptions::new();
        r.binary_name = "/usr/sbin/runc".into();
        r.no_new_keyring = true;
        let any = Any {
            type_url: "containerd.runc.v1.Options".into(),
            value: r.write_to_bytes().unwrap(),
            ..Default::default()
        };
        let o = from_any(Some(&any)).unwrap();
        assert_eq!(o.binary_or_default(), "/usr/sbin/runc");
        assert!(o.no_new_keyring);
        assert_eq!(from_any(None).unwrap().binary_or_default(), "berth");
        assert_eq!(from_any(None).unwrap().root_or_default(), DEFAULT_ROOT);
    }
}
