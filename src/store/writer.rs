//! The store writer: a named background task that owns every write of world state.
//!
//! The tick thread hands over one [`WriteSet`] per tick through a bounded channel and never
//! waits: if the channel is full, it merges the set straight into the shared [`Pending`]
//! map instead. The task drains the channel into `Pending` (latest state per object wins)
//! and flushes it every `flush_interval` as one transaction. A failed flush goes back into
//! `Pending` under newer writes and is retried with exponential backoff and jitter. When
//! the tick thread drops its [`WriteSender`], the task flushes what is left and ends.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use plaza_systems::WriteSet;
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until};

use super::{Pending, Store, now_ms};

/// Write sets buffered between the tick thread and the writer task before the tick thread
/// merges into [`Pending`] itself.
const CHANNEL_SETS: usize = 64;
/// Chat lines kept while the store is away; older ones are dropped and counted.
const MAX_PENDING_CHAT: usize = 100_000;
/// Longest wait between retries of a failing store.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// How the writer is doing, for health and tests.
#[derive(Debug, Default)]
pub struct WriterStats {
    /// Flushes that reached the store.
    pub flushes: AtomicU64,
    /// Rows written.
    pub rows: AtomicU64,
    /// Flushes that failed and were retried.
    pub failures: AtomicU64,
    /// Rows waiting right now.
    pub pending_rows: AtomicU64,
}

/// The tick thread's end: hands write sets to the writer without ever blocking.
#[derive(Debug)]
pub struct WriteSender {
    tx: mpsc::Sender<WriteSet>,
    pending: Arc<Mutex<Pending>>,
}

impl WriteSender {
    /// Hands over one tick's writes.
    pub fn submit(&self, set: WriteSet) {
        if set.is_empty() {
            return;
        }
        if let Err(mpsc::error::TrySendError::Full(set) | mpsc::error::TrySendError::Closed(set)) =
            self.tx.try_send(set)
        {
            lock(&self.pending).merge(set);
        }
    }
}

/// Settings of the writer.
#[derive(Debug, Clone)]
pub struct WriterConfig {
    /// Time between flushes.
    pub flush_interval: Duration,
    /// Most rows per statement.
    pub max_batch_rows: usize,
    /// How long the final flush keeps retrying at shutdown.
    pub shutdown_timeout: Duration,
}

/// What the writer left behind when it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriterReport {
    /// Rows that could not be written before the shutdown timeout (0 is the normal case).
    pub unwritten_rows: usize,
    /// Chat lines dropped because the store was away too long.
    pub chat_dropped: u64,
}

/// Starts the writer task for `store`.
pub fn spawn(
    store: Store,
    config: WriterConfig,
    stats: Arc<WriterStats>,
) -> (WriteSender, tokio::task::JoinHandle<WriterReport>) {
    let (tx, rx) = mpsc::channel(CHANNEL_SETS);
    let pending = Arc::new(Mutex::new(Pending::new(MAX_PENDING_CHAT)));
    let sender = WriteSender {
        tx,
        pending: pending.clone(),
    };
    let task = tokio::spawn(run(store, config, stats, rx, pending));
    (sender, task)
}

fn lock(pending: &Mutex<Pending>) -> MutexGuard<'_, Pending> {
    // A panic while merging cannot leave the map half-updated in a way that matters more
    // than losing all pending writes would, so a poisoned lock is used as it is.
    pending
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

async fn run(
    store: Store,
    config: WriterConfig,
    stats: Arc<WriterStats>,
    mut rx: mpsc::Receiver<WriteSet>,
    pending: Arc<Mutex<Pending>>,
) -> WriterReport {
    let mut backoff = Duration::ZERO;
    let mut next_flush = Instant::now() + config.flush_interval;
    loop {
        tokio::select! {
            set = rx.recv() => match set {
                Some(set) => lock(&pending).merge(set),
                None => break,
            },
            () = sleep_until(next_flush) => {
                let ok = flush(&store, &config, &stats, &pending).await;
                backoff = if ok { Duration::ZERO } else { next_backoff(backoff, config.flush_interval) };
                next_flush = Instant::now() + config.flush_interval.max(backoff);
            }
        }
    }

    // Shutdown: everything still pending is written, retrying until the deadline.
    let deadline = Instant::now() + config.shutdown_timeout;
    let mut backoff = Duration::ZERO;
    while !lock(&pending).is_empty() {
        if flush(&store, &config, &stats, &pending).await {
            continue;
        }
        backoff = next_backoff(backoff, config.flush_interval);
        if Instant::now() + backoff > deadline {
            break;
        }
        tokio::time::sleep(backoff).await;
    }
    let pending = lock(&pending);
    let report = WriterReport {
        unwritten_rows: pending.len(),
        chat_dropped: pending.chat_dropped,
    };
    if report.unwritten_rows > 0 {
        tracing::error!(
            rows = report.unwritten_rows,
            "store unreachable at shutdown; rows not written"
        );
    }
    report
}

/// Writes everything pending; on failure puts it back. Returns whether the store took it.
async fn flush(
    store: &Store,
    config: &WriterConfig,
    stats: &WriterStats,
    pending: &Mutex<Pending>,
) -> bool {
    let batch = lock(pending).take();
    if batch.is_empty() {
        return true;
    }
    let rows = batch.rows();
    match store.write(&batch, config.max_batch_rows, now_ms()).await {
        Ok(()) => {
            stats.flushes.fetch_add(1, Ordering::Relaxed);
            stats.rows.fetch_add(rows as u64, Ordering::Relaxed);
            stats
                .pending_rows
                .store(lock(pending).len() as u64, Ordering::Relaxed);
            true
        }
        Err(error) => {
            stats.failures.fetch_add(1, Ordering::Relaxed);
            let mut pending = lock(pending);
            pending.restore(batch);
            stats
                .pending_rows
                .store(pending.len() as u64, Ordering::Relaxed);
            tracing::warn!(%error, rows, store = store.kind(), "flush failed; will retry");
            false
        }
    }
}

/// Doubles the wait (from one flush interval up to [`MAX_BACKOFF`]) with ±25 % jitter, so
/// that many servers do not retry a recovering store in lockstep.
fn next_backoff(previous: Duration, base: Duration) -> Duration {
    let doubled = if previous.is_zero() {
        base
    } else {
        previous * 2
    };
    let capped = doubled.min(MAX_BACKOFF);
    let jitter = (now_ms().rem_euclid(500) as f64 / 1000.0) - 0.25;
    capped.mul_f64(1.0 + jitter)
}
