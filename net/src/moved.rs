//! Following `moved`: where the node named in a `moved` message is reached, and a new
//! connection to it over the transport the client was using.

use std::net::SocketAddr;

use crate::client::{Client, ClientError};
use crate::{Codec, ServerMsg};

/// The transports a client can follow a move over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// WebSocket at `{http_url}/ws`.
    WebSocket,
    /// QUIC at the node's host and `quic_port`.
    Quic,
    /// WebTransport at `https://host:webtransport_port/wt`.
    WebTransport,
}

/// Where a `moved` message sends the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MovedTo {
    /// The space to join there.
    pub space: String,
    /// The node's id.
    pub node: String,
    /// Its HTTP (and WebSocket) address.
    pub http: SocketAddr,
    /// Its QUIC address, if it serves QUIC.
    pub quic: Option<SocketAddr>,
    /// Its WebTransport address, if it serves WebTransport.
    pub webtransport: Option<SocketAddr>,
    /// SHA-256 of its certificate, if it sent one that parses.
    pub cert_sha256: Option<[u8; 32]>,
}

impl MovedTo {
    /// Reads a `moved` message (`None` for any other message), resolving the node's host.
    pub async fn from_message(msg: &ServerMsg) -> Result<Option<Self>, ClientError> {
        let ServerMsg::Moved {
            space,
            node,
            http_url,
            quic_port,
            webtransport_port,
            cert_sha256,
        } = msg
        else {
            return Ok(None);
        };
        let bad = |why: &str| ClientError::Connect(format!("moved to {http_url:?}: {why}"));
        let authority = http_url
            .strip_prefix("http://")
            .or_else(|| http_url.strip_prefix("https://"))
            .ok_or_else(|| bad("not an http:// URL"))?
            .split('/')
            .next()
            .unwrap_or_default();
        let http = tokio::net::lookup_host(authority)
            .await
            .map_err(|e| bad(&e.to_string()))?
            .next()
            .ok_or_else(|| bad("the host does not resolve"))?;
        let on = |port: u16| (port != 0).then(|| SocketAddr::new(http.ip(), port));
        Ok(Some(Self {
            space: space.clone(),
            node: node.clone(),
            http,
            quic: on(*quic_port),
            webtransport: on(*webtransport_port),
            cert_sha256: sha256_from_hex(cert_sha256),
        }))
    }

    /// Connects to the node over `transport` (WebSocket when the node does not serve that
    /// one, or sent no usable certificate hash). Say `hello` again and join [`Self::space`].
    pub async fn connect(&self, transport: Transport, codec: Codec) -> Result<Client, ClientError> {
        match (transport, self.cert_sha256) {
            (Transport::Quic, Some(cert)) if self.quic.is_some() => {
                Client::quic(self.quic.expect("checked just above"), cert).await
            }
            (Transport::WebTransport, Some(cert)) if self.webtransport.is_some() => {
                let addr = self.webtransport.expect("checked just above");
                Client::webtransport(addr, cert, codec).await
            }
            _ => Client::websocket(self.http, codec).await,
        }
    }
}

/// A SHA-256 digest written as 64 hex digits (a certificate hash, a file digest); `None`
/// for anything else.
pub fn sha256_from_hex(text: &str) -> Option<[u8; 32]> {
    if text.len() != 64 {
        return None;
    }
    let mut out = [0_u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_moved_message_names_the_node_and_its_transports() {
        let msg = ServerMsg::Moved {
            space: "hall".into(),
            node: "b".into(),
            http_url: "http://127.0.0.1:8800".into(),
            quic_port: 8801,
            webtransport_port: 0,
            cert_sha256: "ab".repeat(32),
        };
        let to = MovedTo::from_message(&msg)
            .await
            .expect("resolves")
            .expect("a move");
        assert_eq!(to.http, "127.0.0.1:8800".parse().expect("an address"));
        assert_eq!(to.quic, Some("127.0.0.1:8801".parse().expect("an address")));
        assert_eq!(to.webtransport, None);
        assert_eq!(to.cert_sha256, Some([0xab; 32]));
        assert_eq!(sha256_from_hex("ab"), None);
        assert_eq!(
            sha256_from_hex(&"é".repeat(32)),
            None,
            "not hex, and not sliced mid-character"
        );
        let pong = ServerMsg::Pong { t: 0.0, tick: 0 };
        assert_eq!(MovedTo::from_message(&pong).await.expect("no lookup"), None);
        let bad = ServerMsg::Moved {
            space: "hall".into(),
            node: "b".into(),
            http_url: "ftp://x".into(),
            quic_port: 0,
            webtransport_port: 0,
            cert_sha256: String::new(),
        };
        assert!(MovedTo::from_message(&bad).await.is_err());
    }
}
