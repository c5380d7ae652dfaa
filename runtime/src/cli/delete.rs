//! `berth delete`

use crate::container;
use crate::error::{Error, Result};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// forcibly deletes the container if it is still running (uses SIGKILL)
    #[arg(short = 'f', long)]
    pub force: bool,
    /// the container id
    pub id: String,
}

pub fn run(a: Args, g: &super::Global) -> Result<i32> {
    match container::delete(&g.root, &a.id, a.force) {
        Err(Error::NotExist) => {
            // As runc: a directory left by an aborted create has no state
            // file; remove it, and with --force that is success.
            if crate::state::validate_id(&a.id).is_ok() {
                let _ = std::fs::remove_dir_all(g.root.path.join(&a.id));
            }
            if a.force {
                Ok(0)
            } else {
                Err(Error::NotExist)
            }
        }
        other => other.map(|_| 0),
    }
}
