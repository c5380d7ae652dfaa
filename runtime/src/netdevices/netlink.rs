//! The few rtnetlink messages `linux.netDevices` needs, framed by hand:
//! RTM_NEWLINK (set a link down or up, move and rename it), RTM_GETLINK by
//! name, and the exchange of one request for its replies on a
//! NETLINK_ROUTE socket (an acknowledgement, or the messages of a dump up
//! to NLMSG_DONE). Everything is in native byte order, as netlink is.

use std::os::fd::{AsRawFd, OwnedFd};

const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
pub const RTM_NEWLINK: u16 = 16;
const RTM_GETLINK: u16 = 18;
pub const NLM_F_REQUEST: u16 = 1;
pub const NLM_F_ACK: u16 = 4;
pub const NLM_F_DUMP: u16 = 0x300;
pub const IFLA_IFNAME: u16 = 3;
pub const IFLA_NET_NS_FD: u16 = 28;
pub const NLMSG_HDRLEN: usize = 16;
/// struct ifinfomsg.
const IFINFO_LEN: usize = 16;
/// What one recv may hold: the kernel fills dump datagrams up to the
/// buffer the reader offers, at most 32 KiB.
const RECV_LEN: usize = 32 * 1024;

pub fn align4(n: usize) -> usize {
    (n + 3) & !3
}

pub fn nul_terminated(s: &str) -> Vec<u8> {
    let mut v = s.as_bytes().to_vec();
    v.push(0);
    v
}

/// One route attribute (rtattr), padded to 4 bytes.
pub fn attr(kind: u16, data: &[u8]) -> Vec<u8> {
    let len = 4 + data.len();
    let mut v = Vec::with_capacity(align4(len));
    v.extend_from_slice(&(len as u16).to_ne_bytes());
    v.extend_from_slice(&kind.to_ne_bytes());
    v.extend_from_slice(data);
    v.resize(align4(len), 0);
    v
}

/// A whole message: the nlmsghdr (port id 0, the kernel's) then `body`.
pub fn message(kind: u16, flags: u16, seq: u32, body: &[u8]) -> Vec<u8> {
    let len = NLMSG_HDRLEN + body.len();
    let mut msg = Vec::with_capacity(len);
    msg.extend_from_slice(&(len as u32).to_ne_bytes());
    msg.extend_from_slice(&kind.to_ne_bytes());
    msg.extend_from_slice(&flags.to_ne_bytes());
    msg.extend_from_slice(&seq.to_ne_bytes());
    msg.extend_from_slice(&0u32.to_ne_bytes());
    msg.extend_from_slice(body);
    msg
}

/// struct ifinfomsg for interface `index`, then `attrs`.
fn ifinfo(index: u32, flags: u32, change: u32, attrs: &[Vec<u8>]) -> Vec<u8> {
    let mut body = Vec::with_capacity(IFINFO_LEN);
    body.push(libc::AF_UNSPEC as u8);
    body.push(0);
    body.extend_from_slice(&0u16.to_ne_bytes());
    body.extend_from_slice(&(index as i32).to_ne_bytes());
    body.extend_from_slice(&flags.to_ne_bytes());
    body.extend_from_slice(&change.to_ne_bytes());
    for a in attrs {
        body.extend_from_slice(a);
    }
    body
}

/// An RTM_NEWLINK request for interface `index`: `flags` Some(f) sets
/// IFF_UP to f's IFF_UP bit (ifi_change = IFF_UP), None changes no flag.
pub fn link_request(seq: u32, index: u32, flags: Option<u32>, attrs: &[Vec<u8>]) -> Vec<u8> {
    let change = if flags.is_some() {
        libc::IFF_UP as u32
    } else {
        0
    };
    let body = ifinfo(index, flags.unwrap_or(0), change, attrs);
    message(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK, seq, &body)
}

/// An RTM_GETLINK request for the link called `name` (ifi_index 0: the
/// kernel looks the link up by IFLA_IFNAME); acknowledged, so the reply
/// ends with the ack.
pub fn get_link_request(seq: u32, name: &str) -> Vec<u8> {
    let body = ifinfo(0, 0, 0, &[attr(IFLA_IFNAME, &nul_terminated(name))]);
    message(RTM_GETLINK, NLM_F_REQUEST | NLM_F_ACK, seq, &body)
}

/// The interface index in an RTM_NEWLINK message's payload (the bytes
/// after its nlmsghdr).
pub fn link_index(payload: &[u8]) -> Option<u32> {
    let i = i32::from_ne_bytes(payload.get(4..8)?.try_into().ok()?);
    u32::try_from(i).ok().filter(|&i| i > 0)
}

pub fn seq_of(msg: &[u8]) -> u32 {
    u32_at(msg, 8).unwrap_or(0)
}

