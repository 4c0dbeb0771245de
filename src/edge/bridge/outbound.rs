//! World to wire: events become server messages; a delta becomes, for connections with
//! datagrams, its motion and the rest of it.

use plaza_net::{
    AvatarMove, ErrorCode, Moves, ObjectMove, Pose, ServerMsg, ShareKind, WireChat, WireObject,
    WireShare, WireTransform, WireUser,
};
use plaza_systems::{
    AvatarPose, ChatLine, Delta, ErrorKind, Event, ObjectState, ShareState, Transform, UserState,
};

use crate::clock::rfc3339;

/// A domain transform on the wire.
pub(crate) fn transform_to_wire(t: &Transform) -> WireTransform {
    WireTransform {
        pos: t.translation.to_array(),
        rot: t.rotation.to_array(),
        scale: t.scale.to_array(),
    }
}

fn object_to_wire(o: &ObjectState) -> WireObject {
    WireObject {
        id: o.id,
        index: o.index,
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
        index: u.index,
        name: u.name.to_string(),
        transform: Pose::of(&transform_to_wire(&u.transform)),
    }
}

fn chat_to_wire(c: &ChatLine) -> WireChat {
    WireChat {
        id: c.id,
        from: c.from,
        name: c.name.to_string(),
        text: c.text.to_string(),
        at: rfc3339(c.at_ms),
    }
}

fn share_to_wire(s: &ShareState) -> WireShare {
    let kind = match s.kind {
        plaza_systems::ShareKind::Screen => ShareKind::Screen,
        plaza_systems::ShareKind::Window => ShareKind::Window,
        plaza_systems::ShareKind::Tab => ShareKind::Tab,
        plaza_systems::ShareKind::Camera => ShareKind::Camera,
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
        ErrorKind::Full => ErrorCode::Full,
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
        Event::Error {
            kind,
            message,
            request,
        } => ServerMsg::Error {
            code: error_code(*kind),
            message: message.clone(),
            request: *request,
        },
        Event::Moved { space, to } => ServerMsg::Moved {
            space: space.to_string(),
            node: to.node.to_string(),
            http_url: to.http_url.to_string(),
            quic_port: to.quic_port,
            webtransport_port: to.webtransport_port,
            cert_sha256: to.cert_sha256.to_string(),
        },
        Event::Queued { space, position } => ServerMsg::Queued {
            space: space.to_string(),
            position: *position,
        },
        Event::Close { .. } => return None,
    })
}

fn avatars_to_wire<'a>(lists: impl IntoIterator<Item = &'a Vec<AvatarPose>>) -> Moves<AvatarMove> {
    Moves::Plain(
        lists
            .into_iter()
            .flatten()
            .map(|a| AvatarMove {
                index: a.index,
                user: a.user,
                transform: Pose::of(&transform_to_wire(&a.transform)),
            })
            .collect(),
    )
}

fn objects_to_wire<'a>(lists: impl IntoIterator<Item = &'a Vec<ObjectState>>) -> Vec<WireObject> {
    lists.into_iter().flatten().map(object_to_wire).collect()
}

