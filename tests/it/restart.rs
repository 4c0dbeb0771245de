//! Durability: what people built and said is there after a restart, whether the server was
//! stopped in-process or by SIGTERM to the real binary; bad configuration fails at start.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use plaza_net::{ClientMsg, Codec, ServerMsg, WireTransform};

use crate::support::{Client, TestServer, build_scene, test_config};

#[tokio::test]
async fn objects_chat_and_users_survive_a_restart() {
    let server = TestServer::start().await;
    let mut alice = server.client(Codec::Postcard, "alice").await;
    let scene = build_scene(&mut alice, "workshop", "remember this").await;
    let secret = alice.guest_secret.clone();
    drop(alice);

    let (dir, config) = server.stop().await;
    let server = TestServer::start_in(dir, config).await;
    let mut again = server.client_again(Codec::Json, "alice", &secret).await;
    assert_eq!(
        again.user, scene.user,
        "the same guest (name and secret) is the same user after a restart"
    );
    scene.assert_restored(&again.join("workshop").await);

    // Changes after the restart continue from the stored version.
    again
        .send(&ClientMsg::Move {
            id: scene.kept,
            transform: WireTransform::IDENTITY,
            request: None,
        })
        .await;
    let version = again
        .recv_until(|m| match m {
            ServerMsg::Delta { objects, .. } => objects
                .iter()
                .find(|o| o.id == scene.kept)
                .map(|o| o.version),
            _ => None,
        })
        .await;
    assert_eq!(version, 4);
    server.stop().await;
}

/// Starts the real binary and returns it with the address it logged.
pub(crate) fn start_binary(envs: &[(&str, String)]) -> (std::process::Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_plaza"))
        .arg("serve")
        .envs(envs.iter().map(|(k, v)| (*k, v.as_str())))
        .env("PLAZA_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::inherit())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the plaza binary starts");
    // Logs go to standard error (standard output is for `plaza export`).
    let stdout = child.stderr.take().expect("stderr is piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(rest) = line.split("addr=").nth(1) {
                let _ = tx.send(
                    rest.split_whitespace()
                        .next()
                        .unwrap_or_default()
                        .to_string(),
                );
            }
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the server logs its address");
    (child, addr)
}

#[tokio::test]
async fn sigterm_flushes_everything_and_exits_zero() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    // A flush interval far longer than the test: only the shutdown flush can write.
    let envs = [
        ("PLAZA_LISTEN", "127.0.0.1:0".to_string()),
        ("PLAZA_DATA_DIR", dir.path().display().to_string()),
        ("PLAZA_FLUSH_INTERVAL_MS", "60000".to_string()),
    ];
    let (mut child, addr) = start_binary(&envs);
    let mut bob = Client::hello(
        addr.parse().expect("a socket address"),
        Codec::Postcard,
        "bob",
    )
    .await;
    bob.join("garden").await;
    let id = bob.spawn(1, [7.0, 8.0, 9.0]).await;
    bob.send(&ClientMsg::Chat {
        text: "before the signal".into(),
        request: None,
    })
    .await;
    bob.recv_until(|m| matches!(m, ServerMsg::Chat(_)).then_some(()))
        .await;

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let frame = bob.expect_close().await.expect("clients are told why");
    assert_eq!(frame.code, 1001);
    let exit = tokio::task::spawn_blocking(move || child.wait())
        .await
        .expect("joins")
        .expect("waits");
    assert!(exit.success(), "plaza exits 0 after SIGTERM: {exit:?}");

    let config = test_config(&dir);
    let server = TestServer::start_in(dir, config).await;
    let mut check = server.client(Codec::Json, "checker").await;
    let ServerMsg::Joined { objects, chat, .. } = check.join("garden").await else {
        unreachable!()
    };
    assert_eq!(
        objects
            .iter()
            .map(|o| (o.id, o.transform.pos))
            .collect::<Vec<_>>(),
        vec![(id, [7.0, 8.0, 9.0])]
    );
    assert_eq!(
        chat.iter().map(|c| c.text.as_str()).collect::<Vec<_>>(),
        vec!["before the signal"]
    );
    server.stop().await;
}

#[test]
fn an_invalid_tick_rate_is_a_clear_startup_error() {
    let output = Command::new(env!("CARGO_BIN_EXE_plaza"))
        .arg("serve")
        .env("PLAZA_TICK_RATE_HZ", "500")
        .env("PLAZA_LISTEN", "127.0.0.1:0")
        .output()
        .expect("the plaza binary runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("tick_rate_hz must be between 1 and 240"),
        "{stderr}"
    );
}
