//! `berth start`

use crate::container;
use crate::error::Result;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// the container id
    pub id: String,
}

pub fn run(a: Args, g: &super::Global) -> Result<i32> {
    container::start(&g.root, &a.id)?;
    Ok(0)
}
