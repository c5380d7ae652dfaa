//! A network device's IP addresses across the move into the container's
//! namespace (the kernel drops them when a link changes namespace). As
//! current runc (1.3+; runc 1.1 has no netDevices): the addresses are
//! listed (RTM_GETADDR dump, IPv4 and IPv6) after the link is set down and
//! before it moves; only permanent addresses (IFA_F_PERMANENT: no
//! lifetime, so not from DHCP, SLAAC or a temporary-address extension)
//! with global scope are carried — host, link (e.g. IPv6 link-local) and
//! site scope stay behind; each is added again (RTM_NEWADDR) with only its
//! address and prefix length: no label, flags or peer, and an IPv4
//! broadcast computed from the prefix (for /30 and wider), as runc's
//! netlink library does.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::netlink::{align4, attr, message, NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST};

pub const RTM_NEWADDR: u16 = 20;
const RTM_GETADDR: u16 = 22;
const NLM_F_EXCL: u16 = 0x200;
const NLM_F_CREATE: u16 = 0x400;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFA_BROADCAST: u16 = 4;
const IFA_FLAGS: u16 = 8;
const IFA_F_PERMANENT: u32 = 0x80;
const RT_SCOPE_UNIVERSE: u8 = 0;
/// struct ifaddrmsg.
const IFADDR_LEN: usize = 8;

/// An address as a dump lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub index: u32,
    prefix: u8,
    scope: u8,
    flags: u32,
    local: Option<IpAddr>,
    address: Option<IpAddr>,
}

/// An address to add: the IP and its prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Net {
    pub ip: IpAddr,
    pub prefix: u8,
}

impl fmt::Display for Net {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.ip, self.prefix)
    }
}

/// struct ifaddrmsg.
fn ifaddr(family: u8, prefix: u8, index: u32) -> Vec<u8> {
    let mut v = vec![family, prefix, 0, RT_SCOPE_UNIVERSE];
    v.extend_from_slice(&index.to_ne_bytes());
    v
}

/// RTM_GETADDR dump of every address of every family (the kernel does not
/// filter by interface on a socket without strict checking: the caller
/// does).
pub fn dump_request(seq: u32) -> Vec<u8> {
    let body = ifaddr(libc::AF_UNSPEC as u8, 0, 0);
    message(RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP, seq, &body)
}

fn ip_of(data: &[u8]) -> Option<IpAddr> {
    if let Ok(b) = <[u8; 4]>::try_from(data) {
        return Some(IpAddr::V4(Ipv4Addr::from(b)));
    }
    <[u8; 16]>::try_from(data)
        .ok()
        .map(|b| IpAddr::V6(Ipv6Addr::from(b)))
}

/// Parses an RTM_NEWADDR payload (the bytes after its nlmsghdr).
pub fn parse(payload: &[u8]) -> Option<Listed> {
    let head = payload.get(..IFADDR_LEN)?;
    let mut a = Listed {
        index: u32::from_ne_bytes(head[4..8].try_into().ok()?),
        prefix: head[1],
        scope: head[3],
        flags: u32::from(head[2]),
        local: None,
        address: None,
    };
    let mut at = IFADDR_LEN;
    while at + 4 <= payload.len() {
        let len = usize::from(u16::from_ne_bytes(payload[at..at + 2].try_into().ok()?));
        let kind = u16::from_ne_bytes(payload[at + 2..at + 4].try_into().ok()?);
        let data = payload.get(at + 4..at + len)?;
        match kind {
            IFA_ADDRESS => a.address = ip_of(data),
            IFA_LOCAL => a.local = ip_of(data),
            // The full flags (ifa_flags holds only the low 8 bits).
            IFA_FLAGS => a.flags = u32::from_ne_bytes(data.get(..4)?.try_into().ok()?),
            _ => {}
        }
        at += align4(len.max(4));
    }
    Some(a)
}

