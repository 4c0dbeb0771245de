//! What the server says about itself (`/cert-hash`, `/api/statistics`), fetched with a
//! minimal HTTP/1.1 GET, and the server's side of the run: ticks, CPU, memory, traffic
//! between two readings.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, bail};
use plaza_net::statistics::HistogramSnapshot;
use serde::Serialize;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::swarm::Target;

/// `GET path` on `addr`; the body, if the status is 200.
pub async fn http_get(addr: SocketAddr, path: &str) -> anyhow::Result<String> {
    let (status, body) = http_request(addr, "GET", path, None, None).await?;
    if status != 200 {
        bail!("GET {path}: {status} {body}");
    }
    Ok(body)
}

/// One HTTP/1.1 request (a JSON `body` and a bearer token if given); the status and body.
pub async fn http_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    bearer: Option<&str>,
    body: Option<&str>,
) -> anyhow::Result<(u16, String)> {
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await?;
        let mut request =
            format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
        if let Some(token) = bearer {
            request += &format!("Authorization: Bearer {token}\r\n");
        }
        let body = body.unwrap_or("");
        if !body.is_empty() {
            request += "Content-Type: application/json\r\n";
        }
        request += &format!("Content-Length: {}\r\n\r\n{body}", body.len());
        stream.write_all(request.as_bytes()).await?;
        let mut response = Vec::new();
        stream.take(64 << 20).read_to_end(&mut response).await?;
        anyhow::Ok(response)
    };
    let response = tokio::time::timeout(Duration::from_secs(10), exchange)
        .await
        .context("no answer within 10 s")??;
    let text = String::from_utf8_lossy(&response);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .context("the answer is not HTTP")?;
    let status = head
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .with_context(|| format!("{method} {path}: not an HTTP/1.1 status line"))?;
    Ok((status, body.to_string()))
}

/// Finds the server's transports from its HTTP address (`http://host:port`).
pub async fn discover(url: &str) -> anyhow::Result<Target> {
    let authority = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    if url.starts_with("https://") {
        bail!("--url must be plain http://host:port (Plaza serves WebSocket without TLS)");
    }
    let http = tokio::net::lookup_host(&authority)
        .await
        .with_context(|| format!("cannot resolve `{authority}`"))?
        .next()
        .with_context(|| format!("`{authority}` has no address"))?;
    let body = http_get(http, "/cert-hash")
        .await
        .with_context(|| format!("cannot read {url}/cert-hash: is the server running?"))?;
    let info: Value = serde_json::from_str(&body).context("/cert-hash is not JSON")?;
    let hash: Vec<u8> = serde_json::from_value(info["bytes"].clone())
        .context("/cert-hash has no certificate bytes")?;
    let cert_sha256: [u8; 32] = hash
        .try_into()
        .map_err(|_| anyhow::anyhow!("/cert-hash: the hash is not 32 bytes"))?;
    let port = |key: &str| {
        info[key]
            .as_u64()
            .filter(|&p| p > 0)
            .map(|p| SocketAddr::new(http.ip(), p as u16))
    };
    Ok(Target {
        http,
        quic: port("quic_port"),
        wt: port("webtransport_port"),
        cert_sha256,
    })
}

/// `/api/statistics` now.
pub async fn read_statistics(addr: SocketAddr) -> anyhow::Result<Value> {
    let body = http_get(addr, "/api/statistics").await?;
    serde_json::from_str(&body).context("/api/statistics is not JSON")
}

/// p50, p99 and max of a stage or of whole ticks over the run, in ms.
#[derive(Debug, Clone, Serialize)]
pub struct Timing {
    /// Median.
    pub p50_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Largest (bucket bound).
    pub max_ms: f64,
    /// Mean.
    pub mean_ms: f64,
}

