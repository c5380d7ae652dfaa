//! Verbs runc has that later issues implement. They exist so callers get a
//! clear error instead of a usage message.

use crate::error::{Error, Result};

#[derive(clap::Subcommand, Debug)]
#[command(defer = true)]
pub enum Later {
    /// checkpoint a running container (not implemented yet)
    Checkpoint(Rest),
    /// restore a container from a previous checkpoint (not implemented yet)
    Restore(Rest),
}

#[derive(clap::Args, Debug)]
pub struct Rest {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

pub fn run(l: Later) -> Result<i32> {
    let verb = match l {
        Later::Checkpoint(_) => "checkpoint",
        Later::Restore(_) => "restore",
    };
    Err(Error::msg(format!("berth {verb}: not implemented yet")))
}
