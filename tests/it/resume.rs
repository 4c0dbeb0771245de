//! Resume: a client whose connection dropped takes its session back with the token of its
//! welcome, within the grace period, and nobody else in the space sees it leave or come
//! back; after the grace period the session ends as any other.

use plaza_net::{ClientMsg, Codec, ServerMsg, WireTransform};
use uuid::Uuid;

use crate::support::{Client, TestServer};

/// Whether `msg` tells of `user` leaving or arriving.
fn comes_or_goes(msg: &ServerMsg, user: Uuid) -> bool {
    matches!(msg, ServerMsg::Delta { joined, left, .. }
        if left.contains(&user) || joined.iter().any(|u| u.user == user))
}

/// Waits until `watcher` sees `user` at `x`, failing if it sees them come or go first.
async fn sees_at(watcher: &mut Client, user: Uuid, x: f32) {
    watcher
        .recv_until(|m| {
            assert!(
                !comes_or_goes(m, user),
                "the watcher saw a departure or arrival: {m:?}"
            );
            match m {
                ServerMsg::Delta { avatars, .. } => avatars
                    .entries()
                    .iter()
                    .any(|a| a.user == user && a.transform.transform().pos[0] == x)
                    .then_some(()),
                _ => None,
            }
        })
        .await
}

async fn hello_resuming(
    server: &TestServer,
    name: &str,
    secret: &Option<String>,
    token: &str,
) -> (Client, ServerMsg) {
    let mut back = Client::connect(server.addr(), Codec::Postcard).await;
    let mut hello = ClientMsg::hello_again(name, secret.clone().expect("a guest secret"));
    if let ClientMsg::Hello { resume, .. } = &mut hello {
        *resume = Some(token.to_string());
    }
    back.send(&hello).await;
    let welcome = back.recv().await;
    (back, welcome)
}

#[tokio::test]
async fn a_dropped_client_takes_its_session_back_unseen() {
    let server = TestServer::start().await;
    let mut watcher = server.client(Codec::Postcard, "watcher").await;
    watcher.join("lobby").await;
    let mut flaky = server.client(Codec::Postcard, "flaky").await;
    flaky.join("lobby").await;
    let (user, session) = (flaky.user, flaky.session);
    flaky
        .send(&ClientMsg::Pose {
            transform: WireTransform::at([2.0, 0.0, 2.0]),
        })
        .await;
    watcher
        .recv_until(|m| match m {
            ServerMsg::Delta { avatars, .. } => avatars
                .entries()
                .iter()
                .any(|a| a.user == user)
                .then_some(()),
            _ => None,
        })
        .await;
    let token = flaky
        .resume
        .clone()
        .expect("welcome carries a resume token");
    let secret = flaky.guest_secret.clone();
    // The connection goes away without a close frame, as a lost network does.
    drop(flaky);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;

    let (mut back, welcome) = hello_resuming(&server, "flaky", &secret, &token).await;
    let ServerMsg::Welcome {
        session: again,
        resumed,
        ..
    } = welcome
    else {
        panic!("a welcome, got {welcome:?}");
    };
    assert_eq!(
        (again, resumed),
        (session, true),
        "the same session, taken back"
    );
    let joined = back
        .recv_until(|m| match m {
            ServerMsg::Joined { users, .. } => Some(users.clone()),
            _ => None,
        })
        .await;
    let me = joined
        .iter()
        .find(|u| u.user == user)
        .expect("still in the space");
    assert_eq!(
        me.transform.transform().pos,
        [2.0, 0.0, 2.0],
        "the avatar where it was"
    );
    assert!(joined.iter().any(|u| u.user == watcher.user));
    back.send(&ClientMsg::Pose {
        transform: WireTransform::at([3.0, 0.0, 3.0]),
    })
    .await;
    sees_at(&mut watcher, user, 3.0).await;
    // The token was used: it does not take the session a second time.
    let (_, again) = hello_resuming(&server, "flaky", &secret, &token).await;
    assert!(
        matches!(again, ServerMsg::Welcome { resumed: false, .. }),
        "{again:?}"
    );
}

#[tokio::test]
async fn a_session_not_taken_back_within_the_grace_period_ends() {
    let server = TestServer::start_with(|c| c.resume_grace_secs = 1).await;
    let mut watcher = server.client(Codec::Json, "watcher").await;
    watcher.join("lobby").await;
    let mut gone = server.client(Codec::Json, "gone").await;
    gone.join("lobby").await;
    let user = gone.user;
    let token = gone.resume.clone().expect("a token");
    let secret = gone.guest_secret.clone();
    drop(gone);
    let started = std::time::Instant::now();
    watcher
        .recv_until(|m| match m {
            ServerMsg::Delta { left, .. } => left.contains(&user).then_some(()),
            _ => None,
        })
        .await;
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(900),
        "held for the grace period first"
    );
    let (_, welcome) = hello_resuming(&server, "gone", &secret, &token).await;
    assert!(
        matches!(welcome, ServerMsg::Welcome { resumed: false, .. }),
        "too late: a new session ({welcome:?})"
    );
}
