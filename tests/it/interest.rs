//! Interest management on real sockets: with a view radius, clients over WebSocket and
//! QUIC see people and objects come and go as they move.

use plaza_net::{ClientMsg, Codec, ServerMsg, WireTransform};

use crate::support::{Client, TestServer};

async fn pose(client: &mut Client, x: f32) {
    client
        .send(&ClientMsg::Pose {
            transform: WireTransform::at([x, 0.0, 0.0]),
        })
        .await;
}

#[tokio::test]
async fn with_a_view_radius_people_and_objects_come_and_go_with_distance() {
    let server = TestServer::start_with(|c| c.view_radius = Some(10.0)).await;
    let mut alice = server.client(Codec::Json, "alice-near").await;
    let mut bob = Client::hello_quic(&server, "bob-far").await;
    alice.join("field").await;
    let ServerMsg::Joined { users, .. } = bob.join("field").await else {
        unreachable!("join returns joined")
    };
    assert_eq!(users.len(), 2, "both start at the origin, in view");

    // Bob walks off: Alice is told he is out of view, not gone.
    pose(&mut bob, 30.0).await;
    let bob_id = bob.user;
    alice
        .recv_until(|m| match m {
            ServerMsg::Delta { vanished, left, .. } if vanished.contains(&bob_id) => {
                assert!(left.is_empty());
                Some(())
            }
            _ => None,
        })
        .await;

    // He builds where he stands; Alice sees nothing of it until he carries it over.
    let id = bob.spawn(1, [31.0, 0.0, 0.0]).await;
    bob.send(&ClientMsg::Move {
        id,
        transform: WireTransform::at([2.0, 0.0, 0.0]),
        request: None,
    })
    .await;
    let seen = alice
        .recv_until(|m| match m {
            ServerMsg::Delta { objects, .. } => objects.iter().find(|o| o.id == id).cloned(),
            _ => None,
        })
        .await;
    assert_eq!(
        seen.transform.pos,
        [2.0, 0.0, 0.0],
        "first seen where it entered her view"
    );
    bob.recv_until(|m| match m {
        ServerMsg::Delta { hidden, .. } => hidden.contains(&id).then_some(()),
        _ => None,
    })
    .await;

    // He comes back and appears to her.
    pose(&mut bob, 3.0).await;
    alice
        .recv_until(|m| match m {
            ServerMsg::Delta { appeared, .. } => {
                appeared.iter().any(|u| u.user == bob_id).then_some(())
            }
            _ => None,
        })
        .await;
    server.stop().await;
}
