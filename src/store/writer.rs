//! The store writer: a named background task that owns every write of world state.
//!
//! The tick thread hands over one [`WriteSet`] per tick through a bounded channel and never
//! waits: if the channel is full, it merges the set straight into the shared `Pending`
//! map instead. The task drains the channel into `Pending` (latest state per object wins)
//! and every `flush_interval` writes it to the durable store as one transaction; what the
//! durable store accepted then goes to Redis (snapshots never get ahead of the system of
//! record), with presence. Each store that fails keeps its writes coalesced in memory and
//! is retried with exponential backoff and jitter, independently of the other; the tick
//! goes on meanwhile. When the tick thread drops its [`WriteSender`], the task flushes what
//! is left, retrying until the shutdown timeout, and ends.
//!
//! A store that refuses the data itself (a value it cannot hold, a broken constraint) never
//! blocks the other rows: the failed batch is split in halves, in write order, until the
//! refused rows stand alone; everything else is written and the refused rows go to the
//! `dead_letters` table with the store's error, counted in health and metrics.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures_util::StreamExt;
use plaza_systems::{Rows, SpaceRows, WriteSet};
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until};
use uuid::Uuid;

use super::{Durable, Fence, Fences, Pending, SnapshotChanges, Store, StoreError, dead_rows};
use crate::clock::now_ms;
use crate::telemetry::WriterStats;

/// Write sets buffered between the tick thread and the writer task before the tick thread
/// merges into [`Pending`] itself.
const CHANNEL_SETS: usize = 64;
/// Chat lines (and, separately, events) kept while the store is away; older ones are
/// dropped and counted.
const MAX_PENDING_APPENDED: usize = 100_000;
/// Longest wait between retries of a failing store.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// The tick thread's end: hands write sets to the writer without ever blocking.
#[derive(Debug)]
pub struct WriteSender {
    tx: mpsc::Sender<(Instant, WriteSet)>,
    pending: Arc<Mutex<Shared>>,
    stats: Arc<WriterStats>,
}

impl WriteSender {
    /// Hands over one tick's writes.
    pub fn submit(&self, set: WriteSet) {
        if set.is_empty() {
            return;
        }
        if let Err(mpsc::error::TrySendError::Full(set) | mpsc::error::TrySendError::Closed(set)) =
            self.tx.try_send((Instant::now(), set))
        {
            self.stats.overflow_merges.fetch_add(1, Ordering::Relaxed);
            let (at, set) = set;
            lock(&self.pending).merge_at(at, set, &self.stats);
        }
    }
}

impl WriteSender {
    /// A probe of what this writer still holds, for hand-offs.
    pub fn probe(&self) -> WriteProbe {
        WriteProbe {
            pending: self.pending.clone(),
        }
    }
}

/// Asks the writer whether a space's rows are all in the durable store.
#[derive(Debug, Clone)]
pub struct WriteProbe {
    pending: Arc<Mutex<Shared>>,
}

