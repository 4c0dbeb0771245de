//! `GET /metrics` (Prometheus text format) and `GET /api/statistics` (JSON): the server's
//! telemetry, read from counters without locking the tick.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Json};
use serde_json::{Value, json};

use crate::edge::Edge;
use plaza_systems::Transport;

use crate::telemetry::{HistogramSnapshot, STAGES, TransportCounters};

/// `GET /api/statistics`: the same numbers as `/metrics`, as JSON, with percentiles.
pub(crate) async fn statistics(State(edge): State<Arc<Edge>>) -> Json<Value> {
    let t = &edge.telemetry;
    let tick = &edge.tick_stats;
    let writer = &edge.writer_stats;
    let stores = &edge.store.stats;
    let (p50, p99, max) = t.recent_ticks();
    let summary = |h: &HistogramSnapshot| {
        json!({
            "p50_us": h.quantile(0.5),
            "p90_us": h.quantile(0.9),
            "p99_us": h.quantile(0.99),
            "max_us": h.max,
            "mean_us": h.sum.checked_div(h.count).unwrap_or(0),
            "count": h.count,
            "histogram": h,
        })
    };
    let stages: serde_json::Map<String, Value> = STAGES
        .iter()
        .zip(&t.stages)
        .map(|(name, h)| (name.to_string(), summary(&h.snapshot())))
        .collect();
    let mut connections = serde_json::Map::new();
    for (transport, c) in Transport::ALL.iter().zip(&t.transports) {
        connections.insert(
            transport.as_str().to_string(),
            json!({
                "open": c.open.load(Ordering::Relaxed),
                "opened": c.opened.load(Ordering::Relaxed),
                "bytes_in": c.bytes_in.load(Ordering::Relaxed),
                "bytes_out": c.bytes_out.load(Ordering::Relaxed),
                "messages_in": c.messages_in.load(Ordering::Relaxed),
                "messages_out": c.messages_out.load(Ordering::Relaxed),
            }),
        );
    }
    let batch = writer.batch_rows.snapshot();
    Json(json!({
        "uptime_secs": t.started.elapsed().as_secs_f64(),
        "process": crate::telemetry::process_usage(),
        "tick": {
            "rate_hz": edge.config.tick_rate_hz,
            "tick": tick.tick.load(Ordering::Relaxed),
            "overruns": tick.overruns.load(Ordering::Relaxed),
            "recent": {"ticks": "last 1200", "p50_us": p50, "p99_us": p99, "max_us": max},
            "all": summary(&t.tick.snapshot()),
            "cpu": summary(&t.tick_cpu.snapshot()),
            "runqueue_wait": summary(&t.tick_runqueue_wait.snapshot()),
        },
        "stages": stages,
        "inbox": {
            "depth": t.inbox_depth.load(Ordering::Relaxed),
            "max_depth": t.inbox_depth_max.load(Ordering::Relaxed),
            "capacity": edge.config.inbox_capacity,
        },
        "connections": connections,
        "connections_open": edge.connections(),
        "slow_disconnects": tick.slow_disconnects.load(Ordering::Relaxed),
        "datagram_batches_dropped": tick.datagram_batches_dropped.load(Ordering::Relaxed),
        "rate_limited": edge.rate_limited.load(Ordering::Relaxed),
        "connection_addresses": edge.slots.addresses(),
        "gates": {
            "password_checks": gate_json(&edge.password_hashing),
            "uploads": gate_json(&edge.uploads),
        },
        "world": {
            "sessions": t.sessions.load(Ordering::Relaxed),
            "users_online": edge.sessions.users_online(),
            "spaces_active": t.spaces_active.load(Ordering::Relaxed),
            "spaces_loaded": t.spaces_loaded.load(Ordering::Relaxed),
            "objects": t.objects.load(Ordering::Relaxed),
        },
        "persistence": {
            "kind": edge.store.durable.kind(),
            "ok": stores.durable_ok.load(Ordering::Relaxed),
            "lag_us": writer.last_lag_us.load(Ordering::Relaxed),
            "max_lag_us": writer.max_lag_us.load(Ordering::Relaxed),
            "pending_rows": writer.pending_rows.load(Ordering::Relaxed),
            "flushes": writer.flushes.load(Ordering::Relaxed),
            "rows_written": writer.rows.load(Ordering::Relaxed),
            "failures": writer.failures.load(Ordering::Relaxed),
            "unwritten_age_ms": writer.unwritten_age().map_or(0, |a| a.as_millis() as u64),
            "dead_letters": writer.dead_lettered.load(Ordering::Relaxed),
            "fenced_rows": writer.fenced_rows.load(Ordering::Relaxed),
            "batch_rows": {
                "p50": batch.quantile(0.5),
                "p99": batch.quantile(0.99),
                "max": batch.max,
                "last": writer.last_batch_rows.load(Ordering::Relaxed),
            },
        },
        "redis": edge.store.snapshots.as_ref().map(|_| json!({
            "ok": stores.redis_ok.load(Ordering::Relaxed),
            "pending": writer.redis_pending.load(Ordering::Relaxed),
            "failures": writer.redis_failures.load(Ordering::Relaxed),
            "snapshot_hits": stores.snapshot_hits.load(Ordering::Relaxed),
            "snapshot_misses": stores.snapshot_misses.load(Ordering::Relaxed),
        })),
    }))
}

