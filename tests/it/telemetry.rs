//! Telemetry over HTTP: `/metrics` in Prometheus form and `/api/statistics` as JSON, with
//! numbers that move when clients connect and talk.

use std::time::Duration;

use plaza_net::{ClientMsg, Codec, WireTransform};

use crate::support::{Client, TestServer, eventually, http_get, http_get_text};

#[tokio::test]
async fn metrics_and_statistics_count_ticks_stages_connections_and_traffic() {
    let server = TestServer::start().await;
    let mut ws = server.client(Codec::Json, "metrics-ws").await;
    let mut quic = Client::hello_quic(&server, "metrics-quic").await;
    ws.join("metrics").await;
    quic.join("metrics").await;
    quic.send(&ClientMsg::Pose {
        transform: WireTransform::at([1.0, 0.0, 1.0]),
    })
    .await;
    ws.spawn(1, [0.0, 0.0, 0.0]).await;

    let addr = server.addr();
    eventually(
        Duration::from_secs(5),
        "the world is counted",
        || async move {
            let (_, stats) = http_get(addr, "/api/statistics").await;
            stats["world"]["sessions"] == 2 && stats["world"]["objects"] == 1
        },
    )
    .await;
    let (status, stats) = http_get(addr, "/api/statistics").await;
    assert_eq!(status, 200);
    assert!(stats["tick"]["all"]["count"].as_u64() > Some(0));
    assert!(stats["tick"]["recent"]["p99_us"].as_u64() > Some(0));
    for stage in ["ingest", "simulate", "replicate", "deliver", "persist"] {
        assert!(
            stats["stages"][stage]["count"].as_u64() > Some(0),
            "stage {stage} is timed: {}",
            stats["stages"]
        );
    }
    for transport in ["ws", "quic"] {
        let c = &stats["connections"][transport];
        assert_eq!(c["open"], 1, "{transport}: {c}");
        assert!(c["bytes_in"].as_u64() > Some(0), "{transport}: {c}");
        assert!(c["bytes_out"].as_u64() > Some(0), "{transport}: {c}");
    }
    assert_eq!(stats["connections"]["wt"]["open"], 0);
    assert_eq!(stats["world"]["spaces_active"], 1);
    assert!(stats["process"]["rss_bytes"].as_u64() > Some(1_000_000));
    assert_eq!(stats["persistence"]["kind"], "sqlite");
    eventually(
        Duration::from_secs(5),
        "a flush is recorded",
        || async move {
            let (_, stats) = http_get(addr, "/api/statistics").await;
            stats["persistence"]["flushes"].as_u64() > Some(0)
        },
    )
    .await;

    let (status, text) = http_get_text(addr, "/metrics").await;
    assert_eq!(status, 200);
    for expected in [
        "# TYPE plaza_tick_duration_seconds histogram",
        "plaza_tick_duration_seconds_bucket{le=\"+Inf\"}",
        "plaza_stage_duration_seconds_count{stage=\"replicate\"}",
        "plaza_connections{transport=\"quic\"} 1",
        "plaza_connections{transport=\"ws\"} 1",
        "plaza_persist_batch_rows_count",
        "plaza_inbox_depth",
        "plaza_persist_lag_seconds",
    ] {
        assert!(
            text.contains(expected),
            "/metrics lacks `{expected}`:\n{text}"
        );
    }
    // Every sample line is `name{labels} number`.
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let value = line.rsplit_once(' ').map(|(_, v)| v);
        assert!(
            value.is_some_and(|v| v.parse::<f64>().is_ok() || v == "+Inf"),
            "not a sample: {line}"
        );
    }

    drop(ws);
    drop(quic);
    eventually(
        Duration::from_secs(5),
        "closed sessions are counted",
        || async move {
            let (_, stats) = http_get(addr, "/api/statistics").await;
            stats["connections"]["ws"]["open"] == 0 && stats["connections"]["quic"]["open"] == 0
        },
    )
    .await;
    server.stop().await;
}
