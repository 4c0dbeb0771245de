//! The load-test binary against a real server: bots over all three transports connect,
//! walk, build and chat; the report holds what they measured and what the server did, and
//! a threshold that cannot be met makes the run fail.

use std::process::Command;

use plaza::{Config, Server};

/// A real server on port 0 with its own data directory, fast ticks and flushes.
async fn start_server(dir: &tempfile::TempDir) -> Server {
    let any_port = "127.0.0.1:0".parse().expect("a socket address");
    let config = Config {
        listen: any_port,
        quic_listen: any_port,
        webtransport_listen: any_port,
        data_dir: dir.path().to_owned(),
        flush_interval_ms: 50,
        view_radius: Some(30.0),
        ..Config::default()
    };
    Server::start(config).await.expect("the server starts")
}

/// The status of `GET path`.
async fn http_status(addr: std::net::SocketAddr, path: &str) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connects");
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("sends");
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response).await;
    response
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .expect("a status line")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plaza_bot_measures_a_mixed_swarm_and_fails_on_a_missed_threshold() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let server = start_server(&dir).await;
    let report_path = dir.path().join("report.json");
    let url = format!("http://{}", server.local_addr());
    let report = report_path.clone();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_plaza-bot"))
            .args([
                "--url",
                &url,
                "--transport",
                "quic,wt,ws",
                "--bots",
                "12",
                "--spaces",
                "2",
                "--ramp",
                "1s",
                "--duration",
                "3s",
                "--behaviour",
                "walk,build,chat",
                "--area",
                "20",
                "--chat-hz",
                "2",
                "--quiet",
                "--max-failures",
                "0",
                // Nothing arrives in no time: this threshold must fail the run.
                "--max-p99-latency",
                "0ms",
            ])
            .arg("--report")
            .arg(&report)
            .output()
            .expect("plaza-bot runs")
    })
    .await
    .expect("the bot run finishes");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(1),
        "a missed threshold exits 1:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("FAIL p99 update latency"), "{stdout}");
    assert!(
        stdout.contains("PASS failed or dropped connections"),
        "{stdout}"
    );

    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report_path).expect("a report file"))
            .expect("the report is JSON");
    let overall = &report["overall"];
    assert_eq!(overall["succeeded"], 12, "{overall}");
    assert_eq!(overall["failed"], 0);
    for transport in report["transports"].as_array().expect("per transport") {
        let name = &transport["transport"];
        assert_eq!(transport["succeeded"], 4, "{name}");
        assert!(
            transport["update_latency_ms"]["count"].as_u64() > Some(0),
            "{name}"
        );
        assert!(transport["rtt_ms"]["count"].as_u64() > Some(0), "{name}");
        assert!(
            transport["chat_latency_ms"]["count"].as_u64() > Some(0),
            "{name}"
        );
        assert!(
            transport["bytes_per_sec_per_bot"]["mean"].as_f64() > Some(0.0),
            "{name}"
        );
    }
    let p99 = overall["update_latency_ms"]["p99"].as_f64().expect("a p99");
    assert!(p99 > 0.0 && p99 < 5_000.0, "a plausible latency: {p99}");
    let server_side = &report["server"];
    assert!(server_side["ticks"].as_u64() > Some(20), "{server_side}");
    assert!(server_side["tick"]["p99_ms"].as_f64() > Some(0.0));
    assert!(server_side["sent_bytes_per_sec"].as_f64() > Some(0.0));
    assert_eq!(report["passed"], false);
    // The run made its spaces temporary and deleted them when it ended.
    for space in ["bots-0", "bots-1"] {
        let status = http_status(server.local_addr(), &format!("/api/spaces/{space}")).await;
        assert_eq!(status, 404, "{space} was deleted after the run");
    }
    let unwritten = server.shutdown().await.expect("the server stops cleanly");
    assert_eq!(
        unwritten.unwritten_rows, 0,
        "everything was written at shutdown"
    );
}

