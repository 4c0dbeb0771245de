//! The hello handshake: the first message of a connection must be a `hello` of our protocol
//! with a valid token, or a guest name (new, or presented with its secret).

use std::sync::Arc;

use plaza_net::{ClientMsg, Codec, ErrorCode, PROTOCOL_VERSION};

use super::Edge;
use super::bridge::{Refusal, check_name};
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
}

/// Reads the first message, which must be a `hello` of our protocol with a valid token, or
/// a guest name: new, or presented with its secret. A guest may not use a registered
/// user's name, nor another guest's.
pub(super) async fn handshake<S: FrameSource>(
    source: &mut S,
    edge: &Edge,
    codec: Codec,
) -> Result<Hello, Refusal> {
    let closed = || Refusal {
        code: ErrorCode::BadMessage,
        message: "closed before hello".into(),
    };
    let payload = loop {
        match source.next().await {
            Incoming::Data(payload) => break payload,
            Incoming::Refused(refusal) => return Err(refusal),
            Incoming::Skip => continue,
            Incoming::End => return Err(closed()),
            Incoming::Close(reason) => {
                return Err(Refusal {
                    code: ErrorCode::TooLarge,
                    message: reason.text,
                });
            }
        }
    };
    let msg = codec.decode_client(&payload).map_err(|e| Refusal {
        code: ErrorCode::BadMessage,
        message: e.to_string(),
    })?;
    let ClientMsg::Hello {
        protocol,
        name,
        token,
        visitor,
        secret,
    } = msg
    else {
        let message = "the first message must be hello".into();
        return Err(Refusal {
            code: ErrorCode::BadMessage,
            message,
        });
    };
    if protocol != PROTOCOL_VERSION {
        return Err(Refusal {
            code: ErrorCode::ProtocolMismatch,
            message: format!(
                "this server speaks protocol {PROTOCOL_VERSION}; the client sent {protocol}"
            ),
        });
    }
    let visitor = visitor.as_deref().map(check_visitor).transpose()?;
    let unavailable = |error: StoreError| {
        tracing::warn!(%error, "cannot read users at hello");
        Refusal {
            code: ErrorCode::Unavailable,
            message: "the user store is unavailable; retry later".into(),
        }
    };
    let unauthorized = |message: String| Refusal {
        code: ErrorCode::Unauthorized,
        message,
    };
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
        }),
        GuestHello::Returning(account) => Ok(Hello {
            account,
            visitor,
            guest_secret: None,
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
        Err(Refusal {
            code: ErrorCode::BadMessage,
            message: "visitor must be 8 to 128 characters of A-Z, a-z, 0-9, - and _".into(),
        })
    }
}
