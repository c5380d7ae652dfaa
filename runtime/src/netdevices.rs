//! `linux.netDevices` (runc 1.3+): host network devices moved into the
//! container's network namespace, optionally renamed, before the payload
//! runs. As current runc: the container must have a network namespace of
//! its own (created or joined), the names follow runc's rules, and each
//! device is set down, then moved and renamed in one RTM_NEWLINK
//! (IFLA_NET_NS_FD with IFLA_IFNAME), so the new name never clashes on the
//! host. Nothing moves a device back: when the namespace goes away the
//! kernel returns physical devices to the host's namespace and destroys
//! virtual ones (dummy, veth), as the runtime-spec says and runc relies on.
//!
//! The runtime resolves the names to interface indexes at create (a device
//! that does not exist is refused before anything starts) and opens a
//! NETLINK_ROUTE socket in its own namespace. Once the init is in the
//! container's network namespace it asks (sync message `NetDevices`), and
//! the runtime moves the devices there through `/proc/PID/ns/net`, as runc
//! does from its parent process: only a process with CAP_NET_ADMIN in the
//! host's user namespace may take a link out of the host's network
//! namespace, and an init in a new user namespace has none there.
//!
//! The kernel drops a link's addresses when it changes namespace: as
//! current runc (1.3+), the permanent global ones are listed on the host
//! before the move and added again in the container's namespace over a
//! socket the runtime opens there (a thread's setns in and back), and the
//! link is then set up (`addr`). The messages are framed by hand
//! (`netlink`).

mod addr;
mod netlink;

use std::os::fd::{AsRawFd, OwnedFd};

use nix::sched::{setns, CloneFlags};
use nix::sys::socket::{socket, AddressFamily, SockFlag, SockProtocol, SockType};
use oci_spec::runtime::{Linux, LinuxNamespaceType};

use crate::error::{Context, Error, Result};
use crate::namespaces::Plan;
use crate::sys::proc::ProcHandle;
use netlink::{
    attr, exchange, get_link_request, link_index, link_request, nul_terminated, IFLA_IFNAME,
    IFLA_NET_NS_FD, RTM_NEWLINK,
};

/// One device to move: its index on the host and its name in the container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Move {
    pub host_name: String,
    pub index: u32,
    pub name: String,
}

/// The moves and a netlink socket in the host's network namespace.
#[derive(Debug)]
pub struct Devices {
    pub moves: Vec<Move>,
    sock: OwnedFd,
}

/// runc's rule for a device name, with the kernel's length limit (15 bytes).
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() < libc::IFNAMSIZ
        && name != "."
        && name != ".."
        && !name.contains(['/', ':', ' ', '\0'])
}

/// The create-time checks that need no system access.
pub fn validate(linux: &Linux, plan: &Plan) -> Result<()> {
    let Some(devs) = linux.net_devices().as_ref().filter(|d| !d.is_empty()) else {
        return Ok(());
    };
    let net = LinuxNamespaceType::Network;
    if !plan.creates(net) && !plan.joins(net) {
        return Err(Error::config(
            "linux.netDevices: unable to move network devices without a NET namespace",
        ));
    }
    for (host, d) in devs {
        for name in std::iter::once(host.as_str()).chain(d.name().as_deref()) {
            if !valid_name(name) {
                return Err(Error::config(format!(
                    "linux.netDevices: invalid network device name {name:?}"
                )));
            }
        }
    }
    Ok(())
}

/// Resolves the devices on the host and opens the socket (None when the
/// config moves none). Sorted by host name, so the order is stable.
pub fn prepare(linux: &Linux) -> Result<Option<Devices>> {
    let Some(devs) = linux.net_devices().as_ref().filter(|d| !d.is_empty()) else {
        return Ok(None);
    };
    let mut moves = Vec::new();
    for (host, d) in devs {
        let index = host_index(host)?;
        let name = d.name().clone().filter(|n| !n.is_empty());
        moves.push(Move {
            host_name: host.clone(),
            index,
            name: name.unwrap_or_else(|| host.clone()),
        });
    }
    moves.sort_by(|a, b| a.host_name.cmp(&b.host_name));
    let sock = socket(
        AddressFamily::Netlink,
        SockType::Raw,
        SockFlag::SOCK_CLOEXEC,
        SockProtocol::NetlinkRoute,
    )
    .ctx(|| "linux.netDevices: netlink socket".into())?;
    Ok(Some(Devices { moves, sock }))
}

/// The interface index of `name` in the runtime's network namespace (the
/// one sysfs was mounted in); `name` passed `valid_name`.
fn host_index(name: &str) -> Result<u32> {
    let path = format!("/sys/class/net/{name}/ifindex");
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::config(format!(
                "linux.netDevices: network device {name:?} does not exist on the host"
            )))
        }
        Err(e) => return Err(e).ctx(|| format!("linux.netDevices: read {path}")),
    };
    text.trim()
        .parse()
        .map_err(|_| Error::msg(format!("linux.netDevices: {path}: bad index {text:?}")))
}

