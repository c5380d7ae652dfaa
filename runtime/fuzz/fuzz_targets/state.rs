//! state.json: `state::parse_saved`, the parser `load_saved` uses for every
//! command that reopens a container, then the pure things done with a loaded
//! state: the OCI state document (`berth state`, hooks) and the re-encoding
//! `save` writes, which must parse back to the same value.
#![no_main]

use std::path::Path;

use berth::fuzzing::state::{self, OciState, Status};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let saved = match state::parse_saved(data, Path::new("/run/berth/fuzz/state.json")) {
        Ok(s) => s,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    let _ = state::validate_id(&saved.id);
    for status in [Status::Created, Status::Running, Status::Stopped] {
        let doc = OciState {
            oci_version: state::OCI_VERSION,
            id: &saved.id,
            pid: saved.pid,
            status: status.as_str(),
            bundle: &saved.bundle,
            rootfs: &saved.rootfs,
            created: &saved.created,
            owner: "",
            annotations: &saved.annotations,
        };
        serde_json::to_vec_pretty(&doc).expect("the OCI state serialises");
        let _ = berth::fuzzing::hooks::state_json(
            &saved.id,
            status,
            saved.pid,
            &saved.bundle,
            Some(&saved.annotations),
        );
    }
    let bytes = serde_json::to_vec(&saved).expect("a loaded state serialises");
    let again = state::parse_saved(&bytes, Path::new("state.json")).expect("saved state reloads");
    assert_eq!(
        serde_json::to_value(&again).unwrap(),
        serde_json::to_value(&saved).unwrap()
    );
});
