//! Wire to world: client messages (other than `hello` and `ping`, which the edge answers)
//! become checked domain commands.

use std::sync::Arc;

use glam::{Quat, Vec3};
use plaza_net::{ClientMsg, ErrorCode, WireTransform};
use plaza_systems::{Command, ShareKind, Transform};

use super::{InputLimits, Refusal};

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

/// Checks an object's model: a built-in primitive or an uploaded model this server knows.
fn check_model(model: &str, limits: &InputLimits) -> Result<Arc<str>, Refusal> {
    let model = check_name("model", model, limits.max_model_chars)?;
    limits
        .models
        .check(&model)
        .map_err(|message| Refusal::new(ErrorCode::NotFound, message))?;
    Ok(model)
}

/// The `ref` a client message carries, which answers and refusals of it echo.
pub fn request_of(msg: &ClientMsg) -> Option<u32> {
    match msg {
        ClientMsg::Spawn { client_ref, .. } => Some(*client_ref),
        ClientMsg::Join { request, .. }
        | ClientMsg::Move { request, .. }
        | ClientMsg::SetProps { request, .. }
        | ClientMsg::Despawn { request, .. }
        | ClientMsg::Chat { request, .. }
        | ClientMsg::ScreenShareStart { request, .. }
        | ClientMsg::Signal { request, .. } => *request,
        ClientMsg::Hello { .. }
        | ClientMsg::Leave
        | ClientMsg::Pose { .. }
        | ClientMsg::Ping { .. }
        | ClientMsg::ScreenShareStop => None,
    }
}

/// Translates a client message (other than `hello` and `ping`, which the edge answers) into
/// a world command, checking sizes and that every float is finite.
pub fn command_from_wire(msg: ClientMsg, limits: &InputLimits) -> Result<Command, Refusal> {
    Ok(match msg {
        ClientMsg::Join { space, .. } => Command::Join {
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
            model: check_model(&model, limits)?,
            transform: transform_from_wire(&transform)?,
            props: props_from_wire(&props, limits)?,
        },
        ClientMsg::Move { id, transform, .. } => Command::Move {
            id,
            transform: transform_from_wire(&transform)?,
        },
        ClientMsg::SetProps { id, props, .. } => Command::SetProps {
            id,
            props: props_from_wire(&props, limits)?,
        },
        ClientMsg::Despawn { id, .. } => Command::Despawn { id },
        ClientMsg::Pose { transform } => Command::Pose {
            transform: transform_from_wire(&transform)?,
        },
        ClientMsg::Chat { text, .. } => {
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
        ClientMsg::ScreenShareStart { kind, .. } => Command::ShareStart {
            kind: share_kind_from_wire(kind),
        },
        ClientMsg::ScreenShareStop => Command::ShareStop,
        ClientMsg::Signal { to, data, .. } => {
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

/// The farthest a position may be from the origin on any axis: compact motion carries
/// whole millimetres in 32 bits (±2,147 km), with room to spare.
pub const MAX_POSITION_METRES: f32 = 1.0e6;

/// A wire transform as a domain transform; non-finite numbers, positions beyond
/// [`MAX_POSITION_METRES`] or a zero rotation are refused.
pub(crate) fn transform_from_wire(t: &WireTransform) -> Result<Transform, Refusal> {
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
    if t.pos.iter().any(|v| v.abs() > MAX_POSITION_METRES) {
        return Err(Refusal::new(
            ErrorCode::BadMessage,
            format!("positions are limited to ±{MAX_POSITION_METRES} m"),
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

/// A wire share kind as the domain's.
fn share_kind_from_wire(kind: plaza_net::ShareKind) -> ShareKind {
    match kind {
        plaza_net::ShareKind::Screen => ShareKind::Screen,
        plaza_net::ShareKind::Window => ShareKind::Window,
        plaza_net::ShareKind::Tab => ShareKind::Tab,
        plaza_net::ShareKind::Camera => ShareKind::Camera,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::edge::bridge::outbound::transform_to_wire;

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
            models: Default::default(),
        };
        let long_chat = ClientMsg::Chat {
            text: "four".into(),
            request: None,
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
            request: None,
        };
        assert_eq!(
            command_from_wire(set, &limits).expect_err("big").code,
            ErrorCode::TooLarge
        );
        let join = ClientMsg::Join {
            space: " ".into(),
            request: None,
        };
        assert_eq!(
            command_from_wire(join, &limits).expect_err("blank").code,
            ErrorCode::BadMessage
        );
        assert!(
            command_from_wire(
                ClientMsg::Join {
                    space: "hall".into(),
                    request: None,
                },
                &limits
            )
            .is_ok()
        );
    }
}
