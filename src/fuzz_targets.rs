//! The bodies of the fuzz targets in `fuzz/` (cargo-fuzz, nightly), kept here so that the
//! test suite replays their corpus (`tests/it/fuzz_corpus.rs`) on the stable toolchain with
//! exactly the same code. Each takes arbitrary bytes and must never panic.

use std::sync::OnceLock;

use plaza_net::Codec;

use crate::Config;
use crate::edge::bridge::{InputLimits, command_from_wire};
use crate::edge::session::Incoming;
use crate::http::api::{Body, check_body};
use crate::uploads::media::{GlbLimits, check_glb};

fn config() -> &'static Config {
    static CONFIG: OnceLock<Config> = OnceLock::new();
    CONFIG.get_or_init(Config::default)
}

/// Every target, by the name of its corpus folder.
pub const TARGETS: [(&str, fn(&[u8])); 6] = [
    ("codec_postcard", codec_postcard),
    ("codec_json", codec_json),
    ("framing", framing),
    ("datagram", datagram),
    ("glb", glb),
    ("http_bodies", http_bodies),
];

fn client_message(codec: Codec, data: &[u8]) {
    if let Ok(msg) = codec.decode_client(data) {
        let _ = command_from_wire(msg, &InputLimits::from_config(config()));
    }
}

/// A client frame in postcard, as the edge decodes and translates it.
pub fn codec_postcard(data: &[u8]) {
    client_message(Codec::Postcard, data);
}

/// A client frame in JSON, as the edge decodes and translates it.
pub fn codec_json(data: &[u8]) {
    client_message(Codec::Json, data);
}

/// A QUIC or WebTransport stream: length-prefixed frames read until the stream ends or is
/// closed, with small limits so that both refusals are reached.
pub fn framing(data: &[u8]) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a current-thread runtime builds");
    runtime.block_on(async {
        let mut stream = data;
        for _ in 0..data.len() + 1 {
            match crate::edge::transport::stream::read_incoming(&mut stream, 64, 256).await {
                Incoming::End | Incoming::Goodbye | Incoming::Close(_) => return,
                Incoming::Data(payload) => codec_postcard(&payload),
                Incoming::Refused(_) | Incoming::Skip => {}
            }
        }
    });
}

/// A datagram as a client decodes it (server messages: motion), in both codecs, and as
/// the server decodes a client's datagram.
pub fn datagram(data: &[u8]) {
    let _ = Codec::Postcard.decode_server(data);
    let _ = Codec::Json.decode_server(data);
    codec_postcard(data);
}

/// A model upload.
pub fn glb(data: &[u8]) {
    let _ = check_glb(data, &GlbLimits::from_config(config()));
}

/// A JSON body of the HTTP API; the first byte picks which.
pub fn http_bodies(data: &[u8]) {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let kinds = [
        Body::Register,
        Body::Login,
        Body::CreateSpace,
        Body::AddMember,
        Body::UserChange,
        Body::SpaceMove,
    ];
    let _ = check_body(kinds[usize::from(pick) % kinds.len()], body, config());
}