pub fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn i32_at(b: &[u8], at: usize) -> Option<i32> {
    Some(i32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn status(err: i32) -> std::io::Result<()> {
    if err == 0 {
        Ok(())
    } else {
        Err(std::io::Error::from_raw_os_error(-err))
    }
}

/// Reads one received datagram for request `seq`: the payloads (bytes
/// after the nlmsghdr) of its messages of type `want` go to `out`. Some(Ok)
/// once the request is done (an acknowledgement, or NLMSG_DONE ending a
/// dump), Some(Err) for an error reply, None when more is to come. Messages
/// of other requests are skipped.
pub fn replies(
    buf: &[u8],
    seq: u32,
    want: u16,
    out: &mut Vec<Vec<u8>>,
) -> Option<std::io::Result<()>> {
    let mut at = 0;
    while at + NLMSG_HDRLEN <= buf.len() {
        let len = u32_at(buf, at)? as usize;
        let kind = u16::from_ne_bytes(buf.get(at + 4..at + 6)?.try_into().ok()?);
        if len < NLMSG_HDRLEN {
            return None;
        }
        let payload = buf.get(at + NLMSG_HDRLEN..at + len)?;
        if u32_at(buf, at + 8)? == seq {
            match kind {
                NLMSG_ERROR | NLMSG_DONE => return Some(status(i32_at(payload, 0).unwrap_or(0))),
                k if k == want => out.push(payload.to_vec()),
                _ => {}
            }
        }
        at += align4(len);
    }
    None
}

/// Sends request `msg` on `sock` and reads until it is done: the payloads
/// of the replies of type `want` (none for a plain acknowledgement).
pub fn exchange(sock: &OwnedFd, msg: &[u8], want: u16) -> std::io::Result<Vec<Vec<u8>>> {
    use nix::sys::socket::{recv, send, MsgFlags};
    send(sock.as_raw_fd(), msg, MsgFlags::empty())?;
    let mut buf = vec![0u8; RECV_LEN];
    let mut out = Vec::new();
    loop {
        let n = recv(sock.as_raw_fd(), &mut buf, MsgFlags::empty())?;
        if let Some(r) = replies(&buf[..n], seq_of(msg), want, &mut out) {
            return r.map(|()| out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A message as the kernel sends it: header with `seq`, then `payload`.
    fn reply(kind: u16, seq: u32, payload: &[u8]) -> Vec<u8> {
        let mut m = message(kind, 0, seq, payload);
        m.resize(align4(m.len()), 0);
        m
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
        let up = link_request(6, 9, Some(libc::IFF_UP as u32), &[]);
        assert_eq!(u32_at(&up, 24), Some(libc::IFF_UP as u32));
        assert_eq!(u32_at(&up, 28), Some(libc::IFF_UP as u32));
    }

    #[test]
    fn get_link_by_name() {
        let m = get_link_request(3, "eth7");
        assert_eq!(m.len(), 16 + 16 + 12);
        assert_eq!(&m[4..6], &RTM_GETLINK.to_ne_bytes());
        assert_eq!(&m[6..8], &(NLM_F_REQUEST | NLM_F_ACK).to_ne_bytes());
        assert_eq!(u32_at(&m, 20), Some(0));
        assert_eq!(&m[32..44], &attr(IFLA_IFNAME, b"eth7\0")[..]);
        let mut payload = ifinfo(42, 0, 0, &[]);
        assert_eq!(link_index(&payload), Some(42));
        payload.truncate(6);
        assert_eq!(link_index(&payload), None);
    }

    #[test]
    fn acks() {
        let mut out = Vec::new();
        let mut ok = reply(NLMSG_ERROR, 7, &[0u8; 20]);
        assert!(matches!(replies(&ok, 7, 0, &mut out), Some(Ok(()))));
        assert!(replies(&ok, 8, 0, &mut out).is_none());
        ok[16..20].copy_from_slice(&(-libc::ENODEV).to_ne_bytes());
        let e = replies(&ok, 7, 0, &mut out).unwrap().unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENODEV));
        assert!(out.is_empty());
    }

    #[test]
    fn dumps_collect_until_done() {
        let mut out = Vec::new();
        let mut dgram = reply(20, 9, &[1, 2, 3, 4, 5]);
        dgram.extend(reply(20, 8, &[6; 8]));
        dgram.extend(reply(21, 9, &[7; 8]));
        assert!(replies(&dgram, 9, 20, &mut out).is_none());
        assert_eq!(out, [vec![1, 2, 3, 4, 5]]);
        let done = reply(NLMSG_DONE, 9, &0i32.to_ne_bytes());
        assert!(matches!(replies(&done, 9, 20, &mut out), Some(Ok(()))));
        let failed = reply(NLMSG_DONE, 9, &(-libc::EINTR).to_ne_bytes());
        let e = replies(&failed, 9, 20, &mut out).unwrap().unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EINTR));
        assert!(replies(&[1, 0, 0, 0], 9, 20, &mut out).is_none());
    }
}
