//! `berth create`

use std::path::PathBuf;

use crate::container::{self, CreateOpts};
use crate::error::Result;

// Flags shared by `create` and `run`. (A plain comment: with the verbs'
// flags deferred, a doc comment here would replace their about text.)
#[derive(clap::Args, Debug)]
pub struct CreateFlags {
    /// path to the root of the bundle directory, defaults to the current directory
    #[arg(short = 'b', long, default_value = ".")]
    pub bundle: PathBuf,
    /// path to an AF_UNIX socket which will receive a file descriptor referencing the master end of the console's pseudoterminal
    #[arg(long)]
    pub console_socket: Option<PathBuf>,
    /// path to an AF_UNIX socket which will receive a file descriptor referencing the init process
    #[arg(long)]
    pub pidfd_socket: Option<PathBuf>,
    /// specify the file to write the process id to
    #[arg(long)]
    pub pid_file: Option<PathBuf>,
    /// do not use pivot root to jail process inside rootfs
    #[arg(long)]
    pub no_pivot: bool,
    /// do not create a new session keyring for the container
    #[arg(long)]
    pub no_new_keyring: bool,
    /// pass N additional file descriptors to the container (stdio + $LISTEN_FDS + N in total)
    #[arg(long, default_value_t = 0)]
    pub preserve_fds: u32,
}

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub flags: CreateFlags,
    /// the container id
    pub id: String,
}

impl CreateFlags {
    pub fn opts<'a>(&'a self, id: &'a str, g: &'a super::Global) -> Result<CreateOpts<'a>> {
        Ok(CreateOpts {
            id,
            bundle: &self.bundle,
            pid_file: self.pid_file.as_deref(),
            no_pivot: self.no_pivot,
            no_new_keyring: self.no_new_keyring,
            preserve_fds: self.preserve_fds,
            listen_fds: listen_fds(),
            console_socket: self.console_socket.as_deref(),
            pidfd_socket: self.pidfd_socket.as_deref(),
            notify_socket: crate::notify::host_socket().is_some(),
            detach: true,
            systemd_cgroup: g.systemd_cgroup,
            rootless: &g.rootless,
            sigmask: None,
        })
    }
}

/// Socket activation: LISTEN_FDS counts fds from 3 that are meant for us
/// when LISTEN_PID is our pid (sd_listen_fds' rule); they go to the container.
fn listen_fds() -> u32 {
    let ours = std::env::var("LISTEN_PID")
        .ok()
        .and_then(|p| p.parse::<u32>().ok())
        == Some(std::process::id());
    match std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|n| n.parse().ok())
    {
        Some(n) if ours => n,
        _ => 0,
    }
}

pub fn run(a: Args, g: &super::Global) -> Result<i32> {
    let created = (|| {
        crate::binary::ensure_protected()?;
        container::create(&g.root, &a.flags.opts(&a.id, g)?)
    })()
    .map_err(|e| e.wrap("berth create failed"))?;
    drop(created);
    Ok(0)
}
