//! Streaming exec through the URL that the CRI's Exec call returns.
//!
//! containerd 1.6's streaming server (kubelet's, vendored) accepts SPDY and
//! WebSocket upgrades. WebSocket is the small one to speak: with the
//! subprotocol `v4.channel.k8s.io` every binary message carries one channel
//! byte, then data: 0 stdin, 1 stdout, 2 stderr (client-bound), 3 the
//! exit status (a Kubernetes `Status` object as JSON), 4 terminal resize
//! (`{"Width":…,"Height":…}`). v4 has no way to close stdin alone, so a
//! command fed through stdin must end by itself (a shell's `exit`, `head`).

use std::net::IpAddr;

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;

use crate::error::{Error, Result};

const PROTOCOL: &str = "v4.channel.k8s.io";
const STDIN: u8 = 0;
const STDOUT: u8 = 1;
const STDERR: u8 = 2;
const STATUS: u8 = 3;
const RESIZE: u8 = 4;

/// What came back from the process.
#[derive(Debug, Default)]
pub struct Output {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub exit_code: i32,
}

/// What to send: the terminal size first (width, height), then stdin.
#[derive(Debug, Default)]
pub struct Input<'a> {
    pub resize: Option<(u16, u16)>,
    pub stdin: Option<&'a [u8]>,
}

fn ws_err(e: impl std::fmt::Display) -> Error {
    Error::Stream(e.to_string())
}

/// Runs the exec behind `url` (`http://ADDR:PORT/exec/TOKEN`) to its end.
pub async fn exec(url: &str, input: Input<'_>) -> Result<Output> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| Error::Stream(format!("unexpected streaming URL {url:?}")))?;
    let mut req = format!("ws://{rest}")
        .into_client_request()
        .map_err(ws_err)?;
    req.headers_mut()
        .insert("Sec-WebSocket-Protocol", HeaderValue::from_static(PROTOCOL));
    // The server listens on an address, never a name: no resolver needed.
    let host = req.uri().host().unwrap_or_default();
    let ip: IpAddr = host
        .trim_matches(['[', ']'])
        .parse()
        .map_err(|_| Error::Stream(format!("streaming URL {url:?}: host is not an address")))?;
    let port = req.uri().port_u16().unwrap_or(80);
    let tcp = TcpStream::connect((ip, port)).await.map_err(ws_err)?;
    let (mut ws, resp) = tokio_tungstenite::client_async(req, tcp)
        .await
        .map_err(ws_err)?;
    let proto = resp.headers().get("Sec-WebSocket-Protocol");
    if proto.and_then(|v| v.to_str().ok()) != Some(PROTOCOL) {
        return Err(Error::Stream(format!("server chose protocol {proto:?}")));
    }
    if let Some((width, height)) = input.resize {
        let size = serde_json::json!({ "Width": width, "Height": height });
        ws.send(frame(RESIZE, size.to_string().as_bytes()))
            .await
            .map_err(ws_err)?;
    }
    if let Some(data) = input.stdin {
        ws.send(frame(STDIN, data)).await.map_err(ws_err)?;
    }
    let mut out = Output::default();
    let mut status = Vec::new();
    while let Some(msg) = ws.next().await {
        match msg.map_err(ws_err)? {
            Message::Binary(b) => match b.split_first() {
                Some((&STDOUT, data)) => out.stdout.extend_from_slice(data),
                Some((&STDERR, data)) => out.stderr.extend_from_slice(data),
                Some((&STATUS, data)) => status.extend_from_slice(data),
                _ => {}
            },
            Message::Close(_) => break,
            _ => {}
        }
    }
    out.exit_code = exit_code(&status)?;
    Ok(out)
}

fn frame(channel: u8, data: &[u8]) -> Message {
    let mut b = Vec::with_capacity(data.len() + 1);
    b.push(channel);
    b.extend_from_slice(data);
    Message::Binary(b.into())
}

/// The exit code in the v4 status object: 0 on "Success", the `ExitCode`
/// cause of a "NonZeroExitCode" failure; any other failure is an error.
fn exit_code(status: &[u8]) -> Result<i32> {
    if status.is_empty() {
        return Err(Error::Stream("the stream ended without a status".into()));
    }
    let v: serde_json::Value = serde_json::from_slice(status)
        .map_err(|e| Error::Stream(format!("status {:?}: {e}", String::from_utf8_lossy(status))))?;
    if v["status"] == "Success" {
        return Ok(0);
    }
    let causes = v["details"]["causes"].as_array();
    causes
        .into_iter()
        .flatten()
        .find(|c| c["reason"] == "ExitCode")
        .and_then(|c| c["message"].as_str()?.parse().ok())
        .ok_or_else(|| Error::Stream(format!("failed: {}", v["message"])))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_objects() {
        assert_eq!(
            exit_code(br#"{"metadata":{},"status":"Success"}"#).unwrap(),
            0
        );
        let failed = br#"{"metadata":{},"status":"Failure","message":"command terminated with non-zero exit code: exit status 5","reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"5"}]}}"#;
        assert_eq!(exit_code(failed).unwrap(), 5);
        let other = br#"{"status":"Failure","message":"no such container"}"#;
        let e = exit_code(other).unwrap_err().to_string();
        assert!(e.contains("no such container"), "{e}");
        assert!(exit_code(b"").is_err());
        assert!(exit_code(b"{").is_err());
    }

    #[test]
    fn frames_carry_the_channel_first() {
        let Message::Binary(b) = frame(RESIZE, b"{}") else {
            panic!("not binary");
        };
        assert_eq!(&b[..], b"\x04{}");
    }
}
