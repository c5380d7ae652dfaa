//! The shim's options decoding (shim/src/options.rs, included as a module).
//!
//! Every input goes through the three decoders:
//! - as the protobuf `Any` containerd sends with Create (and on `start`'s
//!   stdin): `Any::parse_from_bytes` then `options::from_any`, as
//!   `join_shim_cgroup` does;
//! - as the body of a `runtimeoptions.v1.Options` (`options::string_fields`,
//!   berth's own protobuf reader);
//! - as the TOML options file (`options::parse_toml`), when it is UTF-8
//!   (`from_config_file` reads it with `read_to_string`).
//!
//! A `runtimeoptions.v1.Options` naming a config file is not passed to
//! `from_any`: that would read whatever file the input names.
#![no_main]
#![allow(dead_code)]

#[path = "../../src/error.rs"]
mod error;
#[path = "../../src/options.rs"]
mod options;

use containerd_shim::protos::protobuf::well_known_types::any::Any;
use containerd_shim::protos::protobuf::Message;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(any) = Any::parse_from_bytes(data) {
        let names_file = any.type_url.rsplit('/').next() == Some("runtimeoptions.v1.Options")
            && options::string_fields(&any.value)
                .is_ok_and(|f| f.iter().any(|(n, p)| *n == 2 && !p.is_empty()));
        if !names_file {
            match options::from_any(Some(&any)) {
                Ok(o) => {
                    let _ = (o.binary_or_default(), o.root_or_default());
                }
                Err(e) => drop(e.to_string()),
            }
        }
    }
    let _ = options::string_fields(data).map_err(|e| e.to_string());
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = options::parse_toml(text);
    }
});
