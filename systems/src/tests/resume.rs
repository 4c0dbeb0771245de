//! Held sessions: taken back on a new connection without anyone in the space noticing,
//! or ended when their grace runs out.

use glam::Vec3;
use uuid::Uuid;

use super::*;
use crate::StrikePolicy;

fn comes_or_goes(out: &[Outgoing], conn: u64, user: Uuid) -> bool {
    events_for(out, conn).iter().any(|e| {
        matches!(e, Event::Delta(d)
            if d.left.contains(&user) || d.joined.iter().any(|u| u.user == user))
    })
}

#[test]
fn a_held_session_is_taken_back_unseen_or_ends_when_its_grace_is_over() {
    let mut world = Harness::new();
    world.join_new(1, 1, "lobby");
    world.join_new(2, 2, "lobby");
    let user = Uuid::from_u128(1);
    // Ticks are a second apart here: held for three.
    let until_ms = 1_000 * (world.tick as i64 + 3);
    let (out, _) = world.step(vec![Input::Suspend {
        conn: ConnId(1),
        until_ms,
    }]);
    assert!(!comes_or_goes(&out, 2, user));
    let (out, _) = world.step(vec![]);
    assert!(!comes_or_goes(&out, 2, user), "held, not gone");

    let strikes = Strikes::new(StrikePolicy::default());
    let (out, _) = world.step(vec![Input::Resume {
        from: ConnId(1),
        conn: ConnId(3),
        strikes,
    }]);
    assert!(!comes_or_goes(&out, 2, user), "back, and nobody was told");
    let snapshot = events_for(&out, 3)
        .into_iter()
        .find_map(|e| match e {
            Event::Joined(s) => Some(s.clone()),
            _ => None,
        })
        .expect("the new connection gets the space anew");
    assert_eq!(snapshot.users.len(), 2);
    assert!(
        events_for(&out, 3)
            .iter()
            .all(|e| !matches!(e, Event::Delta(_))),
        "the snapshot, not this tick's delta"
    );

    let pose = Transform::from_translation(Vec3::new(4.0, 0.0, 4.0));
    let (out, _) = world.step(vec![cmd(3, Command::Pose { transform: pose })]);
    assert!(
        events_for(&out, 2)
            .iter()
            .any(|e| matches!(e, Event::Delta(d)
            if d.avatars.iter().any(|a| a.user == user && a.transform == pose))),
        "the session goes on through its new connection"
    );

    let until_ms = 1_000 * (world.tick as i64 + 2);
    world.step(vec![Input::Suspend {
        conn: ConnId(3),
        until_ms,
    }]);
    let mut gone = false;
    for _ in 0..3 {
        let (out, _) = world.step(vec![]);
        gone |= events_for(&out, 2)
            .iter()
            .any(|e| matches!(e, Event::Delta(d) if d.left.contains(&user)));
    }
    assert!(
        gone,
        "not taken back in time: it ends, and the space is told"
    );
    let (out, _) = world.step(vec![Input::Resume {
        from: ConnId(3),
        conn: ConnId(4),
        strikes: Strikes::new(StrikePolicy::default()),
    }]);
    assert!(
        events_for(&out, 4)
            .iter()
            .any(|e| matches!(e, Event::Close { .. })),
        "too late: the new connection is told and closed"
    );
}

/// A session another node took over leaves this world without an end: the space sees it
/// go, and neither a disconnect nor the session's end is recorded here, where the next
/// node would contradict it. Continued there, its connect is not logged a second time and
/// it keeps its start.
#[test]
fn a_session_handed_to_another_node_leaves_without_ending_and_continues_there_unlogged() {
    let mut world = Harness::new();
    world.join_new(1, 1, "lobby");
    world.join_new(2, 2, "lobby");
    let user = Uuid::from_u128(1);
    let (out, writes) = world.step(vec![Input::HandOver { conn: ConnId(1) }]);
    assert!(
        events_for(&out, 2)
            .iter()
            .any(|e| matches!(e, Event::Delta(d) if d.left.contains(&user))),
        "the people in the space see it go"
    );
    assert!(
        writes.rows.sessions.iter().all(|s| s.ended_ms.is_none()),
        "no end recorded: {:?}",
        writes.rows.sessions
    );
    assert!(
        !writes
            .rows
            .events
            .iter()
            .any(|e| e.kind == EventKind::Disconnect),
        "no disconnect logged"
    );
    let (out, _) = world.step(vec![cmd(
        1,
        Command::Pose {
            transform: Transform::default(),
        },
    )]);
    assert!(
        events_for(&out, 1).is_empty(),
        "the connection is no one's now"
    );

    let mut continued = connect(3, 1);
    let Input::Connect {
        continued_from_ms, ..
    } = &mut continued
    else {
        unreachable!("connect() makes a Connect")
    };
    *continued_from_ms = Some(500);
    let (_, writes) = world.step(vec![continued]);
    assert_eq!(
        writes
            .rows
            .sessions
            .iter()
            .map(|s| s.started_ms)
            .collect::<Vec<_>>(),
        vec![500],
        "the session keeps its start"
    );
    assert!(
        !writes
            .rows
            .events
            .iter()
            .any(|e| e.kind == EventKind::Connect),
        "its connect was logged where it began"
    );
}
