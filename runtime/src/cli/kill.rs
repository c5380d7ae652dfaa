//! `berth kill`

use crate::container;
use crate::error::Result;

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
    container::kill(&g.root, &a.id, sig, a.all)?;
    Ok(0)
}