/// A POST with a bearer token: the status and body.
async fn http_post(
    addr: std::net::SocketAddr,
    path: &str,
    token: &str,
    body: &str,
) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connects");
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.expect("sends");
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response).await;
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .expect("a status line");
    let body = response.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (status, body.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bots_follow_moved_to_the_owner_and_through_a_hand_off_without_losing_a_session() {
    use plaza::config::{Secret, SecretUrl};
    use plaza_net::{Client, ClientMsg, Codec, Received, ServerMsg};

    let database = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let redis = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let schema = format!("bots_{}", uuid::Uuid::new_v4().simple());
    let admin_db = sqlx::PgPool::connect(&database)
        .await
        .expect("PostgreSQL answers (./scripts/test.sh starts it)");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&admin_db)
        .await
        .expect("a schema");
    let token = "bot-cluster-admin-token-0123";
    let prefix = format!("bots:{}:", uuid::Uuid::new_v4().simple());
    let any_port: std::net::SocketAddr = "127.0.0.1:0".parse().expect("a socket address");
    let node = |dir: &tempfile::TempDir| Config {
        listen: any_port,
        quic_listen: any_port,
        webtransport_listen: any_port,
        data_dir: dir.path().to_owned(),
        flush_interval_ms: 50,
        database_url: Some(SecretUrl::new(format!(
            "{database}?options[search_path]={schema}"
        ))),
        redis_url: Some(SecretUrl::new(redis.clone())),
        redis_prefix: prefix.clone(),
        admin_token: Some(Secret::new(token)),
        lease_ms: 900,
        ..Config::default()
    };
    let (dir_a, dir_b) = (
        tempfile::tempdir().expect("a dir"),
        tempfile::tempdir().expect("a dir"),
    );
    let a = Server::start(node(&dir_a)).await.expect("A starts");
    let b = Server::start(node(&dir_b)).await.expect("B starts");
    // A owns both spaces: someone joined them there first.
    let mut host = Client::websocket(a.local_addr(), Codec::Postcard)
        .await
        .expect("connects");
    host.send(&ClientMsg::hello("host")).await.expect("hello");
    for space in ["cl-0", "cl-1"] {
        host.send(&ClientMsg::Join {
            space: space.into(),
            request: None,
        })
        .await
        .expect("join");
        loop {
            if let Received::Msg(ServerMsg::Joined { .. }) = host.next().await.expect("reads") {
                break;
            }
        }
    }
    let space_id = |name: &'static str| {
        let db = admin_db.clone();
        let schema = schema.clone();
        async move {
            sqlx::query_scalar::<_, uuid::Uuid>(sqlx::AssertSqlSafe(format!(
                "SELECT id FROM {schema}.spaces WHERE name = '{name}'"
            )))
            .fetch_one(&db)
            .await
            .expect("the space exists")
        }
    };
    let moving = space_id("cl-0").await;

    // The bots reach B; B sends them to A; halfway through, cl-0 moves to B.
    let dir = tempfile::tempdir().expect("a temporary directory");
    let report_path = dir.path().join("report.json");
    let url = format!("http://{}", b.local_addr());
    let report = report_path.clone();
    let run = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_plaza-bot"))
            .args([
                "--url",
                &url,
                "--transport",
                "quic,ws",
                "--bots",
                "6",
                "--spaces",
                "2",
                "--space-prefix",
                "cl",
                "--ramp",
                "500ms",
                "--duration",
                "4s",
                "--behaviour",
                "walk,build",
                "--area",
                "20",
                "--quiet",
                "--max-failures",
                "0",
            ])
            .arg("--report")
            .arg(&report)
            .output()
            .expect("plaza-bot runs")
    });
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let b_node = b
        .edge()
        .cluster
        .as_ref()
        .expect("clustered")
        .node
        .to_string();
    let (status, answer) = http_post(
        a.local_addr(),
        &format!("/api/admin/spaces/{moving}/move"),
        token,
        &format!(r#"{{"to":"{b_node}"}}"#),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let output = run.await.expect("the bot run finishes");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report_path).expect("a report file"))
            .expect("the report is JSON");
    let overall = &report["overall"];
    assert_eq!(overall["succeeded"], 6, "{overall}");
    assert_eq!(overall["failed"], 0, "{overall}");
    assert_eq!(overall["disconnects"], 0, "no session was lost: {overall}");
    assert_eq!(
        overall["move_pause_ms"]["count"], 3,
        "the three bots of cl-0 followed the hand-off: {overall}"
    );
    assert!(
        overall["update_latency_ms"]["count"].as_u64() > Some(0),
        "{overall}"
    );
    drop(host);
    a.shutdown().await.expect("A stops");
    b.shutdown().await.expect("B stops");
    let _ = sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
        .execute(&admin_db)
        .await;
}
