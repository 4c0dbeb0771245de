//! The HTTP surface: the WebSocket endpoint and health.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::extract::State;
use axum::response::Json;
use axum::routing::get;
use serde_json::{Value, json};

use crate::edge::Edge;
use crate::ws;

/// All routes.
pub fn router(edge: Arc<Edge>) -> Router {
    Router::new()
        .route("/ws", get(ws::upgrade))
        .route("/health", get(health))
        .with_state(edge)
}

/// `GET /health`: whether the server ticks and how its store is doing.
async fn health(State(edge): State<Arc<Edge>>) -> Json<Value> {
    let tick = &edge.tick_stats;
    let writer = &edge.writer_stats;
    Json(json!({
        "status": "ok",
        "tick": tick.tick.load(Ordering::Relaxed),
        "tick_rate_hz": edge.config.tick_rate_hz,
        "last_tick_us": tick.last_tick_us.load(Ordering::Relaxed),
        "max_tick_us": tick.max_tick_us.load(Ordering::Relaxed),
        "tick_overruns": tick.overruns.load(Ordering::Relaxed),
        "connections": edge.connections(),
        "store": {
            "kind": edge.store.kind(),
            "flushes": writer.flushes.load(Ordering::Relaxed),
            "rows_written": writer.rows.load(Ordering::Relaxed),
            "flush_failures": writer.failures.load(Ordering::Relaxed),
            "pending_rows": writer.pending_rows.load(Ordering::Relaxed),
        },
    }))
}