/// The server between the start and the end of the measured window.
#[derive(Debug, Clone, Serialize)]
pub struct ServerReport {
    /// Ticks run.
    pub ticks: u64,
    /// Whole-tick times (from the server's histogram: within 25 %).
    pub tick: Timing,
    /// CPU time of the tick thread per tick.
    pub tick_cpu: Option<Timing>,
    /// Time per tick the tick thread waited for a core (other processes and threads).
    pub tick_runqueue_wait: Option<Timing>,
    /// Per stage.
    pub stages: BTreeMap<String, Timing>,
    /// Ticks that overran their period.
    pub overruns: u64,
    /// Server CPU time over wall time, in % of one core.
    pub cpu_percent_of_one_core: Option<f64>,
    /// Resident memory at the end, MB.
    pub rss_mb: Option<f64>,
    /// Bytes the server sent per second, all transports.
    pub sent_bytes_per_sec: f64,
    /// Sessions in the world at the end.
    pub sessions: u64,
    /// Connections closed as too slow during the run.
    pub slow_disconnects: u64,
    /// Largest inbox depth seen since the server started.
    pub inbox_max_depth: u64,
}

fn histogram(v: &Value) -> Option<HistogramSnapshot> {
    serde_json::from_value(v.clone()).ok()
}

fn timing(before: &Value, after: &Value) -> Option<Timing> {
    let window = histogram(after)?.since(&histogram(before)?);
    let ms = |us: u64| us as f64 / 1000.0;
    Some(Timing {
        p50_ms: ms(window.quantile(0.5)),
        p99_ms: ms(window.quantile(0.99)),
        max_ms: ms(window.max),
        mean_ms: ms(window.sum.checked_div(window.count).unwrap_or(0)),
    })
}

impl ServerReport {
    /// The server's side of the window between two `/api/statistics` readings taken
    /// `wall` apart.
    pub fn between(before: &Value, after: &Value, wall: Duration) -> Option<Self> {
        let u =
            |v: &Value, path: &[&str]| path.iter().fold(v, |v, key| &v[*key]).as_u64().unwrap_or(0);
        let f = |v: &Value, path: &[&str]| path.iter().fold(v, |v, key| &v[*key]).as_f64();
        let delta = |path: &[&str]| u(after, path).saturating_sub(u(before, path));
        let secs = wall.as_secs_f64().max(0.001);
        let mut stages = BTreeMap::new();
        if let Some(map) = after["stages"].as_object() {
            for (name, stage) in map {
                if let Some(t) = timing(&before["stages"][name]["histogram"], &stage["histogram"]) {
                    stages.insert(name.clone(), t);
                }
            }
        }
        let sent: u64 = ["ws", "quic", "wt"]
            .iter()
            .map(|t| delta(&["connections", t, "bytes_out"]))
            .sum();
        let cpu = match (
            f(before, &["process", "cpu_seconds"]),
            f(after, &["process", "cpu_seconds"]),
        ) {
            (Some(a), Some(b)) => Some((b - a) / secs * 100.0),
            _ => None,
        };
        Some(Self {
            ticks: delta(&["tick", "tick"]),
            tick: timing(
                &before["tick"]["all"]["histogram"],
                &after["tick"]["all"]["histogram"],
            )?,
            tick_cpu: timing(
                &before["tick"]["cpu"]["histogram"],
                &after["tick"]["cpu"]["histogram"],
            ),
            tick_runqueue_wait: timing(
                &before["tick"]["runqueue_wait"]["histogram"],
                &after["tick"]["runqueue_wait"]["histogram"],
            ),
            stages,
            overruns: delta(&["tick", "overruns"]),
            cpu_percent_of_one_core: cpu,
            rss_mb: f(after, &["process", "rss_bytes"]).map(|b| b / 1e6),
            sent_bytes_per_sec: sent as f64 / secs,
            sessions: u(after, &["world", "sessions"]),
            slow_disconnects: delta(&["slow_disconnects"]),
            inbox_max_depth: u(after, &["inbox", "max_depth"]),
        })
    }
}
