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
