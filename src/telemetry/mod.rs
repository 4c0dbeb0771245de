//! Server telemetry: lock-free counters and histograms that the tick thread, the sessions
//! and the store writer update, read by `GET /metrics` (Prometheus) and
//! `GET /api/statistics` (JSON). A leaf: everything may record here, and it depends on
//! nothing of the server's.

mod histogram;
mod stage_clock;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

pub use histogram::Histogram;
pub use plaza_net::statistics::HistogramSnapshot;
use plaza_systems::Transport;
use serde::Serialize;
pub(crate) use stage_clock::{StageClock, StageClockPlugin};

/// The stages of a tick that are timed separately.
pub(crate) const STAGES: [&str; 5] = ["ingest", "simulate", "replicate", "deliver", "persist"];

/// Per-transport connection and traffic counters.
#[derive(Debug, Default)]
pub struct TransportCounters {
    /// Sessions open now.
    pub open: AtomicI64,
    /// Sessions opened since start.
    pub opened: AtomicU64,
    /// Payload bytes received (frames and datagrams).
    pub bytes_in: AtomicU64,
    /// Payload bytes sent (frames and datagrams).
    pub bytes_out: AtomicU64,
    /// Messages received.
    pub messages_in: AtomicU64,
    /// Messages sent.
    pub messages_out: AtomicU64,
}

/// Everything the server measures about itself.
#[derive(Debug)]
pub struct Telemetry {
    /// When the server started.
    pub started: Instant,
    /// Whole-tick durations, µs.
    pub tick: Histogram,
    /// Per-stage durations, µs, in the order of `STAGES`.
    pub stages: [Histogram; 5],
    /// CPU time the tick thread spent per tick, µs (Linux; empty elsewhere).
    pub tick_cpu: Histogram,
    /// Time per tick the tick thread was ready to run but waited for a core, µs: how much
    /// of a tick's duration other processes and threads took.
    pub tick_runqueue_wait: Histogram,
    /// Durations of the last ticks (about a minute at 20 Hz), µs, for live percentiles.
    recent: Mutex<VecDeque<u32>>,
    /// Inputs waiting at the start of the last tick.
    pub inbox_depth: AtomicU64,
    /// Largest inbox depth seen.
    pub inbox_depth_max: AtomicU64,
    /// Per transport, in the order of [`Transport::ALL`].
    pub transports: [TransportCounters; 3],
    /// Sessions in the world (published every second by the tick thread).
    pub sessions: AtomicU64,
    /// Spaces with someone in them.
    pub spaces_active: AtomicU64,
    /// Spaces loaded in memory.
    pub spaces_loaded: AtomicU64,
    /// Objects in memory.
    pub objects: AtomicU64,
}

/// Counters the tick thread publishes.
#[derive(Debug, Default)]
pub struct TickStats {
    /// The last tick run.
    pub tick: AtomicU64,
    /// Ticks that ended after the next deadline.
    pub overruns: AtomicU64,
    /// Duration of the last tick, in microseconds.
    pub last_tick_us: AtomicU64,
    /// Longest tick so far, in microseconds.
    pub max_tick_us: AtomicU64,
    /// Connections closed because their outbound queue was full.
    pub slow_disconnects: AtomicU64,
    /// Ticks whose motion datagrams were dropped because the datagram post was behind.
    pub datagram_batches_dropped: AtomicU64,
}

/// How the store writer is doing, for health, metrics and tests.
#[derive(Debug, Default)]
pub struct WriterStats {
    /// Flushes that reached the durable store.
    pub flushes: AtomicU64,
    /// Rows written to the durable store.
    pub rows: AtomicU64,
    /// Durable flushes that failed and were retried.
    pub failures: AtomicU64,
    /// Rows waiting for the durable store right now.
    pub pending_rows: AtomicU64,
    /// Rows in the last durable flush.
    pub last_batch_rows: AtomicU64,
    /// Duration of the last durable flush, in microseconds.
    pub last_flush_us: AtomicU64,
    /// Redis updates that failed and were retried.
    pub redis_failures: AtomicU64,
    /// Snapshot and presence entries waiting for Redis right now.
    pub redis_pending: AtomicU64,
    /// Chat lines and events dropped because a store was away too long.
    pub dropped: AtomicU64,
    /// Age of the oldest change in the last durable flush when it committed, in
    /// microseconds: how far the store is behind the world.
    pub last_lag_us: AtomicU64,
    /// The largest such age so far, in microseconds.
    pub max_lag_us: AtomicU64,
    /// Write sets the tick thread merged itself because the writer's channel was full.
    pub overflow_merges: AtomicU64,
    /// Rows per durable flush.
    pub batch_rows: Histogram,
    /// Rows the durable store refused as data (moved to `dead_letters`).
    pub dead_lettered: AtomicU64,
    /// Rows dropped because their space had been claimed by another node (cluster).
    pub fenced_rows: AtomicU64,
    /// When the oldest change not yet in the durable store was handed over (pending or
    /// being written), in microseconds since [`since_start`]'s origin, plus one; 0: none.
    oldest_unwritten: AtomicU64,
}

impl WriterStats {
    /// How old the oldest change not yet in the durable store is now (`None`: everything
    /// handed over has been written).
    pub(crate) fn unwritten_age(&self) -> Option<Duration> {
        match self.oldest_unwritten.load(Ordering::Relaxed) {
            0 => None,
            at => Some(Duration::from_micros(
                since_start(tokio::time::Instant::now()).saturating_sub(at - 1),
            )),
        }
    }

