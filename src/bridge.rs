//! The one translation point between the wire (`plaza_net`) and the world
//! (`plaza_systems`): client messages become checked commands, world events become server
//! messages, encoded once per codec for however many recipients share them.

use std::sync::Arc;

use bytes::Bytes;
use glam::{Quat, Vec3};
use plaza_net::{
    ClientMsg, Codec, ErrorCode, ServerMsg, ShareKind, WireAvatar, WireChat, WireMotion,
    WireObject, WireShare, WireTransform, WireUser,
};
use plaza_systems::{
    ChatLine, Command, Delta, ErrorKind, Event, ObjectState, ShareState, Transform, UserState,
};

use crate::config::Config;

/// An encoded frame, ready for any connection using its codec. Cloning shares the bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Encoded message.
    pub bytes: Bytes,
    /// Whether it goes out as a text frame (JSON) rather than binary (postcard).
    pub text: bool,
}

/// A refusal decided at the edge, before the world sees the message.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    /// Error code sent to the client.
    pub code: ErrorCode,
    /// Human-readable detail.
    pub message: String,
}

impl Refusal {
    fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// The `error` message telling the client.
    pub fn to_msg(&self) -> ServerMsg {
        ServerMsg::Error {
            code: self.code,
            message: self.message.clone(),
        }
    }
}

/// Input size limits checked at the edge.
#[derive(Debug, Clone)]
pub struct InputLimits {
    /// Largest props JSON text in bytes.
    pub max_props_bytes: usize,
    /// Longest chat message in characters.
    pub max_chat_chars: usize,
    /// Longest user or space name in characters.
    pub max_name_chars: usize,
    /// Longest model reference in characters.
    pub max_model_chars: usize,
    /// Largest WebRTC signaling payload in bytes.
    pub max_signal_bytes: usize,
    /// Whether screen sharing (and its signaling) is switched on.
    pub screen_sharing: bool,
}

impl InputLimits {
    /// The limits in `config`.
    pub fn from_config(config: &Config) -> Self {
        Self {
            max_props_bytes: config.max_props_bytes,
            max_chat_chars: config.max_chat_chars,
            max_name_chars: config.max_name_chars,
            max_model_chars: 256,
            max_signal_bytes: config.max_signal_bytes,
            screen_sharing: config.screen_sharing_enabled,
        }
    }
}

/// Checks a user or space name: 1 to `max` characters, not blank, no control characters.
pub fn check_name(what: &str, name: &str, max: usize) -> Result<Arc<str>, Refusal> {
    let chars = name.chars().count();
    if chars > max {
        return Err(Refusal::new(
            ErrorCode::TooLarge,
            format!("{what} is over {max} characters"),
        ));
    }
    if name.trim().is_empty() || name.chars().any(char::is_control) {
        return Err(Refusal::new(
            ErrorCode::BadMessage,
            format!("{what} must be non-blank text without control characters"),
        ));
    }
    Ok(Arc::from(name))
}

/// Translates a client message (other than `hello` and `ping`, which the edge answers) into
/// a world command, checking sizes and that every float is finite.
pub fn command_from_wire(msg: ClientMsg, limits: &InputLimits) -> Result<Command, Refusal> {
    Ok(match msg {
        ClientMsg::Join { space } => Command::Join {
            space: check_name("space name", &space, limits.max_name_chars)?,
        },
        ClientMsg::Leave => Command::Leave,
        ClientMsg::Spawn {
            client_ref,
            model,
            transform,
            props,
        } => Command::Spawn {
            client_ref,
            model: check_name("model", &model, limits.max_model_chars)?,
            transform: transform_from_wire(&transform)?,
            props: props_from_wire(&props, limits)?,
        },
        ClientMsg::Move { id, transform } => Command::Move {
            id,
            transform: transform_from_wire(&transform)?,
        },
        ClientMsg::SetProps { id, props } => Command::SetProps {
            id,
            props: props_from_wire(&props, limits)?,
        },
        ClientMsg::Despawn { id } => Command::Despawn { id },
        ClientMsg::Pose { transform } => Command::Pose {
            transform: transform_from_wire(&transform)?,
        },
        ClientMsg::Chat { text } => {
            let chars = text.chars().count();
            if chars > limits.max_chat_chars {
                let message = format!("chat is limited to {} characters", limits.max_chat_chars);
                return Err(Refusal::new(ErrorCode::TooLarge, message));
            }
            if text.trim().is_empty() {
                return Err(Refusal::new(ErrorCode::BadMessage, "chat text is empty"));
            }
            check_text("chat text", &text)?;
            Command::Chat {
                text: Arc::from(text),
            }
        }
        ClientMsg::ScreenShareStart { .. }
        | ClientMsg::ScreenShareStop
        | ClientMsg::Signal { .. }
            if !limits.screen_sharing =>
        {
            return Err(Refusal::new(
                ErrorCode::Disabled,
                "screen sharing is switched off on this server",
            ));
        }
        ClientMsg::ScreenShareStart { kind } => Command::ShareStart {
            kind: kind.as_str(),
        },
        ClientMsg::ScreenShareStop => Command::ShareStop,
        ClientMsg::Signal { to, data } => {
            if data.len() > limits.max_signal_bytes {
                let message = format!(
                    "signal data is limited to {} bytes",
                    limits.max_signal_bytes
                );
                return Err(Refusal::new(ErrorCode::TooLarge, message));
            }
            if data.is_empty() {
                return Err(Refusal::new(ErrorCode::BadMessage, "signal data is empty"));
            }
            check_text("signal data", &data)?;
            Command::Signal {
                to,
                data: Arc::from(data),
            }
        }
        ClientMsg::Hello { .. } => {
            return Err(Refusal::new(
                ErrorCode::BadMessage,
                "hello was already said",
            ));
        }
        ClientMsg::Ping { .. } => {
            return Err(Refusal::new(
                ErrorCode::BadMessage,
                "ping is answered at the edge",
            ));
        }
    })
}

