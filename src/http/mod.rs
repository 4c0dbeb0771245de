//! The HTTP surface: the routes (the WebSocket endpoint, health, the certificate hash,
//! telemetry, the browser client and the JSON API), the accept loop that serves them, and the
//! gates that bound expensive requests.

pub(crate) mod api;
pub mod gates;
pub(crate) mod listener;
pub(crate) mod metrics;
mod web;

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Json;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

use crate::edge::Edge;
use crate::edge::transport::ws;

/// All routes. What a web app on another origin calls (`/api`, `/cert-hash`) answers
/// CORS for `cors_origins`; unknown routes and methods get the API's JSON errors.
pub(crate) fn router(edge: Arc<Edge>) -> Router {
    let cross_origin = Router::new()
        .route("/cert-hash", get(cert_hash))
        .route("/api/statistics", get(metrics::statistics))
        .merge(api::routes(&edge))
        // Before the CORS layer: a method router's fallback set later would replace the
        // layered one, and preflight requests (OPTIONS) would never reach CORS.
        .method_not_allowed_fallback(api::wrong_method);
    let cross_origin = match cors_layer(&edge.config.cors_origins) {
        Some(cors) => cross_origin.layer(cors),
        None => cross_origin,
    };
    Router::new()
        .route("/ws", get(ws::upgrade))
        .route("/health", get(health))
        .route("/metrics", get(metrics::prometheus))
        .route("/", get(web::index))
        .route("/app.js", get(web::app))
        .route("/debug", get(web::debug))
        .method_not_allowed_fallback(api::wrong_method)
        .merge(cross_origin)
        .fallback(api::no_route)
        .layer(axum::middleware::from_fn_with_state(
            edge.clone(),
            limit_requests,
        ))
        .with_state(edge)
}

/// CORS for `origins` (checked by `Config::validate`), or none when there are none.
fn cors_layer(origins: &[String]) -> Option<tower_http::cors::CorsLayer> {
    use axum::http::{HeaderValue, Method, header};
    use tower_http::cors::{AllowOrigin, CorsLayer};
    if origins.is_empty() {
        return None;
    }
    let allow = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()))
    };
    Some(
        CorsLayer::new()
            .allow_origin(allow)
            .allow_methods([Method::GET, Method::POST, Method::DELETE])
            .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
            .expose_headers([header::RETRY_AFTER])
            .max_age(std::time::Duration::from_secs(3600)),
    )
}

/// Refuses requests from an address over `http_requests_per_addr` with 429.
async fn limit_requests(
    State(edge): State<Arc<Edge>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
    next: Next,
) -> Response {
    if edge.http_limit.take(peer.ip(), std::time::Instant::now()) {
        return next.run(request).await;
    }
    edge.rate_limited.fetch_add(1, Ordering::Relaxed);
    let rate = edge.http_limit.rate();
    let message = format!(
        "rate_limited: at most {}/s requests per address (bursts of {}); retry shortly",
        rate.per_sec, rate.burst
    );
    (
        StatusCode::TOO_MANY_REQUESTS,
        [(axum::http::header::RETRY_AFTER, "1")],
        Json(json!({ "error": message })),
    )
        .into_response()
}

/// `GET /cert-hash`: the SHA-256 of the certificate QUIC and WebTransport present, for
/// `serverCertificateHashes` in browsers and for pinning in native clients.
async fn cert_hash(State(edge): State<Arc<Edge>>) -> Json<Value> {
    let (quic_port, webtransport_port) = edge.ports();
    Json(json!({
        "algorithm": "sha-256",
        "value": crate::digest::hex(&edge.cert_sha256),
        "bytes": edge.cert_sha256.to_vec(),
        "quic_port": quic_port,
        "webtransport_port": webtransport_port,
    }))
}

/// `GET /health`: whether the server ticks and how its stores are doing. 503 while the
/// durable store fails writes (they are kept in memory meanwhile) or falls behind by more
/// than `max_unwritten_age_ms`, whatever the reason (a lock, a slow disk).
async fn health(State(edge): State<Arc<Edge>>) -> (StatusCode, Json<Value>) {
    let tick = &edge.tick_stats;
    let writer = &edge.writer_stats;
    let stores = &edge.store.stats;
    let unwritten_age = writer.unwritten_age().unwrap_or_default();
    let behind = unwritten_age.as_millis() > u128::from(edge.config.max_unwritten_age_ms);
    let durable_ok = stores.durable_ok.load(Ordering::Relaxed) && !behind;
    let redis = edge.store.snapshots.as_ref().map(|_| {
        json!({
            "state": if stores.redis_ok.load(Ordering::Relaxed) { "ok" } else { "degraded" },
            "pending": writer.redis_pending.load(Ordering::Relaxed),
            "failures": writer.redis_failures.load(Ordering::Relaxed),
            "snapshot_hits": stores.snapshot_hits.load(Ordering::Relaxed),
            "snapshot_misses": stores.snapshot_misses.load(Ordering::Relaxed),
        })
    });
    let healthy = durable_ok && stores.redis_ok.load(Ordering::Relaxed);
    let status = if durable_ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "status": if healthy { "ok" } else { "degraded" },
        "tick": tick.tick.load(Ordering::Relaxed),
        "tick_rate_hz": edge.config.tick_rate_hz,
        "last_tick_us": tick.last_tick_us.load(Ordering::Relaxed),
        "max_tick_us": tick.max_tick_us.load(Ordering::Relaxed),
        "tick_overruns": tick.overruns.load(Ordering::Relaxed),
        "connections": edge.connections(),
        "store": {
            "kind": edge.store.durable.kind(),
            "state": if durable_ok { "ok" } else { "degraded" },
            "flushes": writer.flushes.load(Ordering::Relaxed),
            "rows_written": writer.rows.load(Ordering::Relaxed),
            "flush_failures": writer.failures.load(Ordering::Relaxed),
            "pending_rows": writer.pending_rows.load(Ordering::Relaxed),
            "last_batch_rows": writer.last_batch_rows.load(Ordering::Relaxed),
            "last_flush_us": writer.last_flush_us.load(Ordering::Relaxed),
            "dropped": writer.dropped.load(Ordering::Relaxed),
            "unwritten_age_ms": unwritten_age.as_millis() as u64,
            "max_unwritten_age_ms": edge.config.max_unwritten_age_ms,
            "dead_letters": writer.dead_lettered.load(Ordering::Relaxed),
        },
        "redis": redis,
        "uploads": edge.files.as_ref().map_or("off", |f| f.kind()),
    });
    (status, Json(body))
}