impl Listed {
    /// Why the address stays behind (runc's reasons), None if it moves.
    pub fn left_behind(&self) -> Option<&'static str> {
        if self.flags & IFA_F_PERMANENT == 0 {
            Some("not a permanent address")
        } else if self.scope != RT_SCOPE_UNIVERSE {
            Some("not an address with global scope")
        } else {
            None
        }
    }

    /// What is added again: the local address with its prefix; with a peer
    /// (IFA_LOCAL and IFA_ADDRESS differ, or IPv6 with both) the local
    /// address alone, full length, as runc adds it.
    pub fn net(&self) -> Option<Net> {
        let full = |ip: IpAddr| if ip.is_ipv4() { 32 } else { 128 };
        match (self.local, self.address) {
            (Some(l @ IpAddr::V4(_)), Some(a)) if l == a => Some(Net {
                ip: l,
                prefix: self.prefix,
            }),
            (Some(l), _) => Some(Net {
                ip: l,
                prefix: full(l),
            }),
            (None, Some(a)) => Some(Net {
                ip: a,
                prefix: self.prefix,
            }),
            (None, None) => None,
        }
    }
}

/// The IPv4 broadcast address of a /30-or-wider network, None otherwise.
fn broadcast(ip: Ipv4Addr, prefix: u8) -> Option<Ipv4Addr> {
    if prefix >= 31 {
        return None;
    }
    let host_bits = u32::MAX.checked_shr(u32::from(prefix)).unwrap_or(0);
    Some(Ipv4Addr::from(u32::from(ip) | host_bits))
}

