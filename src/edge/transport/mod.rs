//! The transports: each only turns its connections' frames into session payloads and back
//! ([`crate::edge::session`] runs everything else). WebSocket on the HTTP port; QUIC and
//! WebTransport on UDP ports of their own, sharing the stream-and-datagram session of
//! [`stream`].

pub(crate) mod quic;
pub mod stream;
pub(crate) mod webtransport;
pub(crate) mod ws;
