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
//! NETLINK_ROUTE socket in its own namespace; the init, in the container's
//! namespace, sends the requests over that socket.
//!
//! Unlike runc 1.3, addresses configured on the device on the host are not
//! carried over (the kernel drops them on the move).

use std::os::fd::{AsRawFd, OwnedFd};

use nix::sys::socket::{socket, AddressFamily, SockFlag, SockProtocol, SockType};
use oci_spec::runtime::{Linux, LinuxNamespaceType};

use crate::error::{Context, Error, Result};
use crate::namespaces::Plan;

/// One device to move: its index on the host and its name in the container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Move {
    pub host_name: String,
    pub index: u32,
    pub name: String,
}

/// What the init needs: the moves and a netlink socket in the host's
/// network namespace.
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
    /// In the init, in the container's network namespace: sets each device
    /// down and moves it here under its new name.
    pub fn move_here(&self) -> Result<()> {
        let ns = std::fs::File::open("/proc/self/ns/net")
            .ctx(|| "linux.netDevices: open /proc/self/ns/net".into())?;
        let ns_fd = ns.as_raw_fd() as u32;
        for (seq, m) in (1u32..).step_by(2).zip(&self.moves) {
            let fail = |what: &str, e: std::io::Error| {
                Error::msg(format!(
                    "linux.netDevices: {what} network device {} ({}): {e}",
                    m.host_name, m.name
                ))
            };
            let down = link_request(seq, m.index, Some(0), &[]);
            self.ask(&down).map_err(|e| fail("set down", e))?;
            let attrs = [
                attr(IFLA_IFNAME, &nul_terminated(&m.name)),
                attr(IFLA_NET_NS_FD, &ns_fd.to_ne_bytes()),
            ];
            let mv = link_request(seq + 1, m.index, None, &attrs);
            self.ask(&mv).map_err(|e| fail("move", e))?;
        }
        Ok(())
    }

    /// Sends one request and waits for its acknowledgement.
    fn ask(&self, msg: &[u8]) -> std::io::Result<()> {
        use nix::sys::socket::{recv, send, MsgFlags};
        send(self.sock.as_raw_fd(), msg, MsgFlags::empty())?;
        let mut buf = [0u8; 4096];
        loop {
            let n = recv(self.sock.as_raw_fd(), &mut buf, MsgFlags::empty())?;
            if let Some(r) = ack(&buf[..n], seq_of(msg)) {
                return r;
            }
        }
    }
}

const RTM_NEWLINK: u16 = 16;
const NLMSG_ERROR: u16 = 2;
const NLM_F_REQUEST: u16 = 1;
const NLM_F_ACK: u16 = 4;
const IFLA_IFNAME: u16 = 3;
const IFLA_NET_NS_FD: u16 = 28;
const NLMSG_HDRLEN: usize = 16;

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

fn nul_terminated(s: &str) -> Vec<u8> {
    let mut v = s.as_bytes().to_vec();
    v.push(0);
    v
}

/// One route attribute (rtattr), padded to 4 bytes.
fn attr(kind: u16, data: &[u8]) -> Vec<u8> {
    let len = 4 + data.len();
    let mut v = Vec::with_capacity(align4(len));
    v.extend_from_slice(&(len as u16).to_ne_bytes());
    v.extend_from_slice(&kind.to_ne_bytes());
    v.extend_from_slice(data);
    v.resize(align4(len), 0);
    v
}

/// An RTM_NEWLINK request for interface `index`: `flags` Some(f) sets
/// IFF_UP to f's IFF_UP bit (ifi_change = IFF_UP), None changes no flag.
fn link_request(seq: u32, index: u32, flags: Option<u32>, attrs: &[Vec<u8>]) -> Vec<u8> {
    let mut body = Vec::with_capacity(16);
    body.push(libc::AF_UNSPEC as u8);
    body.push(0);
    body.extend_from_slice(&0u16.to_ne_bytes());
    body.extend_from_slice(&(index as i32).to_ne_bytes());
    body.extend_from_slice(&flags.unwrap_or(0).to_ne_bytes());
    let change = if flags.is_some() {
        libc::IFF_UP as u32
    } else {
        0
    };
    body.extend_from_slice(&change.to_ne_bytes());
    for a in attrs {
        body.extend_from_slice(a);
    }
    let len = NLMSG_HDRLEN + body.len();
    let mut msg = Vec::with_capacity(len);
    msg.extend_from_slice(&(len as u32).to_ne_bytes());
    msg.extend_from_slice(&RTM_NEWLINK.to_ne_bytes());
    msg.extend_from_slice(&(NLM_F_REQUEST | NLM_F_ACK).to_ne_bytes());
    msg.extend_from_slice(&seq.to_ne_bytes());
    msg.extend_from_slice(&0u32.to_ne_bytes());
    msg.extend_from_slice(&body);
    msg
}

fn seq_of(msg: &[u8]) -> u32 {
    u32_at(msg, 8).unwrap_or(0)
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// The outcome of request `seq` in a received datagram: Some(Ok) for an
/// acknowledgement, Some(Err) for an error reply, None when it holds
/// neither (keep reading).
fn ack(buf: &[u8], seq: u32) -> Option<std::io::Result<()>> {
    let mut at = 0;
    while at + NLMSG_HDRLEN <= buf.len() {
        let len = u32_at(buf, at)? as usize;
        let kind = u16::from_ne_bytes(buf.get(at + 4..at + 6)?.try_into().ok()?);
        if len < NLMSG_HDRLEN {
            return None;
        }
        if kind == NLMSG_ERROR && u32_at(buf, at + 8)? == seq {
            let err = i32::from_ne_bytes(buf.get(at + 16..at + 20)?.try_into().ok()?);
            return Some(if err == 0 {
                Ok(())
            } else {
                Err(std::io::Error::from_raw_os_error(-err))
            });
        }
        at += align4(len);
    }
    None
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

    #[test]
    fn request_layout() {
        let a = attr(IFLA_IFNAME, &nul_terminated("eth7"));
        assert_eq!(a, [9, 0, 3, 0, b'e', b't', b'h', b'7', 0, 0, 0, 0]);
        let m = link_request(5, 9, Some(0), &[a]);
        assert_eq!(m.len(), 16 + 16 + 12);
        assert_eq!(u32_at(&m, 0), Some(44));
        assert_eq!(seq_of(&m), 5);
        assert_eq!(u32_at(&m, 20), Some(9));
        assert_eq!(u32_at(&m, 28), Some(libc::IFF_UP as u32));
    }

    #[test]
    fn acks() {
        let mut reply = vec![0u8; 36];
        reply[0..4].copy_from_slice(&36u32.to_ne_bytes());
        reply[4..6].copy_from_slice(&NLMSG_ERROR.to_ne_bytes());
        reply[8..12].copy_from_slice(&7u32.to_ne_bytes());
        assert!(matches!(ack(&reply, 7), Some(Ok(()))));
        assert!(ack(&reply, 8).is_none());
        reply[16..20].copy_from_slice(&(-libc::ENODEV).to_ne_bytes());
        let e = ack(&reply, 7).unwrap().unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENODEV));
    }
}