fn props_from_wire(props: &plaza_net::Props, limits: &InputLimits) -> Result<Arc<str>, Refusal> {
    if props.len() > limits.max_props_bytes {
        let message = format!(
            "props are limited to {} bytes of JSON",
            limits.max_props_bytes
        );
        return Err(Refusal::new(ErrorCode::TooLarge, message));
    }
    crate::text::check_json_text("props", props.as_str())
        .map_err(|e| Refusal::new(ErrorCode::BadMessage, e.to_string()))?;
    Ok(props.as_arc().clone())
}

/// A text field every store keeps (see [`crate::text`]), or `bad_message`.
fn check_text(what: &'static str, text: &str) -> Result<(), Refusal> {
    crate::text::check_text(what, text)
        .map_err(|e| Refusal::new(ErrorCode::BadMessage, e.to_string()))
}

/// A wire transform as a domain transform; non-finite numbers or a zero rotation are refused.
pub fn transform_from_wire(t: &WireTransform) -> Result<Transform, Refusal> {
    let all = t.pos.iter().chain(&t.rot).chain(&t.scale);
    if !all.clone().all(|v| v.is_finite()) {
        return Err(Refusal::new(
            ErrorCode::BadMessage,
            "transform holds a non-finite number",
        ));
    }
    if all.map(|v| v.abs()).fold(0.0_f32, f32::max) > 1.0e9 {
        return Err(Refusal::new(
            ErrorCode::BadMessage,
            "transform is beyond ±1e9",
        ));
    }
    let rotation = Quat::from_array(t.rot);
    if rotation.length_squared() < 1.0e-12 {
        return Err(Refusal::new(
            ErrorCode::BadMessage,
            "rotation quaternion is zero",
        ));
    }
    Ok(Transform {
        translation: Vec3::from_array(t.pos),
        rotation: rotation.normalize(),
        scale: Vec3::from_array(t.scale),
    })
}

/// A domain transform on the wire.
pub fn transform_to_wire(t: &Transform) -> WireTransform {
    WireTransform {
        pos: t.translation.to_array(),
        rot: t.rotation.to_array(),
        scale: t.scale.to_array(),
    }
}

fn object_to_wire(o: &ObjectState) -> WireObject {
    WireObject {
        id: o.id,
        model: o.model.to_string(),
        transform: transform_to_wire(&o.transform),
        props: plaza_net::Props::from_trusted(o.props.clone()),
        owner: o.owner,
        version: o.version,
    }
}

fn user_to_wire(u: &UserState) -> WireUser {
    WireUser {
        user: u.user,
        name: u.name.to_string(),
        transform: transform_to_wire(&u.transform),
    }
}

fn chat_to_wire(c: &ChatLine) -> WireChat {
    WireChat {
        from: c.from,
        name: c.name.to_string(),
        text: c.text.to_string(),
        at: rfc3339(c.at_ms),
    }
}

fn share_to_wire(s: &ShareState) -> WireShare {
    let kind = match s.kind {
        "window" => ShareKind::Window,
        "tab" => ShareKind::Tab,
        "camera" => ShareKind::Camera,
        _ => ShareKind::Screen,
    };
    WireShare {
        user: s.user,
        name: s.name.to_string(),
        kind,
    }
}