fn gate_json(gate: &crate::http::gates::Gate) -> Value {
    json!({ "in_use": gate.in_use(), "peak": gate.peak(), "refused": gate.refused() })
}

/// `GET /metrics`: Prometheus text exposition (version 0.0.4).
pub(crate) async fn prometheus(State(edge): State<Arc<Edge>>) -> impl IntoResponse {
    let text = render(&edge);
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
}

/// The whole exposition, section by section.
fn render(edge: &Edge) -> String {
    let mut out = String::with_capacity(16 * 1024);
    render_ticks(&mut out, edge);
    render_connections(&mut out, edge);
    render_process_and_world(&mut out, edge);
    render_persistence(&mut out, edge);
    out
}

fn load(a: &std::sync::atomic::AtomicU64) -> f64 {
    a.load(Ordering::Relaxed) as f64
}

/// Tick durations, CPU and waits, per-stage durations, ticks, overruns and the inbox.
fn render_ticks(out: &mut String, edge: &Edge) {
    let t = &edge.telemetry;
    let tick = &edge.tick_stats;
    for (name, help, h) in [
        (
            "plaza_tick_duration_seconds",
            "Duration of whole ticks.",
            &t.tick,
        ),
        (
            "plaza_tick_cpu_seconds",
            "CPU time of the tick thread per tick.",
            &t.tick_cpu,
        ),
        (
            "plaza_tick_runqueue_wait_seconds",
            "Time per tick the tick thread waited for a core.",
            &t.tick_runqueue_wait,
        ),
    ] {
        histogram(out, name, help, &[("", &h.snapshot())], 1e-6);
    }
    let stages: Vec<(String, HistogramSnapshot)> = STAGES
        .iter()
        .zip(&t.stages)
        .map(|(name, h)| (format!("stage=\"{name}\""), h.snapshot()))
        .collect();
    let stage_refs: Vec<(&str, &HistogramSnapshot)> =
        stages.iter().map(|(l, h)| (l.as_str(), h)).collect();
    histogram(
        out,
        "plaza_stage_duration_seconds",
        "Duration of each stage of a tick (ingest, simulate, replicate, deliver, persist).",
        &stage_refs,
        1e-6,
    );
    for (name, kind, help, value) in [
        ("plaza_ticks_total", "counter", "Ticks run.", &tick.tick),
        (
            "plaza_tick_overruns_total",
            "counter",
            "Ticks that ended after the next deadline.",
            &tick.overruns,
        ),
        (
            "plaza_inbox_depth",
            "gauge",
            "Inputs waiting at the start of the last tick.",
            &t.inbox_depth,
        ),
    ] {
        metric(out, name, kind, help, &[("", load(value))]);
    }
}

/// Slow disconnects, the work gates, and sessions and traffic per transport.
fn render_connections(out: &mut String, edge: &Edge) {
    let t = &edge.telemetry;
    metric(
        out,
        "plaza_slow_disconnects_total",
        "counter",
        "Connections closed because they did not read fast enough.",
        &[("", load(&edge.tick_stats.slow_disconnects))],
    );
    metric(
        out,
        "plaza_datagram_batches_dropped_total",
        "counter",
        "Ticks whose motion datagrams were dropped because the datagram post was behind.",
        &[("", load(&edge.tick_stats.datagram_batches_dropped))],
    );
    let gates = [
        ("gate=\"password_checks\"", &edge.password_hashing),
        ("gate=\"uploads\"", &edge.uploads),
    ];
    metric(
        out,
        "plaza_gate_in_use",
        "gauge",
        "Places taken in each work gate (password checks, uploads).",
        &gates.map(|(label, gate)| (label, gate.in_use() as f64)),
    );
    metric(
        out,
        "plaza_gate_refused_total",
        "counter",
        "Requests refused (503) after waiting for a place in a work gate.",
        &gates.map(|(label, gate)| (label, gate.refused() as f64)),
    );
    let per_transport = |f: fn(&TransportCounters) -> f64| -> Vec<(String, f64)> {
        Transport::ALL
            .iter()
            .zip(&t.transports)
            .map(|(transport, c)| (format!("transport=\"{}\"", transport.as_str()), f(c)))
            .collect()
    };
    let series: [(&str, &str, &str, fn(&TransportCounters) -> f64); 6] = [
        ("plaza_connections", "gauge", "Sessions open.", |c| {
            c.open.load(Ordering::Relaxed) as f64
        }),
        (
            "plaza_connections_opened_total",
            "counter",
            "Sessions opened.",
            |c| load(&c.opened),
        ),
        (
            "plaza_received_bytes_total",
            "counter",
            "Payload bytes received.",
            |c| load(&c.bytes_in),
        ),
        (
            "plaza_sent_bytes_total",
            "counter",
            "Payload bytes sent, datagrams included.",
            |c| load(&c.bytes_out),
        ),
        (
            "plaza_received_messages_total",
            "counter",
            "Messages received.",
            |c| load(&c.messages_in),
        ),
        (
            "plaza_sent_messages_total",
            "counter",
            "Messages sent, datagrams included.",
            |c| load(&c.messages_out),
        ),
    ];
    for (name, kind, help, value) in series {
        let values = per_transport(value);
        let refs: Vec<(&str, f64)> = values.iter().map(|(l, v)| (l.as_str(), *v)).collect();
        metric(out, name, kind, help, &refs);
    }
}

