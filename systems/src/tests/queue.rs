//! Capacity: a full space's join queue, first come first in, with places told, admins
//! let in, a bounded line, and those waiting told when the space goes.

use super::*;

/// A world whose spaces hold `people` at most, with lines of at most `line`.
fn capped(people: usize, line: usize) -> Harness {
    Harness::with_limits(Limits {
        max_people_per_space: people,
        join_queue_per_space: line,
        ..Limits::default()
    })
}

/// The places in line `conn` was told, in order.
fn places(out: &[Outgoing], conn: u64) -> Vec<u32> {
    events_for(out, conn)
        .into_iter()
        .filter_map(|e| match e {
            Event::Queued { position, .. } => Some(*position),
            _ => None,
        })
        .collect()
}

fn entered(out: &[Outgoing], conn: u64) -> bool {
    events_for(out, conn)
        .iter()
        .any(|e| matches!(e, Event::Joined(s) if &*s.name == "hall"))
}

fn said(conn: u64, text: &str) -> Input {
    cmd(
        conn,
        Command::Chat {
            text: Arc::from(text),
        },
    )
}

fn hears(out: &[Outgoing], conn: u64, text: &str) -> bool {
    events_for(out, conn)
        .iter()
        .any(|e| matches!(e, Event::Chat(c) if &*c.text == text))
}

/// The id `empty_space` gives the space `name`.
fn space_id(name: &str) -> Uuid {
    empty_space(name).id
}

#[test]
fn a_full_space_lets_people_in_first_come_first_in_and_tells_the_others_their_place() {
    let mut world = capped(2, 100);
    world.join_new(1, 1, "hall");
    world.join_new(2, 2, "hall");
    world.join_new(3, 3, "lobby");
    world.join_new(4, 4, "lobby");
    let (out, _) = world.step(vec![join(3, "hall"), join(4, "hall")]);
    assert_eq!((places(&out, 3), places(&out, 4)), (vec![1], vec![2]));
    assert!(!entered(&out, 3) && !entered(&out, 4));
    assert!(error_kinds(&out, 3).is_empty(), "waiting is no refusal");

    // Those waiting stay where they were.
    let (out, _) = world.step(vec![said(3, "still in the lobby"), said(1, "in the hall")]);
    assert!(hears(&out, 4, "still in the lobby"));
    assert!(!hears(&out, 3, "in the hall"));

    // Joining again while waiting only says the place again.
    let (out, _) = world.step(vec![join(4, "hall")]);
    assert_eq!(places(&out, 4), vec![2]);

    // Someone leaves: the first in line enters (leaving the lobby), the next moves up.
    let (out, _) = world.step(vec![cmd(1, Command::Leave)]);
    assert!(entered(&out, 3), "the first in line enters: {out:?}");
    assert!(!entered(&out, 4));
    assert_eq!(places(&out, 4), vec![1]);
    let (out, _) = world.step(vec![said(3, "in the hall now"), said(4, "lobby")]);
    assert!(hears(&out, 2, "in the hall now") && !hears(&out, 3, "lobby"));

    // A disconnect makes room too.
    let (out, _) = world.step(vec![Input::Disconnect { conn: ConnId(2) }]);
    assert!(entered(&out, 4));
    let (out, _) = world.step(vec![]);
    assert!(
        places(&out, 4).is_empty(),
        "nobody waits: nothing more is said"
    );
}

