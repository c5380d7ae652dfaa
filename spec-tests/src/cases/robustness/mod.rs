//! Robustness: what a runtime must not do with odd but legal input, or with
//! input it has to refuse. A device entry naming an image file must leave
//! the file alone; a create killed half-way must stay removable; a
//! populated, frozen or foreign cgroup is refused; the created init holds no
//! fd into the host's cgroupfs; invalid fields fail cleanly instead of
//! doing something surprising.

mod cgroup;
mod config_input;
mod killed_create;

pub(crate) use cgroup::frozen_parent_refused;

use super::util::{expect_gone, expect_nothing_left};
use crate::ensure;
use crate::harness::case::{case, Case, CGROUP};
use crate::harness::{Bundle, Ctx, TestResult};

pub const CASES: &[Case] = &[
    case(
        "robust_device_keeps_image_file",
        config_input::device_keeps_image_file,
    ),
    case(
        "robust_killed_create_is_removable",
        killed_create::killed_create_is_removable,
    )
    .tagged(&[CGROUP]),
    case(
        "robust_refuses_populated_cgroup",
        cgroup::refuses_populated_cgroup,
    )
    .tagged(&[CGROUP]),
    case(
        "robust_unified_refuses_procs",
        cgroup::unified_refuses_procs,
    )
    .tagged(&[CGROUP]),
    case(
        "robust_created_init_has_no_host_cgroup_fd",
        cgroup::created_init_has_no_host_cgroup_fd,
    )
    .tagged(&[CGROUP]),
    case(
        "robust_frozen_cgroup_refused",
        cgroup::frozen_cgroup_refused,
    )
    .tagged(&[CGROUP]),
    case(
        "robust_refused_limit_leaves_no_cgroup",
        cgroup::refused_limit_leaves_no_cgroup,
    )
    .tagged(&[CGROUP]),
    case(
        "robust_masked_root_refused",
        config_input::masked_root_refused,
    ),
    case(
        "robust_device_at_root_refused",
        config_input::device_at_root_refused,
    ),
    case("robust_long_id_invalid", config_input::long_id_invalid),
    case(
        "robust_env_without_equals_refused",
        config_input::env_without_equals_refused,
    ),
    case(
        "robust_uid_minus_one_refused",
        config_input::uid_minus_one_refused,
    ),
    case(
        "robust_duplicate_json_keys_last_wins",
        config_input::duplicate_json_keys_last_wins,
    ),
    case("robust_hook_timeout_zero", config_input::hook_timeout_zero),
    case(
        "robust_hook_timeout_large",
        config_input::hook_timeout_large,
    ),
];

/// Whether `text` mentions every word (case-insensitively; `a|b` is either).
fn mentions(text: &str, words: &[&str]) -> bool {
    let t = text.to_lowercase();
    words
        .iter()
        .all(|w| w.split('|').any(|alt| t.contains(&alt.to_lowercase())))
}

/// `create` of `b` as `id` must exit 1 with an error on stderr naming
/// `words`, and leave nothing: `state` says the container does not exist,
/// no state dir, mount or process.
fn create_refused(ctx: &Ctx, id: &str, b: &Bundle, words: &[&str]) -> TestResult {
    b.write()?;
    let out = ctx.rt(&["create", "--bundle", b.path(), id])?;
    let stderr = out.stderr.trim().to_string();
    if out.code == 0 {
        // Do not leave it to the runner: delete it, then fail.
        let _ = ctx.delete_force(id);
    }
    ensure!(
        out.code == 1,
        "`create` exited {} (want 1); stderr: {stderr:?}",
        out.code
    );
    ensure!(!stderr.is_empty(), "`create` failed without an error");
    ensure!(
        mentions(&stderr, words),
        "the error {stderr:?} does not mention {words:?}"
    );
    expect_gone(ctx, id)?;
    expect_nothing_left(ctx, id, b)
}
