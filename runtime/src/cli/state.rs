//! `berth state`: the OCI state document, indented as runc prints it.

use crate::container;
use crate::error::{Error, Result};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// the container id
    pub id: String,
}

pub fn run(a: Args, g: &super::Global) -> Result<i32> {
    let v = container::view(&g.root, &a.id)?;
    let doc =
        serde_json::to_string_pretty(&v.oci_state("")).map_err(|e| Error::msg(e.to_string()))?;
    super::output::print(&doc);
    Ok(0)
}