#[test]
fn admins_enter_a_full_space_and_nobody_else_jumps_the_line() {
    let mut world = capped(1, 100);
    world.join_new(1, 1, "hall");
    world.step(vec![connect(2, 2), join(2, "hall")]);
    // The space's admins and the server's admins never wait.
    let access = crate::SpaceAccess {
        admins: [Uuid::from_u128(5)].into_iter().collect(),
        ..Default::default()
    };
    let server_admin = match connect(6, 6) {
        Input::Connect {
            conn,
            session,
            user,
            name,
            strikes,
            continued_from_ms,
            meta,
            ..
        } => Input::Connect {
            conn,
            session,
            user,
            name,
            admin: true,
            strikes,
            continued_from_ms,
            meta,
        },
        _ => unreachable!("connect makes a Connect"),
    };
    world.step(vec![Input::AccessChanged {
        space: space_id("hall"),
        access,
    }]);
    let (out, _) = world.step(vec![
        connect(5, 5),
        join(5, "hall"),
        server_admin,
        join(6, "hall"),
    ]);
    assert!(
        entered(&out, 5) && entered(&out, 6),
        "admins enter: {out:?}"
    );

    // Three people are in a space for one; when two leave, it is still full, and someone
    // new waits behind the one already waiting.
    let (out, _) = world.step(vec![cmd(5, Command::Leave), connect(7, 7), join(7, "hall")]);
    assert_eq!(places(&out, 7), vec![2]);
    let (out, _) = world.step(vec![cmd(6, Command::Leave)]);
    assert!(
        !entered(&out, 2),
        "one person in a space for one: no room yet"
    );
    let (out, _) = world.step(vec![cmd(1, Command::Leave)]);
    assert!(
        entered(&out, 2) && !entered(&out, 7),
        "the first in line first"
    );
    assert_eq!(places(&out, 7), vec![1]);
}

#[test]
fn a_full_line_refuses_with_full_and_giving_up_a_place_moves_the_others_up() {
    let mut world = capped(1, 2);
    world.join_new(1, 1, "hall");
    let (out, _) = world.step(vec![
        connect(2, 2),
        join(2, "hall"),
        connect(3, 3),
        join(3, "hall"),
        connect(4, 4),
        join(4, "hall"),
    ]);
    assert_eq!((places(&out, 2), places(&out, 3)), (vec![1], vec![2]));
    assert_eq!(error_kinds(&out, 4), [ErrorKind::Full]);
    assert!(places(&out, 4).is_empty());

    // `leave` gives the place up (answered with `left` for the space waited for).
    let (out, _) = world.step(vec![cmd(2, Command::Leave)]);
    assert!(
        events_for(&out, 2)
            .iter()
            .any(|e| matches!(e, Event::Left { space } if *space == space_id("hall")))
    );
    assert!(
        error_kinds(&out, 2).is_empty(),
        "leaving the line is no refusal"
    );
    assert_eq!(places(&out, 3), vec![1]);
    // So does joining another space.
    world.step(vec![join(4, "hall")]);
    let (out, _) = world.step(vec![join(3, "lobby")]);
    assert_eq!(places(&out, 4), vec![1]);
    let (out, _) = world.step(vec![cmd(1, Command::Leave)]);
    assert!(entered(&out, 4) && !entered(&out, 3) && !entered(&out, 2));
}

#[test]
fn those_waiting_are_told_when_the_space_is_deleted_or_closed_to_them() {
    let mut world = capped(1, 10);
    world.join_new(1, 1, "hall");
    world.step(vec![
        connect(2, 2),
        join(2, "hall"),
        connect(3, 3),
        join(3, "hall"),
    ]);
    let private = crate::SpaceAccess {
        private: true,
        members: [Uuid::from_u128(1), Uuid::from_u128(3)]
            .into_iter()
            .collect(),
        ..Default::default()
    };
    let (out, _) = world.step(vec![Input::AccessChanged {
        space: space_id("hall"),
        access: private,
    }]);
    assert_eq!(error_kinds(&out, 2), [ErrorKind::Forbidden]);
    assert_eq!(places(&out, 3), vec![1], "the invited one moves up");
    let (out, _) = world.step(vec![Input::SpaceDeleted {
        space: space_id("hall"),
    }]);
    assert_eq!(error_kinds(&out, 3), [ErrorKind::NotFound]);
    // Nobody waits for a space that is gone; a new one of the same name starts empty.
    let (out, _) = world.step(vec![]);
    assert!(places(&out, 3).is_empty());
}