/// A `delta` message of `d` with the given objects and avatars.
fn delta_msg(d: &Delta, objects: Vec<WireObject>, avatars: Moves<AvatarMove>) -> ServerMsg {
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
pub(crate) fn motion_msg(d: &Delta) -> Option<ServerMsg> {
    (!d.avatars.is_empty() || !d.moved.is_empty()).then(|| ServerMsg::Motion {
        tick: d.tick,
        avatars: avatars_to_wire([&d.avatars]),
        objects: Moves::Plain(
            d.moved
                .iter()
                .map(|o| ObjectMove {
                    index: o.index,
                    id: o.id,
                    transform: Pose::of(&transform_to_wire(&o.transform)),
                    version: o.version,
                })
                .collect(),
        ),
    })
}

/// The rest of the delta, for the stream of a connection that got the motion; `None` if
/// nothing else changed.
pub(crate) fn rest_msg(d: &Delta) -> Option<ServerMsg> {
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
pub(crate) fn fallback_msg(d: &Delta) -> ServerMsg {
    let objects = objects_to_wire([&d.objects, &d.moved, &d.settled_objects]);
    delta_msg(d, objects, avatars_to_wire([&d.avatars, &d.settled]))
}

/// Whether a delta message carries nothing (a delta with only settled poses is empty for
/// connections that got every pose reliably).
pub(crate) fn is_empty_delta(msg: &ServerMsg) -> bool {
    matches!(msg, ServerMsg::Delta { objects, removed, avatars, joined, left, appeared, vanished, hidden, .. }
        if objects.is_empty() && removed.is_empty() && avatars.is_empty() && joined.is_empty() && left.is_empty()
            && appeared.is_empty() && vanished.is_empty() && hidden.is_empty())
}

/// `motion` (with plain lists), already encoded `whole` in `dialect`, as datagrams of at
/// most `limit` bytes: the whole message if it fits, else as few `motion`s of the same tick
/// as it takes, each with some of the entries and each readable alone. `None` if one entry
/// alone is over the limit.
pub(crate) fn motion_datagrams(
    motion: &ServerMsg,
    whole: super::Frame,
    dialect: super::Dialect,
    limit: usize,
) -> Option<Vec<super::Frame>> {
    let ServerMsg::Motion {
        tick,
        avatars,
        objects,
    } = motion
    else {
        return None;
    };
    if whole.bytes.len() <= limit {
        return Some(vec![whole]);
    }
    let (avatars, objects) = (avatars.entries(), objects.entries());
    let entries = avatars.len() + objects.len();
    let mut parts = whole.bytes.len().div_ceil(limit.max(1)) + 1;
    loop {
        let parts_now = parts.min(entries.max(1));
        let per = entries.div_ceil(parts_now);
        let frames: Vec<super::Frame> = (0..entries)
            .step_by(per.max(1))
            .map(|from| {
                let to = (from + per).min(entries);
                let (a_from, a_to) = (from.min(avatars.len()), to.min(avatars.len()));
                let (o_from, o_to) = (from.max(avatars.len()), to.max(avatars.len()));
                let part = ServerMsg::Motion {
                    tick: *tick,
                    avatars: Moves::Plain(avatars[a_from..a_to].to_vec()),
                    objects: Moves::Plain(
                        objects[o_from - avatars.len()..o_to - avatars.len()].to_vec(),
                    ),
                };
                super::encode(dialect, &part)
            })
            .collect();
        if frames.iter().all(|f| f.bytes.len() <= limit) {
            return Some(frames);
        }
        if parts_now >= entries {
            return None;
        }
        parts *= 2;
    }
}

#[cfg(test)]
mod tests {
    use plaza_net::{Codec, Mirror, WireUser};
    use uuid::Uuid;

    use super::*;
    use crate::edge::bridge::Dialect;

    #[test]
    fn motion_too_big_for_one_datagram_goes_in_several_that_each_read_alone() {
        let user = |i: u32| Uuid::from_u128(1_000 + u128::from(i));
        let pose = |i: u32| Pose::of(&WireTransform::at([i as f32 * 1.7, 0.0, -(i as f32)]));
        let motion = ServerMsg::Motion {
            tick: 9,
            avatars: Moves::Plain(
                (0..400)
                    .map(|i| AvatarMove {
                        index: i,
                        user: user(i),
                        transform: pose(i),
                    })
                    .collect(),
            ),
            objects: Moves::Plain(vec![ObjectMove {
                index: 0,
                id: Uuid::from_u128(5),
                transform: pose(3),
                version: 2,
            }]),
        };
        for codec in [Codec::Postcard, Codec::Json] {
            let dialect = Dialect::current(codec);
            let whole = crate::edge::bridge::encode(dialect, &motion);
            let frames = motion_datagrams(&motion, whole, dialect, 1200).expect("splits");
            assert!(frames.len() > 1, "{codec:?}: {} datagram(s)", frames.len());
            // A client that knows everyone reads each datagram on its own.
            let mut known = Mirror::default();
            let mut joined = ServerMsg::Joined {
                space: Uuid::nil(),
                name: "s".into(),
                tick: 1,
                objects: vec![WireObject {
                    id: Uuid::from_u128(5),
                    index: 0,
                    model: "cube".into(),
                    transform: WireTransform::IDENTITY,
                    props: plaza_net::Props::default(),
                    owner: Uuid::nil(),
                    version: 1,
                }],
                users: (0..400)
                    .map(|i| WireUser {
                        user: user(i),
                        index: i,
                        name: "u".into(),
                        transform: pose(0),
                    })
                    .collect(),
                chat: vec![],
                shares: vec![],
            };
            known.absorb(&mut joined).expect("absorbs");
            let mut avatars = 0;
            let mut objects = 0;
            for frame in &frames {
                assert!(frame.bytes.len() <= 1200, "{}", frame.bytes.len());
                let mut msg = codec.decode_server(&frame.bytes).expect("decodes");
                known.absorb(&mut msg).expect("resolves");
                let ServerMsg::Motion {
                    avatars: a,
                    objects: o,
                    ..
                } = msg
                else {
                    panic!("a motion");
                };
                assert!(a.entries().iter().all(|m| m.transform == pose(m.index)));
                avatars += a.entries().len();
                objects += o.entries().len();
            }
            assert_eq!((avatars, objects), (400, 1), "{codec:?}: every entry, once");
        }
        let json = Dialect::current(Codec::Json);
        let whole = crate::edge::bridge::encode(json, &motion);
        assert!(motion_datagrams(&motion, whole, json, 20).is_none());
    }
}