/// Resident memory and CPU of the process, and what the world holds.
fn render_process_and_world(out: &mut String, edge: &Edge) {
    let t = &edge.telemetry;
    if let Some(usage) = crate::telemetry::process_usage() {
        metric(
            out,
            "plaza_process_resident_memory_bytes",
            "gauge",
            "Resident memory.",
            &[("", usage.rss_bytes as f64)],
        );
        metric(
            out,
            "plaza_process_cpu_seconds_total",
            "counter",
            "User and system CPU time.",
            &[("", usage.cpu_seconds)],
        );
    }
    for (name, help, value) in [
        ("plaza_sessions", "Sessions in the world.", &t.sessions),
        (
            "plaza_spaces_active",
            "Spaces with someone in them.",
            &t.spaces_active,
        ),
        ("plaza_objects", "Objects in memory.", &t.objects),
    ] {
        metric(out, name, "gauge", help, &[("", load(value))]);
    }
}

/// How far the durable store is behind, and what the writer did.
fn render_persistence(out: &mut String, edge: &Edge) {
    let writer = &edge.writer_stats;
    let unwritten_age = writer.unwritten_age().map_or(0.0, |a| a.as_secs_f64());
    for (name, kind, help, value) in [
        (
            "plaza_persist_lag_seconds",
            "gauge",
            "Age of the oldest change in the last durable flush when it committed.",
            load(&writer.last_lag_us) * 1e-6,
        ),
        (
            "plaza_persist_pending_rows",
            "gauge",
            "Rows waiting for the durable store.",
            load(&writer.pending_rows),
        ),
        (
            "plaza_persist_flushes_total",
            "counter",
            "Durable flushes committed.",
            load(&writer.flushes),
        ),
        (
            "plaza_persist_failures_total",
            "counter",
            "Durable flushes that failed and were retried.",
            load(&writer.failures),
        ),
        (
            "plaza_persist_unwritten_age_seconds",
            "gauge",
            "Age now of the oldest change not yet in the durable store (0: none waiting).",
            unwritten_age,
        ),
        (
            "plaza_persist_dead_letters_total",
            "counter",
            "Rows the durable store refused as data, moved to the dead_letters table.",
            load(&writer.dead_lettered),
        ),
        (
            "plaza_persist_fenced_rows_total",
            "counter",
            "Rows not written because another node had claimed their space (cluster fencing).",
            load(&writer.fenced_rows),
        ),
    ] {
        metric(out, name, kind, help, &[("", value)]);
    }
    histogram(
        out,
        "plaza_persist_batch_rows",
        "Rows per durable flush.",
        &[("", &writer.batch_rows.snapshot())],
        1.0,
    );
}

fn metric(out: &mut String, name: &str, kind: &str, help: &str, values: &[(&str, f64)]) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    for (labels, value) in values {
        if labels.is_empty() {
            let _ = writeln!(out, "{name} {value}");
        } else {
            let _ = writeln!(out, "{name}{{{labels}}} {value}");
        }
    }
}

/// Writes histograms in Prometheus form; `scale` turns recorded units into the metric's.
fn histogram(
    out: &mut String,
    name: &str,
    help: &str,
    series: &[(&str, &HistogramSnapshot)],
    scale: f64,
) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
    for (labels, h) in series {
        let sep = if labels.is_empty() { "" } else { "," };
        let mut cumulative = 0;
        for (i, count) in h.counts.iter().enumerate() {
            cumulative += count;
            let bound = HistogramSnapshot::bound(i);
            let le = if bound == u64::MAX {
                "+Inf".to_string()
            } else {
                format!("{}", bound as f64 * scale)
            };
            let _ = writeln!(
                out,
                "{name}_bucket{{{labels}{sep}le=\"{le}\"}} {cumulative}"
            );
        }
        let braces = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        let _ = writeln!(out, "{name}_sum{braces} {}", h.sum as f64 * scale);
        let _ = writeln!(out, "{name}_count{braces} {}", h.count);
    }
}