    /// Records when the oldest change not yet written was handed over (`None`: none is).
    pub(crate) fn set_oldest_unwritten(&self, oldest: Option<tokio::time::Instant>) {
        let value = oldest.map_or(0, |at| since_start(at).saturating_add(1));
        self.oldest_unwritten.store(value, Ordering::Relaxed);
    }
}

/// Microseconds from a fixed instant (the first call) to `at`, so that instants fit in an
/// atomic.
fn since_start(at: tokio::time::Instant) -> u64 {
    static ORIGIN: OnceLock<tokio::time::Instant> = OnceLock::new();
    let origin = *ORIGIN.get_or_init(|| tokio::time::Instant::now() - Duration::from_secs(3600));
    u64::try_from(at.saturating_duration_since(origin).as_micros()).unwrap_or(u64::MAX)
}

/// How many recent ticks the live percentiles cover.
const RECENT_TICKS: usize = 1200;

impl Default for Telemetry {
    fn default() -> Self {
        Self {
            started: Instant::now(),
            tick: Histogram::default(),
            stages: Default::default(),
            tick_cpu: Histogram::default(),
            tick_runqueue_wait: Histogram::default(),
            recent: Mutex::new(VecDeque::with_capacity(RECENT_TICKS)),
            inbox_depth: AtomicU64::new(0),
            inbox_depth_max: AtomicU64::new(0),
            transports: Default::default(),
            sessions: AtomicU64::new(0),
            spaces_active: AtomicU64::new(0),
            spaces_loaded: AtomicU64::new(0),
            objects: AtomicU64::new(0),
        }
    }
}

impl Telemetry {
    /// The counters of `transport`.
    pub fn transport(&self, transport: Transport) -> &TransportCounters {
        &self.transports[transport.index()]
    }

    /// Records a whole tick's duration.
    pub(crate) fn record_tick(&self, took: Duration) {
        self.tick.observe_duration(took);
        let us = u32::try_from(took.as_micros()).unwrap_or(u32::MAX);
        // Only the tick thread writes and a reader holds it for a copy: never contended
        // for long, and a poisoned lock only means a reader panicked while copying.
        let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        if recent.len() == RECENT_TICKS {
            recent.pop_front();
        }
        recent.push_back(us);
    }

    /// Records the inbox depth at the start of a tick.
    pub(crate) fn record_inbox(&self, depth: usize) {
        let depth = depth as u64;
        self.inbox_depth.store(depth, Ordering::Relaxed);
        self.inbox_depth_max.fetch_max(depth, Ordering::Relaxed);
    }

    /// (p50, p99, max) of the recent ticks, µs.
    pub(crate) fn recent_ticks(&self) -> (u32, u32, u32) {
        let mut ticks: Vec<u32> = self
            .recent
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .copied()
            .collect();
        if ticks.is_empty() {
            return (0, 0, 0);
        }
        ticks.sort_unstable();
        let at =
            |q: f64| ticks[((ticks.len() as f64 * q).ceil() as usize).clamp(1, ticks.len()) - 1];
        (at(0.5), at(0.99), ticks[ticks.len() - 1])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_come_from_the_buckets_within_a_quarter() {
        let h = Histogram::default();
        for v in 1..=1000 {
            h.observe(v);
        }
        let s = h.snapshot();
        assert_eq!(s.count, 1000);
        let p50 = s.quantile(0.5);
        assert!((500..=625).contains(&p50), "p50 {p50}");
        let p99 = s.quantile(0.99);
        assert!((990..=1000).contains(&p99), "p99 {p99}");
        let before = h.snapshot();
        h.observe(100_000);
        let only = h.snapshot().since(&before);
        assert_eq!(only.count, 1);
        assert!(only.quantile(0.5) >= 100_000);
    }

    #[test]
    fn recent_ticks_give_exact_percentiles() {
        let t = Telemetry::default();
        for ms in 1..=100 {
            t.record_tick(Duration::from_millis(ms));
        }
        assert_eq!(t.recent_ticks(), (50_000, 99_000, 100_000));
    }
}

/// Resident memory and CPU time of this process, from `/proc/self` (Linux); `None`
/// elsewhere.
pub(crate) fn process_usage() -> Option<ProcessUsage> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let rss_kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name and state,
    // in clock ticks of 1/100 s on Linux.
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(ProcessUsage {
        rss_bytes: rss_kib * 1024,
        cpu_seconds: ticks as f64 / 100.0,
    })
}

/// What the process uses.
#[derive(Debug, Clone, Copy, Serialize, serde::Deserialize, PartialEq)]
pub(crate) struct ProcessUsage {
    /// Resident set size.
    pub rss_bytes: u64,
    /// User plus system CPU time since start.
    pub cpu_seconds: f64,
}

/// (CPU time, time waiting for a core) of the calling thread so far, in ns, from
/// `/proc/thread-self/schedstat` (Linux with schedstats; `None` elsewhere).
pub(crate) fn thread_schedstat() -> Option<(u64, u64)> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let mut fields = text.split_whitespace().map(|f| f.parse::<u64>().ok());
    Some((fields.next()??, fields.next()??))
}
