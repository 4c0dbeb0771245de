//! A real browser: headless Chromium loads the server's page, which connects over
//! WebTransport (trusting the self-signed certificate by its hash) or WebSocket, joins a
//! space, spawns an object, sees it come back in a delta, and then says so in the space's
//! chat, where this test (a client in the same space) reads it. Two browsers also share a
//! screen: WebRTC set up through Plaza's `signal` relay, video flowing peer to peer.

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
            // WebRTC between two local browsers: real host candidates instead of mDNS
            // names, and video that plays without a user gesture.
            "--disable-features=WebRtcHideLocalIpsWithMdns",
            "--autoplay-policy=no-user-gesture-required",
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
            "http://127.0.0.1:{port}/debug?auto=1&transport={transport}&name={name}&space=browsers"
        );
        let _browser = open_page(&url, profile.path());
        let what = format!("the page over {transport} reports");
        let said = wait_for(
            &mut watcher,
            &what,
            Duration::from_secs(60),
            chat_from(&name),
        )
        .await;
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

/// Waits up to `within` for a message `pick` accepts, pinging to keep each read short
/// while Chromium starts (it may say nothing for a while).
async fn wait_for<T>(
    watcher: &mut crate::support::Client,
    what: &str,
    within: Duration,
    pick: impl Fn(&ServerMsg) -> Option<T>,
) -> T {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what} within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
        watcher.send(&plaza_net::ClientMsg::Ping { t: 0.0 }).await;
        let heard = watcher
            .recv_until(|m| match m {
                ServerMsg::Pong { .. } => Some(None),
                other => pick(other).map(Some),
            })
            .await;
        if let Some(found) = heard {
            return found;
        }
    }
}

/// What someone named `name` says next in the watcher's space.
fn chat_from(name: &str) -> impl Fn(&ServerMsg) -> Option<String> + '_ {
    move |m| match m {
        ServerMsg::Chat(chat) if chat.name == name => Some(chat.text.clone()),
        _ => None,
    }
}

#[tokio::test]
async fn two_browsers_share_a_screen_through_the_signal_relay() {
    let server = TestServer::start().await;
    let port = server.addr().port();
    let mut watcher = server.client(Codec::Postcard, "watcher").await;
    watcher.join("cinema").await;
    let page = |query: &str| format!("http://127.0.0.1:{port}/debug?space=cinema&{query}");
    let sharer_profile = tempfile::tempdir().expect("a profile directory");
    let _sharer = open_page(
        &page("name=sharer&transport=wt&share=canvas"),
        sharer_profile.path(),
    );
    wait_for(
        &mut watcher,
        "the sharer shares",
        Duration::from_secs(60),
        |m| matches!(m, ServerMsg::ScreenShare { active: true, .. }).then_some(()),
    )
    .await;
    let viewer_profile = tempfile::tempdir().expect("a profile directory");
    let _viewer = open_page(
        &page("name=viewer&transport=ws&watch=1"),
        viewer_profile.path(),
    );
    let said = wait_for(
        &mut watcher,
        "the viewer reports",
        Duration::from_secs(60),
        chat_from("viewer"),
    )
    .await;
    assert_eq!(
        said, "video 320x240",
        "the viewer shows the sharer's canvas"
    );
    server.stop().await;
}
