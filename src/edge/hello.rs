//! The hello handshake: the first message of a connection must be a `hello` of our protocol
//! with a valid token, or a guest name (new, or presented with its secret).

use std::sync::Arc;

use plaza_net::{ClientMsg, Codec, ErrorCode, PROTOCOL_VERSIONS};

use super::Edge;
use super::bridge::{Dialect, Refusal, check_name};
use super::session::{FrameSource, Incoming};
use crate::auth::{self, Account};
use crate::clock::now_ms;
use crate::store::StoreError;
use crate::store::accounts::GuestHello;

/// What a hello established.
pub(super) struct Hello {
    /// Who the client is.
    pub(super) account: Account,
    /// The anonymous visitor id it sent, checked.
    pub(super) visitor: Option<Arc<str>>,
    /// A new guest's secret, for its welcome.
    pub(super) guest_secret: Option<String>,
    /// The protocol version and codec the connection speaks from its welcome on.
    pub(super) dialect: Dialect,
    /// The resume token the hello presented, if any.
    pub(super) resume: Option<String>,
}

/// The codec of a first frame: JSON if it opens a JSON object (a postcard `hello` opens
/// with its variant number, 0), else what the transport says.
pub(super) fn hello_codec(payload: &[u8], transport_says: Codec) -> Codec {
    if payload.first() == Some(&b'{') {
        Codec::Json
    } else {
        transport_says
    }
}

/// The newest version both sides speak, of those the hello names.
fn negotiate(protocol: u32, versions: &[u32]) -> Result<u32, Refusal> {
    std::iter::once(protocol)
        .chain(versions.iter().copied())
        .filter(|v| PROTOCOL_VERSIONS.contains(v))
        .max()
        .ok_or_else(|| {
            Refusal::new(
                ErrorCode::ProtocolMismatch,
                format!(
                    "this server speaks protocol versions {PROTOCOL_VERSIONS:?}; the client speaks {:?}",
                    std::iter::once(protocol).chain(versions.iter().copied()).collect::<Vec<_>>()
                ),
            )
        })
}

/// Reads the first message, which must be a `hello` of our protocol with a valid token, or
/// a guest name: new, or presented with its secret. A guest may not use a registered
/// user's name, nor another guest's.
pub(super) async fn handshake<S: FrameSource>(
    source: &mut S,
    edge: &Edge,
    codec: Codec,
    first_codec: &mut Codec,
) -> Result<Hello, Refusal> {
    let closed = || Refusal::new(ErrorCode::BadMessage, "closed before hello");
    let payload = loop {
        match source.next().await {
            Incoming::Data(payload) => break payload,
            Incoming::Refused(refusal) => return Err(refusal),
            Incoming::Skip => continue,
            Incoming::End | Incoming::Goodbye => return Err(closed()),
            Incoming::Close(reason) => {
                return Err(Refusal::new(ErrorCode::TooLarge, reason.text));
            }
        }
    };
    let codec = hello_codec(&payload, codec);
    *first_codec = codec;
    let msg = codec
        .decode_hello(&payload)
        .map_err(|e| Refusal::new(ErrorCode::BadMessage, e.to_string()))?;
    let ClientMsg::Hello {
        protocol,
        name,
        token,
        visitor,
        secret,
        versions,
        codec: wanted,
        resume,
    } = msg
    else {
        let message = "the first message must be hello";
        return Err(Refusal::new(ErrorCode::BadMessage, message));
    };
    let dialect = Dialect {
        version: negotiate(protocol, &versions)?,
        codec: wanted.unwrap_or(codec),
    };
    let visitor = visitor.as_deref().map(check_visitor).transpose()?;
    let unavailable = |error: StoreError| {
        tracing::warn!(%error, "cannot read users at hello");
        Refusal::new(
            ErrorCode::Unavailable,
            "the user store is unavailable; retry later",
        )
    };
    let unauthorized = |message: String| Refusal::new(ErrorCode::Unauthorized, message);
    if let Some(token) = token {
        let account = edge
            .account_for_token(&token)
            .await
            .map_err(unavailable)?
            .ok_or_else(|| {
                unauthorized(
                    "the token is unknown or expired; log in again (POST /api/login)".into(),
                )
            })?;
        return Ok(Hello {
            account,
            visitor,
            guest_secret: None,
            dialect,
            resume,
        });
    }
    let name = check_name("name", &name, edge.config.max_name_chars)?;
    let presented = auth::secret_hash(secret.as_deref());
    let (fresh, fresh_hash) = auth::new_token();
    let outcome = edge
        .store
        .durable
        .guest_hello(&name, presented.as_ref(), &fresh_hash, now_ms())
        .await
        .map_err(unavailable)?;
    match outcome {
        GuestHello::New(account) => Ok(Hello {
            account,
            visitor,
            guest_secret: Some(fresh),
            dialect,
            resume,
        }),
        GuestHello::Returning(account) => Ok(Hello {
            account,
            visitor,
            guest_secret: None,
            dialect,
            resume,
        }),
        GuestHello::Registered => Err(unauthorized(format!(
            "{name:?} is a registered user: log in (POST /api/login) and send the token in hello"
        ))),
        GuestHello::Taken => Err(unauthorized(format!(
            "the guest name {name:?} is taken: send its secret (welcome.guest_secret of its first hello) in hello, or choose another name"
        ))),
    }
}

/// Checks an anonymous visitor id: 8 to 128 characters of `[A-Za-z0-9_-]`.
pub fn check_visitor(visitor: &str) -> Result<Arc<str>, Refusal> {
    let valid = (8..=128).contains(&visitor.len())
        && visitor
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if valid {
        Ok(Arc::from(visitor))
    } else {
        Err(Refusal::new(
            ErrorCode::BadMessage,
            "visitor must be 8 to 128 characters of A-Z, a-z, 0-9, - and _",
        ))
    }
}