impl WriteProbe {
    /// Waits until every row of `space` handed to the writer so far is durably written;
    /// false if that did not happen within `within` (the store failing, say).
    pub async fn flushed(&self, space: Uuid, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        // The write in flight when nothing of the space is pending any more may hold its
        // last rows: wait for it to end, then look again (a failed write puts them back).
        let mut must_end: Option<u64> = None;
        loop {
            {
                let shared = lock(&self.pending);
                let pending = shared.pending.holds_space(space);
                match must_end {
                    Some(ended) if !pending && shared.ended >= ended => return true,
                    _ if pending => must_end = None,
                    None => {
                        let in_flight = u64::from(shared.in_flight.is_some());
                        if in_flight == 0 {
                            return true;
                        }
                        must_end = Some(shared.ended + in_flight);
                    }
                    Some(_) => {}
                }
            }
            if Instant::now() > deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

/// Settings of the writer.
#[derive(Debug, Clone)]
pub struct WriterConfig {
    /// Time from the start of one flush to the start of the next (a flush that takes
    /// longer is followed at once).
    pub flush_interval: Duration,
    /// Most rows per statement.
    pub max_batch_rows: usize,
    /// How long the final flush keeps retrying at shutdown.
    pub shutdown_timeout: Duration,
    /// Longest one durable write may take before it is abandoned and retried (a store
    /// that stopped answering without closing the connection).
    pub write_timeout: Duration,
    /// Transactions written at once (PostgreSQL: each space's rows commit on their own, a
    /// big space's objects in parts of `max_batch_rows`).
    pub parallel_writes: usize,
    /// In a cluster, the spaces this node owns: each space's transaction commits only while
    /// its epoch is current, and rows of a space this node does not own are dropped.
    pub fences: Option<Arc<Fences>>,
}

/// What the writer left behind when it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriterReport {
    /// Rows that could not be written to the durable store before the shutdown timeout
    /// (0 is the normal case).
    pub unwritten_rows: usize,
    /// Snapshot entries that could not be written to Redis (they are rebuilt from the
    /// durable store on the next load).
    pub unwritten_snapshot: usize,
    /// Chat lines and events dropped because a store was away too long.
    pub dropped: u64,
}

/// Starts the writer task for `store`.
pub fn spawn(
    store: Store,
    config: WriterConfig,
    stats: Arc<WriterStats>,
) -> (WriteSender, tokio::task::JoinHandle<WriterReport>) {
    let (tx, rx) = mpsc::channel(CHANNEL_SETS);
    let pending = Arc::new(Mutex::new(Shared::default()));
    let sender = WriteSender {
        tx,
        pending: pending.clone(),
        stats: stats.clone(),
    };
    let writer = Writer {
        store,
        config,
        stats,
        pending,
        snapshot: SnapshotChanges::default(),
        durable: Retry::default(),
        redis: Retry::default(),
    };
    (sender, tokio::spawn(writer.run(rx)))
}

/// Pending writes, when the oldest of them was handed over, and when the oldest of those
/// being written right now was.
#[derive(Debug)]
struct Shared {
    pending: Pending,
    oldest: Option<Instant>,
    in_flight: Option<Instant>,
    /// Durable writes ended (succeeded or not), for [`WriteProbe::flushed`].
    ended: u64,
}

impl Default for Shared {
    fn default() -> Self {
        Self {
            pending: Pending::new(MAX_PENDING_APPENDED),
            oldest: None,
            in_flight: None,
            ended: 0,
        }
    }
}

impl Shared {
    fn merge_at(&mut self, submitted: Instant, set: WriteSet, stats: &WriterStats) {
        let first = self.oldest.is_none();
        self.oldest = Some(self.oldest.map_or(submitted, |o| o.min(submitted)));
        self.pending.merge(set);
        if first {
            self.publish(stats);
        }
    }

    /// Takes everything pending; it is in flight until [`Shared::written`].
    fn take(&mut self, stats: &WriterStats) -> (Rows, Option<Instant>) {
        let oldest = self.oldest.take();
        self.in_flight = oldest;
        self.publish(stats);
        (self.pending.take(), oldest)
    }

    /// The write in flight ended; what it could not write (if anything) is pending again.
    fn written(&mut self, failed: Option<(Rows, Option<Instant>)>, stats: &WriterStats) {
        self.in_flight = None;
        self.ended += 1;
        if let Some((batch, oldest)) = failed {
            self.pending.restore(batch);
            self.oldest = min_instant(self.oldest, oldest);
        }
        self.publish(stats);
    }

    fn publish(&self, stats: &WriterStats) {
        stats.set_oldest_unwritten(min_instant(self.oldest, self.in_flight));
    }
}

fn min_instant(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// What became of one flush's batch.
#[derive(Debug, Default)]
struct Outcome {
    /// Parts committed, each with the space versions it raised.
    written: Vec<(Rows, Vec<(uuid::Uuid, u64)>)>,
    /// Single rows the store refused as data, each with its error.
    refused: Vec<(Rows, String)>,
    /// What was left when the store failed otherwise (unreachable, busy, timed out): it is
    /// retried after a backoff.
    failed: Option<(Rows, StoreError)>,
    /// Rows of spaces this node no longer owns (another node claimed them): dropped.
    fenced: Vec<(Uuid, usize)>,
}

impl Outcome {
    /// Adds the outcome of another part of the same flush.
    fn absorb(&mut self, mut other: Outcome) {
        self.written.append(&mut other.written);
        self.refused.append(&mut other.refused);
        self.fenced.append(&mut other.fenced);
        match (&mut self.failed, other.failed) {
            (Some((rows, _)), Some((mut more, _))) => rows.append(&mut more),
            (mine, Some(theirs)) => *mine = Some(theirs),
            (_, None) => {}
        }
    }
}

impl std::ops::Deref for Shared {
    type Target = Pending;
    fn deref(&self) -> &Pending {
        &self.pending
    }
}

impl std::ops::DerefMut for Shared {
    fn deref_mut(&mut self) -> &mut Pending {
        &mut self.pending
    }
}

fn lock(pending: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    // A panic while merging cannot leave the map in a state worse than losing all pending
    // writes would be, so a poisoned lock is used as it is.
    pending
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// When a failing store may be tried again.
#[derive(Debug, Default)]
struct Retry {
    backoff: Duration,
    not_before: Option<Instant>,
}

impl Retry {
    fn due(&self, now: Instant) -> bool {
        self.not_before.is_none_or(|at| now >= at)
    }

    fn succeeded(&mut self) {
        *self = Self::default();
    }

    /// Doubles the wait (from one flush interval up to [`MAX_BACKOFF`]) with ±25 % jitter,
    /// so that many servers do not retry a recovering store in lockstep.
    fn failed(&mut self, base: Duration) -> Duration {
        let doubled = if self.backoff.is_zero() {
            base
        } else {
            self.backoff * 2
        };
        self.backoff = doubled.min(MAX_BACKOFF);
        let jitter = (now_ms().rem_euclid(500) as f64 / 1000.0) - 0.25;
        let wait = self.backoff.mul_f64(1.0 + jitter);
        self.not_before = Some(Instant::now() + wait);
        wait
    }
}

struct Writer {
    store: Store,
    config: WriterConfig,
    stats: Arc<WriterStats>,
    pending: Arc<Mutex<Shared>>,
    snapshot: SnapshotChanges,
    durable: Retry,
    redis: Retry,
}

impl Writer {
    async fn run(mut self, mut rx: mpsc::Receiver<(Instant, WriteSet)>) -> WriterReport {
        let mut next_flush = Instant::now() + self.config.flush_interval;
        loop {
            tokio::select! {
                set = rx.recv() => match set {
                    Some((at, set)) => lock(&self.pending).merge_at(at, set, &self.stats),
                    None => break,
                },
                () = sleep_until(next_flush) => {
                    let started = Instant::now();
                    self.flush(Some(&mut rx)).await;
                    // Start to start: a flush that took longer than the interval is followed
                    // at once, so a writer that cannot keep up never also sits idle.
                    next_flush = (started + self.config.flush_interval).max(Instant::now());
                }
            }
        }
        self.drain().await
    }

    /// Shutdown: everything still pending is written, retrying until the deadline.
    async fn drain(mut self) -> WriterReport {
        let deadline = Instant::now() + self.config.shutdown_timeout;
        loop {
            self.durable.not_before = None;
            self.redis.not_before = None;
            self.flush(None).await;
            let durable_done = lock(&self.pending).is_empty();
            let redis_done = self.store.snapshots.is_none() || self.snapshot.is_empty();
            let waits = [&self.durable, &self.redis].map(|r| r.not_before);
            let next = waits
                .into_iter()
                .flatten()
                .max()
                .unwrap_or_else(Instant::now);
            if (durable_done && redis_done) || next > deadline {
                break;
            }
            tokio::time::sleep_until(next).await;
        }
        let pending = lock(&self.pending);
        let report = WriterReport {
            unwritten_rows: pending.len(),
            unwritten_snapshot: if self.store.snapshots.is_some() {
                self.snapshot.len()
            } else {
                0
            },
            dropped: pending.dropped(),
        };
        if report.unwritten_rows > 0 {
            tracing::error!(
                rows = report.unwritten_rows,
                "durable store unreachable at shutdown; rows not written"
            );
        }
        report
    }

    /// One flush: the durable store and Redis, each if it is due, written at the same time.
    /// Redis gets the snapshot changes of the durable writes that committed before this
    /// flush, so it is never ahead of the durable store. While the stores are written,
    /// `rx` (if given) keeps being drained into the pending map, so the tick thread's
    /// channel does not fill during a long write.
    async fn flush(&mut self, rx: Option<&mut mpsc::Receiver<(Instant, WriteSet)>>) {
        let now = Instant::now();
        let durable = self.take_durable(now);
        let snapshot = self.take_snapshot(now);
        let started = Instant::now();
        let durable_write = async {
            let (batch, oldest) = durable?;
            Some((self.write_batch(batch).await, oldest))
        };
        let redis_write = async {
            let changes = snapshot?;
            let result = self.write_redis(&changes).await;
            Some((changes, result))
        };
        let (durable, snapshot) = receive_while(
            async { tokio::join!(durable_write, redis_write) },
            rx,
            &self.pending,
            &self.stats,
        )
        .await;
        if let Some((outcome, oldest)) = durable {
            self.durable_written(outcome, oldest, started).await;
        }
        if let Some((changes, result)) = snapshot {
            self.redis_written(changes, result);
        }
        let pending = lock(&self.pending);
        self.stats
            .pending_rows
            .store(pending.len() as u64, Ordering::Relaxed);
        self.stats
            .dropped
            .store(pending.dropped(), Ordering::Relaxed);
        self.stats
            .redis_pending
            .store(self.snapshot.len() as u64, Ordering::Relaxed);
    }

    /// The pending rows to write, if the durable store is due and anything is pending.
    fn take_durable(&mut self, now: Instant) -> Option<(Rows, Option<Instant>)> {
        if !self.durable.due(now) {
            return None;
        }
        let (batch, oldest) = lock(&self.pending).take(&self.stats);
        if batch.is_empty() {
            lock(&self.pending).written(None, &self.stats);
            return None;
        }
        Some((batch, oldest))
    }

    /// The snapshot changes (presence merged in) to write, if Redis is due and anything
    /// changed. Without Redis, presence is dropped: it goes nowhere else.
    fn take_snapshot(&mut self, now: Instant) -> Option<SnapshotChanges> {
        if self.store.snapshots.is_none() {
            lock(&self.pending).take_presence();
            return None;
        }
        if !self.redis.due(now) {
            return None;
        }
        let presence = lock(&self.pending).take_presence();
        self.snapshot.merge_presence(presence);
        (!self.snapshot.is_empty()).then(|| std::mem::take(&mut self.snapshot))
    }

    /// Accounts for one durable write: committed parts go on to the snapshot, refused rows
    /// to the dead-letter table, the rest is pending again with a backoff.
    async fn durable_written(
        &mut self,
        outcome: Outcome,
        oldest: Option<Instant>,
        started: Instant,
    ) {
        self.drop_fenced(&outcome.fenced);
        for (part, _) in &outcome.written {
            self.store.deletions.finished(&part.spaces_deleted);
        }
        for (part, _) in &outcome.refused {
            self.store.deletions.abandoned(&part.spaces_deleted);
        }
        let refused = self.dead_letter(outcome.refused).await;
        let written: usize = outcome.written.iter().map(|(part, _)| part.len()).sum();
        if written > 0 {
            self.stats.flushes.fetch_add(1, Ordering::Relaxed);
            self.stats.rows.fetch_add(written as u64, Ordering::Relaxed);
            self.stats
                .last_batch_rows
                .store(written as u64, Ordering::Relaxed);
            self.stats.batch_rows.observe(written as u64);
            self.stats
                .last_flush_us
                .store(started.elapsed().as_micros() as u64, Ordering::Relaxed);
            let lag = oldest.map_or(0, |at| at.elapsed().as_micros() as u64);
            self.stats.last_lag_us.store(lag, Ordering::Relaxed);
            self.stats.max_lag_us.fetch_max(lag, Ordering::Relaxed);
        }
        if self.store.snapshots.is_some() {
            for (part, versions) in &outcome.written {
                self.snapshot.merge_flush(part, versions);
            }
        }
        let mut failed = outcome.failed;
        if let Some((mut rows, error)) = refused {
            // The dead-letter table could not be written either: keep the rows pending.
            match &mut failed {
                Some((batch, _)) => batch.append(&mut rows),
                None => failed = Some((rows, error)),
            }
        }
        match failed {
            None => {
                if !self.durable.backoff.is_zero() {
                    tracing::info!(
                        store = self.store.durable.kind(),
                        "durable store is back; pending writes flushed"
                    );
                }
                self.durable.succeeded();
                self.store.stats.durable_ok.store(true, Ordering::Relaxed);
                lock(&self.pending).written(None, &self.stats);
            }
            Some((batch, error)) => {
                self.store.stats.durable_ok.store(false, Ordering::Relaxed);
                self.stats.failures.fetch_add(1, Ordering::Relaxed);
                let rows = batch.len();
                lock(&self.pending).written(Some((batch, oldest)), &self.stats);
                let wait = self.durable.failed(self.config.flush_interval);
                tracing::warn!(%error, rows, store = self.store.durable.kind(), retry_in_ms = wait.as_millis() as u64, "flush failed; writes kept in memory");
            }
        }
    }

    /// Writes one flush's batch. SQLite takes it as one transaction. PostgreSQL takes the
    /// rows outside any space first, then each space's rows (a big space's in parts) as
    /// transactions of their own, `parallel_writes` at a time, each fenced in a cluster.
    async fn write_batch(&self, batch: Rows) -> Outcome {
        if matches!(self.store.durable, Durable::Sqlite(_)) {
            return self.write_isolating(batch, None).await;
        }
        let (spaceless, parts) = batch.split_by_space(self.config.max_batch_rows);
        let mut outcome = if spaceless.is_empty() {
            Outcome::default()
        } else {
            self.write_isolating(spaceless, None).await
        };
        if let Some((rows, _)) = &mut outcome.failed {
            // Sessions failed to go in; a space's rows may refer to them, so all wait.
            for mut part in parts {
                rows.append(&mut part.rows);
            }
            return outcome;
        }
        let mut writes = futures_util::stream::iter(parts)
            .map(|part| self.write_space(part))
            .buffer_unordered(self.config.parallel_writes.max(1));
        while let Some(part) = writes.next().await {
            outcome.absorb(part);
        }
        outcome
    }

    /// One space's part, with its fence in a cluster. A space this node does not own is
    /// dropped, except a deletion of a space nobody here loaded (the HTTP API deletes
    /// spaces wherever they are owned).
    async fn write_space(&self, part: SpaceRows) -> Outcome {
        let Some(fences) = &self.config.fences else {
            return self.write_isolating(part.rows, None).await;
        };
        match fences.fence(part.space) {
            Some(fence) => self.write_isolating(part.rows, Some(&fence)).await,
            None if part.rows.len() == part.rows.spaces_deleted.len() => {
                self.write_isolating(part.rows, None).await
            }
            None => Outcome {
                fenced: vec![(part.space, part.rows.len())],
                ..Outcome::default()
            },
        }
    }

    /// Counts and logs rows dropped because their space is another node's now (the fence
    /// that found it told the cluster task already).
    fn drop_fenced(&self, fenced: &[(Uuid, usize)]) {
        let rows: usize = fenced.iter().map(|&(_, rows)| rows).sum();
        if rows == 0 {
            return;
        }
        self.stats
            .fenced_rows
            .fetch_add(rows as u64, Ordering::Relaxed);
        tracing::warn!(
            rows,
            spaces = fenced.len(),
            "rows of spaces another node owns now were not written (fenced)"
        );
    }

    /// Writes `batch`, isolating rows the store refuses as data: a part that fails that way
    /// is split in halves (in write order, so parents still come first) until the refused
    /// rows stand alone. Stops at the first error of any other kind, handing back what is
    /// left unwritten. A fenced write (the space is another node's now) drops the rows.
    async fn write_isolating(&self, batch: Rows, fence: Option<&Fence>) -> Outcome {
        let mut outcome = Outcome::default();
        let mut queue = VecDeque::from([batch]);
        while let Some(mut part) = queue.pop_front() {
            let write =
                self.store
                    .durable
                    .write(&part, self.config.max_batch_rows, now_ms(), fence);
            let result = match tokio::time::timeout(self.config.write_timeout, write).await {
                Ok(result) => result,
                Err(_) => Err(StoreError::TimedOut(self.config.write_timeout)),
            };
            match result {
                Ok(versions) => outcome.written.push((part, versions)),
                Err(StoreError::Fenced { space, epoch, .. }) => {
                    if let Some(fences) = &self.config.fences {
                        fences.lost(space, epoch);
                    }
                    let rows = part.len() + queue.iter().map(Rows::len).sum::<usize>();
                    outcome.fenced.push((space, rows));
                    queue.clear();
                }
                Err(error) if error.is_data_error() && part.len() > 1 => {
                    let second = part.split();
                    queue.push_front(second);
                    queue.push_front(part);
                }
                Err(error) if error.is_data_error() => {
                    outcome.refused.push((part, error.to_string()));
                }
                Err(error) => {
                    for mut rest in queue.drain(..) {
                        part.append(&mut rest);
                    }
                    outcome.failed = Some((part, error));
                }
            }
        }
        outcome
    }

    /// Moves refused rows to the dead-letter table and says so once per flush. Returns the
    /// rows if the table could not be written (the store failed meanwhile).
    async fn dead_letter(&mut self, refused: Vec<(Rows, String)>) -> Option<(Rows, StoreError)> {
        if refused.is_empty() {
            return None;
        }
        let rows: Vec<_> = refused
            .iter()
            .flat_map(|(row, error)| dead_rows(row).into_iter().map(move |r| (r, error.as_str())))
            .collect();
        match self.store.durable.dead_letter(&rows, now_ms()).await {
            Ok(()) => {
                self.stats
                    .dead_lettered
                    .fetch_add(rows.len() as u64, Ordering::Relaxed);
                let (first, error) = &rows[0];
                tracing::warn!(
                    rows = rows.len(),
                    table = first.table,
                    key = %first.key,
                    %error,
                    "the durable store refused rows; they are in dead_letters, everything else was written"
                );
                None
            }
            Err(error) => {
                let mut back = Rows::default();
                for (mut row, _) in refused {
                    back.append(&mut row);
                }
                Some((back, error))
            }
        }
    }

    /// Writes snapshot changes to Redis: outside a cluster every space with epoch 0, in one
    /// only the spaces this node owns, with their epochs.
    async fn write_redis(&self, changes: &SnapshotChanges) -> Result<(), StoreError> {
        let Some(redis) = &self.store.snapshots else {
            return Ok(());
        };
        let fences = self.config.fences.as_deref();
        let epoch_of = |space| match fences {
            None => Some(0),
            Some(fences) => fences.fence(space).map(|fence| fence.epoch),
        };
        redis.write(changes, epoch_of).await
    }

    /// Accounts for one Redis write: what failed is kept for the next, after a backoff.
    fn redis_written(&mut self, changes: SnapshotChanges, result: Result<(), StoreError>) {
        match result {
            Ok(()) => {
                if !self.redis.backoff.is_zero() {
                    tracing::info!("redis is back; snapshots and presence updated");
                }
                self.redis.succeeded();
                self.store.stats.redis_ok.store(true, Ordering::Relaxed);
            }
            Err(error) => {
                self.store.stats.redis_ok.store(false, Ordering::Relaxed);
                self.stats.redis_failures.fetch_add(1, Ordering::Relaxed);
                let entries = changes.len();
                self.snapshot.restore(changes);
                let wait = self.redis.failed(self.config.flush_interval);
                tracing::warn!(%error, entries, retry_in_ms = wait.as_millis() as u64, "redis update failed; kept in memory");
            }
        }
    }
}

/// Runs `work`, merging write sets that arrive meanwhile into `pending`.
async fn receive_while<T>(
    work: impl std::future::Future<Output = T>,
    rx: Option<&mut mpsc::Receiver<(Instant, WriteSet)>>,
    pending: &Mutex<Shared>,
    stats: &WriterStats,
) -> T {
    let Some(rx) = rx else { return work.await };
    tokio::pin!(work);
    let mut open = true;
    loop {
        tokio::select! {
            biased;
            result = &mut work => return result,
            set = rx.recv(), if open => match set {
                Some((at, set)) => lock(pending).merge_at(at, set, stats),
                // The tick thread stopped; the run loop sees the closed channel next.
                None => open = false,
            },
        }
    }
}
