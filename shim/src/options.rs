//! Runtime options containerd passes with Create (and to `start` on stdin).
//!
//! Two encodings arrive in practice:
//! - `containerd.runc.v1.Options`, the runc shim's options (CRI with a
//!   runc-style `options` table; clients that know the runc options);
//! - `runtimeoptions.v1.Options` {type_url, config_path}, what `ctr
//!   --runtime-config-path FILE` and CRI send for non-runc runtime types: the
//!   options then live in FILE, a TOML document with the runc option names
//!   as top-level keys (`BinaryName = "/usr/sbin/runc"`, `Root = "…"`,
//!   `SystemdCgroup = true`, …).
//!
//! containerd never writes FILE: it passes the path it was given (ctr's
//! flag, CRI's `ConfigPath` option), so FILE is the administrator's, and a
//! mistake in it is an error naming the file, the line and the key (an
//! unknown key, a table, a value of the wrong type), never a silently
//! ignored setting.

use std::path::Path;

use containerd_shim::api::Options as RuncOptions;
use containerd_shim::protos::protobuf::well_known_types::any::Any;
use containerd_shim::protos::protobuf::Message;
use serde::Deserialize;

use crate::error::{Error, IoContext, Result};

/// The runtime's state root when the options give none (the namespace is
/// appended). containerd 1.6's CRI hands a non-runc runtime type no options
/// at all unless its config names a `ConfigPath`, so these defaults are what
/// a plain `runtime_type = "io.containerd.berth.v2"` handler runs with: our
/// own root beside containerd's runc one (/run/containerd/runc), and berth
/// found next to the shim binary (`runtime::find_binary`).
pub const DEFAULT_ROOT: &str = "/run/containerd/berth";
pub const DEFAULT_BINARY: &str = "berth";

/// The options the shim honours; as deserialised, the options file.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "PascalCase")]
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

/// Parses the options file's text; the error says where (the line, and the
/// key when the value is wrong) and what.
pub fn parse_toml(text: &str) -> std::result::Result<Options, String> {
    toml::from_str(text).map_err(|e| {
        let msg = e.message().trim_end();
        let Some(span) = e.span() else {
            return msg.to_string();
        };
        let start = text
            .get(..span.start)
            .map_or(0, |b| b.rfind('\n').map_or(0, |i| i + 1));
        let line = text.get(..start).map_or(0, |b| b.matches('\n').count()) + 1;
        // Text before the error on its line: `Key = ` when a value is wrong.
        let lead = text.get(start..span.start).unwrap_or_default();
        match lead.split_once('=') {
            Some((key, _)) => format!("line {line}: {}: {msg}", key.trim()),
            None => format!("line {line}: {msg}"),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_file() {
        let o = parse_toml(
            "# berth shim\nBinaryName = \"/usr/sbin/runc\"\nRoot='/run/x'\n\
             SystemdCgroup = false # no systemd\nNoPivotRoot = true\nNoNewKeyring = true\n\
             ShimCgroup = \"/shim\"\nIoUid = 1000\nIoGid = 1001\n",
        )
        .unwrap();
        let want = Options {
            binary_name: "/usr/sbin/runc".into(),
            root: "/run/x".into(),
            systemd_cgroup: false,
            no_pivot_root: true,
            no_new_keyring: true,
            shim_cgroup: "/shim".into(),
            io_uid: 1000,
            io_gid: 1001,
        };
        assert_eq!(o, want);
        assert_eq!(parse_toml("").unwrap(), Options::default());
        assert_eq!(parse_toml("# nothing\n\n").unwrap(), Options::default());
    }

    /// Every mistake is an error saying where and what (the old reader
    /// skipped unknown keys and table headers).
    #[test]
    fn options_file_mistakes() {
        let err = |t: &str| parse_toml(t).unwrap_err();
        let e = err("Root = \"/r\"\nOther = 3\n");
        assert!(e.starts_with("line 2: unknown field `Other`"), "{e}");
        assert!(e.contains("`BinaryName`"), "{e}");
        let e = err("NoPivotRoot = \"yes\"");
        assert!(e.starts_with("line 1: NoPivotRoot: "), "{e}");
        assert!(e.contains("expected a boolean"), "{e}");
        let e = err("Root = \"/r\"\n  BinaryName = true");
        assert!(e.starts_with("line 2: BinaryName: "), "{e}");
        assert!(e.contains("expected a string"), "{e}");
        let e = err("IoUid = -1");
        assert!(e.starts_with("line 1: IoUid: ") && e.contains("u32"), "{e}");
        assert!(err("BinaryName = runc").starts_with("line 1: "));
        assert!(err("Root = \"a\"\nRoot = \"b\"").starts_with("line 2: "));
        assert!(!err("BinaryName = runc").contains('\n'));
        // Tables: the keys are top-level; a table of containerd's config
        // (or any other) names itself.
        let e = err("[options]\nBinaryName = \"runc\"\n");
        assert!(e.contains("unknown field `options`"), "{e}");
        let e = err(
            "[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.berth.options]\n\
                     BinaryName = \"berth\"\n",
        );
        assert!(e.contains("unknown field `plugins`"), "{e}");
    }

    #[test]
    fn options_file_errors_name_the_file() {
        let dir = std::env::temp_dir().join(format!("berth-shim-opts-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("o.toml");
        std::fs::write(&path, "SystemdCgroup = true\nBogus = 1\n").unwrap();
        let e = from_config_file(&path).unwrap_err();
        assert!(matches!(e, Error::InvalidArgument(_)));
        let want = format!("{}: line 2: unknown field `Bogus`", path.display());
        assert!(e.to_string().starts_with(&want), "{e}");
        std::fs::write(&path, "SystemdCgroup = true\n").unwrap();
        assert!(from_config_file(&path).unwrap().systemd_cgroup);
        std::fs::remove_dir_all(&dir).unwrap();
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
        assert_eq!(DEFAULT_ROOT, "/run/containerd/berth");
        // CRI's ConfigPath without a path, or an empty Any: the defaults.
        let empty = Any {
            type_url: "runtimeoptions.v1.Options".into(),
            ..Default::default()
        };
        assert_eq!(from_any(Some(&empty)).unwrap(), Options::default());
    }
}
