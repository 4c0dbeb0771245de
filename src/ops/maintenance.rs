//! Housekeeping inside the server, so no cron is needed: every `maintenance_interval_secs`
//! the analytics views are refreshed (PostgreSQL), events and ended sessions past their
//! retention are deleted, and expired login tokens go.

use std::time::Duration;

use crate::clock::now_ms;
use crate::store::{Durable, StoreError};

/// What one round of maintenance did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Report {
    /// Events deleted.
    pub events: u64,
    /// Ended sessions deleted (their screen shares go with them).
    pub sessions: u64,
    /// Expired login tokens deleted.
    pub tokens: u64,
    /// Whether the analytics views were refreshed.
    pub refreshed: bool,
}

/// Retention settings.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    /// Events older than this many days go (0: kept).
    pub event_days: u32,
    /// Ended sessions older than this many days go (0: kept).
    pub session_days: u32,
}

fn cutoff(days: u32, now_ms: i64) -> Option<i64> {
    (days > 0).then(|| now_ms - i64::from(days) * 86_400_000)
}

/// One round: refresh, then prune.
pub async fn run_once(store: &Durable, retention: Retention) -> Result<Report, StoreError> {
    let now = now_ms();
    let mut report = Report::default();
    match store {
        Durable::Postgres(p) => {
            // Refreshing the views reads whole tables: it runs without the pool's statement
            // timeout (it blocks no writer: the refresh is concurrent).
            let mut tx = p.pool().begin().await?;
            sqlx::query("SET LOCAL statement_timeout = 0")
                .execute(&mut *tx)
                .await?;
            sqlx::query("SELECT refresh_analytics()")
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            report.refreshed = true;
            if let Some(before) = cutoff(retention.event_days, now) {
                report.events = sqlx::query(
                    "DELETE FROM events WHERE occurred_at < to_timestamp($1::float8 / 1000)",
                )
                .bind(before)
                .execute(p.pool())
                .await?
                .rows_affected();
            }
            if let Some(before) = cutoff(retention.session_days, now) {
                report.sessions = sqlx::query(
                    "DELETE FROM sessions
                     WHERE ended_at IS NOT NULL AND ended_at < to_timestamp($1::float8 / 1000)",
                )
                .bind(before)
                .execute(p.pool())
                .await?
                .rows_affected();
            }
            report.tokens = sqlx::query("DELETE FROM auth_tokens WHERE expires_at < now()")
                .execute(p.pool())
                .await?
                .rows_affected();
        }
        Durable::Sqlite(s) => {
            if let Some(before) = cutoff(retention.event_days, now) {
                report.events = sqlx::query("DELETE FROM events WHERE occurred_at < ?1")
                    .bind(before)
                    .execute(s.pool())
                    .await?
                    .rows_affected();
            }
            if let Some(before) = cutoff(retention.session_days, now) {
                report.sessions = sqlx::query(
                    "DELETE FROM sessions WHERE ended_at IS NOT NULL AND ended_at < ?1",
                )
                .bind(before)
                .execute(s.pool())
                .await?
                .rows_affected();
            }
            report.tokens = sqlx::query("DELETE FROM auth_tokens WHERE expires_at < ?1")
                .bind(now)
                .execute(s.pool())
                .await?
                .rows_affected();
        }
    }
    Ok(report)
}

/// Runs maintenance every `interval` until the task is aborted; a failed round is logged
/// and tried again next time.
pub async fn run(store: Durable, retention: Retention, interval: Duration) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The first tick fires at once: skip it, so a restart does not refresh immediately.
    ticker.tick().await;
    loop {
        ticker.tick().await;
        match run_once(&store, retention).await {
            Ok(report) => tracing::info!(?report, "maintenance done"),
            Err(error) => tracing::warn!(%error, "maintenance failed; retrying next round"),
        }
    }
}