impl Devices {
    /// In the runtime, once the init `pid` is in the container's network
    /// namespace, for each device in turn: sets it down, lists its
    /// addresses, moves it there under its new name, adds the addresses
    /// that move again and sets it up (runc sets every moved device up,
    /// whatever its state on the host).
    pub fn move_into(&self, proc: &ProcHandle, pid: i32) -> Result<()> {
        let ns = proc
            .reopen(&format!("{pid}/ns/net"), libc::O_RDONLY)
            .ctx(|| format!("linux.netDevices: open /proc/{pid}/ns/net"))?;
        let there = socket_in(proc, &ns)?;
        let mut seq = 0u32;
        let mut next = || {
            seq += 1;
            seq
        };
        for m in &self.moves {
            let fail = |what: &str, e: std::io::Error| {
                Error::msg(format!(
                    "linux.netDevices: {what} network device {} ({}): {e}",
                    m.host_name, m.name
                ))
            };
            tracing::debug!(
                "linux.netDevices: moving {} into the container's network namespace as {}",
                m.host_name,
                m.name
            );
            let down = link_request(next(), m.index, Some(0), &[]);
            exchange(&self.sock, &down, 0).map_err(|e| fail("set down", e))?;
            let nets = self
                .addresses(m, next())
                .map_err(|e| fail("list the addresses of", e))?;
            let attrs = [
                attr(IFLA_IFNAME, &nul_terminated(&m.name)),
                attr(IFLA_NET_NS_FD, &(ns.as_raw_fd() as u32).to_ne_bytes()),
            ];
            let mv = link_request(next(), m.index, None, &attrs);
            exchange(&self.sock, &mv, 0).map_err(|e| fail("move", e))?;
            let index = index_here(&there, &m.name, next())
                .map_err(|e| fail("find (in the container's namespace)", e))?;
            for net in nets {
                let add = addr::add_request(next(), index, net);
                exchange(&there, &add, 0).map_err(|e| fail(&format!("add address {net} to"), e))?;
                tracing::debug!("linux.netDevices: {}: address {net} added", m.name);
            }
            let up = link_request(next(), index, Some(libc::IFF_UP as u32), &[]);
            exchange(&there, &up, 0).map_err(|e| fail("set up", e))?;
        }
        Ok(())
    }

    /// The addresses of `m` on the host that move with it (addr.rs says
    /// which), in the order the kernel lists them.
    fn addresses(&self, m: &Move, seq: u32) -> std::io::Result<Vec<addr::Net>> {
        let listed = exchange(&self.sock, &addr::dump_request(seq), addr::RTM_NEWADDR)?;
        let mut nets = Vec::new();
        for a in listed.iter().filter_map(|p| addr::parse(p)) {
            if a.index != m.index {
                continue;
            }
            match (a.left_behind(), a.net()) {
                (None, Some(net)) => nets.push(net),
                (why, net) => tracing::debug!(
                    "linux.netDevices: {}: address {} left behind: {}",
                    m.host_name,
                    net.map_or("(none)".into(), |n| n.to_string()),
                    why.unwrap_or("no address")
                ),
            }
        }
        Ok(nets)
    }
}

/// A NETLINK_ROUTE socket in the network namespace `ns`: this thread
/// enters it, opens the socket (which stays bound to it) and goes back.
fn socket_in(proc: &ProcHandle, ns: &OwnedFd) -> Result<OwnedFd> {
    let own = proc
        .reopen("thread-self/ns/net", libc::O_RDONLY)
        .ctx(|| "linux.netDevices: open /proc/thread-self/ns/net".into())?;
    setns(ns, CloneFlags::CLONE_NEWNET)
        .ctx(|| "linux.netDevices: setns into the container's network namespace".into())?;
    let sock = socket(
        AddressFamily::Netlink,
        SockType::Raw,
        SockFlag::SOCK_CLOEXEC,
        SockProtocol::NetlinkRoute,
    );
    setns(&own, CloneFlags::CLONE_NEWNET)
        .ctx(|| "linux.netDevices: setns back into the runtime's network namespace".into())?;
    sock.ctx(|| "linux.netDevices: netlink socket in the container's namespace".into())
}

/// The index of link `name` in the namespace of socket `sock` (a moved
/// link keeps its index unless that index is taken there).
fn index_here(sock: &OwnedFd, name: &str, seq: u32) -> std::io::Result<u32> {
    let replies = exchange(sock, &get_link_request(seq, name), RTM_NEWLINK)?;
    replies
        .iter()
        .find_map(|p| link_index(p))
        .ok_or_else(|| std::io::Error::from_raw_os_error(libc::ENODEV))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_like_runc() {
        for ok in ["eth0", "berthtest0", "a.b-c_d", &"x".repeat(15)] {
            assert!(valid_name(ok), "{ok}");
        }
        for bad in ["", ".", "..", "a/b", "a:b", "a b", &"x".repeat(16)] {
            assert!(!valid_name(bad), "{bad}");
        }
    }
}
