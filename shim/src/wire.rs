//! ttrpc's framing, for the shim's own server (`server`) and its events
//! client (`forward`): a 10-byte header (payload length and stream id, both
//! big-endian u32, then the message type and flags) followed by a protobuf
//! `ttrpc.Request` or `ttrpc.Response`. Requests from a client use odd
//! stream ids; a response carries its request's id.

use std::io;

use containerd_shim::protos::protobuf::Message;
use containerd_shim::protos::ttrpc::{Code, Response};

pub const HEADER_LEN: usize = 10;
/// ttrpc's limit on one message's payload.
pub const MAX_MESSAGE: usize = 4 << 20;
pub const TYPE_REQUEST: u8 = 1;
pub const TYPE_RESPONSE: u8 = 2;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub length: u32,
    pub stream_id: u32,
    pub kind: u8,
    pub flags: u8,
}

impl Header {
    pub fn parse(b: &[u8; HEADER_LEN]) -> Header {
        Header {
            length: u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
            stream_id: u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
            kind: b[8],
            flags: b[9],
        }
    }

    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[..4].copy_from_slice(&self.length.to_be_bytes());
        b[4..8].copy_from_slice(&self.stream_id.to_be_bytes());
        b[8] = self.kind;
        b[9] = self.flags;
        b
    }
}

/// A whole message: header and payload.
pub fn frame(stream_id: u32, kind: u8, payload: &[u8]) -> Vec<u8> {
    // Payloads we build are far below MAX_MESSAGE (checked by callers that
    // relay foreign data), so the length fits in u32.
    let length = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    let h = Header {
        length,
        stream_id,
        kind,
        flags: 0,
    };
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    out.extend_from_slice(&h.encode());
    out.extend_from_slice(payload);
    out
}

/// Takes the first complete message off `buf`: `Ok(None)` until one is
/// complete; an error for a message over ttrpc's limit (the connection is
/// then unusable).
pub fn next_message(buf: &mut Vec<u8>) -> io::Result<Option<(Header, Vec<u8>)>> {
    let Some(head) = buf.first_chunk::<HEADER_LEN>() else {
        return Ok(None);
    };
    let h = Header::parse(head);
    let len = h.length as usize;
    if len > MAX_MESSAGE {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("ttrpc message of {len} bytes is over the limit of {MAX_MESSAGE}"),
        ));
    }
    if buf.len() < HEADER_LEN + len {
        return Ok(None);
    }
    let payload = buf[HEADER_LEN..HEADER_LEN + len].to_vec();
    buf.drain(..HEADER_LEN + len);
    Ok(Some((h, payload)))
}

/// A response with an error status (and no payload), encoded.
pub fn error_response(code: Code, msg: String) -> Vec<u8> {
    let mut res = Response::new();
    res.set_status(containerd_shim::protos::ttrpc::get_status(code, msg));
    res.write_to_bytes().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_split_at_their_length() {
        let mut buf = frame(3, TYPE_REQUEST, b"abc");
        buf.extend_from_slice(&frame(5, TYPE_RESPONSE, b""));
        buf.extend_from_slice(&frame(7, TYPE_REQUEST, b"xyz")[..12]);
        let (h, p) = next_message(&mut buf).unwrap().unwrap();
        assert_eq!(
            (h.stream_id, h.kind, h.length, p.as_slice()),
            (3, 1, 3, &b"abc"[..])
        );
        let (h, p) = next_message(&mut buf).unwrap().unwrap();
        assert_eq!((h.stream_id, h.kind, p.len()), (5, 2, 0));
        // Incomplete: stays in the buffer.
        assert!(next_message(&mut buf).unwrap().is_none());
        assert_eq!(buf.len(), 12);
        let over = Header {
            length: (MAX_MESSAGE + 1) as u32,
            stream_id: 1,
            kind: 1,
            flags: 0,
        };
        let mut buf = over.encode().to_vec();
        assert!(next_message(&mut buf).is_err());
    }

    #[test]
    fn header_round_trip() {
        let h = Header {
            length: 0x0102_0304,
            stream_id: 0x0a0b_0c0d,
            kind: 2,
            flags: 4,
        };
        assert_eq!(Header::parse(&h.encode()), h);
        assert_eq!(&h.encode()[..4], &[1, 2, 3, 4]);
    }
}
