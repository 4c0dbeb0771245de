//! Two or three people in one space: building, seeing each other's changes, chatting,
//! joining late. Every scenario runs with each pairing of codecs.

use plaza_net::{ClientMsg, Codec, Props, ServerMsg, WireObject, WireTransform};
use uuid::Uuid;

use crate::support::{Client, TestServer};

const PAIRS: [(Codec, Codec); 3] = [
    (Codec::Postcard, Codec::Postcard),
    (Codec::Json, Codec::Json),
    (Codec::Postcard, Codec::Json),
];

/// Waits for a delta in which `pick` finds something, and returns it with the delta's tick.
async fn delta_with<T>(
    client: &mut Client,
    mut pick: impl FnMut(&ServerMsg) -> Option<T>,
) -> (u64, T) {
    client
        .recv_until(|msg| match msg {
            ServerMsg::Delta { tick, .. } => pick(msg).map(|found| (*tick, found)),
            _ => None,
        })
        .await
}

fn object_in(msg: &ServerMsg, id: Uuid) -> Option<WireObject> {
    match msg {
        ServerMsg::Delta { objects, .. } => objects.iter().find(|o| o.id == id).cloned(),
        _ => None,
    }
}

#[tokio::test]
async fn two_people_see_each_others_building_within_two_ticks() {
    for (codec_a, codec_b) in PAIRS {
        let server = TestServer::start().await;
        let mut alice = server.client(codec_a, "alice").await;
        let mut bob = server.client(codec_b, "bob").await;
        let ServerMsg::Joined { space, name, .. } = alice.join("lobby").await else {
            unreachable!()
        };
        assert_eq!(name, "lobby");
        let ServerMsg::Joined {
            space: bobs_space,
            users,
            ..
        } = bob.join("lobby").await
        else {
            unreachable!()
        };
        assert_eq!(space, bobs_space, "both are in the one lobby");
        assert_eq!(users.len(), 2, "bob sees alice and himself: {users:?}");

        // Alice sees Bob arrive.
        let (_, arrived) = delta_with(&mut alice, |msg| match msg {
            ServerMsg::Delta { joined, .. } => joined.iter().find(|u| u.user == bob.user).cloned(),
            _ => None,
        })
        .await;
        assert_eq!(arrived.name, "bob");

        // Spawn: Alice gets `spawned`, Bob sees the object. A ping right after a command
        // bounds when the server read it: the edge reads frames in order, so the command was
        // queued before the pong's tick T ended, and it must be in a delta by tick T + 2.
        let id = alice.spawn(7, [1.0, 2.0, 3.0]).await;
        let read_by = alice.tick().await;
        let (tick, object) = delta_with(&mut bob, |msg| object_in(msg, id)).await;
        assert!(
            tick <= read_by + 2,
            "spawn seen at tick {tick}, read by tick {read_by}"
        );
        assert_eq!(
            (object.model.as_str(), object.owner, object.version),
            ("cube", alice.user, 1)
        );
        assert_eq!(object.transform, WireTransform::at([1.0, 2.0, 3.0]));

        // Move: seen within two ticks, version up.
        let to = WireTransform {
            pos: [4.0, 5.0, 6.0],
            rot: [0.0, 0.0, 1.0, 0.0],
            scale: [2.0; 3],
        };
        let sent_after = alice.tick().await;
        alice
            .send(&ClientMsg::Move {
                id,
                transform: to,
                request: None,
            })
            .await;
        let read_by = alice.tick().await;
        let (tick, moved) = delta_with(&mut bob, |msg| {
            object_in(msg, id).filter(|o| o.version == 2)
        })
        .await;
        assert!(
            tick > sent_after,
            "the move is in a delta after it was sent"
        );
        assert!(
            tick <= read_by + 2,
            "move seen at tick {tick}, read by tick {read_by}"
        );
        assert_eq!(moved.transform, to);

        // Props, then Bob's own pose, then despawn.
        let props = Props::from_json(r#"{"color":"red","size":[1,2]}"#).expect("an object");
        alice
            .send(&ClientMsg::SetProps {
                id,
                props: props.clone(),
                request: None,
            })
            .await;
        let (_, changed) = delta_with(&mut bob, |msg| {
            object_in(msg, id).filter(|o| o.version == 3)
        })
        .await;
        assert_eq!(changed.props, props);

        let pose = WireTransform::at([9.0, 0.0, -9.0]);
        bob.send(&ClientMsg::Pose { transform: pose }).await;
        let (_, seen_pose) = delta_with(&mut alice, |msg| match msg {
            ServerMsg::Delta { avatars, .. } => avatars
                .entries()
                .iter()
                .find(|a| a.user == bob.user)
                .copied(),
            _ => None,
        })
        .await;
        assert_eq!(seen_pose.transform.transform(), pose);

        alice.send(&ClientMsg::Despawn { id, request: None }).await;
        delta_with(&mut bob, |msg| match msg {
            ServerMsg::Delta { removed, .. } => removed.contains(&id).then_some(()),
            _ => None,
        })
        .await;

        // Bob leaves: he is told, and Alice sees him go.
        bob.send(&ClientMsg::Leave).await;
        let left = bob.recv_until(|msg| match msg {
            ServerMsg::Left { space } => Some(*space),
            _ => None,
        });
        assert_eq!(left.await, space);
        delta_with(&mut alice, |msg| match msg {
            ServerMsg::Delta { left, .. } => left.contains(&bob.user).then_some(()),
            _ => None,
        })
        .await;
        server.stop().await;
    }
}

#[tokio::test]
async fn chat_reaches_everyone_in_the_space_and_no_one_else() {
    for (codec_a, codec_b) in PAIRS {
        let server = TestServer::start().await;
        let mut alice = server.client(codec_a, "alice").await;
        let mut bob = server.client(codec_b, "bob").await;
        let mut carol = server.client(codec_a, "carol").await;
        alice.join("lobby").await;
        bob.join("lobby").await;
        carol.join("elsewhere").await;

        alice
            .send(&ClientMsg::Chat {
                text: "hi bob".into(),
                request: None,
            })
            .await;
        let alice_user = alice.user;
        for client in [&mut alice, &mut bob] {
            let chat = client
                .recv_until(|msg| match msg {
                    ServerMsg::Chat(chat) => Some(chat.clone()),
                    _ => None,
                })
                .await;
            assert_eq!(
                (chat.from, chat.name.as_str(), chat.text.as_str()),
                (alice_user, "alice", "hi bob")
            );
            assert!(
                chat.at.ends_with('Z') && chat.at.len() == 24,
                "RFC 3339 UTC: {}",
                chat.at
            );
        }
        // Carol, in another space, hears nothing: her next message is the pong of a ping.
        carol.send(&ClientMsg::Ping { t: 1.0 }).await;
        assert!(matches!(carol.recv().await, ServerMsg::Pong { t, .. } if t == 1.0));
        server.stop().await;
    }
}

#[tokio::test]
async fn a_late_joiner_gets_the_full_state() {
    for (codec_a, codec_b) in PAIRS {
        // 55 lines at once: over the default chat allowance, which is not under test here.
        let server = TestServer::start_with(|c| {
            c.message_rates.chat = plaza::config::Rate::new(1000.0, 1000);
        })
        .await;
        let mut alice = server.client(codec_a, "alice").await;
        alice.join("lobby").await;
        let first = alice.spawn(1, [1.0, 0.0, 0.0]).await;
        let second = alice.spawn(2, [2.0, 0.0, 0.0]).await;
        alice
            .send(&ClientMsg::Move {
                id: second,
                transform: WireTransform::at([5.0, 5.0, 5.0]),
                request: None,
            })
            .await;
        let pose = WireTransform::at([0.0, 1.0, 0.0]);
        alice.send(&ClientMsg::Pose { transform: pose }).await;
        for n in 0..55 {
            alice
                .send(&ClientMsg::Chat {
                    text: format!("line {n}"),
                    request: None,
                })
                .await;
        }
        // Everything above has been applied once alice has heard her own last line.
        alice
            .recv_until(|msg| {
                matches!(msg, ServerMsg::Chat(c) if c.text == "line 54").then_some(())
            })
            .await;

        let mut late = server.client(codec_b, "late").await;
        let ServerMsg::Joined {
            objects,
            users,
            chat,
            ..
        } = late.join("lobby").await
        else {
            unreachable!()
        };
        let mut ids: Vec<_> = objects.iter().map(|o| o.id).collect();
        ids.sort();
        let mut expected = vec![first, second];
        expected.sort();
        assert_eq!(ids, expected);
        let moved = objects
            .iter()
            .find(|o| o.id == second)
            .expect("the moved object");
        assert_eq!((moved.transform.pos, moved.version), ([5.0, 5.0, 5.0], 2));
        let alice_there = users
            .iter()
            .find(|u| u.user == alice.user)
            .expect("alice is listed");
        assert_eq!(alice_there.transform.transform(), pose);
        assert!(
            users.iter().any(|u| u.user == late.user),
            "the joiner is listed too"
        );
        assert_eq!(chat.len(), 50, "the last 50 chat lines");
        assert_eq!(
            (chat[0].text.as_str(), chat[49].text.as_str()),
            ("line 5", "line 54")
        );
        server.stop().await;
    }
}
