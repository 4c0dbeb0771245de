//! The world stepped tick by tick, with no sockets, store or clock: inputs in, events and
//! write sets out.

use std::sync::Arc;

use bevy_app::App;
use glam::Vec3;

use uuid::Uuid;

use crate::{
    ChatLine, Command, ConnId, ErrorKind, Event, EventKind, Input, Limits, LoadRequests,
    LoadedSpace, ObjectState, Outbox, Outgoing, Recipients, SessionMeta, ShareKind, SimTime,
    StrikePolicy, Strikes, Transform, Transport, WriteSet, WriteSetOut, build_app, step,
};

struct Harness {
    app: App,
    tick: u64,
}

impl Harness {
    fn new() -> Self {
        Self::with_limits(Limits::default())
    }

    fn with_limits(limits: Limits) -> Self {
        Self {
            app: build_app(limits, 7),
            tick: 0,
        }
    }

    /// Runs one tick with `inputs` and returns what it sent and what it would write.
    fn step(&mut self, inputs: Vec<Input>) -> (Vec<Outgoing>, WriteSet) {
        self.tick += 1;
        let time = SimTime {
            tick: self.tick,
            unix_ms: 1_000 * self.tick as i64,
        };
        step(&mut self.app, time, inputs);
        let world = self.app.world_mut();
        let out = std::mem::take(&mut world.resource_mut::<Outbox>().0);
        let writes = std::mem::take(&mut world.resource_mut::<WriteSetOut>().0);
        (out, writes)
    }

    fn load_requests(&mut self) -> Vec<Arc<str>> {
        std::mem::take(&mut self.app.world_mut().resource_mut::<LoadRequests>().0)
    }

    /// Connects `conn` as user `user` and puts it into `space`, answering a load request
    /// (if the space is not loaded yet) with "no such space", so it is created.
    fn join_new(&mut self, conn: u64, user: u128, space: &str) {
        self.step(vec![connect(conn, user), join(conn, space)]);
        let answers = self
            .load_requests()
            .into_iter()
            .map(|name| Input::SpaceLoaded {
                result: Ok(empty_space(&name)),
                name,
            });
        self.step(answers.collect());
    }
}

/// A space the store has just created: no objects, no chat, public. Its id is derived from
/// its name, so the same name always gets the same id.
fn empty_space(name: &str) -> LoadedSpace {
    let id = name.bytes().fold(0x5ace_u128, |h, b| {
        h.wrapping_mul(31).wrapping_add(u128::from(b))
    });
    LoadedSpace {
        id: Uuid::from_u128(id),
        name: Arc::from(name),
        objects: vec![],
        chat: vec![],
        access: Default::default(),
    }
}

fn contains(to: &Recipients, conn: u64) -> bool {
    match to {
        Recipients::One(c) => c.0 == conn,
        Recipients::Many(cs) => cs.contains(&ConnId(conn)),
    }
}

/// `conn` connects as user `user` (named `user<user>`).
fn connect(conn: u64, user: u128) -> Input {
    connect_with(conn, user, Strikes::default())
}

/// `conn` connects as user `user`, its refusals counted on `strikes`.
fn connect_with(conn: u64, user: u128, strikes: Strikes) -> Input {
    Input::Connect {
        conn: ConnId(conn),
        session: Uuid::from_u128(1000 + user),
        user: Uuid::from_u128(user),
        name: Arc::from(format!("user{user}")),
        admin: false,
        strikes,
        continued_from_ms: None,
        meta: SessionMeta {
            transport: Transport::WebSocket,
            client_addr: None,
            user_agent: None,
            visitor: None,
        },
    }
}

fn join(conn: u64, space: &str) -> Input {
    cmd(
        conn,
        Command::Join {
            space: Arc::from(space),
        },
    )
}

fn cmd(conn: u64, command: Command) -> Input {
    Input::Command {
        request: None,
        conn: ConnId(conn),
        command,
    }
}

fn spawn_cmd(conn: u64, client_ref: u32, x: f32) -> Input {
    cmd(
        conn,
        Command::Spawn {
            client_ref,
            model: Arc::from("cube"),
            transform: Transform::from_translation(Vec3::new(x, 0.0, 0.0)),
            props: Arc::from("{}"),
        },
    )
}

