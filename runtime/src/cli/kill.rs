//! `berth kill`

use crate::container;
use crate::error::{Error, Result};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// send the specified signal to all processes inside the container
    #[arg(short = 'a', long)]
    pub all: bool,
    /// the container id
    pub id: String,
    /// the signal (name or number), default SIGTERM
    #[arg(default_value = "SIGTERM")]
    pub signal: String,
}

pub fn run(a: Args, g: &super::Global) -> Result<i32> {
    let sig = container::parse_signal(&a.signal)?;
    match container::kill(&g.root, &a.id, sig, a.all) {
        // Current runc (1.2+): with --all a container that no longer runs
        // is not an error.
        Err(Error::NotRunning) if a.all => Ok(0),
        r => r.map(|()| 0),
    }
}