fn error_code(kind: ErrorKind) -> ErrorCode {
    match kind {
        ErrorKind::NotJoined => ErrorCode::NotJoined,
        ErrorKind::NotFound => ErrorCode::NotFound,
        ErrorKind::Forbidden => ErrorCode::Forbidden,
        ErrorKind::TooLarge => ErrorCode::TooLarge,
        ErrorKind::Unavailable => ErrorCode::Unavailable,
    }
}

/// The server message for a world event; `None` for [`Event::Close`], which is not a message.
pub fn event_to_wire(event: &Event) -> Option<ServerMsg> {
    Some(match event {
        Event::Joined(s) => ServerMsg::Joined {
            space: s.space,
            name: s.name.to_string(),
            tick: s.tick,
            objects: s.objects.iter().map(object_to_wire).collect(),
            users: s.users.iter().map(user_to_wire).collect(),
            chat: s.chat.iter().map(chat_to_wire).collect(),
            shares: s.shares.iter().map(share_to_wire).collect(),
        },
        Event::ScreenShare { share, active } => ServerMsg::ScreenShare {
            share: share_to_wire(share),
            active: *active,
        },
        Event::Signal { from, data } => ServerMsg::Signal {
            from: *from,
            data: data.to_string(),
        },
        Event::Left { space } => ServerMsg::Left { space: *space },
        Event::Spawned { client_ref, id } => ServerMsg::Spawned {
            client_ref: *client_ref,
            id: *id,
        },
        Event::Chat(line) => ServerMsg::Chat(chat_to_wire(line)),
        Event::Delta(d) => delta_msg(
            d,
            objects_to_wire([&d.objects, &d.moved]),
            avatars_to_wire([&d.avatars]),
        ),
        Event::Error { kind, message } => ServerMsg::Error {
            code: error_code(*kind),
            message: message.clone(),
        },
        Event::Close { .. } => return None,
    })
}

fn avatars_to_wire<'a>(
    lists: impl IntoIterator<Item = &'a Vec<(uuid::Uuid, Transform)>>,
) -> Vec<WireAvatar> {
    lists
        .into_iter()
        .flatten()
        .map(|(user, t)| WireAvatar {
            user: *user,
            transform: transform_to_wire(t),
        })
        .collect()
}

fn objects_to_wire<'a>(lists: impl IntoIterator<Item = &'a Vec<ObjectState>>) -> Vec<WireObject> {
    lists.into_iter().flatten().map(object_to_wire).collect()
}

/// A `delta` message of `d` with the given objects and avatars.
fn delta_msg(d: &Delta, objects: Vec<WireObject>, avatars: Vec<WireAvatar>) -> ServerMsg {
    ServerMsg::Delta {
        tick: d.tick,
        objects,
        removed: d.removed.clone(),
        avatars,
        joined: d.joined.iter().map(user_to_wire).collect(),
        left: d.left.clone(),
        appeared: d.appeared.iter().map(user_to_wire).collect(),
        vanished: d.vanished.clone(),
        hidden: d.hidden.clone(),
    }
}

// A connection that takes datagrams gets a delta in up to three forms, each built only
// when such a connection needs it: the movements as a `motion` datagram, the rest of the
// delta (with the final state of what stopped) on its stream, and everything on its
// stream when the datagram cannot go.

/// The avatars and objects that moved, as a `motion` datagram; `None` if nothing moved.
pub fn motion_msg(d: &Delta) -> Option<ServerMsg> {
    (!d.avatars.is_empty() || !d.moved.is_empty()).then(|| ServerMsg::Motion {
        tick: d.tick,
        avatars: avatars_to_wire([&d.avatars]),
        objects: d
            .moved
            .iter()
            .map(|o| WireMotion {
                id: o.id,
                transform: transform_to_wire(&o.transform),
                version: o.version,
            })
            .collect(),
    })
}

/// The rest of the delta, for the stream of a connection that got the motion; `None` if
/// nothing else changed.
pub fn rest_msg(d: &Delta) -> Option<ServerMsg> {
    let empty = d.objects.is_empty()
        && d.settled_objects.is_empty()
        && d.removed.is_empty()
        && d.settled.is_empty()
        && d.joined.is_empty()
        && d.left.is_empty()
        && d.appeared.is_empty()
        && d.vanished.is_empty()
        && d.hidden.is_empty();
    (!empty).then(|| {
        let objects = objects_to_wire([&d.objects, &d.settled_objects]);
        delta_msg(d, objects, avatars_to_wire([&d.settled]))
    })
}

