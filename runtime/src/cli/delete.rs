//! `berth delete`

use crate::container;
use crate::error::Result;

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
        // runc: deleting a container that does not exist (or whose create
        // died half-way, now cleaned up) succeeds with --force.
        Err(e) if e.is_not_exist() && a.force => Ok(0),
        other => other.map(|_| 0),
    }
}
