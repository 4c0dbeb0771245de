//! A real browser: headless Chromium loads the server's page, which connects over
//! WebTransport (trusting the self-signed certificate by its hash) or WebSocket, joins a
//! space, spawns an object, sees it come back in a delta, and then says so in the space's
//! chat, where this test (a client in the same space) reads it.

use std::time::Duration;

use plaza_net::{Codec, ServerMsg};
use uuid::Uuid;

use crate::support::TestServer;

fn chromium() -> String {
    for candidate in ["chromium", "chromium-browser", "google-chrome"] {
        let found = std::process::Command::new("which").arg(candidate).output();
        if found.is_ok_and(|o| o.status.success()) {
            return candidate.to_string();
        }
    }
    panic!("no Chromium found: run ./scripts/test.sh (it installs Debian's chromium package)");
}

/// Headless Chromium on `url`, killed when the returned child is dropped.
fn open_page(url: &str, profile: &std::path::Path) -> tokio::process::Child {
    tokio::process::Command::new(chromium())
        .args([
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            &format!("--user-data-dir={}", profile.display()),
            // Stay open, running the page in real time, until the test kills it. (With
            // --dump-dom the page's work is cut short: virtual time does not wait for
            // WebTransport.)
            "--remote-debugging-port=0",
            url,
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("Chromium starts")
}

#[tokio::test]
async fn a_real_browser_builds_over_webtransport_and_websocket() {
    let server = TestServer::start().await;
    let port = server.addr().port();
    let mut watcher = server.client(Codec::Postcard, "watcher").await;
    watcher.join("browsers").await;
    for transport in ["wt", "ws"] {
        let profile = tempfile::tempdir().expect("a profile directory");
        let name = format!("browser-{transport}");
        let url = format!(
            "http://127.0.0.1:{port}/?auto=1&transport={transport}&name={name}&space=browsers"
        );
        let _browser = open_page(&url, profile.path());
        // The watcher hears the page's chat line; while waiting, it may see nothing for a
        // while (Chromium starting), so it pings to keep its own reads short.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        let said = loop {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the page over {transport} reports within 60 s"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
            watcher.send(&plaza_net::ClientMsg::Ping { t: 0.0 }).await;
            let heard = watcher
                .recv_until(|m| match m {
                    ServerMsg::Chat(chat) if chat.name == name => Some(Some(chat.text.clone())),
                    ServerMsg::Pong { .. } => Some(None),
                    _ => None,
                })
                .await;
            if let Some(text) = heard {
                break text;
            }
        };
        let expected = format!("ok {transport} ");
        assert!(
            said.starts_with(&expected),
            "the page over {transport} said {said:?}"
        );
        let id: Uuid = said[expected.len()..]
            .parse()
            .expect("the page names its object");
        // The object the browser spawned is really in the space.
        let mut checker = server
            .client(Codec::Json, &format!("checker-{transport}"))
            .await;
        let ServerMsg::Joined { objects, .. } = checker.join("browsers").await else {
            unreachable!()
        };
        assert!(
            objects.iter().any(|o| o.id == id),
            "object {id} from the browser is in the space"
        );
    }
    server.stop().await;
}