/// RTM_NEWADDR (create, exclusive, acknowledged) adding `net` to interface
/// `index`: IFA_LOCAL and IFA_ADDRESS both `net.ip`, plus IFA_BROADCAST for
/// IPv4 where there is one.
pub fn add_request(seq: u32, index: u32, net: Net) -> Vec<u8> {
    let (family, ip) = match net.ip {
        IpAddr::V4(v4) => (libc::AF_INET, v4.octets().to_vec()),
        IpAddr::V6(v6) => (libc::AF_INET6, v6.octets().to_vec()),
    };
    let mut body = ifaddr(family as u8, net.prefix, index);
    body.extend(attr(IFA_LOCAL, &ip));
    body.extend(attr(IFA_ADDRESS, &ip));
    if let IpAddr::V4(v4) = net.ip {
        if let Some(b) = broadcast(v4, net.prefix) {
            body.extend(attr(IFA_BROADCAST, &b.octets()));
        }
    }
    let flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL;
    message(RTM_NEWADDR, flags, seq, &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An RTM_NEWADDR payload as the kernel dumps it.
    fn listed(family: i32, prefix: u8, scope: u8, index: u32, attrs: &[(u16, &[u8])]) -> Vec<u8> {
        let mut p = vec![family as u8, prefix, 0x80, scope];
        p.extend_from_slice(&index.to_ne_bytes());
        for (k, d) in attrs {
            p.extend(attr(*k, d));
        }
        p
    }

    fn flags(f: u32) -> Vec<u8> {
        f.to_ne_bytes().to_vec()
    }

    #[test]
    fn dump_request_bytes() {
        let m = dump_request(4);
        assert_eq!(&m[0..4], &24u32.to_ne_bytes());
        assert_eq!(&m[4..6], &RTM_GETADDR.to_ne_bytes());
        assert_eq!(&m[6..8], &0x301u16.to_ne_bytes());
        assert_eq!(&m[8..12], &4u32.to_ne_bytes());
        assert_eq!(&m[12..], &[0; 12]);
    }

    #[test]
    fn parses_ipv4_with_label_and_flags() {
        let p = listed(
            libc::AF_INET,
            24,
            0,
            7,
            &[
                (IFA_ADDRESS, &[192, 0, 2, 10]),
                (IFA_LOCAL, &[192, 0, 2, 10]),
                (3, b"berthtest0\0"),
                (IFA_FLAGS, &flags(0x80)),
            ],
        );
        let a = parse(&p).unwrap();
        assert_eq!(a.index, 7);
        assert_eq!(a.left_behind(), None);
        let net = a.net().unwrap();
        assert_eq!(net.to_string(), "192.0.2.10/24");
    }

    #[test]
    fn parses_ipv6_and_peers() {
        let ip6: Ipv6Addr = "2001:db8::10".parse().unwrap();
        let p = listed(libc::AF_INET6, 64, 0, 3, &[(IFA_ADDRESS, &ip6.octets())]);
        assert_eq!(
            parse(&p).unwrap().net().unwrap().to_string(),
            "2001:db8::10/64"
        );
        let peer = listed(
            libc::AF_INET,
            24,
            0,
            3,
            &[(IFA_ADDRESS, &[10, 9, 0, 1]), (IFA_LOCAL, &[10, 9, 0, 2])],
        );
        assert_eq!(
            parse(&peer).unwrap().net().unwrap().to_string(),
            "10.9.0.2/32"
        );
        assert_eq!(
            parse(&listed(libc::AF_INET, 8, 0, 1, &[])).unwrap().net(),
            None
        );
        assert_eq!(parse(&[2, 24, 0]), None);
        // A truncated attribute ends the parse.
        let mut cut = p.clone();
        cut.truncate(cut.len() - 4);
        assert_eq!(parse(&cut), None);
    }

    #[test]
    fn only_permanent_global_addresses_move() {
        let ip = (IFA_ADDRESS, &[192u8, 0, 2, 1][..]);
        let link = listed(libc::AF_INET, 24, 253, 1, &[ip]);
        assert_eq!(
            parse(&link).unwrap().left_behind(),
            Some("not an address with global scope")
        );
        let host = listed(libc::AF_INET, 24, 254, 1, &[ip]);
        assert!(parse(&host).unwrap().left_behind().is_some());
        // IFA_FLAGS overrides ifa_flags: a lifetime clears IFA_F_PERMANENT.
        let dynamic = listed(libc::AF_INET, 24, 0, 1, &[ip, (IFA_FLAGS, &flags(0))]);
        assert_eq!(
            parse(&dynamic).unwrap().left_behind(),
            Some("not a permanent address")
        );
        let secondary = listed(libc::AF_INET, 24, 0, 1, &[ip, (IFA_FLAGS, &flags(0x81))]);
        assert_eq!(parse(&secondary).unwrap().left_behind(), None);
    }

    #[test]
    fn broadcasts_like_runc() {
        let ip = Ipv4Addr::new(192, 0, 2, 10);
        assert_eq!(broadcast(ip, 24), Some(Ipv4Addr::new(192, 0, 2, 255)));
        assert_eq!(broadcast(ip, 30), Some(Ipv4Addr::new(192, 0, 2, 11)));
        assert_eq!(broadcast(ip, 0), Some(Ipv4Addr::BROADCAST));
        assert_eq!(broadcast(ip, 31), None);
        assert_eq!(broadcast(ip, 32), None);
    }

    #[test]
    fn add_request_bytes() {
        let net = Net {
            ip: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10)),
            prefix: 24,
        };
        let m = add_request(9, 5, net);
        assert_eq!(m.len(), 16 + 8 + 3 * 8);
        assert_eq!(&m[4..6], &RTM_NEWADDR.to_ne_bytes());
        assert_eq!(&m[6..8], &0x605u16.to_ne_bytes());
        assert_eq!(&m[8..12], &9u32.to_ne_bytes());
        assert_eq!(&m[16..20], &[libc::AF_INET as u8, 24, 0, 0]);
        assert_eq!(&m[20..24], &5u32.to_ne_bytes());
        assert_eq!(&m[24..32], &[8, 0, 2, 0, 192, 0, 2, 10]);
        assert_eq!(&m[32..40], &[8, 0, 1, 0, 192, 0, 2, 10]);
        assert_eq!(&m[40..48], &[8, 0, 4, 0, 192, 0, 2, 255]);
        let v6 = Net {
            ip: "2001:db8::10".parse().unwrap(),
            prefix: 64,
        };
        let m = add_request(10, 5, v6);
        assert_eq!(m.len(), 16 + 8 + 2 * 20);
        assert_eq!(&m[16..20], &[libc::AF_INET6 as u8, 64, 0, 0]);
        assert_eq!(&m[24..28], &[20, 0, 2, 0]);
        assert_eq!(&m[44..48], &[20, 0, 1, 0]);
    }
}
