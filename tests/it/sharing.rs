//! Screen sharing and WebRTC signaling over every transport: the space hears who shares,
//! newcomers see current shares, offers, answers and ICE candidates reach exactly the
//! named peer in the same space, and the `screen_shares` table and event log follow.

use plaza_net::{ClientMsg, Codec, ErrorCode, ServerMsg, ShareKind};
use uuid::Uuid;

use crate::support::{Client, TestServer, WAIT, eventually, sqlite_rows};

fn share_news(msg: &ServerMsg, user: Uuid, active: bool) -> Option<ShareKind> {
    match msg {
        ServerMsg::ScreenShare { share, active: a } if share.user == user && *a == active => {
            Some(share.kind)
        }
        _ => None,
    }
}

/// Reads until a `signal`, returning (from, data).
async fn next_signal(client: &mut Client) -> (Uuid, String) {
    client
        .recv_until(|m| match m {
            ServerMsg::Signal { from, data } => Some((*from, data.clone())),
            _ => None,
        })
        .await
}

/// Reads until the answer to a ping, failing on any signal on the way.
async fn assert_no_signal(client: &mut Client) {
    client.send(&ClientMsg::Ping { t: 7.0 }).await;
    client
        .recv_until(|m| match m {
            ServerMsg::Signal { .. } => panic!("a signal reached someone it was not for: {m:?}"),
            ServerMsg::Pong { t, .. } if *t == 7.0 => Some(()),
            _ => None,
        })
        .await;
}

#[tokio::test]
async fn two_peers_exchange_offer_answer_and_candidates_and_no_one_else_hears() {
    let server = TestServer::start().await;
    let addr = server.addr();
    let mut sharer = Client::hello(addr, Codec::Json, "sharer").await;
    let mut viewer = Client::hello_quic(&server, "viewer").await;
    let mut bystander = Client::hello_wt(&server, Codec::Postcard, "bystander").await;
    let mut outsider = Client::hello(addr, Codec::Postcard, "outsider").await;
    for client in [&mut sharer, &mut viewer, &mut bystander] {
        client.join("studio").await;
    }
    outsider.join("elsewhere").await;

    sharer
        .send(&ClientMsg::ScreenShareStart {
            kind: ShareKind::Window,
            request: None,
        })
        .await;
    let sharer_user = sharer.user;
    for client in [&mut sharer, &mut viewer, &mut bystander] {
        let kind = client
            .recv_until(|m| share_news(m, sharer_user, true))
            .await;
        assert_eq!(kind, ShareKind::Window);
    }
    let mut late = Client::hello(addr, Codec::Json, "late").await;
    let ServerMsg::Joined { shares, .. } = late.join("studio").await else {
        panic!("joined");
    };
    assert_eq!(shares.len(), 1, "newcomers see who is sharing");
    assert_eq!(
        (shares[0].user, shares[0].kind),
        (sharer.user, ShareKind::Window)
    );

    // Offer, answer, and candidates both ways, each to the named peer only.
    let offer = r#"{"type":"offer","sdp":"v=0\r\no=- 46117 2 IN IP4 127.0.0.1\r\n"}"#;
    sharer
        .send(&ClientMsg::Signal {
            to: viewer.user,
            data: offer.into(),
            request: None,
        })
        .await;
    assert_eq!(
        next_signal(&mut viewer).await,
        (sharer.user, offer.to_string())
    );
    let answer = r#"{"type":"answer","sdp":"v=0\r\no=- 99 2 IN IP4 127.0.0.1\r\n"}"#;
    viewer
        .send(&ClientMsg::Signal {
            to: sharer.user,
            data: answer.into(),
            request: None,
        })
        .await;
    assert_eq!(
        next_signal(&mut sharer).await,
        (viewer.user, answer.to_string())
    );
    for n in 0..3 {
        let candidate = format!(
            r#"{{"candidate":"candidate:{n} 1 udp 2122260223 127.0.0.1 5{n}000 typ host","sdpMid":"0"}}"#
        );
        sharer
            .send(&ClientMsg::Signal {
                to: viewer.user,
                data: candidate.clone(),
                request: None,
            })
            .await;
        assert_eq!(next_signal(&mut viewer).await.1, candidate);
        viewer
            .send(&ClientMsg::Signal {
                to: sharer.user,
                data: candidate.clone(),
                request: None,
            })
            .await;
        assert_eq!(next_signal(&mut sharer).await.1, candidate);
    }
    assert_no_signal(&mut bystander).await;
    assert_no_signal(&mut late).await;

    // Nobody outside the space, nobody unknown, nothing oversized.
    sharer
        .send(&ClientMsg::Signal {
            to: outsider.user,
            data: offer.into(),
            request: None,
        })
        .await;
    sharer.expect_error(ErrorCode::NotFound).await;
    assert_no_signal(&mut outsider).await;
    sharer
        .send(&ClientMsg::Signal {
            to: sharer.user,
            data: offer.into(),
            request: None,
        })
        .await;
    sharer.expect_error(ErrorCode::NotFound).await;
    sharer
        .send(&ClientMsg::Signal {
            to: viewer.user,
            data: "x".repeat(16 * 1024 + 1),
            request: None,
        })
        .await;
    sharer.expect_error(ErrorCode::TooLarge).await;

    sharer.send(&ClientMsg::ScreenShareStop).await;
    viewer
        .recv_until(|m| share_news(m, sharer.user, false))
        .await;
    bystander
        .recv_until(|m| share_news(m, sharer.user, false))
        .await;

    // A share ended by disconnecting is closed too.
    viewer
        .send(&ClientMsg::ScreenShareStart {
            kind: ShareKind::Camera,
            request: None,
        })
        .await;
    sharer
        .recv_until(|m| share_news(m, viewer.user, true))
        .await;
    let viewer_user = viewer.user;
    viewer.goodbye().await;
    sharer
        .recv_until(|m| share_news(m, viewer_user, false))
        .await;

    eventually(
        WAIT,
        "both shares are stored, started and ended",
        || async {
            let rows = sqlite_rows(
                &server,
                "SELECT kind, ended_at FROM screen_shares ORDER BY started_at",
            )
            .await;
            rows.len() == 2
                && rows.iter().all(|r| r[1].is_some())
                && rows[0][0].as_deref() == Some("window")
        },
    )
    .await;
    eventually(WAIT, "share events are logged", || async {
        let rows = sqlite_rows(
            &server,
            "SELECT count(*) FROM events WHERE kind IN ('share_start', 'share_stop')",
        )
        .await;
        rows[0][0].as_deref() == Some("4")
    })
    .await;
    server.stop().await;
}

#[tokio::test]
async fn screen_sharing_can_be_switched_off() {
    let server = TestServer::start_with(|c| c.screen_sharing_enabled = false).await;
    let mut client = Client::hello(server.addr(), Codec::Json, "solo").await;
    client.join("quiet").await;
    client
        .send(&ClientMsg::ScreenShareStart {
            kind: ShareKind::Screen,
            request: None,
        })
        .await;
    let message = client.expect_error(ErrorCode::Disabled).await;
    assert!(message.contains("switched off"), "{message}");
    client
        .send(&ClientMsg::Chat {
            text: "still here".into(),
            request: None,
        })
        .await;
    client
        .recv_until(|m| matches!(m, ServerMsg::Chat(c) if c.text == "still here").then_some(()))
        .await;
    server.stop().await;
}