fn events_for(out: &[Outgoing], conn: u64) -> Vec<&Event> {
    out.iter()
        .filter(|o| contains(&o.to, conn))
        .map(|o| &o.event)
        .collect()
}

fn spawned_id(out: &[Outgoing], conn: u64) -> Uuid {
    events_for(out, conn)
        .into_iter()
        .find_map(|e| match e {
            Event::Spawned { id, .. } => Some(*id),
            _ => None,
        })
        .expect("a spawned reply")
}

fn error_kinds(out: &[Outgoing], conn: u64) -> Vec<ErrorKind> {
    events_for(out, conn)
        .into_iter()
        .filter_map(|e| match e {
            Event::Error { kind, .. } => Some(*kind),
            _ => None,
        })
        .collect()
}

#[test]
fn a_spawn_and_move_in_one_tick_reach_the_other_member_once_at_the_latest_version() {
    let mut world = Harness::new();
    world.join_new(1, 1, "lobby");
    world.join_new(2, 2, "lobby");
    let (out, writes) = world.step(vec![spawn_cmd(1, 5, 1.0)]);
    let id = spawned_id(&out, 1);
    assert_eq!(writes.rows.objects.len(), 1, "the new object is written");
    let moved = Transform::from_translation(Vec3::new(9.0, 9.0, 9.0));
    let (out, writes) = world.step(vec![
        cmd(
            1,
            Command::Move {
                id,
                transform: Transform::from_translation(Vec3::ONE),
            },
        ),
        cmd(
            1,
            Command::Move {
                id,
                transform: moved,
            },
        ),
    ]);
    let deltas: Vec<_> = events_for(&out, 2)
        .into_iter()
        .filter_map(|e| match e {
            Event::Delta(d) => Some(d),
            _ => None,
        })
        .collect();
    assert_eq!(deltas.len(), 1, "one delta per tick");
    // Only its transform changed: the object is motion, not a full change.
    assert_eq!((deltas[0].objects.len(), deltas[0].moved.len()), (0, 1));
    assert_eq!(
        (deltas[0].moved[0].version, deltas[0].moved[0].transform),
        (3, moved)
    );
    assert_eq!(
        writes.rows.objects.len(),
        1,
        "written once, at the latest state"
    );
    assert_eq!(writes.rows.objects[0].state.version, 3);
}

#[test]
fn a_tick_with_nothing_changed_sends_and_writes_nothing() {
    let mut world = Harness::new();
    world.join_new(1, 1, "lobby");
    let (out, _) = world.step(vec![spawn_cmd(1, 1, 0.0), spawn_cmd(1, 2, 1.0)]);
    assert!(!out.is_empty());
    let (out, writes) = world.step(vec![]);
    assert!(out.is_empty(), "nothing sent: {out:?}");
    assert!(writes.is_empty(), "nothing written: {writes:?}");
    // Moving an object to where it already is changes nothing either.
    let id = Uuid::nil();
    let (_, writes) = world.step(vec![cmd(
        1,
        Command::Move {
            id,
            transform: Transform::IDENTITY,
        },
    )]);
    assert!(writes.is_empty());
}