/// Everything, for the stream of a connection whose motion datagram could not go.
pub fn fallback_msg(d: &Delta) -> ServerMsg {
    let objects = objects_to_wire([&d.objects, &d.moved, &d.settled_objects]);
    delta_msg(d, objects, avatars_to_wire([&d.avatars, &d.settled]))
}

/// Whether a delta message carries nothing (a delta with only settled poses is empty for
/// connections that got every pose reliably).
pub fn is_empty_delta(msg: &ServerMsg) -> bool {
    matches!(msg, ServerMsg::Delta { objects, removed, avatars, joined, left, appeared, vanished, hidden, .. }
        if objects.is_empty() && removed.is_empty() && avatars.is_empty() && joined.is_empty() && left.is_empty()
            && appeared.is_empty() && vanished.is_empty() && hidden.is_empty())
}

/// Encodes a server message for `codec`.
pub fn encode(codec: Codec, msg: &ServerMsg) -> Frame {
    let bytes = codec
        .encode_server(msg)
        .expect("server messages always encode: they hold only strings, numbers and JSON objects");
    Frame {
        bytes: Bytes::from(bytes),
        text: codec.is_text(),
    }
}

/// Encodes one message lazily, at most once per codec, for many recipients.
#[derive(Debug)]
pub struct SharedEncoding {
    msg: ServerMsg,
    postcard: Option<Frame>,
    json: Option<Frame>,
}

impl SharedEncoding {
    /// Prepares to encode `msg`.
    pub fn new(msg: ServerMsg) -> Self {
        Self {
            msg,
            postcard: None,
            json: None,
        }
    }

    /// The frame for `codec`, encoding it on first use.
    pub fn frame(&mut self, codec: Codec) -> Frame {
        let slot = match codec {
            Codec::Postcard => &mut self.postcard,
            Codec::Json => &mut self.json,
        };
        slot.get_or_insert_with(|| encode(codec, &self.msg)).clone()
    }
}

/// Milliseconds since the Unix epoch as RFC 3339 UTC with milliseconds,
/// e.g. `2026-11-25T15:19:46.123Z`.
pub fn rfc3339(unix_ms: i64) -> String {
    let secs = unix_ms.div_euclid(1000);
    let millis = unix_ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let of_day = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        of_day / 3600,
        of_day % 3600 / 60,
        of_day % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_matches_known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(rfc3339(1_795_619_986_123), "2026-11-25T15:19:46.123Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59.999Z");
    }

    #[test]
    fn non_finite_and_zero_rotations_are_refused() {
        let mut t = WireTransform::IDENTITY;
        t.pos[1] = f32::NAN;
        assert_eq!(
            transform_from_wire(&t).expect_err("NaN").code,
            ErrorCode::BadMessage
        );
        t = WireTransform::IDENTITY;
        t.scale[0] = f32::INFINITY;
        assert!(transform_from_wire(&t).is_err());
        t = WireTransform {
            rot: [0.0; 4],
            ..WireTransform::IDENTITY
        };
        assert!(transform_from_wire(&t).is_err());
        let ok = transform_from_wire(&WireTransform::at([1.0, 2.0, 3.0])).expect("finite");
        assert_eq!(transform_to_wire(&ok), WireTransform::at([1.0, 2.0, 3.0]));
    }

    #[test]
    fn sizes_are_checked() {
        let limits = InputLimits {
            max_props_bytes: 10,
            max_chat_chars: 3,
            max_name_chars: 5,
            max_model_chars: 5,
            max_signal_bytes: 300,
            screen_sharing: true,
        };
        let long_chat = ClientMsg::Chat {
            text: "four".into(),
        };
        assert_eq!(
            command_from_wire(long_chat, &limits)
                .expect_err("long")
                .code,
            ErrorCode::TooLarge
        );
        let props = plaza_net::Props::from_json(r#"{"a":"0123456789"}"#).expect("object");
        let set = ClientMsg::SetProps {
            id: uuid::Uuid::nil(),
            props,
        };
        assert_eq!(
            command_from_wire(set, &limits).expect_err("big").code,
            ErrorCode::TooLarge
        );
        let join = ClientMsg::Join { space: " ".into() };
        assert_eq!(
            command_from_wire(join, &limits).expect_err("blank").code,
            ErrorCode::BadMessage
        );
        assert!(
            command_from_wire(
                ClientMsg::Join {
                    space: "hall".into()
                },
                &limits
            )
            .is_ok()
        );
    }
}