#[test]
fn join_waits_for_the_store_and_loaded_objects_are_not_written_back() {
    let mut world = Harness::new();
    let (out, _) = world.step(vec![
        connect(1, 1),
        join(1, "hall"),
        connect(2, 2),
        join(2, "hall"),
    ]);
    assert!(out.is_empty(), "no snapshot before the store answers");
    assert_eq!(
        world.load_requests(),
        vec![Arc::<str>::from("hall")],
        "one request for two joiners"
    );

    let space = Uuid::from_u128(99);
    let object = ObjectState {
        id: Uuid::from_u128(500),
        index: 0,
        model: Arc::from("chair"),
        transform: Transform::IDENTITY,
        props: Arc::from(r#"{"c":1}"#),
        owner: Uuid::from_u128(3),
        version: 12,
    };
    let chat = ChatLine {
        id: Uuid::from_u128(600),
        space,
        from: Uuid::from_u128(3),
        name: Arc::from("c"),
        text: Arc::from("hello"),
        at_ms: 5,
    };
    let loaded = LoadedSpace {
        id: space,
        name: Arc::from("hall"),
        objects: vec![object.clone()],
        chat: vec![chat.clone()],
        access: Default::default(),
    };
    let (out, writes) = world.step(vec![Input::SpaceLoaded {
        name: Arc::from("hall"),
        result: Ok(loaded),
    }]);
    let snapshot = out
        .iter()
        .find_map(|o| match &o.event {
            Event::Joined(s) => Some((o.to.clone(), s)),
            _ => None,
        })
        .expect("a snapshot");
    assert_eq!(
        snapshot.0,
        Recipients::Many(vec![ConnId(1), ConnId(2)]),
        "built once for both"
    );
    assert_eq!(
        (snapshot.1.space, &snapshot.1.objects, &snapshot.1.chat),
        (space, &vec![object], &vec![chat])
    );
    let rewritten = (&writes.rows.objects, &writes.rows.chat);
    assert_eq!(
        rewritten,
        (&vec![], &vec![]),
        "loaded state is not written back"
    );
}

#[test]
fn a_failed_load_tells_the_waiting_sessions() {
    let mut world = Harness::new();
    world.step(vec![connect(1, 1), join(1, "hall")]);
    let (out, _) = world.step(vec![Input::SpaceLoaded {
        name: Arc::from("hall"),
        result: Err("store down".into()),
    }]);
    assert_eq!(error_kinds(&out, 1), vec![ErrorKind::Unavailable]);
}

#[test]
fn refusals_have_codes_and_repeated_ones_close_the_session() {
    let mut world = Harness::new();
    let strikes = Strikes::new(StrikePolicy {
        max: 3,
        window_ms: 10_000,
    });
    let (out, _) = world.step(vec![
        connect_with(1, 1, strikes),
        spawn_cmd(1, 1, 0.0),
        cmd(
            1,
            Command::Chat {
                text: Arc::from("hi"),
            },
        ),
    ]);
    assert_eq!(
        error_kinds(&out, 1),
        vec![ErrorKind::NotJoined, ErrorKind::NotJoined]
    );
    world.join_new(2, 2, "lobby");
    world.step(vec![join(1, "lobby")]);
    let (out, _) = world.step(vec![
        cmd(
            1,
            Command::Despawn {
                id: Uuid::from_u128(4),
            },
        ),
        cmd(
            1,
            Command::Despawn {
                id: Uuid::from_u128(5),
            },
        ),
    ]);
    assert_eq!(
        error_kinds(&out, 1),
        vec![ErrorKind::NotFound, ErrorKind::NotFound]
    );
    assert!(
        events_for(&out, 1)
            .iter()
            .any(|e| matches!(e, Event::Close { .. })),
        "the fourth refusal within the window closes the session"
    );
}

#[test]
fn objects_in_other_spaces_are_out_of_reach_and_space_limits_hold() {
    let limits = Limits {
        max_objects_per_space: 1,
        ..Limits::default()
    };
    let mut world = Harness::with_limits(limits);
    world.join_new(1, 1, "a");
    world.join_new(2, 2, "b");
    let (out, _) = world.step(vec![spawn_cmd(1, 1, 0.0)]);
    let id = spawned_id(&out, 1);
    let (out, _) = world.step(vec![cmd(2, Command::Despawn { id }), spawn_cmd(1, 2, 0.0)]);
    assert_eq!(error_kinds(&out, 2), vec![ErrorKind::NotFound]);
    assert_eq!(error_kinds(&out, 1), vec![ErrorKind::TooLarge]);
}

#[test]
fn a_second_session_of_the_same_user_replaces_the_first_in_a_space() {
    let mut world = Harness::new();
    world.join_new(1, 1, "lobby");
    let (out, _) = world.step(vec![connect(2, 1), join(2, "lobby")]);
    assert!(
        events_for(&out, 1)
            .iter()
            .any(|e| matches!(e, Event::Close { reason } if reason.contains("replaced")))
    );
    let snapshot = out.iter().find_map(|o| match &o.event {
        Event::Joined(s) => Some(s),
        _ => None,
    });
    assert_eq!(snapshot.expect("the new session's snapshot").users.len(), 1);
}

#[test]
fn chat_goes_to_members_history_and_store() {
    let limits = Limits {
        chat_history: 2,
        ..Limits::default()
    };
    let mut world = Harness::with_limits(limits);
    world.join_new(1, 1, "lobby");
    world.join_new(2, 2, "lobby");
    let lines = ["one", "two", "three"].map(|t| cmd(1, Command::Chat { text: Arc::from(t) }));
    let (out, writes) = world.step(lines.to_vec());
    assert_eq!(writes.rows.chat.len(), 3, "every line is stored");
    let heard = events_for(&out, 2)
        .iter()
        .filter(|e| matches!(e, Event::Chat(_)))
        .count();
    assert_eq!(heard, 3);
    world.join_new(3, 3, "lobby");
    let (out, _) = world.step(vec![join(3, "lobby")]);
    let history: Vec<_> = out
        .iter()
        .find_map(|o| match &o.event {
            Event::Joined(s) => Some(s.chat.iter().map(|c| c.text.to_string()).collect()),
            _ => None,
        })
        .expect("a snapshot");
    assert_eq!(
        history,
        vec!["two".to_string(), "three".to_string()],
        "the last two lines"
    );
}

#[test]
fn leaving_and_disconnecting_tell_the_others() {
    let mut world = Harness::new();
    world.join_new(1, 1, "lobby");
    world.join_new(2, 2, "lobby");
    let (out, _) = world.step(vec![
        cmd(2, Command::Leave),
        Input::Disconnect { conn: ConnId(2) },
    ]);
    let left: Vec<_> = events_for(&out, 1)
        .into_iter()
        .filter_map(|e| match e {
            Event::Delta(d) => Some(d.left.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(left, vec![vec![Uuid::from_u128(2)]]);
    assert!(
        events_for(&out, 2)
            .iter()
            .any(|e| matches!(e, Event::Left { .. }))
    );
}

#[test]
fn sessions_events_and_presence_reach_the_write_set() {
    let limits = Limits {
        presence_refresh_ticks: 1_000,
        ..Limits::default()
    };
    let mut world = Harness::with_limits(limits);
    world.step(vec![connect(1, 1), join(1, "lobby")]);
    let requests = world.load_requests();
    let answers = requests.into_iter().map(|name| Input::SpaceLoaded {
        result: Ok(empty_space(&name)),
        name,
    });
    let (_, writes) = world.step(answers.collect());
    assert_eq!(writes.presence.len(), 1, "joining changes presence");
    assert_eq!(
        writes.presence[0].members,
        vec![(Uuid::from_u128(1), Arc::from("user1"))]
    );
    let (out, writes) = world.step(vec![
        spawn_cmd(1, 1, 0.0),
        cmd(
            1,
            Command::Chat {
                text: Arc::from("hi"),
            },
        ),
    ]);
    let id = spawned_id(&out, 1);
    let kinds: Vec<_> = writes.rows.events.iter().map(|e| e.kind).collect();
    assert_eq!(kinds, vec![EventKind::Spawn, EventKind::Chat]);
    assert_eq!(writes.rows.events[0].object, Some(id));
    assert!(writes.presence.is_empty(), "no presence change");
    let (_, writes) = world.step(vec![
        cmd(1, Command::Despawn { id }),
        Input::Disconnect { conn: ConnId(1) },
    ]);
    assert_eq!(
        writes.rows.deleted,
        vec![(writes.presence[0].space, id)],
        "deletions carry their space"
    );
    assert_eq!(writes.presence[0].members, vec![], "the last one left");
    let kinds: Vec<_> = writes.rows.events.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        vec![EventKind::Despawn, EventKind::Leave, EventKind::Disconnect]
    );
    let ended: Vec<_> = writes
        .rows
        .sessions
        .iter()
        .map(|s| (s.id, s.ended_ms.is_some()))
        .collect();
    assert_eq!(ended, vec![(Uuid::from_u128(1001), true)]);
}

#[test]
fn an_avatar_that_stops_is_settled_once() {
    let mut world = Harness::new();
    world.join_new(1, 1, "lobby");
    world.join_new(2, 2, "lobby");
    let pose = Transform::from_translation(Vec3::new(1.0, 0.0, 2.0));
    // The first to join has the first index.
    let walker = |transform| crate::AvatarPose {
        user: Uuid::from_u128(1),
        index: 0,
        transform,
    };
    let deltas = |out: &[Outgoing]| -> Vec<crate::Delta> {
        events_for(out, 2)
            .into_iter()
            .filter_map(|e| match e {
                Event::Delta(d) => Some((**d).clone()),
                _ => None,
            })
            .collect()
    };
    let (out, _) = world.step(vec![cmd(1, Command::Pose { transform: pose })]);
    let moved = deltas(&out);
    assert_eq!(moved.len(), 1);
    assert_eq!(
        (moved[0].avatars.clone(), moved[0].settled.clone()),
        (vec![walker(pose)], vec![])
    );
    // Walking at half the tick rate (a pose every other tick) is not stopping.
    let mut pose = pose;
    for _ in 0..5 {
        let (out, _) = world.step(vec![]);
        assert!(deltas(&out).is_empty(), "no settle between steps");
        pose.translation.x += 0.2;
        let (out, _) = world.step(vec![cmd(1, Command::Pose { transform: pose })]);
        assert!(deltas(&out).iter().all(|d| d.settled.is_empty()));
    }
    let settle_ticks = Limits::default().settle_ticks;
    for _ in 1..settle_ticks {
        let (out, _) = world.step(vec![]);
        assert!(deltas(&out).is_empty(), "not settled before settle_ticks");
    }
    let (out, _) = world.step(vec![]);
    let stopped = deltas(&out);
    assert_eq!(
        stopped.len(),
        1,
        "settle_ticks after the last move, the settled pose"
    );
    assert_eq!(
        (stopped[0].avatars.clone(), stopped[0].settled.clone()),
        (vec![], vec![walker(pose)])
    );
    let (out, _) = world.step(vec![]);
    assert!(deltas(&out).is_empty(), "settled once, then nothing");
}

#[test]
fn a_moved_object_is_motion_then_settles_once() {
    let mut world = Harness::new();
    world.join_new(1, 1, "lobby");
    world.join_new(2, 2, "lobby");
    let (out, _) = world.step(vec![spawn_cmd(1, 1, 0.0)]);
    let id = spawned_id(&out, 1);
    let delta_of = |out: &[Outgoing]| -> crate::Delta {
        events_for(out, 2)
            .into_iter()
            .find_map(|e| match e {
                Event::Delta(d) => Some((**d).clone()),
                _ => None,
            })
            .unwrap_or_default()
    };
    let to = Transform::from_translation(Vec3::new(5.0, 0.0, 0.0));
    let (out, _) = world.step(vec![cmd(1, Command::Move { id, transform: to })]);
    let moved = delta_of(&out);
    let ids = |list: &[crate::ObjectState]| list.iter().map(|o| o.id).collect::<Vec<_>>();
    assert_eq!(
        (ids(&moved.moved), ids(&moved.objects)),
        (vec![id], vec![]),
        "a move is motion"
    );
    let props = Arc::from(r#"{"c":1}"#);
    let (out, _) = world.step(vec![cmd(1, Command::SetProps { id, props })]);
    let changed = delta_of(&out);
    assert_eq!(
        (
            ids(&changed.objects),
            ids(&changed.moved),
            ids(&changed.settled_objects)
        ),
        (vec![id], vec![], vec![]),
        "a props change is a full change, and needs no settling"
    );
    world.step(vec![cmd(
        1,
        Command::Move {
            id,
            transform: Transform::IDENTITY,
        },
    )]);
    for _ in 1..Limits::default().settle_ticks {
        let (out, _) = world.step(vec![]);
        assert!(delta_of(&out).is_empty(), "not settled yet");
    }
    let (out, _) = world.step(vec![]);
    assert_eq!(
        ids(&delta_of(&out).settled_objects),
        vec![id],
        "settled settle_ticks after the last move"
    );
    let (out, _) = world.step(vec![]);
    assert!(delta_of(&out).is_empty(), "settled once");
}

mod deletion;
mod interest;
mod loading;
mod queue;
mod resume;

#[test]
fn only_owners_and_space_admins_change_objects() {
    let mut world = Harness::new();
    world.join_new(1, 1, "yard");
    world.join_new(2, 2, "yard");
    let (out, _) = world.step(vec![spawn_cmd(1, 1, 0.0)]);
    let id = spawned_id(&out, 1);
    let moved = Transform::from_translation(Vec3::new(3.0, 0.0, 0.0));
    let (out, writes) = world.step(vec![
        cmd(
            2,
            Command::Move {
                id,
                transform: moved,
            },
        ),
        cmd(2, Command::Despawn { id }),
    ]);
    assert_eq!(
        error_kinds(&out, 2),
        [ErrorKind::Forbidden, ErrorKind::Forbidden]
    );
    assert!(writes.rows.objects.is_empty() && writes.rows.deleted.is_empty());

    // Made an admin of the space, user 2 may.
    let access = crate::SpaceAccess {
        admins: [Uuid::from_u128(2)].into_iter().collect(),
        ..Default::default()
    };
    let space = world
        .app
        .world_mut()
        .query::<&crate::components::Space>()
        .single(world.app.world())
        .expect("one space")
        .id;
    world.step(vec![Input::AccessChanged { space, access }]);
    let (out, writes) = world.step(vec![cmd(
        2,
        Command::Move {
            id,
            transform: moved,
        },
    )]);
    assert!(error_kinds(&out, 2).is_empty());
    assert_eq!(writes.rows.objects.len(), 1);
}

#[test]
fn private_spaces_admit_members_and_refused_sessions_stay_where_they_were() {
    let mut world = Harness::new();
    world.join_new(1, 1, "lobby");
    world.step(vec![join(1, "vault")]);
    let private = crate::SpaceAccess {
        owner: Some(Uuid::from_u128(9)),
        private: true,
        members: [Uuid::from_u128(2)].into_iter().collect(),
        ..Default::default()
    };
    let loaded = |name: &str| Input::SpaceLoaded {
        name: Arc::from(name),
        result: Ok(LoadedSpace {
            id: Uuid::from_u128(77),
            name: Arc::from(name),
            objects: vec![],
            chat: vec![],
            access: private.clone(),
        }),
    };
    let (out, _) = world.step(vec![loaded("vault")]);
    assert_eq!(error_kinds(&out, 1), [ErrorKind::Forbidden]);

    // The space is loaded now: a refused join leaves the session in its space.
    world.join_new(3, 3, "lobby");
    let (out, _) = world.step(vec![
        join(3, "vault"),
        cmd(
            3,
            Command::Chat {
                text: Arc::from("still here"),
            },
        ),
    ]);
    assert_eq!(error_kinds(&out, 3), [ErrorKind::Forbidden]);
    assert!(
        events_for(&out, 3)
            .iter()
            .any(|e| matches!(e, Event::Chat(c) if &*c.text == "still here")),
        "still in the lobby"
    );
    let (out, _) = world.step(vec![connect(2, 2), join(2, "vault")]);
    assert!(error_kinds(&out, 2).is_empty());
    assert!(
        events_for(&out, 2)
            .iter()
            .any(|e| matches!(e, Event::Joined(_))),
        "the invited member enters"
    );
}

#[test]
fn signals_reach_only_the_named_peer_in_the_same_space() {
    let mut world = Harness::new();
    world.join_new(1, 1, "studio");
    world.join_new(2, 2, "studio");
    world.join_new(3, 3, "studio");
    world.join_new(4, 4, "elsewhere");
    let signal = |to: u128| Command::Signal {
        to: Uuid::from_u128(to),
        data: Arc::from("offer"),
    };
    let (out, _) = world.step(vec![cmd(1, signal(2)), cmd(1, signal(4))]);
    let signals = |conn| {
        events_for(&out, conn)
            .into_iter()
            .filter(|e| matches!(e, Event::Signal { .. }))
            .count()
    };
    assert_eq!((signals(2), signals(3), signals(4)), (1, 0, 0));
    assert_eq!(error_kinds(&out, 1), [ErrorKind::NotFound]);
    let (out, writes) = world.step(vec![cmd(
        1,
        Command::ShareStart {
            kind: ShareKind::Screen,
        },
    )]);
    let told = |conn| {
        events_for(&out, conn)
            .iter()
            .any(|e| matches!(e, Event::ScreenShare { active: true, .. }))
    };
    assert!(told(1) && told(2) && told(3) && !told(4));
    assert_eq!(writes.rows.shares.len(), 1);
    let (_, writes) = world.step(vec![Input::Disconnect { conn: ConnId(1) }]);
    assert!(
        writes.rows.shares[0].ended_ms.is_some(),
        "a share ends with its session"
    );
}
